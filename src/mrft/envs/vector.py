"""One vectorised-environment interface over envpool and Gymnasium.

Both backends auto-reset on the step *after* an episode ends: that step ignores the
action, returns the first observation of the next episode and reward 0. Callers must
not train on that transition; :class:`mrft.rollout.RolloutCollector` masks it. The
observation returned together with ``truncated=True`` is the true final observation,
so a value bootstrap on time-limit ends is possible without extra bookkeeping.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence
from typing import Any, Protocol

import gymnasium as gym
import numpy as np


@dataclasses.dataclass
class StepResult:
    obs: np.ndarray
    reward: np.ndarray
    terminated: np.ndarray
    truncated: np.ndarray
    success: np.ndarray | None
    """Per-step success flag where the task defines one (Meta-World), else ``None``."""


def check_finite(result: StepResult, where: str) -> None:
    """Raise :class:`mrft.errors.NonFiniteEnvError` when a step's reward or float observation
    holds NaN or inf (integer observations, such as Procgen frames, cannot)."""
    float_obs = np.issubdtype(result.obs.dtype, np.floating)
    if np.isfinite(result.reward).all() and (not float_obs or np.isfinite(result.obs).all()):
        return  # the every-step case: two reductions, no per-env bookkeeping
    bad = ~np.isfinite(result.reward)
    what = "reward"
    if float_obs:
        obs_bad = ~np.isfinite(result.obs.reshape(result.obs.shape[0], -1)).all(axis=1)
        if obs_bad.any():
            bad, what = obs_bad, "observation"
    if bad.any():
        from mrft.errors import NonFiniteEnvError

        raise NonFiniteEnvError(f"{where}: the env returned a non-finite {what} in env "
                                f"{int(np.flatnonzero(bad)[0])}")


class VecEnv(Protocol):
    num_envs: int
    observation_space: gym.Space
    action_space: gym.Space
    task_ids: np.ndarray
    """Index of each env's task in the list the vector env was built from."""

    def reset(self) -> np.ndarray: ...

    def reseed(self, env_seeds: Sequence[int]) -> None:
        """Give the envs new env seeds (one per env, ``len == num_envs``) in place.

        Afterwards the next :meth:`reset` behaves exactly like the first ``reset()`` of a
        freshly built env of the same task(s) with these env seeds: same instances, same
        start states. Seeds are given *without* the test split's offset, exactly as the
        ``env_seeds`` argument of the family's ``make``; the env adds the offset itself.
        Cheap for the numpy and Gymnasium families; envpool pools are rebuilt.
        """
        ...

    def step(self, actions: np.ndarray) -> StepResult: ...

    def close(self) -> None: ...

    # Optional: ``reset_envs(which, env_seeds) -> np.ndarray`` re-seeds the envs ``which``
    # (bool ``[num_envs]``) with ``env_seeds`` (one per selected env, without the split's
    # offset) and resets them alone, returning their first observations ``[k, ...]``: each
    # then plays as a freshly built env with that seed after its first ``reset()``, and the
    # others go on untouched (see :func:`resets_one_env`).
    #
    # Optional, for diagnostics only: ``task_parameters() -> np.ndarray [num_envs, P]``, the
    # hidden parameters of each env's current task instance (nav goals, the bandit's paying
    # arm, shifted masses). The belief probe of ``mrft eval --probe`` fits them from beliefs.


def stream_state(env: VecEnv) -> str | None:
    """The state of ``env``'s exogenous random stream (the noise, clicks or market paths that
    a re-seed does not restart), as text; None for an env without one. A collector saves it
    where its resume replays from, so a resumed run draws what the uninterrupted one would."""
    get = getattr(env, "stream_state", None)
    return None if get is None else get()


def load_stream_state(env: VecEnv, state: str | None) -> None:
    """Put ``env``'s exogenous stream where :func:`stream_state` read it (None: leave it)."""
    if state is not None:
        env.load_stream_state(state)


def resets_one_env(env: VecEnv) -> bool:
    """Whether ``env`` can re-seed and reset some of its envs while the others play on
    (``reset_envs``); a wrapper says so with ``partial_resets``."""
    return callable(getattr(env, "reset_envs", None)) and getattr(env, "partial_resets", True)


