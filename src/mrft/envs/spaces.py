"""Observation/action spaces and episode horizon of a task, without building an env pool.

The trainer needs the spaces to build a network before any collector exists, and the
whole-episode collector needs the horizon to know whether an episode still fits in the
budget. envpool answers both from its spec; the numpy families are static; Gymnasium and
MuJoCo ids are read from one throw-away single env (cheap next to a pool).
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
    family = task.family
    if task.option("oracle", False):
        return _oracle_spaces(task)
    if family in ("metaworld", "procgen"):
        import envpool

        from mrft.envs import metaworld, procgen

        env_id = metaworld.envpool_id(task.name) if family == "metaworld" else procgen.env_id(task)
        spec = envpool.make_spec(env_id)
        obs = spec.observation_space
        if np.issubdtype(obs.dtype, np.floating):
            obs = gym.spaces.Box(obs.low.astype(np.float32), obs.high.astype(np.float32),
                                 obs.shape, np.float32)
        return TaskSpaces(obs, spec.action_space, int(spec.config.max_episode_steps))
    if family == "nav":
        from mrft.envs import nav

        return TaskSpaces(gym.spaces.Box(-np.inf, np.inf, (2,), np.float32),
                          gym.spaces.Box(-1.0, 1.0, (2,), np.float32), nav.HORIZON)
    if family == "bandit":
        from mrft.envs import bandit

        return TaskSpaces(gym.spaces.Box(0.0, 1.0, (1,), np.float32),
                          gym.spaces.Discrete(int(task.option("arms"))), bandit.PULLS)
    if family in ("market", "process"):
        env = _numpy_family(family).make(task, 1, 0)
        return TaskSpaces(env.observation_space, env.action_space, env.horizon)
    if family in ("gym", "shift", "sim2real"):
        from mrft.envs import shift

        env_id = task.name if family == "gym" else shift.env_id(task.name)
        env = gym.make(env_id, disable_env_checker=True)
        try:
            obs = env.observation_space
            if isinstance(obs, gym.spaces.Box) and np.issubdtype(obs.dtype, np.floating):
                obs = gym.spaces.Box(obs.low.astype(np.float32), obs.high.astype(np.float32),
                                     obs.shape, np.float32)
            limit = env.spec.max_episode_steps if env.spec is not None else None
            return TaskSpaces(obs, env.action_space, limit)
        finally:
            env.close()
    from mrft.errors import MrftError

    raise MrftError(f"unknown env family {family!r}")


def _numpy_family(family: str):
    import importlib

    return importlib.import_module(f"mrft.envs.{family}")


def _oracle_spaces(task: Task) -> TaskSpaces:
    """The task's spaces with its hidden parameters appended to the observation
    (:mod:`mrft.envs.oracle`); Meta-World fills the goal slot its observation already has."""
    plain = Task(task.family, task.name, tuple(kv for kv in task.options if kv[0] != "oracle"))
    spaces = _spaces(plain)
    if task.family == "metaworld":
        return spaces
    env = _numpy_family(task.family).make(plain, 1, 0)
    try:
        extra = env.task_parameters().shape[1]
    finally:
        env.close()
    obs = gym.spaces.Box(-np.inf, np.inf, (spaces.observation_space.shape[0] + extra,), np.float32)
    return TaskSpaces(obs, spaces.action_space, spaces.horizon)
