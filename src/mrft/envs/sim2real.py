"""Sim-to-real transfer: pre-train on randomised simulated bodies, adapt on a "real" one.

``sim2real:NAME`` (a Gymnasium MuJoCo v5 body, as for ``shift:NAME``; the built-in suite
uses ``reacher``) plays out the situation of a controller trained in a simulator and
deployed on a plant that differs from it in ways the simulator did and did not model.

- **Sim** (the train split): at every reset the body's masses, joint damping and actuator
  gears are scaled by log-uniform factors in :data:`SIM_RANGE`, and every joint gets a
  friction loss uniform in ``[0, SIM_FRICTION]``: the usual domain randomisation.
- **Real** (the test split, unseen seeds): the same quantities drawn from wider ranges,
  :data:`REAL_RANGE` and ``[0, REAL_FRICTION]`` (about a third of each factor's draws lie
  outside the sim's range), plus three effects the sim never randomises: every action
  reaches the motors one step late, each actuator adds a constant bias uniform in
  ``[-BIAS, BIAS]`` (in units of the action bound) before clipping, and every observation
  carries Gaussian noise of standard deviation :data:`OBS_NOISE`.

Nothing of this is observed. Seeding, next-step auto-reset and ``reseed`` are those of
:mod:`mrft.envs.shift` (a body's instance is set by its env seed and explicit-reset count);
the observation noise continues the same stream, so a seeded run replays exactly.
"""

from __future__ import annotations

import numpy as np

from mrft.envs.family import Family
from mrft.envs.shift import ENV_IDS, DynamicsShiftVecEnv, ShiftedBody, draw_scales
from mrft.envs.spaces import gym_spaces
from mrft.envs.spec import Suite, Task, make_task
from mrft.errors import MrftError

TEST_SEED_OFFSET = 1_000_003
SIM_RANGE = (0.5, 2.0)
REAL_RANGE = (0.35, 2.8)
"""Log-uniform; the fraction of draws outside :data:`SIM_RANGE` is
``(ln(0.5/0.35) + ln(2.8/2)) / ln(8)``, about 0.33."""
SIM_FRICTION = 2.0
REAL_FRICTION = 4.0
"""Joint friction loss bounds (torque units of the MuJoCo model; Reacher's gear is 200, and
a friction loss of 2 slows its free swing under a constant 0.2 command by about 5%)."""
BIAS = 0.1
OBS_NOISE = 0.01


def suite(name: str) -> Suite:
    if name not in ENV_IDS:
        raise MrftError(f"unknown sim2real body {name!r}; choose one of: {', '.join(ENV_IDS)}")
    task = make_task("sim2real", name)
    real = task.with_options(split_seed_offset=TEST_SEED_OFFSET, real=True)
    return Suite(f"sim2real:{name}", (task,), (real,))


class TransferBody(ShiftedBody):
    """A :class:`ShiftedBody` with actuator gears and joint friction randomised too, and, when
    ``real``, wider ranges, a one-step actuator delay, a constant actuator bias and
    observation noise."""

    def __init__(self, env_id: str, seed: int, real: bool):
        self.real = real
        super().__init__(env_id, seed)
        low, high = self.env.action_space.low, self.env.action_space.high
        self._action_low, self._action_high = low, high
        self.bias = np.zeros_like(low)
        self._pending = np.zeros_like(low)

    def redraw(self) -> None:
        bounds = REAL_RANGE if self.real else SIM_RANGE
        model = self.model
        model.body_mass[1:] = self.nominal_mass[1:] * draw_scales(self.rng, model.nbody - 1, bounds)
        model.dof_damping[:] = self.nominal_damping * draw_scales(self.rng, model.nv, bounds)
        model.actuator_gear[:, 0] = self.nominal_gear * draw_scales(self.rng, model.nu, bounds)
        friction = REAL_FRICTION if self.real else SIM_FRICTION
        model.dof_frictionloss[:] = self.rng.uniform(0.0, friction, model.nv)
        if self.real:
            half_range = (self._action_high - self._action_low) / 2
            self.bias = self.rng.uniform(-BIAS, BIAS, model.nu) * half_range
        self._pending = np.zeros_like(self._pending)

    def auto_reset(self) -> np.ndarray:
        return self._observe(super().auto_reset())

    def step(self, action: np.ndarray) -> tuple[np.ndarray, float, bool, bool]:
        action = np.asarray(action, dtype=np.float64)
        if self.real:
            applied = np.clip(self._pending + self.bias, self._action_low, self._action_high)
            self._pending = np.clip(action, self._action_low, self._action_high)
        else:
            applied = action
        obs, reward, terminated, truncated = super().step(applied)
        return self._observe(obs), reward, terminated, truncated

    def _observe(self, obs: np.ndarray) -> np.ndarray:
        if not self.real:
            return obs
        return obs + OBS_NOISE * self.rng.standard_normal(obs.shape)

    def parameters(self) -> np.ndarray:
        """Masses, damping, actuator gears, joint friction and the actuator bias (zero in sim)."""
        m = self.model
        return np.concatenate([m.body_mass, m.dof_damping, m.actuator_gear[:, 0],
                               m.dof_frictionloss, self.bias])


def make(task: Task, num_envs: int, seed: int,
         env_seeds: list[int] | None = None) -> DynamicsShiftVecEnv:
    offset = int(task.option("split_seed_offset", 0))
    if env_seeds is None:
        env_seeds = [seed + i for i in range(num_envs)]
    real = bool(task.option("real", False))
    return DynamicsShiftVecEnv(ENV_IDS[task.name], [s + offset for s in env_seeds], offset,
                               body=lambda env_id, s: TransferBody(env_id, s, real))


FAMILY = Family(
    name="sim2real",
    summary="pre-train on randomised simulated MuJoCo bodies, adapt on held-out 'real' ones with "
            "delay, bias and noise the simulator lacks",
    examples=("sim2real:reacher",),
    suite=lambda name, o: suite(name),
    make=make,
    spaces=lambda task: gym_spaces(ENV_IDS[task.name]),
    preset=lambda task, continuous: "mujoco",
    hidden_parameters=("mass, damping and gear scales", "friction", "actuator bias"),
    oracle="wrap",
    oracle_train_options=(("real", True),),
    sim_to_real=True,
)
