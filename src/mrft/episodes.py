"""Acting for episode-level algorithms (GRPO): whole episodes from identical starts.

Every batch resets all envs, so each group of envs that share an RNG seed starts from the
same state, and runs until every env has finished one episode (or ``max_steps``). Steps an
env takes after its episode ended are not recorded. Results are padded ``[E, T]`` tensors
with a ``mask`` of real steps; ``env_steps`` counts every step taken, the honest sample cost.
"""

from __future__ import annotations

import dataclasses

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


class EpisodeCollector:
    def __init__(self, env: VecEnv, policy: ActorCritic, group_size: int, max_steps: int,
                 device: torch.device):
        self.env = env
        self.policy = policy
        self.max_steps = max_steps
        self.device = device
        self.num_envs = env.num_envs
        self.group_ids = torch.arange(self.num_envs, device=device) // group_size

    @torch.no_grad()
    def collect(self) -> EpisodeBatch:
        n = self.num_envs
        obs_np = self.env.reset()
        active = np.ones(n, dtype=bool)
        returns = np.zeros(n, dtype=np.float64)
        lengths = np.zeros(n, dtype=np.int64)
        success = np.zeros(n, dtype=np.float32)
        has_success = False
        steps: dict[str, list[torch.Tensor]] = {"obs": [], "actions": [], "logprobs": [],
                                                "rewards": [], "mask": []}
        t = 0
        while active.any() and t < self.max_steps:
            obs = self.policy.normalize(torch.as_tensor(obs_np, device=self.device), update=True)
            action, logprob, _ = self.policy.act(obs)
            result = self.env.step(self.policy.env_action(action))
            reward = np.where(active, result.reward, 0.0)
            steps["obs"].append(obs)
            steps["actions"].append(action)
            steps["logprobs"].append(logprob)
            steps["rewards"].append(torch.as_tensor(reward, dtype=torch.float32, device=self.device))
            steps["mask"].append(torch.as_tensor(active.copy(), device=self.device))
            returns += reward
            lengths += active
            if result.success is not None:
                has_success = True
                success = np.maximum(success, np.where(active, result.success, 0.0))
            active &= ~(result.terminated | result.truncated)
            obs_np = result.obs
            t += 1
        stacked = {k: torch.stack(v, dim=1) for k, v in steps.items()}
        episodes = [
            Episode(float(returns[i]), int(lengths[i]), float(success[i]) if has_success else None,
                    int(self.env.task_ids[i]), i)
            for i in range(n)
        ]
        return EpisodeBatch(
            obs=stacked["obs"], actions=stacked["actions"], logprobs=stacked["logprobs"],
            rewards=stacked["rewards"], mask=stacked["mask"],
            returns=torch.as_tensor(returns, dtype=torch.float32, device=self.device),
            group_ids=self.group_ids, episodes=episodes, env_steps=t * n,
        )

    def state_dict(self) -> dict:
        return {"action_log_complete": False}

    def load_state_dict(self, state: dict) -> bool:
        return False
