"""MuJoCo bodies with hidden, randomised dynamics: adaptation to unseen physics.

``shift:NAME`` is a Gymnasium MuJoCo v5 task (``reacher``, ``hopper``, ...) whose body
masses and joint damping are redrawn at every reset, the way sim-to-real work randomises
a simulator so that a policy must cope with physics it cannot observe (domain
randomisation; Tobin et al. 2017, Peng et al. 2018; the hidden-parameter MDPs of
Doshi-Velez & Konidaris 2016). The observation is the unchanged MuJoCo observation, so
the dynamics are hidden: a policy can only infer them from how its actions play out,
which is what an adaptation method should exploit and a fixed policy cannot. The test
split draws its dynamics from a disjoint seed range, i.e. physics never seen in training.

Each env keeps its model's nominal masses and damping from construction; at every reset
it draws one log-uniform factor per body (the world body excepted) and one per dof,
writes ``nominal * factor`` into the MuJoCo model, then resets the Gymnasium env with a
seed drawn from the same RNG. The RNG is re-seeded at every explicit :meth:`reset`: the
``k``-th explicit reset of an env with env seed ``s`` draws from
``default_rng([s, k])``, and the auto-resets that follow continue that stream, so
auto-reset episodes still vary. An explicit reset therefore depends only on ``(s, k)``,
not on how many auto-resets came before. That is what keeps a GRPO group a group: its
members share an env seed, but one that ends its episodes earlier auto-resets more often,
and a single stateful ``Generator(s)`` would then hand the group different bodies at the
next explicit reset. Envs with equal env seeds see the same dynamics and start states at
every explicit reset, a fresh env replays its first instance, and :meth:`reseed`
replays a fresh env's first instance without rebuilding any MuJoCo model. Resets follow
the same next-step auto-reset convention as the other backends; the observation is cast
to float32 and no ``success`` is reported (these tasks define none).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import gymnasium as gym
import numpy as np

from mrft.envs.family import Family
from mrft.envs.spaces import gym_spaces
from mrft.envs.spec import Suite, Task, make_task
from mrft.envs.vector import StepResult, check_seed_count
from mrft.errors import MrftError

TEST_SEED_OFFSET = 1_000_003

ENV_IDS = {
    "inverted-pendulum": "InvertedPendulum-v5",
    "reacher": "Reacher-v5",
    "inverted-double-pendulum": "InvertedDoublePendulum-v5",
    "hopper": "Hopper-v5",
    "half-cheetah": "HalfCheetah-v5",
}

SCALE_RANGE = (0.5, 2.0)
"""Bounds of the log-uniform factor on each nominal mass and damping. Log-uniform makes
halving and doubling equally likely (the geometric mean stays nominal); a factor of two
each way is the usual domain-randomisation span (e.g. Rajeswaran et al. 2017's EPOpt,
Yu et al. 2017), wide enough that one fixed gait is visibly suboptimal across instances
yet narrow enough that every instance is still controllable."""


SIGNED = "-signed"
"""Suffix of a body whose actuators also get hidden gains of random sign
(``shift:reacher-signed``): each actuator's gear is its nominal gear times a log-uniform
factor in :data:`SCALE_RANGE` times +1 or -1 with equal odds, so a motor may turn the
joint the other way. Masses and damping alone leave one robust policy good on every body
(a pendulum balances every held-out pole from step 0); a reversed motor does not: a policy
must find out which way each motor turns, which takes a step or two of experience and is
worth almost the whole task, so adaptation decides the score."""


def env_id(name: str) -> str:
    """The Gymnasium id of shift task ``name`` (``reacher-signed`` -> ``Reacher-v5``)."""
    base = name.removesuffix(SIGNED)
    if base not in ENV_IDS:
        names = [*ENV_IDS, *(n + SIGNED for n in ENV_IDS)]
        raise MrftError(f"unknown shift task {name!r}; choose one of: {', '.join(names)}")
    return ENV_IDS[base]


def suite(name: str) -> Suite:
    env_id(name)
    task = make_task("shift", name)
    return Suite(f"shift:{name}", (task,), (task.with_options(split_seed_offset=TEST_SEED_OFFSET),))


def draw_scales(rng: np.random.Generator, size: int,
                bounds: tuple[float, float] = SCALE_RANGE) -> np.ndarray:
    """``size`` log-uniform factors in ``bounds``."""
    low, high = np.log(bounds)
    return np.exp(rng.uniform(low, high, size))


class ShiftedBody:
    """One Gymnasium MuJoCo env whose dynamics are redrawn at every reset.

    Explicit reset ``k`` (counted from construction or :meth:`reseed`) draws from
    ``default_rng([seed, k])``; auto-resets continue that stream.
    """

    def __init__(self, env_id: str, seed: int, signed_gains: bool = False):
        self.env = gym.make(env_id, disable_env_checker=True)
        self.model = self.env.unwrapped.model
        self.nominal_mass = self.model.body_mass.copy()
        self.nominal_damping = self.model.dof_damping.copy()
        self.nominal_gear = self.model.actuator_gear[:, 0].copy()
        self.signed_gains = signed_gains
        self.reseed(seed)

    def reseed(self, seed: int) -> None:
        """Take env seed ``seed`` and restart the explicit-reset count."""
        self.seed = int(seed)
        self.explicit_resets = 0
        self.rng = np.random.default_rng([self.seed, 0])

    def reset(self) -> np.ndarray:
        """Explicit reset: draw from this reset's own stream ``default_rng([seed, k])``."""
        self.rng = np.random.default_rng([self.seed, self.explicit_resets])
        self.explicit_resets += 1
        return self.auto_reset()

    def auto_reset(self) -> np.ndarray:
        """Draw new dynamics, then a seeded start, both continuing the current stream."""
        self.redraw()
        obs, _ = self.env.reset(seed=int(self.rng.integers(2**31)))
        return obs

    def redraw(self) -> None:
        """New masses and damping: nominal times log-uniform factors in :data:`SCALE_RANGE`;
        with ``signed_gains``, new actuator gears too (see :data:`SIGNED`)."""
        mass_scales = draw_scales(self.rng, self.model.nbody - 1)
        self.model.body_mass[1:] = self.nominal_mass[1:] * mass_scales
        self.model.dof_damping[:] = self.nominal_damping * draw_scales(self.rng, self.model.nv)
        if self.signed_gains:
            nu = self.model.nu
            signs = np.where(self.rng.random(nu) < 0.5, -1.0, 1.0)
            self.model.actuator_gear[:, 0] = self.nominal_gear * draw_scales(self.rng, nu) * signs

    def step(self, action: np.ndarray) -> tuple[np.ndarray, float, bool, bool]:
        obs, reward, terminated, truncated, _ = self.env.step(action)
        return obs, float(reward), bool(terminated), bool(truncated)

    def parameters(self) -> np.ndarray:
        """The hidden dynamics: body masses, joint damping, and (``signed_gains``) the
        actuator gears."""
        hidden = [self.model.body_mass, self.model.dof_damping]
        if self.signed_gains:
            hidden.append(self.model.actuator_gear[:, 0])
        return np.concatenate(hidden)


