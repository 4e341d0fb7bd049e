"""2-D point navigation to a hidden goal: a task family small enough for seconds-long tests.

The classic meta-RL probe (Finn et al. 2017; Rakelly et al. 2019): a point starts at the
origin and moves by ``0.1 * clip(action, -1, 1)`` per step; the goal lies on the upper
half of the unit circle and is *not* in the observation, which is the point's position.
The dense reward ``-|position - goal|`` reveals the goal only through experience, so a
policy that cannot use its context can at best head for the middle of the arc. An
episode succeeds once the point comes within ``GOAL_RADIUS`` of the goal.

``nav:point-reversed`` trains on the same tasks and holds out the same goals behind a
reversed motor (every action moves the point the opposite way): the plant changed after
training, so a policy that acts as it was trained walks away from the goal, and adaptation
has to recover it (a fast stand-in for ``shift:*-signed``). Its oracle is shown the goal
only: the motor's sign is the same on every instance of a split, a shift between training
and deployment rather than a parameter a policy could be shown.

Each env draws a new goal at every reset. The ``k``-th explicit :meth:`reset` of an env
with env seed ``s`` draws from ``default_rng([s, k])`` and the auto-resets after it
continue that stream, so an explicit reset depends only on ``(s, k)`` and auto-reset
episodes still vary. This keeps GRPO groups (envs sharing a seed) groups: a member that
auto-resets more often than its mates would, with one stateful ``Generator(s)``, draw a
different goal at the next explicit reset. Envs with equal seeds see the same goal at
every explicit reset, a fresh env replays its first goal, and :meth:`reseed` makes the
next reset replay a fresh env's first goal. Resets follow the same next-step
auto-reset convention as the other backends.
"""

from __future__ import annotations

import math

import gymnasium as gym
import numpy as np

from mrft.envs.family import Family
from mrft.envs.seed_streams import SeedStreams
from mrft.envs.spaces import TaskSpaces
from mrft.envs.spec import Suite, Task, make_task
from mrft.envs.vector import StepResult
from mrft.errors import MrftError

TEST_SEED_OFFSET = 1_000_003
STEP_SIZE = 0.1
GOAL_RADIUS = 0.2
HORIZON = 20
TASKS = ("point", "point-reversed")


def suite(name: str) -> Suite:
    if name not in TASKS:
        raise MrftError(f"unknown nav task {name!r}; choose one of: {', '.join(TASKS)}")
    task = make_task("nav", name)
    held_out = task.with_options(split_seed_offset=TEST_SEED_OFFSET)
    if name == "point-reversed":
        held_out = held_out.with_options(motor_sign=-1.0)
    return Suite(f"nav:{name}", (task,), (held_out,))


def goal_from_rng(rng: np.random.Generator) -> np.ndarray:
    angle = rng.uniform(0.0, math.pi)
    return np.array([math.cos(angle), math.sin(angle)], dtype=np.float32)


class PointNavVecEnv(SeedStreams):
    """``num_envs`` point robots; env ``i`` draws its goals from streams seeded by ``env_seeds[i]``.

    ``env_seeds`` already include ``seed_offset`` (the split's), which :meth:`reseed` adds.
    """

    def __init__(self, num_envs: int, env_seeds: list[int], horizon: int = HORIZON,
                 seed_offset: int = 0, motor_sign: float = 1.0):
        self.num_envs = num_envs
        self.motor_sign = motor_sign
        self.horizon = horizon
        self.observation_space = gym.spaces.Box(-np.inf, np.inf, (2,), np.float32)
        self.action_space = gym.spaces.Box(-1.0, 1.0, (2,), np.float32)
        self.task_ids = np.zeros(num_envs, dtype=np.int64)
        self.start_streams(env_seeds, seed_offset)
        self.goals = np.zeros((num_envs, 2), dtype=np.float32)
        self.pos = np.zeros((num_envs, 2), dtype=np.float32)
        self.t = np.zeros(num_envs, dtype=np.int64)
        self._needs_reset = np.zeros(num_envs, dtype=bool)

    def _reset_envs(self, which: np.ndarray) -> None:
        for i in np.flatnonzero(which):
            self.goals[i] = goal_from_rng(self._rngs[i])
        self.pos[which] = 0.0
        self.t[which] = 0

    def _obs(self) -> np.ndarray:
        return self.pos.copy()

    def step(self, actions: np.ndarray) -> StepResult:
        resetting = self._needs_reset.copy()
        moving = ~resetting
        step = (self.motor_sign * STEP_SIZE) * np.clip(np.asarray(actions, dtype=np.float32), -1.0, 1.0)
        self.pos[moving] += step[moving]
        self.t[moving] += 1
        dist = np.linalg.norm(self.pos - self.goals, axis=1)
        reward = np.where(moving, -dist, 0.0).astype(np.float32)
        success = (moving & (dist < GOAL_RADIUS)).astype(np.float32)
        truncated = moving & (self.t >= self.horizon)
        terminated = np.zeros(self.num_envs, dtype=bool)
        self._reset_envs(resetting)
        self._needs_reset = truncated.copy()
        return StepResult(self.pos.copy(), reward, terminated, truncated, success)

    def task_parameters(self) -> np.ndarray:
        """``[n, 2]`` the hidden goal of each env (diagnostics only: what a belief should know)."""
        return self.goals.copy()

    def close(self) -> None:
        pass


def make(task: Task, num_envs: int, seed: int, env_seeds: list[int] | None = None) -> PointNavVecEnv:
    offset = int(task.option("split_seed_offset", 0))
    if env_seeds is None:
        env_seeds = [seed + i for i in range(num_envs)]
    return PointNavVecEnv(num_envs, [s + offset for s in env_seeds], seed_offset=offset,
                          motor_sign=float(task.option("motor_sign", 1.0)))


FAMILY = Family(
    name="nav",
    summary="2-D point navigation to a hidden goal (numpy)",
    examples=("nav:point", "nav:point-reversed"),
    suite=lambda name, o: suite(name),
    make=make,
    spaces=lambda task: TaskSpaces(gym.spaces.Box(-np.inf, np.inf, (2,), np.float32),
                                   gym.spaces.Box(-1.0, 1.0, (2,), np.float32), HORIZON),
    hidden_parameters=("goal x", "goal y"),
    oracle="wrap",
)
