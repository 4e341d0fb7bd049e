"""Suites and backends: parsing, errors, identical starts for groups, episode statistics."""

import numpy as np
import pytest

from mrft import envs
from mrft.envs import metaworld, procgen
from mrft.errors import MrftError


@pytest.mark.parametrize("spec", ["bigfish", "x:y", "procgen:notagame", "metaworld:reech",
                                  "gym:NoSuchEnv-v9", "procgen:"])
def test_bad_env_specs_raise_one_line_errors(spec):
    with pytest.raises(MrftError) as info:
        envs.parse_env(spec)
    assert "\n" not in str(info.value)


def test_procgen_suite_split_follows_the_standard_protocol():
    suite = envs.parse_env("procgen:coinrun")
    assert suite.train[0].option("num_levels") == 200 and suite.train[0].option("start_level") == 0
    assert suite.test[0].option("num_levels") == 0
    assert procgen.env_id(suite.train[0]) == "CoinrunEasy-v0"
    assert len(procgen.GAMES) == 16


def test_procgen_normalized_return_uses_easy_and_hard_ranges():
    assert procgen.normalized_return("bigfish", "easy", 40.0) == 1.0
    assert procgen.normalized_return("bigfish", "easy", 1.0) == 0.0
    assert procgen.normalized_return("coinrun", "hard", 7.5) == 0.5


def test_procgen_level_task_gives_identical_first_observations():
    env = envs.make_vec_env([procgen.level_task("bigfish", 7)], 4, seed=3)
    obs = env.reset()
    env.close()
    assert all(np.array_equal(obs[0], obs[i]) for i in range(1, 4))


def test_metaworld_goal_seed_shares_goal_and_hidden_goal_hides_it():
    task = metaworld.goal_task("reach", goal_seed=11, hidden_goal=False)
    env = envs.make_vec_env([task], 3, seed=0)
    obs = env.reset()
    env.close()
    assert np.allclose(obs[0, -3:], obs[1, -3:]) and np.allclose(obs[0, -3:], obs[2, -3:])
    assert np.abs(obs[0, -3:]).sum() > 0
    hidden = envs.make_vec_env([metaworld.goal_task("reach", goal_seed=11)], 2, seed=0)
    assert np.all(hidden.reset()[:, -3:] == 0)
    hidden.close()


def test_metaworld_hidden_goals_are_readable_for_diagnostics_only():
    suite = envs.parse_env("metaworld:ML1-reach")
    hidden = envs.make_task_instances([suite.test[0]] * 3, [5, 9, 5], seed=0)
    obs = hidden.reset()
    assert np.all(obs[:, -3:] == 0)  # the playing pool never shows them
    goals = hidden.task_parameters()
    visible = envs.make_task_instances([suite.test[0].with_options(hidden_goal=False)] * 3,
                                       [5, 9, 5], seed=0)
    assert np.allclose(goals, visible.reset()[:, -3:])
    assert np.allclose(goals[0], goals[2]) and not np.allclose(goals[0], goals[1])
    hidden.close()
    visible.close()


def test_metaworld_names_and_official_sets():
    assert metaworld.canonical_name("Reach") == "reach-v3"
    assert metaworld.canonical_name("pick-place") == "pick-place-v3"
    assert len(metaworld.task_names()) == 50
    train, test = metaworld.official_task_set("ML10")
    assert len(train) == 10 and len(test) == 5 and "reach-v3" in train
    suite = envs.parse_env("metaworld:ML10")
    assert all(t.option("hidden_goal") for t in suite.train)
    ml1 = envs.parse_env("metaworld:ML1-push")
    assert ml1.train[0].name == "push-v3" and ml1.train[0].option("hidden_goal")
    assert ml1.test[0].option("split_seed_offset") == metaworld.TEST_SEED_OFFSET


def test_metaworld_reports_success_and_truncates_at_500():
    env = envs.make_vec_env([metaworld.goal_task("reach", goal_seed=1)], 2, seed=0)
    env.reset()
    for _ in range(500):
        result = env.step(np.zeros((2, 4), dtype=np.float32))
        assert result.success is not None
    env.close()
    assert result.truncated.all() and not result.terminated.any()


def test_multitask_env_concatenates_and_labels_tasks():
    suite = envs.parse_env("metaworld:MT10")
    env = envs.make_vec_env(suite.train[:3], 5, seed=0)
    assert env.num_envs == 5 and env.task_ids.tolist() == [0, 0, 1, 1, 2]
    obs = env.reset()
    assert obs.shape == (5, 39)
    env.close()


def test_gym_family_runs_any_registered_id():
    env = envs.make_vec_env(envs.parse_env("gym:CartPole-v1").train, 2, seed=0)
    assert env.reset().shape == (2, 4)
    env.close()
