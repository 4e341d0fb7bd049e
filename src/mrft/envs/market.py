"""A market whose regime is hidden: trading policies that must re-fit when the regime changes.

``market:regimes``: every instance is a regime of a synthetic return process (no data is
downloaded). Per-step returns follow a stationary AR(1) process

    r_{t+1} = mu + phi (r_t - mu) + sigma eps_{t+1},      eps ~ N(0, 1),

with the regime ``(mu, sigma, phi)`` hidden: ``phi`` uniform in ``[-0.5, 0.5]`` (mean
reversion below 0, momentum above), ``sigma`` log-uniform in ``[0.5, 2] x SCALE`` and a
drift ``mu = d x sigma`` with ``d`` uniform in ``[-0.1, 0.1]``. The agent observes the last
``WINDOW`` returns divided by ``SCALE`` and its current position, and chooses a target
position in ``[-1, 1]``. The reward of a step is

    (position x r_{t+1} - COST x SCALE x |position - previous position|) / SCALE,

so rewards are O(1). The best policy differs by regime: follow the last move under
momentum, fade it under mean reversion, hold the drift's sign when the process is close to
a random walk. Five returns cannot tell the regimes apart (their lag-1 correlation from
five samples has a standard error of about 0.45, the whole range of ``phi``), so a policy
must infer the regime from a longer history: its own context, or gradient steps.

``market:switching``: the same, but at a step drawn uniformly in ``[0.3, 0.7] x HORIZON``
the regime switches to a second, independently drawn one, which a policy notices only from
the returns.

Instances and paths. The ``k``-th explicit :meth:`reset` of an env with env seed ``s``
draws the regime from ``default_rng([s, k])`` (as every numpy family here: equal seeds,
equal instances; :meth:`reseed` replays a fresh env's first instance), but the *path* of
returns is drawn from a stream that also holds the env's index, the seed ``make`` was given
and the number of explicit resets since the env was built (or :meth:`rewind`). The episodes
of a trial, the envs of a batch and the adaptation and evaluation episodes of one instance
therefore share the regime but never the path: a policy with memory cannot earn by
remembering the next return of an episode it has seen, and a GRPO group compares episodes
of one regime on different paths. Evaluation rewinds before every round
(:func:`mrft.evaluate.evaluate_instance`), so every evaluation point of every method plays
the same paths: common random numbers.

Reference score: :func:`reference_return` approximates the per-regime optimum by the best
no-trade-band policy on the true regime (trade to ``sign(E[r_{t+1} | r_t])`` when the
expected return exceeds a band, else hold), the band chosen by a grid search.
"""

from __future__ import annotations

import json
import math
from collections.abc import Sequence

import gymnasium as gym
import numpy as np

from mrft.envs.family import Family
from mrft.envs.seed_streams import SeedStreams
from mrft.envs.spaces import built_spaces
from mrft.envs.spec import Suite, Task, make_task
from mrft.envs.vector import StepResult
from mrft.errors import MrftError

TEST_SEED_OFFSET = 1_000_003
HORIZON = 200
WINDOW = 5
SCALE = 0.01
COST = 0.1
PHI_RANGE = (-0.5, 0.5)
SIGMA_RANGE = (0.5 * SCALE, 2.0 * SCALE)
DRIFT_RANGE = (-0.1, 0.1)
SWITCH_RANGE = (0.3, 0.7)
TASKS = ("regimes", "switching")
BANDS = (0.0, 0.25, 0.5, 1.0, 1.5, 2.0, 3.0, math.inf)
"""Grid of no-trade bands, in units of the trading cost, for :func:`reference_return`; an
infinite band holds the drift's sign throughout."""


def suite(name: str) -> Suite:
    if name not in TASKS:
        raise MrftError(f"unknown market task {name!r}; choose one of: {', '.join(TASKS)}")
    task = make_task("market", name, switching=name == "switching")
    return Suite(f"market:{name}", (task,), (task.with_options(split_seed_offset=TEST_SEED_OFFSET),))


def draw_regime(rng: np.random.Generator) -> np.ndarray:
    """``[mu, sigma, phi]`` of one regime."""
    sigma = math.exp(rng.uniform(math.log(SIGMA_RANGE[0]), math.log(SIGMA_RANGE[1])))
    mu = rng.uniform(*DRIFT_RANGE) * sigma
    phi = rng.uniform(*PHI_RANGE)
    return np.array([mu, sigma, phi], dtype=np.float64)


