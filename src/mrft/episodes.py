"""Acting for episode-level algorithms (GRPO): whole episodes from identical starts.

Every batch resets all envs, so each group of envs that share an RNG seed starts from the
same state, and runs until every env has finished one episode (or ``max_steps``). Steps an
env takes after its episode ended are not recorded. Results are padded ``[E, T]`` tensors
with a ``mask`` of real steps; ``env_steps`` counts every step taken, the honest sample cost.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable

import numpy as np
import torch

from mrft.envs import VecEnv
from mrft.nets import ActorCritic
from mrft.rollout import Episode


@dataclasses.dataclass
class EpisodeBatch:
    obs: torch.Tensor
    """``[E, T, ...]`` observations as the policy saw them."""
    actions: torch.Tensor
    logprobs: torch.Tensor
    rewards: torch.Tensor
    mask: torch.Tensor
    returns: torch.Tensor
    """``[E]`` sum of raw rewards of each episode (the outcome reward)."""
    group_ids: torch.Tensor
    episodes: list[Episode]
    env_steps: int


@dataclasses.dataclass
class EpisodeRun:
    """One episode per env from a fresh reset: padded ``[n, T]`` tensors and per-env totals."""

    obs: torch.Tensor
    actions: torch.Tensor
    logprobs: torch.Tensor
    rewards: torch.Tensor
    mask: torch.Tensor
    returns: np.ndarray
    lengths: np.ndarray
    success: np.ndarray | None
    env_steps: int


ActFn = Callable[[torch.Tensor], tuple[torch.Tensor, torch.Tensor]]


@torch.no_grad()
def run_episodes(env: VecEnv, policy: ActorCritic, act: ActFn, max_steps: int,
                 device: torch.device) -> EpisodeRun:
    """Reset ``env`` and step it until every env finished one episode (or ``max_steps``).

    ``act(obs)`` maps normalised observations ``[n, ...]`` to ``(action, log_prob)``; the
    policy supplies observation normalisation and the env-side action conversion.
    """
    n = env.num_envs
    obs_np = env.reset()
    active = np.ones(n, dtype=bool)
    returns = np.zeros(n, dtype=np.float64)
    lengths = np.zeros(n, dtype=np.int64)
    success = np.zeros(n, dtype=np.float32)
    has_success = False
    steps: dict[str, list[torch.Tensor]] = {"obs": [], "actions": [], "logprobs": [],
                                            "rewards": [], "mask": []}
    t = 0
    while active.any() and t < max_steps:
        obs = policy.normalize(torch.as_tensor(obs_np, device=device), update=True)
        action, logprob = act(obs)
        result = env.step(policy.env_action(action))
        reward = np.where(active, result.reward, 0.0)
        steps["obs"].append(obs)
        steps["actions"].append(action)
        steps["logprobs"].append(logprob)
        steps["rewards"].append(torch.as_tensor(reward, dtype=torch.float32, device=device))
        steps["mask"].append(torch.as_tensor(active.copy(), device=device))
        returns += reward
        lengths += active
        if result.success is not None:
            has_success = True
            success = np.maximum(success, np.where(active, result.success, 0.0))
        active &= ~(result.terminated | result.truncated)
        obs_np = result.obs
        t += 1
    stacked = {k: torch.stack(v, dim=1) for k, v in steps.items()}
    return EpisodeRun(stacked["obs"], stacked["actions"], stacked["logprobs"], stacked["rewards"],
                      stacked["mask"], returns, lengths, success if has_success else None, t * n)


class EpisodeCollector:
    def __init__(self, env: VecEnv, policy: ActorCritic, group_size: int, max_steps: int,
                 device: torch.device):
        self.env = env
        self.policy = policy
        self.max_steps = max_steps
        self.device = device
        self.num_envs = env.num_envs
        self.group_ids = torch.arange(self.num_envs, device=device) // group_size

    def _act(self, obs: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        action, logprob, _ = self.policy.act(obs)
        return action, logprob

    @torch.no_grad()
    def collect(self) -> EpisodeBatch:
        run = run_episodes(self.env, self.policy, self._act, self.max_steps, self.device)
        episodes = [
            Episode(float(run.returns[i]), int(run.lengths[i]),
                    float(run.success[i]) if run.success is not None else None,
                    int(self.env.task_ids[i]), i)
            for i in range(self.num_envs)
        ]
        return EpisodeBatch(
            obs=run.obs, actions=run.actions, logprobs=run.logprobs, rewards=run.rewards,
            mask=run.mask, returns=torch.as_tensor(run.returns, dtype=torch.float32, device=self.device),
            group_ids=self.group_ids, episodes=episodes, env_steps=run.env_steps,
        )

    def state_dict(self) -> dict:
        return {"action_log_complete": False}

    def load_state_dict(self, state: dict) -> bool:
        return False
