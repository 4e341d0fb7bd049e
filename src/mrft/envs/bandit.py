"""A family of multi-armed bandits with a hidden best arm: the smallest meta-RL problem.

``bandit:armsK`` has K arms; one of them (the task) pays 1, the others 0. An episode is
``PULLS`` pulls; the observation is only the fraction of the episode elapsed, so a
policy without context cannot know which arm pays and at best spreads its pulls, while
one that remembers the previous episode's pulls and rewards can pick the paying arm
every time. This is the regime where context-based adaptation must beat fine-tuning by
gradient steps, and it runs in milliseconds, which is what a learning test needs.

Each env draws a new paying arm at every reset. The ``k``-th explicit :meth:`reset` of an
env with env seed ``s`` draws from ``default_rng([s, k])`` and the auto-resets after it
continue that stream, so an explicit reset depends only on ``(s, k)`` while auto-reset
episodes still vary. This keeps GRPO groups (envs sharing a seed) groups even when their
members auto-reset different numbers of times; with one stateful ``Generator(s)`` they
would draw different arms at the next explicit reset. Envs with equal seeds share the
paying arm at every explicit reset, a fresh env replays its first arm, and
:meth:`reseed` makes the next reset replay a fresh env's first arm. Next-step
auto-reset as elsewhere.
"""

from __future__ import annotations

import re

import gymnasium as gym
import numpy as np

from mrft.envs.family import Family
from mrft.envs.seed_streams import SeedStreams
from mrft.envs.spaces import TaskSpaces
from mrft.envs.spec import Suite, Task, make_task
from mrft.envs.vector import StepResult
from mrft.errors import MrftError

TEST_SEED_OFFSET = 1_000_003
PULLS = 5


def suite(name: str) -> Suite:
    match = re.fullmatch(r"arms(\d+)", name)
    if not match or not 2 <= int(match.group(1)) <= 64:
        raise MrftError(f"unknown bandit task {name!r}; expected armsK with 2 <= K <= 64, e.g. arms5")
    task = make_task("bandit", name, arms=int(match.group(1)))
    return Suite(f"bandit:{name}", (task,), (task.with_options(split_seed_offset=TEST_SEED_OFFSET),))


class HiddenArmBanditVecEnv(SeedStreams):
    """``env_seeds`` already include ``seed_offset`` (the split's), which :meth:`reseed` adds."""

    def __init__(self, num_envs: int, arms: int, env_seeds: list[int], pulls: int = PULLS,
                 seed_offset: int = 0):
        self.num_envs = num_envs
        self.arms = arms
        self.pulls = pulls
        self.observation_space = gym.spaces.Box(0.0, 1.0, (1,), np.float32)
        self.action_space = gym.spaces.Discrete(arms)
        self.task_ids = np.zeros(num_envs, dtype=np.int64)
        self.start_streams(env_seeds, seed_offset)
        self.best = np.zeros(num_envs, dtype=np.int64)
        self.t = np.zeros(num_envs, dtype=np.int64)
        self._needs_reset = np.zeros(num_envs, dtype=bool)

    def _obs(self) -> np.ndarray:
        return (self.t / self.pulls).astype(np.float32)[:, None]

    def _reset_envs(self, which: np.ndarray) -> None:
        for i in np.flatnonzero(which):
            self.best[i] = self._rngs[i].integers(self.arms)
        self.t[which] = 0

    def step(self, actions: np.ndarray) -> StepResult:
        resetting = self._needs_reset.copy()
        pulling = ~resetting
        hit = np.asarray(actions).reshape(-1) == self.best
        reward = (pulling & hit).astype(np.float32)
        self.t[pulling] += 1
        truncated = pulling & (self.t >= self.pulls)
        terminated = np.zeros(self.num_envs, dtype=bool)
        self._reset_envs(resetting)
        self._needs_reset = truncated.copy()
        return StepResult(self._obs(), reward, terminated, truncated, None)

    def task_parameters(self) -> np.ndarray:
        """``[n, arms]`` one-hot of each env's paying arm (diagnostics only)."""
        return np.eye(self.arms, dtype=np.float32)[self.best]

    def close(self) -> None:
        pass


def make(task: Task, num_envs: int, seed: int,
         env_seeds: list[int] | None = None) -> HiddenArmBanditVecEnv:
    offset = int(task.option("split_seed_offset", 0))
    if env_seeds is None:
        env_seeds = [seed + i for i in range(num_envs)]
    return HiddenArmBanditVecEnv(num_envs, int(task.option("arms")), [s + offset for s in env_seeds],
                                 seed_offset=offset)


def _paying_arm(task: Task, seed: int) -> int:
    env = make(task, 1, 0, env_seeds=[seed])
    env.reset()
    return int(env.best[0])


FAMILY = Family(
    name="bandit",
    summary="K arms, one pays; which one is the hidden task (numpy; K distinct instances)",
    examples=("bandit:arms5",),
    suite=lambda name, o: suite(name),
    make=make,
    spaces=lambda task: TaskSpaces(gym.spaces.Box(0.0, 1.0, (1,), np.float32),
                                   gym.spaces.Discrete(int(task.option("arms"))), PULLS),
    hidden_parameters=("paying arm",),
    oracle="wrap",
    distinct_instances=lambda task: int(task.option("arms")),
    instance_key=_paying_arm,
)
