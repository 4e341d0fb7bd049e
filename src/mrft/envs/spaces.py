"""Observation/action spaces and episode horizon of a task, without building an env pool.

The engine needs the spaces to build a network before any collector exists, and the
whole-episode collector needs the horizon to know whether an episode still fits in the
budget. Each family answers through its :attr:`~mrft.envs.family.Family.spaces`; the helpers
here serve the usual cases: envpool answers from its spec, Gymnasium ids from one throw-away
single env, numpy families from a one-env instance.
"""

from __future__ import annotations

import dataclasses
import functools

import gymnasium as gym
import numpy as np

from mrft.envs.spec import Task


@dataclasses.dataclass(frozen=True)
class TaskSpaces:
    observation_space: gym.Space
    action_space: gym.Space
    horizon: int | None
    """Longest possible episode in env steps (None: the env sets no limit)."""


def task_spaces(task: Task) -> TaskSpaces:
    return _spaces(task)


@functools.cache
def _spaces(task: Task) -> TaskSpaces:
    from mrft.envs.family import family_of

    family = family_of(task)
    if task.option("oracle", False) and family.oracle_kind(task) == "wrap":
        return _oracle_spaces(task)
    return family.spaces(task)


def float32_box(space: gym.Space) -> gym.Space:
    """``space`` with float bounds as float32 (what the collectors hand the network)."""
    if isinstance(space, gym.spaces.Box) and np.issubdtype(space.dtype, np.floating):
        return gym.spaces.Box(space.low.astype(np.float32), space.high.astype(np.float32),
                              space.shape, np.float32)
    return space


def envpool_spaces(env_id: str) -> TaskSpaces:
    import envpool

    spec = envpool.make_spec(env_id)
    return TaskSpaces(float32_box(spec.observation_space), spec.action_space,
                      int(spec.config.max_episode_steps))


def gym_spaces(env_id: str) -> TaskSpaces:
    env = gym.make(env_id, disable_env_checker=True)
    try:
        limit = env.spec.max_episode_steps if env.spec is not None else None
        return TaskSpaces(float32_box(env.observation_space), env.action_space, limit)
    finally:
        env.close()


def built_spaces(make, task: Task) -> TaskSpaces:
    """Spaces of a vector env that is cheap to build: one env of it (``env.horizon``)."""
    env = make(task, 1, 0)
    try:
        return TaskSpaces(env.observation_space, env.action_space, getattr(env, "horizon", None))
    finally:
        env.close()


def _oracle_spaces(task: Task) -> TaskSpaces:
    """The task's spaces with its hidden parameters appended to the observation
    (:mod:`mrft.envs.oracle`)."""
    from mrft.envs.family import family_of

    plain = Task(task.family, task.name, tuple(kv for kv in task.options if kv[0] != "oracle"))
    spaces = _spaces(plain)
    env = family_of(task).make(plain, 1, 0)
    try:
        extra = np.asarray(env.task_parameters()).shape[1]
    finally:
        env.close()
    obs = gym.spaces.Box(-np.inf, np.inf, (spaces.observation_space.shape[0] + extra,), np.float32)
    return TaskSpaces(obs, spaces.action_space, spaces.horizon)
