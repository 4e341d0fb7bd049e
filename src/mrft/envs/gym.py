"""A user's own task family: any Gymnasium id, ``gym:ID`` or ``gym:package.module:ID``.

The contract (docs/your-tasks.md in the source repository):

- **The hidden task is drawn from the env's RNG at every reset.** ``reset(seed=s)`` then
  replays task ``s``, so mrft can hold an instance fixed across a trial's episodes, start a
  GRPO group identically, and keep held-out instances apart: the test split plays seeds
  offset by :data:`TEST_SEED_OFFSET`, instances no training run saw.
- ``info["success"]``, where the env reports it, is read as the episode's success.
- An optional ``task_parameters()`` method (a 1-D array of the current instance's hidden
  parameters) lets an oracle see the task: ``--oracle`` and the bench's ``oracle`` row.
- Or the Meta-World / garage convention instead: ``sample_tasks(n)`` and ``set_task(task)``.
  :class:`TaskSampling` then draws a task at every reset from a stream seeded as above, so the
  same contract holds; a task that is a number, an array or a dict of them also gives the
  oracle its parameters.

Ids of the form ``package.module:EnvName-v0`` import ``package.module`` first, which is how
a user's own registration code runs (the current folder is importable, as with
``python -m``).
"""

from __future__ import annotations

import functools
import importlib
import os
import random
import sys
from typing import Any

import gymnasium
import numpy as np

from mrft.envs.family import Family
from mrft.envs.spaces import TaskSpaces, gym_spaces
from mrft.envs.spec import Suite, Task, make_task
from mrft.envs.vector import GymVecEnv
from mrft.errors import MrftError

TEST_SEED_OFFSET = 1_000_003


def check_id(env_id: str) -> str:
    """``env_id`` if Gymnasium knows it; ``module.path:Id`` imports the module first, which is
    where a user's package registers its envs."""
    module, sep, name = env_id.rpartition(":")
    if sep:
        # as `python -m` does, the current folder is importable, so a user's envs.py next to
        # their data works with the installed `mrft` command too
        if os.getcwd() not in sys.path and "" not in sys.path:
            sys.path.insert(0, os.getcwd())
        try:
            importlib.import_module(module)
        except Exception as exc:  # a user's module may fail in any way while importing
            raise MrftError(f"cannot import module {module!r} for gym:{env_id} "
                            f"({type(exc).__name__}: {exc})") from None
    try:
        gymnasium.spec(name if sep else env_id)
    except (gymnasium.error.Error, ModuleNotFoundError, ImportError) as exc:
        raise MrftError(f"unknown Gymnasium id {env_id!r}: {exc}") from None
    return env_id


def suite(env_id: str) -> Suite:
    task = make_task("gym", check_id(env_id))
    return Suite(f"gym:{env_id}", (task,), (task.with_options(split_seed_offset=TEST_SEED_OFFSET),))


@functools.cache
def _creator(env_id: str) -> Any:
    """What the id's entry point builds (a class, or a function for ids registered so)."""
    spec = gymnasium.spec(env_id.rpartition(":")[2] if ":" in env_id else env_id)
    entry = spec.entry_point
    if isinstance(entry, str):
        return gymnasium.envs.registration.load_env_creator(entry)
    return entry


def samples_tasks(env_id: str) -> bool:
    """The env follows the Meta-World / garage convention (``sample_tasks``, ``set_task``)."""
    creator = _creator(env_id)
    return callable(getattr(creator, "sample_tasks", None)) and callable(getattr(creator, "set_task", None))


def shows_task(env_id: str) -> bool:
    """The env can tell its instance's hidden parameters (``task_parameters()``), directly or
    through a task of numbers under the garage convention."""
    return callable(getattr(_creator(env_id), "task_parameters", None)) or samples_tasks(env_id)


def task_vector(task: Any) -> np.ndarray | None:
    """A garage task as a vector of numbers (None when it holds anything else)."""
    if isinstance(task, dict):
        parts = [task_vector(task[k]) for k in sorted(task)]
        return None if any(p is None for p in parts) else np.concatenate(parts)
    try:
        return np.asarray(task, dtype=np.float32).ravel()
    except (TypeError, ValueError):
        return None


class TaskSampling(gymnasium.Wrapper):
    """The garage convention under mrft's contract: at every reset a task is drawn with
    ``sample_tasks(1)`` while NumPy's and Python's global RNGs are seeded from this wrapper's
    stream (itself seeded by ``reset(seed=s)``), then set with ``set_task``; both global
    RNGs are restored afterwards. ``reset(seed=s)`` thus replays task ``s``."""

    def __init__(self, env: gymnasium.Env):
        super().__init__(env)
        self._task: Any = None
        self._draws = np.random.default_rng(0)

    def reset(self, *, seed: int | None = None, options: dict | None = None):
        if seed is not None:
            self._draws = np.random.default_rng(seed)
        task_seed = int(self._draws.integers(2**31 - 1))
        self._task = self._sample(task_seed)
        self.env.unwrapped.set_task(self._task)
        return self.env.reset(seed=None if seed is None else task_seed, options=options)

    def _sample(self, task_seed: int) -> Any:
        np_state, py_state = np.random.get_state(), random.getstate()
        try:
            np.random.seed(task_seed)
            random.seed(task_seed)
            return self.env.unwrapped.sample_tasks(1)[0]
        finally:
            np.random.set_state(np_state)
            random.setstate(py_state)

    def task_parameters(self) -> np.ndarray:
        own = getattr(self.env.unwrapped, "task_parameters", None)
        if callable(own):
            return np.asarray(own(), dtype=np.float32).ravel()
        # before the first reset: the shape of a task's parameters, from a task not set
        vector = task_vector(self._task if self._task is not None else self._sample(0))
        if vector is None:
            raise MrftError("this env's tasks are not numbers: give it a task_parameters() method "
                            "for the oracle")
        return vector


def make(task: Task, num_envs: int, seed: int, env_seeds: list[int] | None = None) -> GymVecEnv:
    offset = int(task.option("split_seed_offset", 0))
    if env_seeds is not None:
        env_seeds = [s + offset for s in env_seeds]
    wrappers = (TaskSampling,) if samples_tasks(task.name) else ()
    return GymVecEnv(task.name, num_envs, seed + offset, env_seeds=env_seeds, seed_offset=offset,
                     wrappers=wrappers, guard_as=f"gym:{task.name}")


def _spaces(task: Task) -> TaskSpaces:
    return gym_spaces(task.name)


FAMILY = Family(
    name="gym",
    summary="any Gymnasium id, a user's own family among them: the hidden task is drawn from the "
            "env's RNG at every reset (docs/your-tasks.md)",
    examples=("gym:CartPole-v1", "gym:my_package.envs:MyTask-v0"),
    suite=lambda name, o: suite(name),
    make=make,
    spaces=_spaces,
    default_num_envs=8,
    hidden_parameters=("task_parameters(), where the env has it",),
    oracle=lambda task: "wrap" if shows_task(task.name) else None,
)
