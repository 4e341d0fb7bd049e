"""Tasks and suites: the data that says which MDPs a run trains and tests on.

A :class:`Task` is one reproducible family of episodes (a Procgen game over a level
range, a Meta-World task with a goal distribution or one fixed goal, a Gymnasium id).
A :class:`Suite` splits tasks into ``train`` (pre-training) and ``test`` (held out).
Both are plain frozen dataclasses, so they can be hashed and compared.
"""

from __future__ import annotations

import dataclasses
from typing import Any


@dataclasses.dataclass(frozen=True)
class Task:
    """One task: ``family`` picks the backend, ``name`` the game/task/id, ``options`` the rest."""

    family: str
    name: str
    options: tuple[tuple[str, Any], ...] = ()

    def option(self, key: str, default: Any = None) -> Any:
        return dict(self.options).get(key, default)

    def with_options(self, **updates: Any) -> Task:
        merged = dict(self.options)
        merged.update(updates)
        return Task(self.family, self.name, tuple(sorted(merged.items())))


def make_task(family: str, name: str, **options: Any) -> Task:
    return Task(family, name, tuple(sorted(options.items())))


@dataclasses.dataclass(frozen=True)
class Suite:
    """A named set of tasks split into ``train`` and held-out ``test``."""

    name: str
    train: tuple[Task, ...]
    test: tuple[Task, ...]

    def split(self, which: str) -> tuple[Task, ...]:
        if which == "train":
            return self.train
        if which == "test":
            return self.test
        raise ValueError(f"unknown split {which!r} (expected 'train' or 'test')")