class MarketRegimeVecEnv(SeedStreams):
    """``num_envs`` traders; env ``i`` draws its regimes from streams seeded by ``env_seeds[i]``.

    ``env_seeds`` already include ``seed_offset`` (the split's), which :meth:`reseed` adds;
    ``path_seed`` (the seed ``make`` was given) salts the return paths.
    """

    def __init__(self, num_envs: int, env_seeds: list[int], switching: bool = False,
                 horizon: int = HORIZON, seed_offset: int = 0, path_seed: int = 0):
        self.num_envs = num_envs
        self.horizon = horizon
        self.switching = switching
        self.observation_space = gym.spaces.Box(-np.inf, np.inf, (WINDOW + 1,), np.float32)
        self.action_space = gym.spaces.Box(-1.0, 1.0, (1,), np.float32)
        self.task_ids = np.zeros(num_envs, dtype=np.int64)
        self._path_seed = int(path_seed)
        self._paths_drawn = 0
        self.start_streams(env_seeds, seed_offset)
        self.regimes = np.zeros((num_envs, 2, 3))  # [first, after the switch] x (mu, sigma, phi)
        self.regimes[:, :, 1] = math.sqrt(SIGMA_RANGE[0] * SIGMA_RANGE[1])  # until the first reset
        self.switch_at = np.full(num_envs, horizon + 1, dtype=np.int64)
        self.returns = np.zeros((num_envs, WINDOW + horizon), dtype=np.float64)
        self.position = np.zeros(num_envs, dtype=np.float64)
        self.t = np.zeros(num_envs, dtype=np.int64)
        self._needs_reset = np.zeros(num_envs, dtype=bool)

    # -- instances and paths --------------------------------------------------------------
    def reset(self) -> np.ndarray:
        """Explicit reset ``k``: env ``i`` draws its regime from ``default_rng([env_seeds[i], k])``,
        a stream its auto-resets then continue until the next explicit reset."""
        k = self._explicit_resets
        self._rngs = [np.random.default_rng([s, k]) for s in self._env_seeds]
        self._path_rngs = [np.random.default_rng([s, k, self._paths_drawn, self._path_seed, i])
                           for i, s in enumerate(self._env_seeds)]
        self._explicit_resets += 1
        self._paths_drawn += 1
        self._reset_envs(np.ones(self.num_envs, dtype=bool))
        self._needs_reset[:] = False
        return self._obs()

    def _reset_envs(self, which: np.ndarray) -> None:
        for i in np.flatnonzero(which):
            rng, path_rng = self._rngs[i], self._path_rngs[i]
            self.regimes[i, 0] = draw_regime(rng)
            self.regimes[i, 1] = draw_regime(rng) if self.switching else self.regimes[i, 0]
            if self.switching:
                low, high = SWITCH_RANGE
                self.switch_at[i] = rng.integers(int(low * self.horizon), int(high * self.horizon) + 1)
            self.returns[i] = self._path(self.regimes[i], int(self.switch_at[i]),
                                         path_rng.standard_normal(WINDOW + self.horizon + 1))
        self.position[which] = 0.0
        self.t[which] = 0

    def _path(self, regimes: np.ndarray, switch_at: int, noise: np.ndarray) -> np.ndarray:
        """``WINDOW + horizon`` returns; the first ``WINDOW`` are the history the episode opens
        with. ``noise[0]`` starts the process from its stationary distribution."""
        mu, sigma, phi = regimes[0]
        out = np.empty(WINDOW + self.horizon)
        previous = mu + sigma / math.sqrt(1.0 - phi * phi) * noise[0]
        for j in range(WINDOW + self.horizon):
            if j - WINDOW >= switch_at:  # the return that step ``j - WINDOW`` earns
                mu, sigma, phi = regimes[1]
            previous = mu + phi * (previous - mu) + sigma * noise[j + 1]
            out[j] = previous
        return out

    def stream_state(self) -> str:
        """How many path sets explicit resets have drawn (:func:`mrft.envs.vector.stream_state`)."""
        return json.dumps({"paths_drawn": self._paths_drawn})

    def load_stream_state(self, state: str) -> None:
        self._paths_drawn = int(json.loads(state)["paths_drawn"])

    def rewind(self) -> None:
        """Make the next explicit resets draw the paths of a freshly built env again."""
        self._paths_drawn = 0

    # -- stepping -------------------------------------------------------------------------
    def _obs(self) -> np.ndarray:
        rows = np.arange(self.num_envs)[:, None]
        cols = self.t[:, None] + np.arange(WINDOW)[None, :]
        window = self.returns[rows, cols] / SCALE
        return np.concatenate([window, self.position[:, None]], axis=1).astype(np.float32)

    def step(self, actions: np.ndarray) -> StepResult:
        resetting = self._needs_reset.copy()
        trading = ~resetting
        target = np.clip(np.asarray(actions, dtype=np.float64).reshape(self.num_envs, -1)[:, 0], -1.0, 1.0)
        # the return that the step from time t earns; a resetting env's row is masked below
        earned = self.returns[np.arange(self.num_envs), np.minimum(self.t + WINDOW, WINDOW + self.horizon - 1)]
        reward = (target * earned - COST * SCALE * np.abs(target - self.position)) / SCALE
        reward = np.where(trading, reward, 0.0).astype(np.float32)
        self.position = np.where(trading, target, self.position)
        self.t[trading] += 1
        truncated = trading & (self.t >= self.horizon)
        terminated = np.zeros(self.num_envs, dtype=bool)
        self._reset_envs(resetting)
        self._needs_reset = truncated.copy()
        return StepResult(self._obs(), reward, terminated, truncated, None)

    def task_parameters(self) -> np.ndarray:
        """``[n, 3]`` each env's current regime, scaled to about [-1, 1]: drift over sigma
        (x10), log sigma relative to the middle of its range, and phi (x2). For diagnostics
        and for an oracle policy that sees the regime."""
        now = np.where((self.t >= self.switch_at)[:, None], self.regimes[:, 1], self.regimes[:, 0])
        mu, sigma, phi = now[:, 0], now[:, 1], now[:, 2]
        middle = math.sqrt(SIGMA_RANGE[0] * SIGMA_RANGE[1])
        return np.stack([10.0 * mu / sigma, np.log(sigma / middle) / math.log(2.0), 2.0 * phi],
                        axis=1).astype(np.float32)

    def close(self) -> None:
        pass


