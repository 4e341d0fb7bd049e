"""A recommender facing a user whose taste is hidden: show the items this user clicks.

``recsys:users``: a shop has a catalogue of ``N_ITEMS`` items, the same for every user. At
every step the agent shows one item (a discrete action) to one user, who clicks it with
probability

    sigmoid(TASTE_WEIGHT * <u, x_i> + q_i + BIAS - phi * f_i),

and the reward is the click (0 or 1). Item ``i`` has a taste vector ``x_i`` (the corners of
a cube on the unit sphere: every mix of three taste axes, :data:`CATALOGUE`) and a quality
``q_i`` (:data:`QUALITY`), constants of the family that every user shares; its fatigue
``f_i`` says how often it was shown lately (``f <- FATIGUE_DECAY * f``, then ``+1`` for the
item just shown) and is in the observation. Hidden are the user's taste ``u`` (uniform on the
unit sphere) and how much repetition bores this user, ``phi`` uniform in
``[0, FATIGUE_MAX]``. Every reset draws a new user; an episode is :data:`HORIZON`
recommendations.

Why adaptation matters: the taste term spans up to six logits, the quality two, so which
item a user clicks is mostly a matter of taste. A policy that does not know ``u`` can only
show the items of the best average appeal and spread its picks against fatigue (about 8.4
clicks in 20 for the best such rule, 6.6 for a random pick); one that knows ``u`` shows the
items this user likes, and knows from ``phi`` whether to keep showing the favourite or to
rotate among the best few (about 13.7 clicks for a greedy rule). A few clicks and misses
reveal ``u``, repeats reveal ``phi``: a linear bandit whose parameters change with every
user, which a policy with memory, or one fine-tuned on the user, can learn.

The catalogue is fixed rather than drawn per user: with a new random catalogue in every
episode, shown as features, a policy must learn to score every slot from its features, and
PPO does not within a CPU budget (at 200k steps neither PPO told the user nor PPO not told
it beat a random pick: 6.6 clicks in 20 against 6.0), so such a family could not tell
adaptation methods apart.

Observation (float32, ``N_ITEMS + 1``): each item's fatigue, then the fraction of the
episode elapsed. No termination, truncation at :data:`HORIZON`, no success flag: the score is
the number of clicks per episode.

Seeding as in :mod:`mrft.envs.nav`: the ``k``-th explicit :meth:`reset` of an env with env
seed ``s`` draws the user from ``default_rng([s, k])``, the auto-resets after it continue
that stream, a fresh env replays its first user and :meth:`reseed` makes the next reset
replay it. The clicks are exogenous, as the paths of :mod:`mrft.envs.market`: uniforms from
one stream per vector env, seeded by ``make``'s ``seed``, so the envs of a group share the
user but not the clicks, and :meth:`rewind` restarts the stream (evaluation rounds then play
the same uniforms). Next-step auto-reset as in the other backends.

Speed: about 600k raw env steps per second with 16 envs on one core of the project's
2-core machine (random actions, ``step`` alone, auto-resets included; best of five
repeats of 5,000 steps, benchmarks/results/eval_calibration.md).
"""

from __future__ import annotations

import json

import gymnasium as gym
import numpy as np

from mrft.envs.family import Family
from mrft.envs.seed_streams import SeedStreams
from mrft.envs.spaces import TaskSpaces
from mrft.envs.spec import Suite, Task, make_task
from mrft.envs.vector import StepResult
from mrft.errors import MrftError

TEST_SEED_OFFSET = 1_000_003
TASKS = ("users",)
HORIZON = 20
TASTE_DIMS = 3
CATALOGUE = np.array([[x, y, z] for x in (1, -1) for y in (1, -1) for z in (1, -1)]) / np.sqrt(3.0)
"""Taste vectors of the items: the eight corners of a cube, on the unit sphere."""
QUALITY = np.array([0.5, -0.75, 0.25, 1.0, -0.25, 0.75, -0.5, 0.0])
"""Appeal of each item to every user."""
N_ITEMS = len(CATALOGUE)
TASTE_WEIGHT = 3.0
BIAS = -1.0
FATIGUE_MAX = 3.0
FATIGUE_DECAY = 0.5
OBS_WIDTH = N_ITEMS + 1
TASK_PARAMETER_NAMES = ("taste 1", "taste 2", "taste 3", "fatigue sensitivity")
"""Columns of :meth:`RecommenderVecEnv.task_parameters`; the last is ``phi`` mapped to
``[-1, 1]``."""


def suite(name: str) -> Suite:
    if name not in TASKS:
        raise MrftError(f"unknown recsys task {name!r}; choose one of: {', '.join(TASKS)}")
    task = make_task("recsys", name)
    return Suite(f"recsys:{name}", (task,), (task.with_options(split_seed_offset=TEST_SEED_OFFSET),))


def sigmoid(x: np.ndarray) -> np.ndarray:
    return 1.0 / (1.0 + np.exp(-x))


