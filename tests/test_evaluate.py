"""Confidence intervals reported by `mrft eval`, on hand-computed values."""

import math

from mrft.evaluate import mean_ci, proportion_ci


def test_mean_ci_uses_student_t():
    ci = mean_ci([1.0, 2.0, 3.0])
    # mean 2, sd 1, n 3: t(0.975, 2) = 4.302653 -> half width 4.302653 / sqrt(3)
    half = 4.302653 / math.sqrt(3)
    assert math.isclose(ci.mean, 2.0)
    assert math.isclose(ci.low, 2.0 - half, rel_tol=1e-5)
    assert math.isclose(ci.high, 2.0 + half, rel_tol=1e-5)
    single = mean_ci([5.0])
    assert single.low == single.high == 5.0


def test_wilson_interval_for_success_rates():
    ci = proportion_ci([1.0] * 8 + [0.0] * 2)
    # p = 0.8, n = 10, z = 1.959964: centre = (0.8 + z^2/20) / (1 + z^2/10) = 0.7167,
    # half = z * sqrt(0.016 + z^2/400) / (1 + z^2/10) = 0.2266
    assert math.isclose(ci.low, 0.4902, abs_tol=1e-3)
    assert math.isclose(ci.high, 0.9433, abs_tol=1e-3)
    perfect = proportion_ci([1.0] * 50)
    assert perfect.high == 1.0 and 0.9 < perfect.low < 1.0


def test_evaluation_is_reproducible_and_leaves_global_rng_alone():
    import torch

    from mrft.envs import make_vec_env, parse_env
    from mrft.evaluate import evaluate
    from mrft.nets import ActorCritic

    suite = parse_env("gym:CartPole-v1")
    probe = make_vec_env(suite.train, 1, 0)
    policy = ActorCritic(probe.observation_space, probe.action_space, "mlp", (8,))
    probe.close()
    torch.manual_seed(5)
    expected_next = torch.rand(3)
    torch.manual_seed(5)
    a = evaluate(policy, suite.test, 6, num_envs=3, seed=9)
    assert torch.equal(torch.rand(3), expected_next)
    b = evaluate(policy, suite.test, 6, num_envs=3, seed=9)
    assert a.returns == b.returns and len(a.returns) == 6


def test_reward_by_step_is_the_return_step_by_step():
    import numpy as np

    from mrft.evaluate import EvalResult

    # two episodes: one of 5 steps (rewards 1..5), one of 3 steps (rewards 3, 3, 3); an
    # ended episode counts 0, so each step's value is the sum over both episodes / 2
    sums = np.array([1 + 3, 2 + 3, 3 + 3, 4, 5, 0, 0], dtype=float)
    counts = np.array([2, 2, 2, 1, 1, 0, 0], dtype=float)
    result = EvalResult([15.0, 9.0], [5, 3], None, sums, counts)
    assert result.reward_by_step(bins=100) == {"step": [0, 1, 2, 3, 4],
                                               "reward": [2.0, 2.5, 3.0, 2.0, 2.5], "horizon": 5}
    assert sum(result.reward_by_step(bins=100)["reward"]) == np.mean(result.returns)
    # 5 steps in 2 bins: edges 0, 2, 5 -> (4 + 5) / (2 x 2) and (6 + 4 + 5) / (3 x 2)
    assert result.reward_by_step(bins=2) == {"step": [0, 2], "reward": [2.25, 2.5], "horizon": 5}
    assert EvalResult([], [], None).reward_by_step() == {"step": [], "reward": [], "horizon": 0}


def test_evaluation_records_the_reward_at_every_step():
    import numpy as np

    from mrft.envs import make_vec_env, parse_env
    from mrft.evaluate import evaluate
    from mrft.nets import ActorCritic

    suite = parse_env("gym:CartPole-v1")
    probe = make_vec_env(suite.train, 1, 0)
    policy = ActorCritic(probe.observation_space, probe.action_space, "mlp", (8,))
    probe.close()
    result = evaluate(policy, suite.test, 5, num_envs=3, seed=2)
    assert result.reward_counts[0] == 5 and result.reward_sums.sum() == sum(result.returns)
    assert (result.reward_counts[:-1] >= result.reward_counts[1:]).all()
    profile = result.reward_by_step()
    assert profile["horizon"] == max(result.lengths) and profile["reward"][0] == 1.0
    assert (np.diff(profile["reward"]) <= 0).all()  # CartPole pays 1 while alive: episodes end
    assert profile["step"][0] == 0 and profile["step"] == sorted(set(profile["step"]))
