"""``--oracle``: the hidden parameters follow every observation, and a bench method uses it."""

import numpy as np
import pytest

from mrft import envs
from mrft.bench.methods import METHODS
from mrft.bench.suite import load_suite
from mrft.errors import MrftError


@pytest.mark.parametrize("spec", ["nav:point", "market:regimes", "bandit:arms3", "process:changeover",
                                  "sim2real:reacher"])
def test_the_oracle_observation_is_the_plain_one_followed_by_the_parameters(spec):
    plain_suite, oracle_suite = envs.parse_env(spec), envs.parse_env(spec, oracle=True)
    plain = envs.make_task_instances(plain_suite.test, [3], 0)
    oracle = envs.make_task_instances(oracle_suite.test, [3], 0)
    extra = plain.task_parameters().shape[1]
    assert oracle.observation_space.shape[0] == plain.observation_space.shape[0] + extra
    obs_plain, obs_oracle = plain.reset(), oracle.reset()
    np.testing.assert_array_equal(obs_oracle[:, :-extra], obs_plain)
    np.testing.assert_array_equal(obs_oracle[:, -extra:], plain.task_parameters())
    action = plain.action_space.sample() if spec.startswith("bandit") else np.zeros(plain.action_space.shape)
    actions = np.asarray([action], dtype=plain.action_space.dtype)
    for _ in range(3):
        a, b = plain.step(actions), oracle.step(actions)
        np.testing.assert_array_equal(b.obs[:, :-extra], a.obs)
        np.testing.assert_array_equal(b.obs[:, -extra:], plain.task_parameters())
        assert np.array_equal(a.reward, b.reward)


def test_the_parameters_of_an_auto_reset_episode_are_the_new_instances():
    env = envs.make_vec_env(envs.parse_env("nav:point", oracle=True).train, 1, 0)
    obs = env.reset()
    first_goal = obs[0, -2:].copy()
    while True:
        result = env.step(np.zeros((1, 2), dtype=np.float32))
        if result.truncated[0]:
            np.testing.assert_array_equal(result.obs[0, -2:], first_goal)  # still the old episode
            break
    result = env.step(np.zeros((1, 2), dtype=np.float32))
    assert not np.allclose(result.obs[0, -2:], first_goal)
    np.testing.assert_array_equal(result.obs[0, -2:], env.task_parameters()[0])


def test_families_without_hidden_parameters_refuse_the_oracle():
    with pytest.raises(MrftError, match="no hidden task parameters"):
        envs.parse_env("gym:CartPole-v1", oracle=True)


def test_the_bench_oracle_is_ppo_with_the_parameters_shown_and_no_adaptation():
    suite = load_suite("smoke")
    family = suite.tasks[1]  # Meta-World ML1-reach: the oracle sees the goal
    oracle = suite.train_config(family, METHODS["oracle"], 1, "runs", "train")
    ppo = suite.train_config(family, METHODS["ppo"], 1, "runs", "train")
    assert oracle.algo == "ppo" and oracle.env.oracle and not ppo.env.oracle
    assert not METHODS["oracle"].adapt_updates
    assert METHODS["context-free"].pretrain_as == "ppo" and not METHODS["context-free"].adapt_updates


def test_a_metaworld_oracle_sees_the_goal_that_ml1_hides():
    hidden = envs.make_task_instances(envs.parse_env("metaworld:ML1-reach").test, [2], 0)
    shown = envs.make_task_instances(envs.parse_env("metaworld:ML1-reach", oracle=True).test, [2], 0)
    obs_hidden, obs_shown = hidden.reset(), shown.reset()
    np.testing.assert_array_equal(obs_hidden[0, -3:], 0.0)
    np.testing.assert_allclose(obs_shown[0, -3:], hidden.task_parameters()[0], atol=1e-6)
    hidden.close()
    shown.close()