def _success_from_info(info: dict[str, Any], num_envs: int) -> np.ndarray | None:
    if "success" not in info:
        return None
    success = np.asarray(info["success"], dtype=np.float32).reshape(-1)
    mask = info.get("_success")
    if mask is not None:
        success = np.where(np.asarray(mask, dtype=bool), success, 0.0).astype(np.float32)
    if success.shape[0] != num_envs:
        return None
    return success


class _GymnasiumApiVecEnv:
    """Shared stepping for backends with Gymnasium's vector API (envpool's included)."""

    _env: Any
    num_envs: int

    def _init_spaces(self, observation_space: gym.Space, action_space: gym.Space) -> None:
        self.observation_space = observation_space
        self.action_space = action_space
        self.task_ids = np.zeros(self.num_envs, dtype=np.int64)
        self._float_obs = np.issubdtype(observation_space.dtype, np.floating)

    def _cast(self, obs: np.ndarray) -> np.ndarray:
        return obs.astype(np.float32, copy=False) if self._float_obs else obs

    def step(self, actions: np.ndarray) -> StepResult:
        obs, reward, terminated, truncated, info = self._env.step(actions)
        return StepResult(
            self._cast(obs),
            np.asarray(reward, dtype=np.float32),
            np.asarray(terminated, dtype=bool),
            np.asarray(truncated, dtype=bool),
            _success_from_info(info, self.num_envs),
        )

    def close(self) -> None:
        self._env.close()


def check_seed_count(env_seeds: Sequence[int], num_envs: int) -> list[int]:
    seeds = [int(s) for s in env_seeds]
    if len(seeds) != num_envs:
        raise ValueError(f"reseed needs one seed per env: got {len(seeds)} for {num_envs} envs")
    return seeds


class EnvpoolVecEnv(_GymnasiumApiVecEnv):
    """A synchronous envpool pool (``batch_size == num_envs``) for deterministic stepping.

    ``seed_offset`` is the family's split seed offset, added to the seeds :meth:`reseed`
    gets (``make`` adds it to ``env_seed`` before building).
    """

    def __init__(self, env_id: str, num_envs: int, seed: int, seed_offset: int = 0,
                 **kwargs: Any):
        self._env_id = env_id
        self._seed = seed
        self._seed_offset = seed_offset
        self._kwargs = kwargs
        self.num_envs = num_envs
        self._env = self._build(kwargs)
        self._init_spaces(self._env.observation_space, self._env.action_space)

    def _build(self, kwargs: dict[str, Any]) -> Any:
        import envpool

        return envpool.make(
            self._env_id, env_type="gymnasium", num_envs=self.num_envs,
            batch_size=self.num_envs, seed=self._seed, **kwargs,
        )

    def reseed(self, env_seeds: Sequence[int]) -> None:
        """Rebuild the pool with the same id and options but ``env_seed = env_seeds``
        (plus the split offset): envpool cannot re-seed a live pool.

        Rebuilding costs about 200 ms for 16 envs on a 2-core machine for a Meta-World pool
        (``MetaWorld/ReachV3-v3``; its ``reset()`` alone takes about 60 ms) and about 1 ms
        for a Procgen pool (``BigfishEasy-v0``), measured with envpool 1.2.5.
        """
        seeds = check_seed_count(env_seeds, self.num_envs)
        kwargs = {**self._kwargs, "env_seed": [s + self._seed_offset for s in seeds]}
        self._env.close()
        self._env = self._build(kwargs)
        self._kwargs = kwargs

    def reset(self) -> np.ndarray:
        obs, _ = self._env.reset()
        return self._cast(obs)


