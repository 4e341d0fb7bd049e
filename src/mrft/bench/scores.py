"""The score a benchmark compares on each task family (BENCHMARK.md, "final return").

Raw returns are not comparable across task families, so each family gets the score its
literature reports: Meta-World the success rate (an episode succeeds if ``info["success"]``
is ever 1), Procgen the return normalised by the easy-mode constants of Cobbe et al. 2020.
Other families (Gymnasium ids, bandits, navigation, dynamics shift) keep the raw return.
"""

from __future__ import annotations

from typing import Any

from mrft.envs import parse_env
from mrft.envs.procgen import normalized_return

SUCCESS = "success rate"
NORMALISED = "normalised return"
RETURN = "return"


def score_name(env: str) -> str:
    family = env.partition(":")[0].lower()
    return {"metaworld": SUCCESS, "procgen": NORMALISED}.get(family, RETURN)


def score_curve(env: str, curve: list[dict[str, Any]]) -> str:
    """Add ``score`` to every evaluation point of an adaptation curve; returns the score's name."""
    name = score_name(env)
    task = parse_env(env).test[0] if name == NORMALISED else None
    for point in curve:
        if name == SUCCESS:
            point["score"] = float(point["success"])
        elif name == NORMALISED:
            point["score"] = normalized_return(task.name, task.option("mode", "easy"), point["return"])
        else:
            point["score"] = float(point["return"])
    return name
