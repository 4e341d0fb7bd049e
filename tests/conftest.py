"""Shared test helpers: a tiny deterministic vector env with known episode structure."""

from __future__ import annotations

import os

import gymnasium as gym
import numpy as np
import pytest
import torch

from mrft.envs.vector import StepResult

if os.environ.get("PYTEST_XDIST_WORKER"):
    # `make test` runs one pytest worker per core: one torch thread each, so that two workers
    # do not oversubscribe two cores
    torch.set_num_threads(1)


def pytest_collection_modifyitems(config, items):
    """Long tests first: a worker that draws one last would run it alone while the other waits."""
    items.sort(key=lambda item: item.get_closest_marker("long") is None)


class CountdownVecEnv:
    """Each env's episode lasts ``lengths[i]`` steps with reward = step index + 1.

    The last step is a truncation when ``truncate`` else a termination. Like envpool, the
    step after an episode end is the auto-reset step: action ignored, reward 0, first
    observation of the next episode. Observation = [env index, step index].
    """

    def __init__(self, lengths, truncate=False):
        self.lengths = np.asarray(lengths)
        self.num_envs = len(lengths)
        self.truncate = truncate
        self.observation_space = gym.spaces.Box(-np.inf, np.inf, (2,), np.float32)
        self.action_space = gym.spaces.Discrete(2)
        self.task_ids = np.zeros(self.num_envs, dtype=np.int64)
        self.t = np.zeros(self.num_envs, dtype=np.int64)
        self.ended = np.zeros(self.num_envs, dtype=bool)
        self.actions_seen = []

    def _obs(self):
        return np.stack([np.arange(self.num_envs), self.t], axis=1).astype(np.float32)

    def reset(self):
        self.t[:] = 0
        self.ended[:] = False
        return self._obs()

    def step(self, actions):
        self.actions_seen.append(np.asarray(actions).copy())
        reward = np.zeros(self.num_envs, dtype=np.float32)
        end = np.zeros(self.num_envs, dtype=bool)
        for i in range(self.num_envs):
            if self.ended[i]:
                self.t[i] = 0
                self.ended[i] = False
                continue
            self.t[i] += 1
            reward[i] = float(self.t[i])
            if self.t[i] >= self.lengths[i]:
                end[i] = True
                self.ended[i] = True
        term = end & (not self.truncate)
        trunc = end & self.truncate
        return StepResult(self._obs(), reward, term, trunc, None)

    def close(self):
        pass


@pytest.fixture(autouse=True)
def _seed():
    torch.manual_seed(0)
    np.random.seed(0)