class GymVecEnv(_GymnasiumApiVecEnv):
    """Gymnasium ``SyncVectorEnv`` for any registered id (next-step auto-reset)."""

    def __init__(self, env_id: str, num_envs: int, seed: int, env_seeds: list[int] | None = None,
                 seed_offset: int = 0, wrappers: Sequence[Any] = (), guard_as: str | None = None,
                 **kwargs: Any):
        """``guard_as``: each env in an :class:`mrft.envs.guard.EnvGuard` that names it so (a
        user's env, whose faults must end a run in one line)."""
        self._env = gym.make_vec(
            env_id, num_envs=num_envs, vectorization_mode="sync",
            vector_kwargs={"autoreset_mode": gym.vector.AutoresetMode.NEXT_STEP},
            wrappers=list(wrappers) or None, **kwargs,
        )
        if guard_as is not None:
            from mrft.envs.guard import EnvGuard

            self._env.envs = [EnvGuard(env, guard_as, i) for i, env in enumerate(self._env.envs)]
        self._seed = seed
        self._env_seeds = env_seeds
        self._seed_offset = seed_offset
        self._resets = 0
        self.num_envs = num_envs
        self._init_spaces(self._env.single_observation_space, self._env.single_action_space)

    def reset(self) -> np.ndarray:
        """Seeded reset. With per-env seeds, explicit reset ``k`` seeds env ``i`` with
        ``env_seeds[i] + 7919 * k``, so it depends only on (seed, k): envs sharing a seed
        start identically however many auto-resets (unseeded, continuing the env's own
        RNG) each had in between (as envpool's ``env_seed`` does)."""
        if self._env_seeds is None:
            seed: int | list[int] = self._seed
        else:
            seed = [s + 7919 * self._resets for s in self._env_seeds]
        self._resets += 1
        obs, _ = self._env.reset(seed=seed)
        return self._cast(obs)

    def reseed(self, env_seeds: Sequence[int]) -> None:
        """Switch to per-env seeds ``env_seeds`` (plus the split offset) and restart the
        explicit-reset count; nothing is rebuilt."""
        seeds = check_seed_count(env_seeds, self.num_envs)
        self._env_seeds = [s + self._seed_offset for s in seeds]
        self._resets = 0

    def task_parameters(self) -> np.ndarray:
        """``[num_envs, P]``: each env's ``task_parameters()`` (the hidden parameters of the
        instance it plays), for the oracle and the belief probe."""
        return np.stack([np.asarray(env.get_wrapper_attr("task_parameters")(), dtype=np.float32).ravel()
                         for env in self._env.envs])


class MultiTaskVecEnv:
    """Concatenates vector envs of several tasks that share observation and action spaces."""

    def __init__(self, envs: list[VecEnv]):
        if not envs:
            raise ValueError("MultiTaskVecEnv needs at least one env")
        first = envs[0]
        for env in envs[1:]:
            if env.observation_space.shape != first.observation_space.shape:
                raise ValueError("tasks in one run must share the observation shape")
            if env.action_space != first.action_space:
                raise ValueError("tasks in one run must share the action space")
        self.envs = envs
        self.num_envs = sum(env.num_envs for env in envs)
        self.observation_space = first.observation_space
        self.action_space = first.action_space
        self.task_ids = np.concatenate(
            [np.full(env.num_envs, i, dtype=np.int64) for i, env in enumerate(envs)]
        )
        self._bounds = np.cumsum([0] + [env.num_envs for env in envs])

    def reset(self) -> np.ndarray:
        return np.concatenate([env.reset() for env in self.envs])

    def reseed(self, env_seeds: Sequence[int]) -> None:
        """Split ``env_seeds`` over the sub-envs in order."""
        seeds = check_seed_count(env_seeds, self.num_envs)
        for env, lo, hi in zip(self.envs, self._bounds[:-1], self._bounds[1:], strict=True):
            env.reseed(seeds[lo:hi])

    def step(self, actions: np.ndarray) -> StepResult:
        parts = [
            env.step(actions[lo:hi])
            for env, lo, hi in zip(self.envs, self._bounds[:-1], self._bounds[1:], strict=True)
        ]
        successes = [p.success for p in parts]
        if all(s is None for s in successes):
            success = None
        else:
            success = np.concatenate(
                [s if s is not None else np.zeros(p.reward.shape[0], np.float32)
                 for s, p in zip(successes, parts, strict=True)]
            )
        return StepResult(
            np.concatenate([p.obs for p in parts]),
            np.concatenate([p.reward for p in parts]),
            np.concatenate([p.terminated for p in parts]),
            np.concatenate([p.truncated for p in parts]),
            success,
        )

    def close(self) -> None:
        for env in self.envs:
            env.close()


def split_envs(num_envs: int, num_tasks: int) -> list[int]:
    """Spread ``num_envs`` over ``num_tasks`` as evenly as possible (each task >= 1 env)."""
    if num_envs < num_tasks:
        raise ValueError(f"num_envs={num_envs} is smaller than the number of tasks ({num_tasks})")
    base, extra = divmod(num_envs, num_tasks)
    return [base + (1 if i < extra else 0) for i in range(num_tasks)]
