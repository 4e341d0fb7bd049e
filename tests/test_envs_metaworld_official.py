"""The Farama Meta-World backend: the benchmark's own train and test tasks, never mixed."""

import pickle

import numpy as np
import pytest

from mrft import envs
from mrft.envs import metaworld_official as official
from mrft.errors import MrftError


def goal_of(task) -> tuple:
    """What makes a Meta-World task: its frozen random vector (object and goal positions)."""
    return tuple(np.round(pickle.loads(task.data)["rand_vec"], 9))


def played_goals(env) -> list[tuple]:
    return [goal_of(env.tasks[i]) for i in env.current_tasks()]


def test_ml1_pretraining_plays_only_the_benchmarks_train_tasks():
    suite = envs.parse_env("metaworld-official:ML1-reach")
    bench = official.benchmark("ML1-reach-v3")
    train_goals = {goal_of(t) for t in bench.train_tasks}
    test_goals = {goal_of(t) for t in bench.test_tasks}
    assert len(train_goals) == len(test_goals) == 50
    assert not train_goals & test_goals  # held-out goals are the benchmark's other draw

    env = envs.make_vec_env(suite.train, 4, seed=3)
    seen = set()
    env.reset()
    seen.update(played_goals(env))
    env.reseed([11, 12, 13, 14])
    env.reset()
    seen.update(played_goals(env))
    for _ in range(501):  # one whole episode: every env truncates, then auto-resets
        result = env.step(np.zeros((4, 4), np.float32))
        if result.truncated.any():
            assert result.truncated.all()
    seen.update(played_goals(env))
    env.close()
    assert seen <= train_goals


def test_held_out_instances_are_the_benchmarks_test_tasks_one_each():
    suite = envs.parse_env("metaworld-official:ML1-reach")
    bench = official.benchmark("ML1-reach-v3")
    assert envs.distinct_instances(suite.test[0]) == 50
    picked = [envs.held_out_instance(suite, i) for i in range(50)]
    env = envs.make_task_instances([t for t, _ in picked], [s for _, s in picked], seed=0)
    env.reset()
    assert played_goals(env) == [goal_of(t) for t in bench.test_tasks]
    env.close()
    with pytest.raises(MrftError, match="only 50 distinct"):
        envs.held_out_instance(suite, 50)


def test_a_trial_keeps_its_task_and_equal_seeds_share_the_task_sequence():
    suite = envs.parse_env("metaworld-official:ML1-push")
    env = envs.make_vec_env(suite.train, 3, seed=0)
    env.reseed([7, 7, 8])
    first = env.reset()
    goals = env.task_parameters()
    env.reseed([7, 7, 8])
    again = env.reset()
    assert np.array_equal(first, again) and np.array_equal(goals, env.task_parameters())
    assert np.array_equal(first[0], first[1]) and not np.array_equal(goals[0], goals[2])
    result = None
    for _ in range(501):
        result = env.step(np.zeros((3, 4), np.float32))
    # the step after the truncation starts the next episode: reward 0, the same next task in
    # the envs that share a seed
    assert np.all(result.reward == 0) and not result.truncated.any()
    assert env.current_tasks()[0] == env.current_tasks()[1]
    env.close()


def test_ml_goals_are_hidden_and_the_oracle_sees_them():
    suite = envs.parse_env("metaworld-official:ML1-reach")
    hidden = envs.make_task_instances([suite.test[0]] * 2, [3, 4], seed=0)
    assert np.all(hidden.reset()[:, -3:] == 0)
    shown = envs.parse_env("metaworld-official:ML1-reach", oracle=True)
    visible = envs.make_task_instances([shown.test[0]] * 2, [3, 4], seed=0)
    obs = visible.reset()
    assert np.allclose(obs[:, -3:], hidden.task_parameters(), atol=1e-6)
    assert np.abs(obs[:, -3:]).sum() > 0
    hidden.close()
    visible.close()


def test_ml10_holds_out_whole_task_classes():
    suite = envs.parse_env("metaworld-official:ML10")
    train = {t.name for t in suite.train}
    test = {t.name for t in suite.test}
    assert len(train) == 10 and len(test) == 5 and not train & test
    bench = official.benchmark("ML10")
    assert train == set(bench.train_classes) and test == set(bench.test_classes)
    # instance i of the suite is test class i mod 5, goal i // 5
    task, seed = envs.held_out_instance(suite, 7)
    assert task == suite.test[2] and seed == 1


def test_mt10_shows_the_goal_and_its_test_tasks_are_its_train_tasks():
    suite = envs.parse_env("metaworld-official:MT10")
    bench = official.benchmark("MT10")
    assert [t.name for t in suite.train] == [t.name for t in suite.test] == list(bench.train_classes)
    # the test split of a multi-task benchmark plays its train tasks, goal for goal
    assert {goal_of(t) for t in official.played_tasks(suite.test[0])} == {
        goal_of(t) for t in bench.train_tasks if t.env_name == suite.train[0].name}
    env = envs.make_task_instances([suite.test[0]], [0], seed=0)
    obs = env.reset()
    assert np.allclose(obs[:, -3:], env.task_parameters(), atol=1e-6) and np.abs(obs[:, -3:]).sum() > 0
    env.close()


@pytest.mark.slow  # building the 45-class benchmark takes about a minute
def test_ml45_holds_out_the_benchmarks_five_classes():
    suite = envs.parse_env("metaworld-official:ML45")
    bench = official.benchmark("ML45")
    train, test = [t.name for t in suite.train], [t.name for t in suite.test]
    assert train == list(bench.train_classes) and test == list(bench.test_classes)
    assert len(train) == 45 and len(test) == 5 and not set(train) & set(test)


def test_success_is_reported_every_step_and_bad_names_fail_in_one_line():
    suite = envs.parse_env("metaworld-official:ML1-reach")
    env = envs.make_vec_env(suite.train, 2, seed=0)
    env.reset()
    result = env.step(np.zeros((2, 4), np.float32))
    assert result.success is not None and result.success.shape == (2,)
    assert env.observation_space.shape == (39,) and env.action_space.shape == (4,)
    env.close()
    for bad in ("metaworld-official:ML1-reech", "metaworld-official:ML7"):
        with pytest.raises(MrftError) as info:
            envs.parse_env(bad)
        assert "\n" not in str(info.value)
