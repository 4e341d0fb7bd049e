"""Speed tracking with a car whose grip, pedal response and road grade are hidden.

``vehicle:speed``: one pedal ``u`` in ``[-1, 1]`` (positive drives, negative brakes)
demands an acceleration ``gain * u``; the tyres transmit it only up to the grip limit
``grip * G`` (traction control and ABS hold them there), and the road's grade and the air
take their share. Per step of ``DT`` seconds::

    a = clip(gain * u, -grip * G, grip * G) - grade - DRAG * v
    v <- max(0, v + DT * a)

Hidden: the pedal gain ``gain`` (engine power and brakes over the car's mass, log-uniform in
:data:`GAIN_RANGE` m/s^2), the tyre-road friction coefficient ``grip`` (uniform in
:data:`GRIP_RANGE`: wet to dry asphalt) and the road's grade, as the deceleration it causes:
up or down with equal chance, its size uniform in :data:`GRADE_RANGE` m/s^2 (a 6% to 15%
slope), so that every road asks for a pedal of its own. Visible: the speed and the target
profile: a level held for :data:`HOLD` steps, then a linear ramp to the next level over the
rest of the :data:`SEGMENT`, the levels a random walk in :data:`SPEED_RANGE`; previewed up to
20 steps ahead. The car starts at the target. Reward per step, on the speed after the step
and the target it was chosen for::

    -|v - target| / SPEED_SCALE - CONTROL_COST * u**2

Why adaptation matters: the pedal that holds a level is ``(grade + DRAG * v) / gain``,
from about -0.75 (a heavy car downhill must brake) to +0.9 (a heavy one uphill), and the
pedal that follows a ramp scales with ``1 / gain`` until the grip caps it. A policy that
does not know the car and the road must find the pedal by feedback on the speed error
alone: it lags on every ramp and settles off the target on a grade (a proportional rule
leaves an error of ``grade / (gain * K)``, and its gain ``K`` must stay small enough for the
most responsive car). A policy that has watched a few pedal presses play out, or one
fine-tuned on the car, can hold the level and meet the ramps. The grade is never near zero:
on a nearly flat road a policy that knows nothing about the car does almost as well as one
told everything, so such instances would show little of what adapting is worth.

Observation (float32, 5): the speed, the error ``target(t+1) - v`` and the preview
``target(t+j) - target(t+1)`` for ``j`` = 5, 10, 20, all over :data:`SPEED_SCALE`. No
termination, truncation at :data:`HORIZON`, no success flag.

Seeding as in :mod:`mrft.envs.nav`: the ``k``-th explicit :meth:`reset` of an env with env
seed ``s`` draws the car, road and profile from ``default_rng([s, k])``, the auto-resets
after it continue that stream, a fresh env replays its first instance and :meth:`reseed`
makes the next reset replay it. The dynamics are deterministic. Next-step auto-reset as in
the other backends.

Speed: about 500k raw env steps per second with 16 envs on one core of the project's
2-core machine (random actions, ``step`` alone, auto-resets included; best of five
repeats of 5,000 steps, benchmarks/results/eval_calibration.md).
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
TASKS = ("speed",)
HORIZON = 100
DT = 0.1
"""Seconds per step."""
G = 9.81
GAIN_RANGE = (2.0, 8.0)
GRADE_RANGE = (0.6, 1.5)
GRIP_RANGE = (0.3, 1.0)
DRAG = 0.01
SEGMENT = 25
HOLD = 15
STEP_CHANGE = 8.0
SPEED_RANGE = (5.0, 25.0)
SPEED_SCALE = 10.0
CONTROL_COST = 0.02
PREVIEW = (5, 10, 20)
TASK_PARAMETER_NAMES = ("log gain", "grip", "grade")
"""Columns of :meth:`VehicleVecEnv.task_parameters`, each mapped to ``[-1, 1]``."""


def suite(name: str) -> Suite:
    if name not in TASKS:
        raise MrftError(f"unknown vehicle task {name!r}; choose one of: {', '.join(TASKS)}")
    task = make_task("vehicle", name)
    return Suite(f"vehicle:{name}", (task,), (task.with_options(split_seed_offset=TEST_SEED_OFFSET),))


def profile(levels: np.ndarray, length: int) -> np.ndarray:
    """The target speed at steps ``0 .. length - 1``: each of ``levels`` held for
    :data:`HOLD` steps, then a linear ramp to the next over ``SEGMENT - HOLD`` steps."""
    starts = SEGMENT * np.arange(len(levels))
    knots = np.stack([starts, starts + HOLD], axis=1).ravel()
    return np.interp(np.arange(length), knots, np.repeat(levels, 2))


def draw_levels(rng: np.random.Generator, count: int) -> np.ndarray:
    """A random walk of target speeds: steps uniform in ``[-STEP_CHANGE, STEP_CHANGE]``,
    kept inside :data:`SPEED_RANGE`."""
    levels = np.empty(count)
    levels[0] = rng.uniform(*SPEED_RANGE)
    steps = rng.uniform(-STEP_CHANGE, STEP_CHANGE, count - 1)
    for j in range(1, count):
        levels[j] = min(max(levels[j - 1] + steps[j - 1], SPEED_RANGE[0]), SPEED_RANGE[1])
    return levels


def acceleration(u: np.ndarray, gain: np.ndarray, grip: np.ndarray) -> np.ndarray:
    """What the tyres transmit of the demand ``gain * u`` (before grade and drag)."""
    limit = grip * G
    return np.clip(gain * u, -limit, limit)


class VehicleVecEnv(SeedStreams):
    """``num_envs`` cars; env ``i`` draws its cars and profiles from streams seeded by
    ``env_seeds[i]``, which already include ``seed_offset`` (the split's, which :meth:`reseed`
    adds). ``gain``, ``grip``, ``grade``, ``speed`` and ``targets`` are plain arrays read at
    every step, so a test may overwrite them after :meth:`reset`."""

    def __init__(self, num_envs: int, env_seeds: list[int], horizon: int = HORIZON,
                 seed_offset: int = 0):
        self.num_envs = num_envs
        self.horizon = horizon
        self.observation_space = gym.spaces.Box(-np.inf, np.inf, (5,), np.float32)
        self.action_space = gym.spaces.Box(-1.0, 1.0, (1,), np.float32)
        self.task_ids = np.zeros(num_envs, dtype=np.int64)
        self.start_streams(env_seeds, seed_offset)
        self._length = horizon + max(PREVIEW) + 1
        self._waypoints = -(-self._length // SEGMENT) + 1
        self.gain = np.ones(num_envs)
        self.grip = np.ones(num_envs)
        self.grade = np.zeros(num_envs)
        self.targets = np.zeros((num_envs, self._length))
        self.speed = np.zeros(num_envs)
        self.t = np.zeros(num_envs, dtype=np.int64)
        self._rows = np.arange(num_envs)
        self._ahead = 1 + np.concatenate([[0], np.asarray(PREVIEW) - 1])
        """Steps from ``t`` to the targets the observation shows: ``t + 1`` and the preview."""
        self._needs_reset = np.zeros(num_envs, dtype=bool)

    def _reset_envs(self, which: np.ndarray) -> None:
        low, high = GAIN_RANGE
        for i in np.flatnonzero(which):
            rng = self._rngs[i]
            self.gain[i] = math.exp(rng.uniform(math.log(low), math.log(high)))
            self.grip[i] = rng.uniform(*GRIP_RANGE)
            self.grade[i] = rng.choice((-1.0, 1.0)) * rng.uniform(*GRADE_RANGE)
            self.targets[i] = profile(draw_levels(rng, self._waypoints), self._length)
        self.speed[which] = self.targets[which, 0]
        self.t[which] = 0

    def _obs(self) -> np.ndarray:
        rows = self._rows[:, None]
        ahead = self.targets[rows, self.t[:, None] + self._ahead]
        obs = np.concatenate([self.speed[:, None], ahead[:, :1] - self.speed[:, None],
                              ahead[:, 1:] - ahead[:, :1]], axis=1)
        return (obs / SPEED_SCALE).astype(np.float32)

    def step(self, actions: np.ndarray) -> StepResult:
        resetting = self._needs_reset.copy()
        driving = ~resetting
        u = np.clip(np.asarray(actions, dtype=np.float64).reshape(self.num_envs), -1.0, 1.0)
        a = acceleration(u, self.gain, self.grip) - self.grade - DRAG * self.speed
        self.speed = np.where(driving, np.maximum(0.0, self.speed + DT * a), self.speed)
        self.t += driving
        error = np.abs(self.speed - self.targets[self._rows, self.t])
        cost = error / SPEED_SCALE + CONTROL_COST * u * u
        reward = np.where(driving, -cost, 0.0).astype(np.float32)
        truncated = driving & (self.t >= self.horizon)
        if resetting.any():
            self._reset_envs(resetting)
        self._needs_reset = truncated.copy()
        return StepResult(self._obs(), reward, np.zeros(self.num_envs, dtype=bool), truncated, None)

    def task_parameters(self) -> np.ndarray:
        """``[n, 3]`` each env's car and road: log gain, grip and grade, each mapped to
        ``[-1, 1]``."""
        low, high = GAIN_RANGE
        gain = (2.0 * np.log(self.gain / low) / math.log(high / low)) - 1.0
        grip = 2.0 * (self.grip - GRIP_RANGE[0]) / (GRIP_RANGE[1] - GRIP_RANGE[0]) - 1.0
        return np.stack([gain, grip, self.grade / GRADE_RANGE[1]], axis=1).astype(np.float32)

    def close(self) -> None:
        pass


def make(task: Task, num_envs: int, seed: int, env_seeds: list[int] | None = None) -> VehicleVecEnv:
    offset = int(task.option("split_seed_offset", 0))
    if env_seeds is None:
        env_seeds = [seed + i for i in range(num_envs)]
    return VehicleVecEnv(num_envs, [s + offset for s in env_seeds], seed_offset=offset)


FAMILY = Family(
    name="vehicle",
    summary="track a visible speed profile with a car whose pedal gain, tyre grip and road grade "
            "are hidden (numpy; evaluation family)",
    examples=("vehicle:speed",),
    suite=lambda name, o: suite(name),
    make=make,
    spaces=lambda task: TaskSpaces(gym.spaces.Box(-np.inf, np.inf, (5,), np.float32),
                                   gym.spaces.Box(-1.0, 1.0, (1,), np.float32), HORIZON),
    hidden_parameters=TASK_PARAMETER_NAMES,
    oracle="wrap",
)
