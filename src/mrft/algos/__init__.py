"""Algorithms: each implements :class:`mrft.algos.base.Algorithm` and is found by name here.

To add one, write a module with an ``Algorithm`` subclass and add it to :data:`REGISTRY`
(or call :func:`register`): the trainer, adaptation, ``mrft train --algo`` and the
benchmark find it by name; nothing else changes.
"""

from __future__ import annotations

from mrft.algos.base import AlgoContext, Algorithm
from mrft.algos.grpo import GRPO
from mrft.algos.mrft.algorithm import MRFT
from mrft.algos.ppo import PPO
from mrft.algos.rl2 import RL2
from mrft.errors import MrftError

REGISTRY: dict[str, type[Algorithm]] = {"ppo": PPO, "grpo": GRPO, "mrft": MRFT, "rl2": RL2}


def register(cls: type[Algorithm]) -> type[Algorithm]:
    """Make ``cls`` available as ``--algo cls.name`` (usable as a class decorator)."""
    REGISTRY[cls.name] = cls
    return cls


def get(name: str) -> type[Algorithm]:
    try:
        return REGISTRY[name]
    except KeyError:
        raise MrftError(f"unknown algorithm {name!r}; choose one of: {', '.join(REGISTRY)}") from None


__all__ = ["GRPO", "MRFT", "PPO", "REGISTRY", "RL2", "AlgoContext", "Algorithm", "get", "register"]
