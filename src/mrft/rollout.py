"""Acting: step a vector env with the current policy into a preallocated ``[T, N]`` buffer.

The auto-reset step that follows every episode end (envpool, Gymnasium >= 1.0) is kept
in the buffer with ``valid = False`` so tensors stay rectangular, and losses mask it.
Episode statistics are computed here from raw rewards, the same way for every backend.
"""

from __future__ import annotations

import numpy as np
import torch

from mrft.action_log import ActionLog
from mrft.batches import Episode, RolloutBatch
from mrft.envs import VecEnv
from mrft.envs.vector import check_finite
from mrft.nets import ActorCritic

__all__ = ["Episode", "EpisodeTracker", "RolloutBatch", "RolloutCollector"]


class EpisodeTracker:
    """Running return, length and success of each env's current episode."""

    def __init__(self, num_envs: int):
        self.returns = np.zeros(num_envs, dtype=np.float64)
        self.lengths = np.zeros(num_envs, dtype=np.int64)
        self.success = np.zeros(num_envs, dtype=np.float32)
        self.has_success = False

    def step(self, reward, valid, done, success, task_ids) -> list[Episode]:
        self.returns += np.where(valid, reward, 0.0)
        self.lengths += valid.astype(np.int64)
        if success is not None:
            self.has_success = True
            self.success = np.maximum(self.success, np.where(valid, success, 0.0))
        finished = []
        for i in np.flatnonzero(done & valid):
            finished.append(Episode(
                float(self.returns[i]), int(self.lengths[i]),
                float(self.success[i]) if self.has_success else None, int(task_ids[i]), int(i),
            ))
            self.returns[i] = 0.0
            self.lengths[i] = 0
            self.success[i] = 0.0
        return finished

    def state_dict(self) -> dict[str, torch.Tensor]:
        return {
            "returns": torch.from_numpy(self.returns.copy()),
            "lengths": torch.from_numpy(self.lengths.copy()),
            "success": torch.from_numpy(self.success.copy()),
            "has_success": torch.tensor(self.has_success),
        }

    def load_state_dict(self, state: dict[str, torch.Tensor]) -> None:
        self.returns = state["returns"].numpy().copy()
        self.lengths = state["lengths"].numpy().copy()
        self.success = state["success"].numpy().copy()
        self.has_success = bool(state["has_success"])


