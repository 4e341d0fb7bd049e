"""The oracle observation: every observation followed by the instance's hidden parameters.

A benchmark family is informative only if adaptation can buy something: a policy that is
*told* the hidden parameters (goal, regime, plant, body) must score clearly above one that
is not. :class:`OracleObservation` makes that reference policy out of any algorithm, by
appending ``env.task_parameters()`` to what the env returns, so it is trained and scored
with the same budgets as every method and needs no adaptation.

Which families have an oracle, and how, is each family's own declaration
(:attr:`mrft.envs.family.Family.oracle`): Meta-World shows its goal itself (its own
observation has a slot for it, zeroed when the goal is hidden); Procgen has no hidden
parameters to show; a user's Gymnasium env has an oracle when it has ``task_parameters()``.
"""

from __future__ import annotations

from collections.abc import Sequence

import gymnasium as gym
import numpy as np

from mrft.envs.family import REGISTRY, family_of
from mrft.envs.spec import Task
from mrft.envs.vector import StepResult, VecEnv, load_stream_state, resets_one_env, stream_state


def shows_parameters(task: Task) -> bool:
    """Whether ``task`` has hidden parameters an oracle can see."""
    return family_of(task).oracle_kind(task) is not None


def families_with_oracle() -> list[str]:
    """Names of the registered families that may have an oracle (a user's Gymnasium env:
    where it has ``task_parameters()``)."""
    return [name for name, family in REGISTRY.items() if family.oracle is not None]


class OracleObservation:
    """``env`` with ``task_parameters()`` appended to every observation (float32).

    The parameters appended to an observation are those of the episode that observation
    belongs to: the first observation of an auto-reset episode carries the new instance's.
    """

    def __init__(self, env: VecEnv):
        self.env = env
        self.num_envs = env.num_envs
        self.action_space = env.action_space
        inner = env.observation_space
        extra = env.task_parameters().shape[1]
        self.observation_space = gym.spaces.Box(-np.inf, np.inf, (inner.shape[0] + extra,), np.float32)

    @property
    def task_ids(self) -> np.ndarray:
        return self.env.task_ids

    @task_ids.setter
    def task_ids(self, value: np.ndarray) -> None:
        self.env.task_ids = value

    def _with_parameters(self, obs: np.ndarray) -> np.ndarray:
        return np.concatenate([np.asarray(obs, dtype=np.float32), self.env.task_parameters()], axis=1)

    def reset(self) -> np.ndarray:
        return self._with_parameters(self.env.reset())

    def reseed(self, env_seeds: Sequence[int]) -> None:
        self.env.reseed(env_seeds)

    @property
    def partial_resets(self) -> bool:
        return resets_one_env(self.env)

    def reset_envs(self, which: np.ndarray, env_seeds: Sequence[int]) -> np.ndarray:
        first = self.env.reset_envs(which, env_seeds)
        return np.concatenate([np.asarray(first, dtype=np.float32),
                               self.env.task_parameters()[which]], axis=1)

    def step(self, actions: np.ndarray) -> StepResult:
        result = self.env.step(actions)
        result.obs = self._with_parameters(result.obs)
        return result

    def task_parameters(self) -> np.ndarray:
        return self.env.task_parameters()

    def rewind(self) -> None:
        rewind = getattr(self.env, "rewind", None)
        if rewind is not None:
            rewind()

    def stream_state(self) -> str | None:
        return stream_state(self.env)

    def load_stream_state(self, state: str) -> None:
        load_stream_state(self.env, state)

    def close(self) -> None:
        self.env.close()