def make(task: Task, num_envs: int, seed: int, env_seeds: list[int] | None = None) -> MarketRegimeVecEnv:
    offset = int(task.option("split_seed_offset", 0))
    if env_seeds is None:
        env_seeds = [seed + i for i in range(num_envs)]
    return MarketRegimeVecEnv(num_envs, [s + offset for s in env_seeds],
                              switching=bool(task.option("switching", False)), seed_offset=offset,
                              path_seed=seed)


def band_policy(env: MarketRegimeVecEnv, bands: np.ndarray) -> np.ndarray:
    """Target positions of the no-trade-band policy on the true regime: ``sign(E[r_{t+1}])``
    when ``|E[r_{t+1}]|`` exceeds ``band x COST x SCALE``, else the current position; an
    infinite band holds ``sign(mu)``."""
    rows = np.arange(env.num_envs)
    last = env.returns[rows, np.minimum(env.t + WINDOW - 1, WINDOW + env.horizon - 1)]
    now = np.where((env.t >= env.switch_at)[:, None], env.regimes[:, 1], env.regimes[:, 0])
    mu, phi = now[:, 0], now[:, 2]
    expected = mu + phi * (last - mu)
    trade = np.abs(expected) > bands * COST * SCALE
    target = np.where(trade, np.sign(expected), env.position)
    return np.where(np.isinf(bands), np.sign(mu), target)[:, None].astype(np.float32)


def reference_return(task: Task, instance_seed: int, episodes: int = 8,
                     bands: Sequence[float] = BANDS) -> tuple[float, float]:
    """``(mean episode return, band)`` of the best no-trade-band policy that knows the regime
    of ``task``'s instance ``instance_seed`` (what ``make(task, 1, 0, env_seeds=[seed])``
    plays at its first reset): the oracle score of the family, an approximation of the
    regime's optimum from below. Every band is scored on the same ``episodes`` paths."""
    grid = np.asarray(bands, dtype=np.float64)
    totals = np.zeros(len(grid))
    for j in range(len(grid)):
        # a fresh one-env market per band: paths depend on the env's index and reset count,
        # so this is what gives every band the same paths
        env = make(task, 1, 0, env_seeds=[instance_seed])
        for _ in range(episodes):
            env.reseed([instance_seed])
            env.reset()
            for _ in range(env.horizon):
                totals[j] += float(env.step(band_policy(env, grid[j:j + 1])).reward[0])
    best = int(np.argmax(totals))
    return float(totals[best] / episodes), float(grid[best])


FAMILY = Family(
    name="market",
    summary="trading under a hidden return regime (regimes) or one that switches mid-episode "
            "(switching); synthetic, numpy",
    examples=("market:regimes", "market:switching"),
    suite=lambda name, o: suite(name),
    make=make,
    spaces=lambda task: built_spaces(make, task),
    hidden_parameters=("drift", "volatility", "autocorrelation"),
    oracle="wrap",
)
