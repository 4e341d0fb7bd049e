"""Task suites and vectorised environments; the only package that touches env backends.

Families are found through one registry (:mod:`mrft.envs.family`): each built-in family is
one module with a ``FAMILY`` spec and one line below; a user's family is a
:func:`register_family` call in a plugin, or any Gymnasium id (``gym:...``).
``parse_env("procgen:bigfish")`` gives a :class:`Suite`; ``make_vec_env(tasks, n, seed)``
gives one vector env over those tasks with ``n`` envs spread evenly among them.
``make_task_instances(tasks, seeds, seed)`` gives one env per (task, instance seed), and
``reseed_or_build`` re-seeds such an env in place when the next batch has the same tasks.
"""

from __future__ import annotations

import types
from collections.abc import Sequence

import gymnasium

from mrft.envs import (
    bandit,
    current,
    market,
    metaworld,
    metaworld_official,
    nav,
    process,
    procgen,
    recsys,
    shift,
    sim2real,
    vehicle,
)
from mrft.envs import gym as gym_family
from mrft.envs import oracle as oracle_obs
from mrft.envs.family import REGISTRY, Family, family_of, register_family
from mrft.envs.instances import distinct_instances, held_out_instance, instance_seed
from mrft.envs.spaces import TaskSpaces, task_spaces
from mrft.envs.spec import Suite, Task, make_task
from mrft.envs.vector import (
    MultiTaskVecEnv,
    StepResult,
    VecEnv,
    load_stream_state,
    split_envs,
    stream_state,
)
from mrft.errors import MrftError

SIMULATOR_PACKAGES = ("gymnasium", "envpool", "metaworld")
"""Packages whose versions the built-in families' numbers depend on (a bench records them)."""

register_family(procgen.FAMILY)
register_family(metaworld.FAMILY)
register_family(metaworld_official.FAMILY)
register_family(gym_family.FAMILY)
register_family(nav.FAMILY)
register_family(bandit.FAMILY)
register_family(shift.FAMILY)
register_family(market.FAMILY)
register_family(process.FAMILY)
register_family(sim2real.FAMILY)
register_family(current.FAMILY)
register_family(recsys.FAMILY)
register_family(vehicle.FAMILY)

__all__ = [
    "REGISTRY",
    "SIMULATOR_PACKAGES",
    "Family",
    "StepResult",
    "Suite",
    "Task",
    "TaskSpaces",
    "VecEnv",
    "action_is_continuous",
    "distinct_instances",
    "family_of",
    "held_out_instance",
    "instance_seed",
    "load_stream_state",
    "make_task",
    "make_task_instances",
    "make_vec_env",
    "parse_env",
    "register_family",
    "reseed_or_build",
    "stream_state",
    "task_spaces",
]

def parse_env(
    spec: str,
    *,
    distribution_mode: str = "easy",
    num_levels: int = 200,
    start_level: int = 0,
    hidden_goal: bool = False,
    oracle: bool = False,
) -> Suite:
    """Turn ``family:name`` into a suite, with a one-line error for anything unknown.

    ``oracle``: every task shows its hidden parameters (:mod:`mrft.envs.oracle`); a family
    may also pre-train its oracle on other tasks (``sim2real``: on real bodies, the
    reference that was trained on the plant itself)."""
    _, sep, name = spec.partition(":")
    if not sep or not name:
        examples = ", ".join(f.examples[0] for f in REGISTRY.values() if f.examples)
        raise MrftError(f"bad env {spec!r}: expected FAMILY:NAME such as {examples}")
    family = family_of(spec)
    options = types.SimpleNamespace(distribution_mode=distribution_mode, num_levels=num_levels,
                                    start_level=start_level, hidden_goal=hidden_goal)
    suite = family.suite(name, options)
    if not oracle:
        return suite
    if not oracle_obs.shows_parameters(suite.train[0]):
        raise MrftError(f"--oracle: {spec} has no hidden task parameters to show; families that "
                        f"have them: {', '.join(oracle_obs.families_with_oracle())}")
    extra = dict(family.oracle_train_options)
    train = tuple(t.with_options(oracle=True, **extra) for t in suite.train)
    return Suite(suite.name, train, tuple(t.with_options(oracle=True) for t in suite.test))