class RolloutCollector:
    """Owns the env loop state between rollouts (last observation, episode progress).

    It also logs every action sent to the env, up to ``action_log_limit`` env steps, so
    a resumed run can replay a fresh env to exactly the state the checkpoint was taken in.
    """

    def __init__(
        self,
        env: VecEnv,
        policy: ActorCritic,
        num_steps: int,
        device: torch.device,
        action_log_limit: int = 0,
    ):
        self.env = env
        self.policy = policy
        self.num_steps = num_steps
        self.device = device
        self.num_envs = env.num_envs
        self.task_ids = torch.as_tensor(env.task_ids, device=device)
        self.tracker = EpisodeTracker(self.num_envs)
        self.prev_done = np.zeros(self.num_envs, dtype=bool)
        self.action_log = ActionLog(self.num_envs, action_log_limit)
        self.next_obs = self._obs_tensor(env.reset())
        obs_shape = tuple(env.observation_space.shape)
        obs_dtype = torch.uint8 if env.observation_space.dtype == np.uint8 else torch.float32
        if policy.obs_normalizer is not None:
            obs_dtype = torch.float32
        act_shape = (policy.action_dim,) if policy.continuous else ()
        act_dtype = torch.float32 if policy.continuous else torch.int64
        T, N = num_steps, self.num_envs
        self._obs = torch.zeros((T, N, *obs_shape), dtype=obs_dtype, device=device)
        self._actions = torch.zeros((T, N, *act_shape), dtype=act_dtype, device=device)
        self._logprobs = torch.zeros((T, N), device=device)
        self._values = torch.zeros((T, N), device=device)
        self._rewards = torch.zeros((T, N), device=device)
        self._terminated = torch.zeros((T, N), dtype=torch.bool, device=device)
        self._truncated = torch.zeros((T, N), dtype=torch.bool, device=device)
        self._valid = torch.zeros((T, N), dtype=torch.bool, device=device)

    def _obs_tensor(self, obs: np.ndarray) -> torch.Tensor:
        return torch.as_tensor(obs, device=self.device)

    @torch.no_grad()
    def collect(self, max_env_steps: int | None = None) -> RolloutBatch | None:
        """``num_steps`` steps of every env; fewer when ``max_env_steps`` (the budget left) cannot
        pay for a whole rollout, and ``None`` when it cannot pay for one step of every env."""
        steps = self.num_steps
        if max_env_steps is not None:
            steps = min(steps, max_env_steps // self.num_envs)
        if steps == 0:
            return None
        episodes: list[Episode] = []
        task_ids_np = self.env.task_ids
        for t in range(steps):
            obs = self.policy.normalize(self.next_obs, update=True)
            action, logprob, value = self.policy.act(obs)
            env_action = self.policy.env_action(action)
            self.action_log.append(env_action)
            result = self.env.step(env_action)
            check_finite(result, f"step {t + 1} of a rollout")
            valid = ~self.prev_done
            done = (result.terminated | result.truncated) & valid
            episodes += self.tracker.step(result.reward, valid, done, result.success, task_ids_np)

            reward = torch.as_tensor(result.reward, device=self.device)
            valid_t = torch.as_tensor(valid, device=self.device)
            self._obs[t] = obs
            self._actions[t] = action
            self._logprobs[t] = logprob
            self._values[t] = value
            self._rewards[t] = torch.where(valid_t, reward, 0.0)
            self._terminated[t] = torch.as_tensor(result.terminated & valid, device=self.device)
            self._truncated[t] = torch.as_tensor(result.truncated & valid, device=self.device)
            self._valid[t] = valid_t
            self.prev_done = done
            self.next_obs = self._obs_tensor(result.obs)
        next_value = self.policy.value(self.policy.normalize(self.next_obs))
        return RolloutBatch(
            obs=self._obs[:steps], actions=self._actions[:steps], logprobs=self._logprobs[:steps],
            values=self._values[:steps], rewards=self._rewards[:steps],
            terminated=self._terminated[:steps], truncated=self._truncated[:steps],
            valid=self._valid[:steps], next_value=next_value, task_ids=self.task_ids,
            episodes=episodes,
        )

    def close(self) -> None:
        self.env.close()

    def state_dict(self) -> dict:
        state = {
            "tracker": self.tracker.state_dict(),
            "prev_done": torch.from_numpy(self.prev_done.copy()),
            "next_obs": self.next_obs.cpu().clone(),
        }
        log = self.action_log.state_dict()
        state["action_log_complete"] = log["complete"]
        if "actions" in log:
            state["action_log"] = log["actions"]
            state["action_log_dtype"] = log["env_dtype"]
        return state

    def load_state_dict(self, state: dict) -> bool:
        """Restore loop state and replay the logged actions into the (freshly built) env.

        Returns True when the replay reproduced the checkpoint's last observation, i.e.
        the env is in exactly the state it was saved in. Otherwise the loop restarts from
        fresh episodes (the env should then have been built with a new seed).
        """
        if state.get("action_log_complete") and "action_log" in state:
            log = state["action_log"].numpy()
            env_dtype = state.get("action_log_dtype", str(log.dtype))
            obs = None
            for env_action in log:
                obs = self.env.step(env_action.astype(env_dtype, copy=False)).obs
            if obs is not None and torch.equal(torch.as_tensor(obs), state["next_obs"]):
                self.tracker.load_state_dict(state["tracker"])
                self.action_log.load_rows(log, env_dtype)
                self.prev_done = state["prev_done"].numpy().copy()
                self.next_obs = state["next_obs"].to(self.device)
                return True
            self.next_obs = self._obs_tensor(self.env.reset())
        self.action_log.abandon()
        return False