class DynamicsShiftVecEnv:
    """``len(env_seeds)`` copies of one MuJoCo task, stepped in turn, each with hidden dynamics."""

    def __init__(self, env_id: str, env_seeds: list[int], seed_offset: int = 0,
                 body: Callable[[str, int], ShiftedBody] = ShiftedBody):
        self.num_envs = len(env_seeds)
        self._seed_offset = seed_offset
        self._bodies = [body(env_id, s) for s in env_seeds]
        first = self._bodies[0].env
        self.observation_space = first.observation_space
        self.action_space = first.action_space
        self.task_ids = np.zeros(self.num_envs, dtype=np.int64)
        self._needs_reset = np.zeros(self.num_envs, dtype=bool)

    def dynamics(self) -> tuple[np.ndarray, np.ndarray]:
        """Current ``(body_mass, dof_damping)`` per env, for tests and analysis only."""
        masses = np.stack([b.model.body_mass.copy() for b in self._bodies])
        damping = np.stack([b.model.dof_damping.copy() for b in self._bodies])
        return masses, damping

    def task_parameters(self) -> np.ndarray:
        """``[n, P]`` the hidden dynamics of each env (:meth:`ShiftedBody.parameters`)."""
        return np.stack([b.parameters() for b in self._bodies]).astype(np.float32)

    def reset(self) -> np.ndarray:
        self._needs_reset[:] = False
        return np.stack([b.reset() for b in self._bodies]).astype(np.float32)

    def reseed(self, env_seeds: Sequence[int]) -> None:
        """New env seeds (without the split offset); no MuJoCo model is rebuilt."""
        for body, s in zip(self._bodies, check_seed_count(env_seeds, self.num_envs), strict=True):
            body.reseed(s + self._seed_offset)

    def reset_envs(self, which: np.ndarray, env_seeds: Sequence[int]) -> np.ndarray:
        """Re-seed the envs ``which`` with ``env_seeds`` (without the split offset) and reset
        them alone: each plays as a fresh env with that seed after its first reset."""
        index = np.flatnonzero(which)
        first = []
        for i, s in zip(index, check_seed_count(env_seeds, len(index)), strict=True):
            self._bodies[i].reseed(s + self._seed_offset)
            first.append(self._bodies[i].reset())
            self._needs_reset[i] = False
        return np.stack(first).astype(np.float32)

    def step(self, actions: np.ndarray) -> StepResult:
        n = self.num_envs
        obs = np.empty((n, *self.observation_space.shape), dtype=np.float32)
        reward = np.zeros(n, dtype=np.float32)
        terminated = np.zeros(n, dtype=bool)
        truncated = np.zeros(n, dtype=bool)
        for i, body in enumerate(self._bodies):
            if self._needs_reset[i]:
                obs[i] = body.auto_reset()
                continue
            obs[i], reward[i], terminated[i], truncated[i] = body.step(actions[i])
        self._needs_reset = terminated | truncated
        return StepResult(obs, reward, terminated, truncated, None)

    def close(self) -> None:
        for body in self._bodies:
            body.env.close()


def make(task: Task, num_envs: int, seed: int,
         env_seeds: list[int] | None = None) -> DynamicsShiftVecEnv:
    offset = int(task.option("split_seed_offset", 0))
    if env_seeds is None:
        env_seeds = [seed + i for i in range(num_envs)]
    signed = task.name.endswith(SIGNED)
    return DynamicsShiftVecEnv(env_id(task.name), [s + offset for s in env_seeds], offset,
                               body=lambda gym_id, s: ShiftedBody(gym_id, s, signed))


FAMILY = Family(
    name="shift",
    summary="a MuJoCo body whose masses and joint damping are hidden and random "
            f"({', '.join(ENV_IDS)}; NAME-signed also reverses the motors at random)",
    examples=("shift:inverted-pendulum", "shift:reacher"),
    suite=lambda name, o: suite(name),
    make=make,
    spaces=lambda task: gym_spaces(env_id(task.name)),
    preset=lambda task, continuous: "mujoco",
    hidden_parameters=("mass scales", "damping scales"),
    oracle="wrap",
)
