"""The score a benchmark compares on each task family (BENCHMARK.md, "final return").

Raw returns are not comparable across task families, so each family gets the score its
literature reports: Meta-World the success rate (an episode succeeds if ``info["success"]``
is ever 1), Procgen the return normalised by the easy-mode constants of Cobbe et al. 2020.
``process:changeover`` scores the fraction of the way from doing nothing to the PID tuned
for the instance: ``(R - R_nothing) / (R_pid - R_nothing)``, so 0 is a resting actuator and
1 matches the tuned PID, whatever the product's scale. Other families (Gymnasium ids,
bandits, navigation, dynamics shift, markets) keep the raw return: a market's reference
trader earns close to nothing in a regime near a random walk, so a fraction of it would
not be a stable scale.
"""

from __future__ import annotations

from typing import Any

from mrft.envs import parse_env
from mrft.envs.procgen import normalized_return

SUCCESS = "success rate"
NORMALISED = "normalised return"
REFERENCE = "fraction of the reference"
RETURN = "return"


def score_name(env: str) -> str:
    family = env.partition(":")[0].lower()
    return {"metaworld": SUCCESS, "procgen": NORMALISED, "process": REFERENCE}.get(family, RETURN)


def training_metric(env: str) -> str:
    """The key of a training log (``metrics.jsonl``) that follows the family's score: the
    success rate where the score is one, the episodic return otherwise."""
    return "charts/success_rate" if score_name(env) == SUCCESS else "charts/episodic_return"


def reference_range(env: str, instance: int) -> tuple[float, float]:
    """``(return of doing nothing, reference return)`` on held-out instance seed ``instance``."""
    from mrft.envs import process

    task = parse_env(env).test[0]

    nothing = float(process.pid_returns(task, instance, [0.0], [0.0], [0.0])[0])
    return nothing, process.reference_return(task, instance)


def score_curve(env: str, curve: list[dict[str, Any]], instance: int | None = None) -> str:
    """Add ``score`` to every evaluation point of an adaptation curve (and ``export/score``
    where the point also scored an exported, context-free policy: MRFT's ``export/return``);
    returns the score's name. ``instance`` (the held-out instance seed) is needed by families
    scored against a per-instance reference."""
    name = score_name(env)
    task = parse_env(env).test[0] if name == NORMALISED else None
    if name == REFERENCE:
        if instance is None:
            raise ValueError(f"{env} is scored against a per-instance reference: give the instance")
        low, high = reference_range(env, instance)

    def score(ret: float, success: float | None) -> float:
        if name == SUCCESS:
            return float(success)
        if name == NORMALISED:
            return normalized_return(task.name, task.option("mode", "easy"), ret)
        if name == REFERENCE:
            return (float(ret) - low) / max(high - low, 1e-6)
        return float(ret)

    for point in curve:
        point["score"] = score(point["return"], point.get("success"))
        if "export/return" in point:
            point["export/score"] = score(point["export/return"], point.get("export/success"))
    return name