def action_is_continuous(task: Task) -> bool:
    """Whether a task has a continuous (Box) action space, without building a full pool."""
    return isinstance(task_spaces(task).action_space, gymnasium.spaces.Box)


def _build(task: Task, num_envs: int, seed: int, env_seeds: list[int] | None) -> VecEnv:
    family = family_of(task)
    env = family.make(task, num_envs, seed, env_seeds=env_seeds)
    if task.option("oracle", False) and family.oracle_kind(task) == "wrap":
        env = oracle_obs.OracleObservation(env)
    return env


def make_vec_env(tasks: Sequence[Task], num_envs: int, seed: int, group_size: int = 1) -> VecEnv:
    """Build ``num_envs`` envs over ``tasks``; env seeds differ between tasks and envs.

    With ``group_size > 1`` consecutive envs form groups of that size whose members share
    one RNG seed, so every reset starts them identically (same Procgen level, same
    Meta-World goal, same Gymnasium start): the unit GRPO compares episodes within.
    """
    counts = split_envs(num_envs, len(tasks))
    if group_size > 1 and any(c % group_size for c in counts):
        raise MrftError(
            f"--num-envs {num_envs} must split into whole groups of --group-size {group_size} "
            f"for each of the {len(tasks)} train task(s)"
        )
    envs = []
    offset = 0
    for task, count in zip(tasks, counts, strict=True):
        env_seeds = None
        if group_size > 1:
            env_seeds = [seed + (offset + i) // group_size for i in range(count)]
        envs.append(_build(task, count, seed + offset, env_seeds))
        offset += count
    env = envs[0] if len(envs) == 1 else MultiTaskVecEnv(envs)
    env.instance_tasks = tuple(t for t, c in zip(tasks, counts, strict=True) for _ in range(c))
    return env


def make_task_instances(tasks: Sequence[Task], task_seeds: Sequence[int], seed: int) -> VecEnv:
    """One env per entry: env ``i`` plays task ``tasks[i]`` with instance seed ``task_seeds[i]``.

    A fresh vector env's first reset is fully set by the env seeds, so building one per
    episode with the same seeds replays the same instance (Procgen level, Meta-World goal,
    hidden nav goal, shifted MuJoCo dynamics, Gymnasium start): how a trial keeps one task
    across its episodes.
    Consecutive envs with the same task share one backend pool.
    """
    if len(tasks) != len(task_seeds):
        raise ValueError("tasks and task_seeds must have the same length")
    envs = []
    start = 0
    while start < len(tasks):
        stop = start
        while stop < len(tasks) and tasks[stop] == tasks[start]:
            stop += 1
        task = tasks[start]
        seeds = [int(s) for s in task_seeds[start:stop]]
        envs.append(_build(task, stop - start, seed + start, seeds))
        start = stop
    env = envs[0] if len(envs) == 1 else MultiTaskVecEnv(envs)
    env.instance_tasks = tuple(tasks)
    return env


def reseed_or_build(env: VecEnv | None, tasks: Sequence[Task], task_seeds: Sequence[int],
                    seed: int) -> VecEnv:
    """``make_task_instances(tasks, task_seeds, seed)``, reusing ``env`` where possible.

    When ``env`` was built (by :func:`make_task_instances` or :func:`make_vec_env`, which
    record the per-env task tuple as ``env.instance_tasks``) for exactly these ``tasks``,
    in order, it is re-seeded in place with ``env.reseed(task_seeds)`` and returned: its
    next ``reset()`` equals a fresh env's first one. Otherwise ``env`` (if any) is closed
    and a new env is built. Cheap for shift/nav/bandit/gym; envpool pools are rebuilt
    inside ``reseed`` (see :class:`mrft.envs.vector.EnvpoolVecEnv`).
    """
    tasks = tuple(tasks)
    if len(tasks) != len(task_seeds):
        raise ValueError("tasks and task_seeds must have the same length")
    if env is not None:
        if getattr(env, "instance_tasks", None) == tasks and env.num_envs == len(tasks):
            env.reseed([int(s) for s in task_seeds])
            return env
        env.close()
    return make_task_instances(tasks, task_seeds, seed)
