"""Any Gymnasium id as a one-task suite, so users can bring their own environment.

Ids of the form ``package.module:EnvName-v0`` import ``package.module`` first, which
is how a user's own registration code runs.
"""

from __future__ import annotations

import importlib
import os
import sys

import gymnasium

from mrft.envs.spec import Suite, make_task
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


def make(task, num_envs: int, seed: int, env_seeds: list[int] | None = None) -> GymVecEnv:
    offset = int(task.option("split_seed_offset", 0))
    if env_seeds is not None:
        env_seeds = [s + offset for s in env_seeds]
    return GymVecEnv(task.name, num_envs, seed + offset, env_seeds=env_seeds, seed_offset=offset)
