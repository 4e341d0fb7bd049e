"""A user's Gymnasium env as a family: its hidden task replayed by seed, its parameters shown to
an oracle, and the Meta-World / garage convention (``sample_tasks``, ``set_task``) adapted."""

from __future__ import annotations

import gymnasium as gym
import numpy as np
import pytest

from mrft import envs
from mrft.envs.oracle import shows_parameters


class GarageGoal(gym.Env):
    """The garage convention: tasks are dicts drawn from NumPy's global RNG."""

    observation_space = gym.spaces.Box(-np.inf, np.inf, (1,), np.float32)
    action_space = gym.spaces.Discrete(2)

    def __init__(self):
        self.goal = 0.0

    def sample_tasks(self, n):
        return [{"goal": np.random.uniform(-1, 1)} for _ in range(n)]

    def set_task(self, task):
        self.goal = task["goal"]

    def reset(self, *, seed=None, options=None):
        super().reset(seed=seed)
        return np.zeros(1, np.float32), {}

    def step(self, action):
        return np.zeros(1, np.float32), -abs(self.goal), False, False, {"success": 0.0}


gym.register("GarageGoal-v0", entry_point=GarageGoal, max_episode_steps=3)
gym.register("PlainPendulum-v0", entry_point="gymnasium.envs.classic_control:PendulumEnv",
             max_episode_steps=5)


def _goals(task, seeds):
    env = envs.make_task_instances((task,) * len(seeds), seeds, seed=0)
    try:
        env.reset()
        return env.task_parameters()[:, 0].copy()
    finally:
        env.close()


def test_garage_tasks_replay_by_seed_and_differ_between_splits():
    suite = envs.parse_env("gym:GarageGoal-v0")
    train, test = suite.train[0], suite.test[0]
    first, again = _goals(train, [1, 2, 1]), _goals(train, [1, 2, 1])
    assert np.array_equal(first, again) and first[0] == first[2] and first[0] != first[1]
    assert not np.isin(_goals(test, [1, 2]), first).any()  # held-out seeds: other tasks
    state = np.random.get_state()[1].copy()
    _goals(train, [3])
    assert np.array_equal(np.random.get_state()[1], state)  # the global RNG is left as it was


def test_garage_tasks_of_numbers_give_the_oracle_its_parameters():
    task = envs.parse_env("gym:GarageGoal-v0").train[0]
    assert shows_parameters(task)
    oracle = envs.parse_env("gym:GarageGoal-v0", oracle=True)
    assert envs.task_spaces(oracle.train[0]).observation_space.shape == (2,)
    env = envs.make_task_instances(oracle.test, [5], seed=0)
    obs = env.reset()
    assert obs.shape == (1, 2) and obs[0, 1] == pytest.approx(_goals(oracle.test[0], [5])[0])
    env.close()


def test_an_env_without_hidden_parameters_has_no_oracle():
    with pytest.raises(Exception, match="no hidden task parameters"):
        envs.parse_env("gym:PlainPendulum-v0", oracle=True)
