"""Algorithms: each implements :class:`mrft.algos.base.Algorithm` and is found by name here.

To add one, write a module with an ``Algorithm`` subclass (its options, presets, checks,
adaptation options and bench variants declared on the class) and register it, here or from
a plugin (:mod:`mrft.plugins`) with :func:`register`: ``mrft train --algo``, adaptation,
evaluation and the benchmark find it by name; nothing else changes.
"""

from __future__ import annotations

from mrft.algos.base import (
    AlgoContext,
    Algorithm,
    Episodes,
    Rollouts,
    TrialStream,
    UpdatePlan,
    Variant,
)
from mrft.algos.grpo import GRPO
from mrft.algos.mrft.algorithm import MRFT
from mrft.algos.ppo import PPO
from mrft.algos.rl2 import RL2
from mrft.errors import MrftError

REGISTRY: dict[str, type[Algorithm]] = {"ppo": PPO, "grpo": GRPO, "mrft": MRFT, "rl2": RL2}

BASELINE = "grpo"
"""The bench's default baseline: every comparison is against it (``mrft bench --baseline``)."""
FOCUS = "mrft"
"""The bench's default focus method: the verdict is about it (``mrft bench --focus``)."""
BENCH_METHODS = ("grpo", "ppo", "mrft")
"""The methods ``mrft bench`` compares when none are named."""
DEFAULT = "ppo"
"""``mrft train``'s algorithm when none is named."""


def register(cls: type[Algorithm]) -> type[Algorithm]:
    """Make ``cls`` available as ``--algo cls.name`` (usable as a class decorator)."""
    if not cls.name:
        raise MrftError(f"algorithm class {cls.__name__} has no name")
    REGISTRY[cls.name] = cls
    return cls


def get(name: str) -> type[Algorithm]:
    try:
        return REGISTRY[name]
    except KeyError:
        raise MrftError(f"unknown algorithm {name!r}; choose one of: {', '.join(REGISTRY)}") from None


__all__ = ["BASELINE", "BENCH_METHODS", "DEFAULT", "FOCUS", "GRPO", "MRFT", "PPO", "REGISTRY", "RL2", "AlgoContext",
           "Algorithm", "Episodes", "Rollouts", "TrialStream", "UpdatePlan", "Variant", "get", "register"]