class RecommenderVecEnv(SeedStreams):
    """``num_envs`` users; env ``i`` draws its users from streams seeded by ``env_seeds[i]``,
    which already include ``seed_offset`` (the split's, which :meth:`reseed` adds).
    ``taste``, ``fatigue_cost`` and ``fatigue`` are plain arrays read at every step, so a test
    may overwrite them after :meth:`reset`. ``click_seed`` seeds the exogenous click uniforms."""

    def __init__(self, num_envs: int, env_seeds: list[int], horizon: int = HORIZON,
                 seed_offset: int = 0, click_seed: int = 0):
        self.num_envs = num_envs
        self.horizon = horizon
        self.observation_space = gym.spaces.Box(-np.inf, np.inf, (OBS_WIDTH,), np.float32)
        self.action_space = gym.spaces.Discrete(N_ITEMS)
        self.task_ids = np.zeros(num_envs, dtype=np.int64)
        self._click_seed = click_seed
        self.start_streams(env_seeds, seed_offset)
        self.rewind()
        self.taste = np.zeros((num_envs, TASTE_DIMS))
        self.fatigue_cost = np.zeros(num_envs)
        self.fatigue = np.zeros((num_envs, N_ITEMS))
        self.t = np.zeros(num_envs, dtype=np.int64)
        self._rows = np.arange(num_envs)
        self._needs_reset = np.zeros(num_envs, dtype=bool)

    def stream_state(self) -> str:
        """Where the click stream stands (:func:`mrft.envs.vector.stream_state`)."""
        return json.dumps(self._click_rng.bit_generator.state)

    def load_stream_state(self, state: str) -> None:
        self._click_rng.bit_generator.state = json.loads(state)

    def rewind(self) -> None:
        """Restart the click stream: what follows plays the uniforms of a freshly built env."""
        self._click_rng = np.random.default_rng([self._click_seed, self._seed_offset])

    def _reset_envs(self, which: np.ndarray) -> None:
        for i in np.flatnonzero(which):
            rng = self._rngs[i]
            taste = rng.standard_normal(TASTE_DIMS)
            self.taste[i] = taste / np.sqrt(taste @ taste)
            self.fatigue_cost[i] = rng.uniform(0.0, FATIGUE_MAX)
        self.fatigue[which] = 0.0
        self.t[which] = 0

    def _obs(self) -> np.ndarray:
        elapsed = (self.t / self.horizon)[:, None]
        return np.concatenate([self.fatigue, elapsed], axis=1).astype(np.float32)

    def click_logits(self) -> np.ndarray:
        """``[n, N_ITEMS]`` the logit of a click on each item, were it shown now."""
        return TASTE_WEIGHT * self.taste @ CATALOGUE.T + QUALITY + BIAS \
            - self.fatigue_cost[:, None] * self.fatigue

    def step(self, actions: np.ndarray) -> StepResult:
        resetting = self._needs_reset.copy()
        showing = ~resetting
        items = np.asarray(actions).reshape(self.num_envs).astype(np.int64)
        shown = self.click_logits()[self._rows, items]
        clicked = self._click_rng.random(self.num_envs) < sigmoid(shown)
        reward = (showing & clicked).astype(np.float32)
        self.fatigue *= np.where(showing, FATIGUE_DECAY, 1.0)[:, None]
        self.fatigue[self._rows[showing], items[showing]] += 1.0
        self.t += showing
        truncated = showing & (self.t >= self.horizon)
        if resetting.any():
            self._reset_envs(resetting)
        self._needs_reset = truncated.copy()
        return StepResult(self._obs(), reward, np.zeros(self.num_envs, dtype=bool), truncated, None)

    def task_parameters(self) -> np.ndarray:
        """``[n, TASTE_DIMS + 1]`` each env's user: taste vector, then ``phi`` mapped to
        ``[-1, 1]``."""
        phi = 2.0 * self.fatigue_cost / FATIGUE_MAX - 1.0
        return np.concatenate([self.taste, phi[:, None]], axis=1).astype(np.float32)

    def close(self) -> None:
        pass


def make(task: Task, num_envs: int, seed: int, env_seeds: list[int] | None = None) -> RecommenderVecEnv:
    offset = int(task.option("split_seed_offset", 0))
    if env_seeds is None:
        env_seeds = [seed + i for i in range(num_envs)]
    return RecommenderVecEnv(num_envs, [s + offset for s in env_seeds], seed_offset=offset,
                             click_seed=seed)


FAMILY = Family(
    name="recsys",
    summary="recommend one of eight items to a user whose taste and boredom are hidden "
            "(numpy, discrete actions; evaluation family)",
    examples=("recsys:users",),
    suite=lambda name, o: suite(name),
    make=make,
    spaces=lambda task: TaskSpaces(gym.spaces.Box(-np.inf, np.inf, (OBS_WIDTH,), np.float32),
                                   gym.spaces.Discrete(N_ITEMS), HORIZON),
    hidden_parameters=TASK_PARAMETER_NAMES,
    oracle="wrap",
)
