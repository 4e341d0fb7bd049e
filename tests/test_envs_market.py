"""``market:regimes`` / ``market:switching``: seeded, hidden, distinct instances, fresh paths."""

import math

import numpy as np
import pytest

from mrft import envs
from mrft.envs import market
from mrft.errors import MrftError

REGIMES = envs.parse_env("market:regimes")
SWITCHING = envs.parse_env("market:switching")


def _play(env, actions_fn, steps):
    obs, rewards = [env.reset()], []
    for _ in range(steps):
        result = env.step(actions_fn(env))
        obs.append(result.obs)
        rewards.append(result.reward)
    return np.stack(obs), np.stack(rewards)


def _constant(value):
    return lambda env: np.full((env.num_envs, 1), value, dtype=np.float32)


def test_equal_seeds_reproduce_and_different_seeds_differ():
    a = market.make(REGIMES.train[0], 3, 7)
    b = market.make(REGIMES.train[0], 3, 7)
    obs_a, rew_a = _play(a, _constant(0.5), 30)
    obs_b, rew_b = _play(b, _constant(0.5), 30)
    np.testing.assert_array_equal(obs_a, obs_b)
    np.testing.assert_array_equal(rew_a, rew_b)
    assert not np.allclose(obs_a[:, 0], obs_a[:, 1])  # envs 7 and 8 play different regimes and paths
    assert REGIMES.test[0] != REGIMES.train[0]
    train = market.make(REGIMES.train[0], 1, 0, env_seeds=[3])
    test = market.make(REGIMES.test[0], 1, 0, env_seeds=[3])
    train.reset()
    test.reset()
    assert not np.allclose(train.task_parameters(), test.task_parameters())


def test_instances_are_distinct_and_span_momentum_and_mean_reversion():
    env = market.make(REGIMES.test[0], 20, 0, env_seeds=list(range(20)))
    env.reset()
    params = env.task_parameters()
    assert len({tuple(row) for row in params.round(6)}) == 20
    phi = env.regimes[:, 0, 2]
    assert (phi > 0.2).any() and (phi < -0.2).any()
    assert ((phi >= -0.5) & (phi <= 0.5)).all()
    assert params.shape == (20, 3) and np.abs(params).max() <= 1.0 + 1e-6


def test_a_single_observation_does_not_reveal_the_regime():
    # least squares of phi on everything a single first observation offers (the window, its
    # lag-1 products and squares) across many instances explains little of phi's variance
    n = 600
    env = market.make(REGIMES.train[0], n, 0, env_seeds=list(range(n)))
    obs = env.reset()
    window = obs[:, :market.WINDOW].astype(np.float64)
    products = window[:, 1:] * window[:, :-1]
    features = np.concatenate([np.ones((n, 1)), window, products, window**2,
                               products.sum(1, keepdims=True)], axis=1)
    phi = env.regimes[:, 0, 2]
    coef, *_ = np.linalg.lstsq(features, phi, rcond=None)
    r2 = 1.0 - np.var(phi - features @ coef) / np.var(phi)
    assert r2 < 0.25, r2
    np.testing.assert_array_equal(obs[:, -1], 0.0)  # the position starts flat


def test_a_trials_episodes_replay_the_regime_but_not_the_path():
    env = market.make(REGIMES.train[0], 2, 4, env_seeds=[9, 9])
    first = env.reset()
    regime = env.regimes.copy()
    np.testing.assert_array_equal(regime[0], regime[1])  # a group shares the regime...
    assert not np.allclose(first[0], first[1])  # ...not the path
    env.reseed([9, 9])
    second = env.reset()
    np.testing.assert_array_equal(env.regimes, regime)
    assert not np.allclose(first, second)
    # a fresh env built with the same seeds replays both
    again = market.make(REGIMES.train[0], 2, 4, env_seeds=[9, 9])
    np.testing.assert_array_equal(again.reset(), first)
    # another make seed (an evaluation's) gives the same regime on another path
    other = market.make(REGIMES.train[0], 2, 5, env_seeds=[9, 9])
    assert not np.allclose(other.reset(), first)
    np.testing.assert_array_equal(other.regimes, regime)


def test_reward_of_a_step_by_hand():
    env = market.make(REGIMES.train[0], 1, 0)
    env.reset()
    env.returns[0, market.WINDOW] = 0.02  # the return the first step earns
    result = env.step(np.array([[0.5]], dtype=np.float32))
    # 0.5 x 0.02 minus the cost of moving from 0 to 0.5, over SCALE = 0.01
    expected = (0.5 * 0.02 - market.COST * market.SCALE * 0.5) / market.SCALE
    assert result.reward[0] == pytest.approx(expected, rel=1e-5)
    assert result.obs[0, -1] == pytest.approx(0.5)
    np.testing.assert_allclose(result.obs[0, :market.WINDOW],
                               env.returns[0, 1:market.WINDOW + 1] / market.SCALE, rtol=1e-5)
    env.returns[0, market.WINDOW + 1] = -0.01
    result = env.step(np.array([[-1.0]], dtype=np.float32))
    expected = (-1.0 * -0.01 - market.COST * market.SCALE * 1.5) / market.SCALE
    assert result.reward[0] == pytest.approx(expected, rel=1e-5)


def test_returns_follow_the_ar1_recursion():
    env = market.make(REGIMES.train[0], 1, 0)
    regimes = np.array([[0.001, 0.01, 0.4]] * 2)
    noise = np.random.default_rng(0).standard_normal(market.WINDOW + env.horizon + 1)
    path = env._path(regimes, env.horizon + 1, noise)
    mu, sigma, phi = regimes[0]
    start = mu + sigma / math.sqrt(1 - phi**2) * noise[0]
    assert path[0] == pytest.approx(mu + phi * (start - mu) + sigma * noise[1])
    assert path[1] == pytest.approx(mu + phi * (path[0] - mu) + sigma * noise[2])


