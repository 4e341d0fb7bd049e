"""The score a benchmark compares on each task family (docs/benchmark.md, "final return").

Raw returns are not comparable across task families, so each family declares the score its
literature reports (:attr:`mrft.envs.family.Family.score_name`): Meta-World the success
rate (an episode succeeds if ``info["success"]`` is ever 1), Procgen the return normalised
by the easy-mode constants of Cobbe et al. 2020, ``process:changeover`` the fraction of the
way from doing nothing to the PID tuned for the instance. Other families (Gymnasium ids,
bandits, navigation, dynamics shift, markets) keep the raw return: a market's reference
trader earns close to nothing in a regime near a random walk, so a fraction of it would
not be a stable scale.
"""

from __future__ import annotations

from typing import Any

from mrft.envs import family_of, parse_env
from mrft.envs.family import NORMALISED, REFERENCE, RETURN, SUCCESS

__all__ = ["NORMALISED", "REFERENCE", "RETURN", "SUCCESS", "score_curve", "score_name",
           "training_metric"]


def score_name(env: str) -> str:
    return family_of(env).score_name


def training_metric(env: str) -> str:
    """The key of a training log (``metrics.jsonl``) that follows the family's score: the
    success rate where the score is one, the episodic return otherwise."""
    return "charts/success_rate" if score_name(env) == SUCCESS else "charts/episodic_return"


def score_curve(env: str, curve: list[dict[str, Any]], instance: int | None = None) -> str:
    """Add ``score`` to every evaluation point of an adaptation curve (and ``export/score`` or
    ``distilled/score`` where the point also scored an exported, context-free policy: the
    fold, ``export/return``, or the distilled student, ``distilled/return``);
    returns the score's name. ``instance`` (the held-out instance seed) is needed by families
    scored against a per-instance reference."""
    family = family_of(env)
    if family.score_name == REFERENCE and instance is None:
        raise ValueError(f"{env} is scored against a per-instance reference: give the instance")
    score = family.score(parse_env(env).test[0], instance)
    for point in curve:
        point["score"] = score(point["return"], point.get("success"))
        for name in ("export", "distilled"):
            if f"{name}/return" in point:
                point[f"{name}/score"] = score(point[f"{name}/return"], point.get(f"{name}/success"))
    return family.score_name
