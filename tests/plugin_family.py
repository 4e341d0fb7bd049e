"""A task family registered from outside mrft (``MRFT_PLUGINS=tests/plugin_family.py``).

``tilt:line``: push a point from 0 to 1 on a line whose direction is hidden; an instance is
the sign of the push (two distinct instances), which ``task_parameters()`` shows an oracle.
"""

from __future__ import annotations

import gymnasium as gym
import numpy as np

from mrft.envs import Family, Suite, make_task, register_family
from mrft.envs.spaces import TaskSpaces
from mrft.envs.vector import StepResult
from mrft.errors import MrftError

HORIZON = 10


class TiltVecEnv:
    def __init__(self, num_envs: int, env_seeds: list[int], offset: int):
        self.num_envs, self.offset, self.horizon = num_envs, offset, HORIZON
        self.observation_space = gym.spaces.Box(-np.inf, np.inf, (1,), np.float32)
        self.action_space = gym.spaces.Box(-1.0, 1.0, (1,), np.float32)
        self.task_ids = np.zeros(num_envs, dtype=np.int64)
        self.x = np.zeros(num_envs, np.float32)
        self.t = np.zeros(num_envs, np.int64)
        self.sign = np.ones(num_envs, np.float32)
        self.reseed([s - offset for s in env_seeds])

    def reseed(self, env_seeds):
        self.rngs = [np.random.default_rng(s + self.offset) for s in env_seeds]
        self.seeds = list(env_seeds)

    def _draw(self, i):
        self.sign[i] = self.rngs[i].choice([-1.0, 1.0])
        self.x[i], self.t[i] = 0.0, 0

    def reset(self):
        self.reseed(self.seeds)  # a fresh env's first instance, whatever came before
        for i in range(self.num_envs):
            self._draw(i)
        self.done = np.zeros(self.num_envs, bool)
        return self.x[:, None].copy()

    def step(self, actions):
        moving = ~self.done
        for i in np.flatnonzero(self.done):
            self._draw(i)
        self.x[moving] += 0.2 * self.sign[moving] * np.clip(actions[moving, 0], -1, 1)
        self.t[moving] += 1
        reward = np.where(moving, -np.abs(self.x - 1.0), 0.0).astype(np.float32)
        truncated = moving & (self.t >= HORIZON)
        self.done = truncated.copy()
        return StepResult(self.x[:, None].copy(), reward, np.zeros(self.num_envs, bool), truncated,
                          None)

    def task_parameters(self):
        return self.sign[:, None].copy()

    def close(self):
        pass


def make(task, num_envs, seed, env_seeds=None):
    offset = int(task.option("split_seed_offset", 0))
    seeds = env_seeds if env_seeds is not None else [seed + i for i in range(num_envs)]
    return TiltVecEnv(num_envs, [s + offset for s in seeds], offset)


def suite(name, options):
    if name != "line":
        raise MrftError(f"unknown tilt task {name!r}; choose: line")
    task = make_task("tilt", name)
    return Suite("tilt:line", (task,), (task.with_options(split_seed_offset=7919),))


def sign_of(task, seed):
    env = make(task, 1, 0, env_seeds=[seed])
    env.reset()
    return float(env.sign[0])


register_family(Family(
    name="tilt", summary="push a point along a line whose direction is hidden",
    examples=("tilt:line",), suite=suite, make=make,
    spaces=lambda task: TaskSpaces(gym.spaces.Box(-np.inf, np.inf, (1,), np.float32),
                                   gym.spaces.Box(-1.0, 1.0, (1,), np.float32), HORIZON),
    default_num_envs=8, hidden_parameters=("direction",), oracle="wrap",
    distinct_instances=lambda task: 2, instance_key=sign_of,
))