def test_episodes_truncate_at_the_horizon_and_auto_reset_to_a_new_regime():
    env = market.make(REGIMES.train[0], 1, 0)
    env.reset()
    regime = env.regimes[0, 0].copy()
    for t in range(env.horizon):
        result = env.step(np.zeros((1, 1), dtype=np.float32))
        assert result.truncated[0] == (t == env.horizon - 1)
        assert not result.terminated[0]
    result = env.step(np.ones((1, 1), dtype=np.float32))  # the auto-reset step
    assert result.reward[0] == 0.0 and result.obs[0, -1] == 0.0
    assert not np.allclose(env.regimes[0, 0], regime)


def test_switching_changes_the_regime_mid_episode():
    env = market.make(SWITCHING.train[0], 8, 0)
    env.reset()
    low, high = market.SWITCH_RANGE
    assert ((env.switch_at >= low * env.horizon) & (env.switch_at <= high * env.horizon)).all()
    before = env.task_parameters()
    for _ in range(int(high * env.horizon) + 1):
        env.step(np.zeros((8, 1), dtype=np.float32))
    after = env.task_parameters()
    assert not np.isclose(before, after, atol=1e-3).all(axis=1).any()
    plain = market.make(REGIMES.train[0], 8, 0)
    plain.reset()
    assert (plain.switch_at > plain.horizon).all()


def test_the_reference_follows_momentum_fades_mean_reversion_and_beats_fixed_policies():
    task = REGIMES.test[0]
    by_phi = {}
    for seed in range(40):
        env = market.make(task, 1, 0, env_seeds=[seed])
        env.reset()
        by_phi[seed] = float(env.regimes[0, 0, 2])
    for seed in (max(by_phi, key=by_phi.get), min(by_phi, key=by_phi.get)):
        best, band = market.reference_return(task, seed, episodes=4)
        assert math.isfinite(band)  # a strongly autocorrelated regime is traded, not held
        for value in (-1.0, 0.0, 1.0):
            env = market.make(task, 1, 0, env_seeds=[seed])
            total = 0.0
            for _ in range(4):
                env.reseed([seed])
                env.reset()
                total += sum(float(env.step(_constant(value)(env)).reward[0]) for _ in range(env.horizon))
            assert best > total / 4 + 5.0, (seed, best, value, total / 4)
    env = market.make(task, 2, 0)
    env.reset()
    env.regimes[:, 0] = [[0.0, 0.01, 0.5], [0.0, 0.01, -0.5]]
    env.returns[:, market.WINDOW - 1] = 0.01  # the last observed move was up
    np.testing.assert_array_equal(market.band_policy(env, np.zeros(2))[:, 0], [1.0, -1.0])


def test_unknown_market_task():
    with pytest.raises(MrftError, match="unknown market task"):
        envs.parse_env("market:crash")


def test_the_reference_policy_on_a_three_step_episode_by_hand():
    env = market.MarketRegimeVecEnv(1, [0], horizon=3)
    env.reset()
    env.regimes[0] = [[0.0, 0.01, 0.5]] * 2  # momentum, no drift
    path = np.array([0.0, 0.0, 0.0, 0.0, 0.02, -0.01, 0.004, 0.01])  # 5 past returns, then 3
    env.returns[0] = path
    band = np.zeros(1)  # trade on any expected move
    total = 0.0
    for _ in range(3):
        total += float(env.step(market.band_policy(env, band)).reward[0])
    # E[r1] = .5 x .02 > 0: long (cost .1 x 1); r1 = -.01 -> -.01 - .001
    # E[r2] = .5 x -.01 < 0: short (cost .1 x 2); r2 = .004 -> -.004 - .002
    # E[r3] = .5 x .004 > 0: long (cost .1 x 2); r3 = .01 -> .01 - .002
    by_hand = (-0.011 - 0.006 + 0.008) / market.SCALE
    assert total == pytest.approx(by_hand, abs=1e-4)


def test_rewind_replays_the_paths_of_a_fresh_env_and_evaluation_uses_it():
    env = market.make(REGIMES.test[0], 3, 11, env_seeds=[2, 2, 2])
    first = env.reset()
    env.reseed([2, 2, 2])
    assert not np.allclose(env.reset(), first)
    env.rewind()
    env.reseed([2, 2, 2])
    np.testing.assert_array_equal(env.reset(), first)

    from mrft.envs.spaces import task_spaces
    from mrft.episodes import Actor
    from mrft.evaluate import evaluate_instance
    from mrft.nets import ActorCritic

    spaces = task_spaces(REGIMES.test[0])
    policy = ActorCritic(spaces.observation_space, spaces.action_space, "mlp", (8,))
    cache: dict = {}
    runs = [evaluate_instance(Actor(policy), REGIMES.test[0], 2, 4, 4, 1000, seed=5, cache=cache).returns
            for _ in range(2)]
    assert runs[0] == runs[1]  # every evaluation point plays the same paths
    assert len(set(runs[0])) == 4  # and its episodes differ


def test_every_band_of_the_reference_is_scored_on_the_same_paths():
    task = REGIMES.test[0]
    best, band = market.reference_return(task, 4, episodes=2)
    alone = {b: market.reference_return(task, 4, episodes=2, bands=[b])[0] for b in market.BANDS}
    assert best == pytest.approx(max(alone.values())) and alone[band] == pytest.approx(best)
