"""2-D navigation to a visible goal through a hidden water current: steer into the drift.

``current:drift``: a boat starts at the origin and must reach, then hold, a goal it can
see. Each step it moves by ``STEP_SIZE * clip(action, -1, 1)`` plus a constant current
``c`` plus a little Gaussian noise (``NOISE`` per axis). The goal lies at a uniform angle
and a distance uniform in :data:`GOAL_DISTANCE`; the current has a uniform direction and a
strength uniform in :data:`CURRENT_STRENGTH` (two fifths to four fifths of the boat's own
top speed). The current is *not* in the observation, which is the offset to the goal and
the position; the dense reward is ``-|position - goal|`` after the step, and a step
succeeds when the boat lies within ``GOAL_RADIUS`` of the goal. :data:`HORIZON` steps, no
termination.

Why adaptation matters: the best thrust from a given offset is ``offset - c`` (scaled and
clipped), which depends on ``c``. A policy that cannot infer the current aims at the goal,
is carried off its line on the way and cannot hold the goal: a memoryless rule that
thrusts ``K`` times the offset settles ``|c| / K`` off the goal (the offset obeys
``e <- (1 - K) e + c``), and ``K`` must stay below 2 or the boat oscillates ever wider, so
the error stays of the order of the current for the rest of the episode. One step of
experience (where the boat went against where it was steered) reveals ``c`` up to the
noise, so a policy with memory, or one fine-tuned on the instance, can steer into the
current and hold the goal.

Seeding as in :mod:`mrft.envs.nav`: the ``k``-th explicit :meth:`reset` of an env with env
seed ``s`` draws the goal and current from ``default_rng([s, k])`` and the auto-resets
after it continue that stream, so an explicit reset depends only on ``(s, k)``, a fresh
env replays its first instance and :meth:`reseed` makes the next reset replay it. The
noise is exogenous, as the paths of :mod:`mrft.envs.market`: one stream per vector env,
seeded by ``make``'s ``seed``, so the envs of a group share the instance but not the noise,
and :meth:`rewind` restarts it (evaluation rounds then play the same noise). Next-step
auto-reset as in the other backends.

Speed: about 700k raw env steps per second with 16 envs on one core of the project's
2-core machine (random actions, ``step`` alone, auto-resets included; best of five
repeats of 5,000 steps, benchmarks/results/eval_calibration.md).
"""

from __future__ import annotations

import json
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
TASKS = ("drift",)
HORIZON = 40
STEP_SIZE = 0.1
GOAL_DISTANCE = (0.3, 0.8)
CURRENT_STRENGTH = (0.04, 0.08)
"""Bounds of the current's uniform strength, per step (the boat's top speed is ``STEP_SIZE``)."""
NOISE = 0.01
GOAL_RADIUS = 0.05
TASK_PARAMETER_NAMES = ("current x", "current y")
"""Columns of :meth:`CurrentVecEnv.task_parameters`: the current over its largest strength."""


def suite(name: str) -> Suite:
    if name not in TASKS:
        raise MrftError(f"unknown current task {name!r}; choose one of: {', '.join(TASKS)}")
    task = make_task("current", name)
    return Suite(f"current:{name}", (task,), (task.with_options(split_seed_offset=TEST_SEED_OFFSET),))


