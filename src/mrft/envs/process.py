"""Setpoint tracking on a production line whose product changes: adaptive process control.

A line that makes many products runs one control loop (one actuator, one measured output)
whose plant changes at every changeover: a new product has a different process gain, a
different speed and a different transport delay, and sometimes a gain of the opposite sign
(a reverse-acting loop). Plants like these are the first-order- and
second-order-plus-dead-time models every process-control text tunes PIDs on. A controller
tuned for one product is sluggish on a product with a smaller gain, oscillates or leaves
its limits on one with a larger gain or a longer delay, and drives the output away from the
setpoint when the sign flips. Control engineers retune at every changeover; an agent that
infers the plant from how its first actions play out, and adapts in context, can do the same.

``process:changeover`` draws a new plant at every reset: gain ``K`` with a random sign and
a log-uniform magnitude in :data:`GAIN_RANGE`, order 1 or 2 (one lag, or two lags in
series), time constants log-uniform in :data:`TAU_RANGE` steps and an integer dead time in
``0..MAX_DEAD_TIME`` steps. Continuous time, ``tau * dy/dt = -y + K u(t - d)`` per lag, is
discretised exactly for an actuator command held over each step of length 1 (zero-order
hold), so the simulation has no discretisation error. The plant starts at rest (``y = 0``,
the actuator at 0 for as long as the dead time) and the setpoint is piecewise constant: a
new level, uniform in ``[-SETPOINT_RANGE, SETPOINT_RANGE]``, every :data:`SETPOINT_PERIOD`
steps. Gains are at least ``SETPOINT_RANGE / REACH``, so every level has a steady state with
``|u| <= REACH``, and the setpoints are drawn independently of the plant: they show nothing
of it.

Observation (float32, 5): setpoint, output ``y``, tracking error ``setpoint - y``, the
previous (clipped) action and the last change of ``y``. Action: the actuator command
``u`` in ``[-1, 1]`` (clipped). Reward per step, on the output after the step and the
setpoint the action was chosen for::

    -|setpoint - y| - EFFORT_COST * u**2 - MOVE_COST * |u - u_prev| - LIMIT_PENALTY * [|y| > Y_LIMIT]

The last term is a soft constraint: leaving the safe band ``|y| <= Y_LIMIT`` costs
``LIMIT_PENALTY`` per step. No termination, truncation at :data:`HORIZON`, no success flag.

Seeding as in :mod:`mrft.envs.nav`: the ``k``-th explicit :meth:`reset` of an env with env
seed ``s`` draws from ``default_rng([s, k])`` and the auto-resets after it continue that
stream, so an explicit reset depends only on ``(s, k)`` (GRPO groups stay groups however
often their members auto-reset), a fresh env replays its first plant and setpoints, and
:meth:`reseed` makes the next reset replay a fresh env's first one. Next-step auto-reset
as in the other backends.

:func:`tuned_pid` gives the reference score of one instance: a PID that is told the true
gain and whose remaining gains are tuned by grid search on that very episode.
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Sequence

import gymnasium as gym
import numpy as np

from mrft.envs.family import REFERENCE, Family
from mrft.envs.seed_streams import SeedStreams
from mrft.envs.spaces import built_spaces
from mrft.envs.spec import Suite, Task, make_task
from mrft.envs.vector import StepResult
from mrft.errors import MrftError

TEST_SEED_OFFSET = 1_000_003
TASKS = ("changeover",)
HORIZON = 200
SETPOINT_PERIOD = 50
"""Steps between setpoint changes: four levels per episode."""
GAIN_RANGE = (0.5, 2.0)
"""Bounds of the log-uniform gain magnitude; the sign is + or - with equal chance."""
TAU_RANGE = (2.0, 20.0)
"""Bounds of each log-uniform time constant, in steps."""
MAX_DEAD_TIME = 5
SETPOINT_RANGE = 0.45
REACH = 0.9
"""Setpoint levels are uniform in ``[-SETPOINT_RANGE, SETPOINT_RANGE]``: held at steady state
by ``|u| <= REACH`` whatever the gain (``|K| >= 0.5``)."""
EFFORT_COST = 0.01
MOVE_COST = 0.05
Y_LIMIT = 1.5
LIMIT_PENALTY = 1.0
TASK_PARAMETER_NAMES = ("gain", "log_tau1", "log_tau2", "dead_time/5", "second_order")
"""Columns of :meth:`ProcessLineVecEnv.task_parameters`."""


def suite(name: str) -> Suite:
    _check_name(name)
    task = make_task("process", name)
    return Suite(f"process:{name}", (task,), (task.with_options(split_seed_offset=TEST_SEED_OFFSET),))


def _check_name(name: str) -> None:
    if name not in TASKS:
        raise MrftError(f"unknown process task {name!r}; choose one of: {', '.join(TASKS)}")


def _log_uniform(rng: np.random.Generator, bounds: tuple[float, float]) -> float:
    return math.exp(rng.uniform(math.log(bounds[0]), math.log(bounds[1])))


class ProcessLineVecEnv(SeedStreams):
    """``num_envs`` control loops; env ``i`` draws its plants from streams seeded by ``env_seeds[i]``.

    ``env_seeds`` already include ``seed_offset`` (the split's), which :meth:`reseed` adds.
    The hidden plant of env ``i`` is ``gain[i]``, ``tau1[i]``, ``tau2[i]`` (used only when
    ``order[i] == 2``), ``order[i]`` and ``dead_time[i]``, and its episode's setpoint levels
    are ``setpoints[i]``. These are plain arrays read at every step, so a test may overwrite
    them after :meth:`reset` to play a plant of its choice (the observation returned by
    that reset then still shows the drawn first setpoint).
    """

    def __init__(self, num_envs: int, env_seeds: list[int], horizon: int = HORIZON,
                 seed_offset: int = 0):
        self.num_envs = num_envs
        self.horizon = horizon
        self.observation_space = gym.spaces.Box(-np.inf, np.inf, (5,), np.float32)
        self.action_space = gym.spaces.Box(-1.0, 1.0, (1,), np.float32)
        self.task_ids = np.zeros(num_envs, dtype=np.int64)
        self.start_streams(env_seeds, seed_offset)
        levels = -(-horizon // SETPOINT_PERIOD)
        self.gain = np.ones(num_envs)
        self.tau1 = np.full(num_envs, TAU_RANGE[0])
        self.tau2 = np.full(num_envs, TAU_RANGE[0])
        self.order = np.ones(num_envs, dtype=np.int64)
        self.dead_time = np.zeros(num_envs, dtype=np.int64)
        self.setpoints = np.zeros((num_envs, levels))
        self.lag1 = np.zeros(num_envs)
        """Output of the first lag (equal to ``y`` for a first-order plant)."""
        self.y = np.zeros(num_envs)
        self.dy = np.zeros(num_envs)
        self.u_prev = np.zeros(num_envs)
        self.commands = np.zeros((num_envs, MAX_DEAD_TIME + 1))
        """``commands[:, j]``: the actuator command of ``j`` steps ago (column 0: this step's)."""
        self.t = np.zeros(num_envs, dtype=np.int64)
        self._needs_reset = np.zeros(num_envs, dtype=bool)

    def _reset_envs(self, which: np.ndarray) -> None:
        for i in np.flatnonzero(which):
            rng = self._rngs[i]
            sign = 1.0 if rng.random() < 0.5 else -1.0
            self.gain[i] = sign * _log_uniform(rng, GAIN_RANGE)
            self.tau1[i] = _log_uniform(rng, TAU_RANGE)
            self.tau2[i] = _log_uniform(rng, TAU_RANGE)
            self.order[i] = rng.integers(1, 3)
            self.dead_time[i] = rng.integers(0, MAX_DEAD_TIME + 1)
            self.setpoints[i] = rng.uniform(-SETPOINT_RANGE, SETPOINT_RANGE, self.setpoints.shape[1])
        for state in (self.lag1, self.y, self.dy, self.u_prev, self.commands, self.t):
            state[which] = 0

    def _setpoint(self) -> np.ndarray:
        level = np.minimum(self.t // SETPOINT_PERIOD, self.setpoints.shape[1] - 1)
        return self.setpoints[np.arange(self.num_envs), level]

    def _obs(self) -> np.ndarray:
        sp = self._setpoint()
        return np.stack([sp, self.y, sp - self.y, self.u_prev, self.dy], axis=1).astype(np.float32)

    def step(self, actions: np.ndarray) -> StepResult:
        resetting = self._needs_reset.copy()
        u = np.clip(np.asarray(actions, dtype=np.float64).reshape(self.num_envs), -1.0, 1.0)
        self.commands = np.roll(self.commands, 1, axis=1)
        self.commands[:, 0] = u
        drive = self.gain * self.commands[np.arange(self.num_envs), self.dead_time]
        lag1, y = plant_step(self.lag1, self.y, drive, self.tau1, self.tau2, self.order)
        setpoint = self._setpoint()
        reward = (-np.abs(setpoint - y) - EFFORT_COST * u**2 - MOVE_COST * np.abs(u - self.u_prev)
                  - LIMIT_PENALTY * (np.abs(y) > Y_LIMIT))
        reward = np.where(resetting, 0.0, reward).astype(np.float32)
        self.dy = y - self.y
        self.lag1, self.y, self.u_prev = lag1, y, u
        self.t += 1
        truncated = ~resetting & (self.t >= self.horizon)
        terminated = np.zeros(self.num_envs, dtype=bool)
        self._reset_envs(resetting)
        self._needs_reset = truncated.copy()
        return StepResult(self._obs(), reward, terminated, truncated, None)

    def task_parameters(self) -> np.ndarray:
        """``[n, 5]`` each env's hidden plant, columns :data:`TASK_PARAMETER_NAMES`: the
        signed gain ``K``, ``log tau1``, ``log tau2`` (0 for a first-order plant, which has
        no second lag), ``dead_time / MAX_DEAD_TIME`` and ``order - 1``. For diagnostics
        and reference controllers only: what a belief should know, never observed."""
        log_tau2 = np.where(self.order == 2, np.log(self.tau2), 0.0)
        return np.stack([self.gain, np.log(self.tau1), log_tau2,
                         self.dead_time / MAX_DEAD_TIME, self.order - 1.0], axis=1).astype(np.float32)

    def close(self) -> None:
        pass


def plant_step(lag1: np.ndarray, y: np.ndarray, drive: np.ndarray, tau1: np.ndarray,
               tau2: np.ndarray, order: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """One step of length 1 of ``tau1 * lag1' = -lag1 + drive`` and, for ``order == 2``,
    ``tau2 * y' = -y + lag1`` (for ``order == 1``, ``y = lag1``), with ``drive = K u(t - d)``
    held over the step; exact, as the solution of the linear ODEs. Returns ``(lag1, y)``."""
    a1, a2 = np.exp(-1.0 / tau1), np.exp(-1.0 / tau2)
    gap = lag1 - drive
    new_lag1 = drive + gap * a1
    # y(1) = drive + A a1 + (y - drive - A) a2 with A = gap tau1 / (tau1 - tau2), which tends
    # to drive + gap a / tau + (y - drive) a as tau2 -> tau1
    close = np.abs(tau1 - tau2) < 1e-6 * tau1
    spread = np.where(close, 1.0, tau1 - tau2)
    cross = np.where(close, a1 / tau1, tau1 * (a1 - a2) / spread)
    second = drive + gap * cross + (y - drive) * a2
    return new_lag1, np.where(order == 2, second, new_lag1)


def make(task: Task, num_envs: int, seed: int,
         env_seeds: list[int] | None = None) -> ProcessLineVecEnv:
    _check_name(task.name)
    offset = int(task.option("split_seed_offset", 0))
    if env_seeds is None:
        env_seeds = [seed + i for i in range(num_envs)]
    return ProcessLineVecEnv(num_envs, [s + offset for s in env_seeds], seed_offset=offset)


@dataclasses.dataclass(frozen=True)
class PidGrid:
    """Candidate PID gains *times the true gain K*: the controller's gains are these divided
    by ``K``, so the sign always matches the plant and the loop gain is what is searched.

    The default 15 x 15 x 8 grid (1800 PIDs, simulated side by side) takes under 0.1 s per
    instance on one core. On test instances 0..39 a 30 x 30 x 10 grid over a wider span
    raised the mean best return from -20.1 to -19.8, and no instance's by more than 2.2."""

    kp: tuple[float, ...] = (0.1, 0.2, 0.3, 0.5, 0.7, 1.0, 1.5, 2.0, 3.0, 5.0, 7.0, 10.0, 15.0,
                             20.0, 30.0)
    ki: tuple[float, ...] = (0.001, 0.003, 0.01, 0.02, 0.03, 0.05, 0.07, 0.1, 0.15, 0.2, 0.3, 0.5,
                             0.7, 1.0, 1.5)
    kd: tuple[float, ...] = (0.0, 0.5, 1.0, 2.0, 4.0, 8.0, 16.0, 32.0)

    def size(self) -> int:
        return len(self.kp) * len(self.ki) * len(self.kd)


@dataclasses.dataclass(frozen=True)
class PidReference:
    """Best PID on one instance: its episode return and its (signed, plant-unit) gains."""

    episode_return: float
    kp: float
    ki: float
    kd: float


def pid_returns(task: Task, instance_seed: int, kp: Sequence[float] | np.ndarray,
                ki: Sequence[float] | np.ndarray, kd: Sequence[float] | np.ndarray) -> np.ndarray:
    """Episode return of the PID ``(kp[j], ki[j], kd[j])`` on instance ``instance_seed`` of
    ``task``, for every ``j`` at once: one env per gain triple, all with env seed
    ``instance_seed``, so all play the plant and setpoints of ``make(task, 1, 0,
    env_seeds=[instance_seed]).reset()``.

    The PID sees only the observation: ``u = kp e + I - kd dy`` with ``e`` the tracking
    error and ``dy`` the last change of ``y`` (derivative on the measurement, so setpoint
    steps cause no kick) and ``I`` the running sum of ``ki e``, clamped to ``[-1, 1]`` (the
    actuator range: no integral windup). Gains of zero give the zero-action policy.
    """
    kp, ki, kd = np.broadcast_arrays(*(np.asarray(g, dtype=np.float64).reshape(-1)
                                       for g in (kp, ki, kd)))
    n = kp.shape[0]
    env = make(task, n, 0, env_seeds=[int(instance_seed)] * n)
    obs = env.reset().astype(np.float64)
    integral = np.zeros(n)
    total = np.zeros(n)
    for _ in range(env.horizon):
        error, dy = obs[:, 2], obs[:, 4]
        integral = np.clip(integral + ki * error, -1.0, 1.0)
        result = env.step((kp * error + integral - kd * dy)[:, None])
        total += result.reward
        obs = result.obs.astype(np.float64)
    return total


def tuned_pid(task: Task, instance_seed: int, grid: PidGrid | None = None) -> PidReference:
    """The per-instance reference: the best PID of ``grid`` on instance ``instance_seed``.

    The PID is told the instance's true gain ``K`` (sign and size; grid values are divided
    by it) and its gains are then picked by episode return on the very episode it is scored
    on. The env is deterministic, so that return is the instance's score; no policy that
    is not told the plant should be expected to reach it, and a good one comes close.
    """
    grid = grid or PidGrid()
    probe = make(task, 1, 0, env_seeds=[int(instance_seed)])
    probe.reset()
    gain = float(probe.gain[0])
    kp, ki, kd = (g.ravel() / gain for g in np.meshgrid(grid.kp, grid.ki, grid.kd, indexing="ij"))
    returns = pid_returns(task, instance_seed, kp, ki, kd)
    best = int(np.argmax(returns))
    return PidReference(float(returns[best]), float(kp[best]), float(ki[best]), float(kd[best]))


def reference_return(task: Task, instance_seed: int, grid: PidGrid | None = None) -> float:
    """Episode return of :func:`tuned_pid` on instance ``instance_seed``."""
    return tuned_pid(task, instance_seed, grid).episode_return


def _fraction_of_reference(task: Task, instance: int):
    """``(R - R_nothing) / (R_pid - R_nothing)``: 0 is a resting actuator, 1 the PID tuned
    for the instance, whatever the product's scale."""
    low = float(pid_returns(task, instance, [0.0], [0.0], [0.0])[0])
    high = reference_return(task, instance)
    return lambda ret, success: (float(ret) - low) / max(high - low, 1e-6)


FAMILY = Family(
    name="process",
    summary="setpoint tracking on a production line whose plant (gain, lags, dead time) is hidden",
    examples=("process:changeover",),
    suite=lambda name, o: suite(name),
    make=make,
    spaces=lambda task: built_spaces(make, task),
    hidden_parameters=TASK_PARAMETER_NAMES,
    oracle="wrap",
    score_name=REFERENCE,
    scorer=_fraction_of_reference,
)