def draw_instance(rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    """``(goal, current)`` of one instance."""
    goal_angle, distance = rng.uniform(0.0, 2.0 * math.pi), rng.uniform(*GOAL_DISTANCE)
    current_angle, strength = rng.uniform(0.0, 2.0 * math.pi), rng.uniform(*CURRENT_STRENGTH)
    goal = distance * np.array([math.cos(goal_angle), math.sin(goal_angle)])
    current = strength * np.array([math.cos(current_angle), math.sin(current_angle)])
    return goal, current


class CurrentVecEnv(SeedStreams):
    """``num_envs`` boats; env ``i`` draws its goals and currents from streams seeded by
    ``env_seeds[i]``, which already include ``seed_offset`` (the split's, which :meth:`reseed`
    adds). ``goals`` and ``currents`` are plain arrays read at every step, so a test may
    overwrite them after :meth:`reset`. ``noise_seed`` seeds the exogenous noise."""

    def __init__(self, num_envs: int, env_seeds: list[int], horizon: int = HORIZON,
                 seed_offset: int = 0, noise_seed: int = 0):
        self.num_envs = num_envs
        self.horizon = horizon
        self.observation_space = gym.spaces.Box(-np.inf, np.inf, (4,), np.float32)
        self.action_space = gym.spaces.Box(-1.0, 1.0, (2,), np.float32)
        self.task_ids = np.zeros(num_envs, dtype=np.int64)
        self.noise = NOISE
        self._noise_seed = noise_seed
        self.start_streams(env_seeds, seed_offset)
        self.rewind()
        self.goals = np.zeros((num_envs, 2))
        self.currents = np.zeros((num_envs, 2))
        self.pos = np.zeros((num_envs, 2))
        self.t = np.zeros(num_envs, dtype=np.int64)
        self._needs_reset = np.zeros(num_envs, dtype=bool)

    def stream_state(self) -> str:
        """Where the noise stream stands (:func:`mrft.envs.vector.stream_state`)."""
        return json.dumps(self._noise_rng.bit_generator.state)

    def load_stream_state(self, state: str) -> None:
        self._noise_rng.bit_generator.state = json.loads(state)

    def rewind(self) -> None:
        """Restart the noise stream: what follows plays the noise of a freshly built env."""
        self._noise_rng = np.random.default_rng([self._noise_seed, self._seed_offset])

    def _reset_envs(self, which: np.ndarray) -> None:
        for i in np.flatnonzero(which):
            self.goals[i], self.currents[i] = draw_instance(self._rngs[i])
        self.pos[which] = 0.0
        self.t[which] = 0

    def _obs(self) -> np.ndarray:
        return np.concatenate([self.goals - self.pos, self.pos], axis=1).astype(np.float32)

    def step(self, actions: np.ndarray) -> StepResult:
        resetting = self._needs_reset.copy()
        moving = ~resetting
        actions = np.asarray(actions, dtype=np.float64).reshape(self.num_envs, 2)
        thrust = STEP_SIZE * np.clip(actions, -1.0, 1.0)
        drift = self.currents + self.noise * self._noise_rng.standard_normal((self.num_envs, 2))
        self.pos += np.where(moving[:, None], thrust + drift, 0.0)
        self.t += moving
        offset = self.pos - self.goals
        dist = np.sqrt((offset * offset).sum(axis=1))
        reward = np.where(moving, -dist, 0.0).astype(np.float32)
        success = (moving & (dist < GOAL_RADIUS)).astype(np.float32)
        truncated = moving & (self.t >= self.horizon)
        if resetting.any():
            self._reset_envs(resetting)
        self._needs_reset = truncated.copy()
        terminated = np.zeros(self.num_envs, dtype=bool)
        return StepResult(self._obs(), reward, terminated, truncated, success)

    def task_parameters(self) -> np.ndarray:
        """``[n, 2]`` each env's current over the largest strength (inside the unit disk)."""
        return (self.currents / CURRENT_STRENGTH[1]).astype(np.float32)

    def close(self) -> None:
        pass


def make(task: Task, num_envs: int, seed: int, env_seeds: list[int] | None = None) -> CurrentVecEnv:
    offset = int(task.option("split_seed_offset", 0))
    if env_seeds is None:
        env_seeds = [seed + i for i in range(num_envs)]
    return CurrentVecEnv(num_envs, [s + offset for s in env_seeds], seed_offset=offset,
                         noise_seed=seed)


FAMILY = Family(
    name="current",
    summary="2-D navigation to a visible goal under a hidden constant water current (numpy; "
            "evaluation family)",
    examples=("current:drift",),
    suite=lambda name, o: suite(name),
    make=make,
    spaces=lambda task: TaskSpaces(gym.spaces.Box(-np.inf, np.inf, (4,), np.float32),
                                   gym.spaces.Box(-1.0, 1.0, (2,), np.float32), HORIZON),
    hidden_parameters=TASK_PARAMETER_NAMES,
    oracle="wrap",
)
