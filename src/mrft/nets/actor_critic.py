"""Actor-critic policy: a torso plus a categorical or diagonal-Gaussian head and a value head.

Image observations share one torso between actor and critic (as CleanRL's Procgen
agent); vector observations get separate actor and critic torsos, the usual choice for
continuous control. The observation normaliser lives here so a checkpoint carries it.
"""

from __future__ import annotations

import gymnasium as gym
import numpy as np
import torch
from torch import nn
from torch.distributions import Categorical, Distribution, Normal

from mrft.nets.torsos import MLP, ImpalaCNN, layer_init
from mrft.normalize import ObservationNormalizer


def set_action_space(module: nn.Module, action_space: gym.Space) -> tuple[bool, int]:
    """``(continuous, action_dim)`` of a discrete or 1-D box action space; a box's bounds
    become ``action_low``/``action_high`` buffers of ``module`` (saved with the network)."""
    if isinstance(action_space, gym.spaces.Discrete):
        return False, int(action_space.n)
    if isinstance(action_space, gym.spaces.Box) and len(action_space.shape) == 1:
        module.register_buffer("action_low", torch.as_tensor(action_space.low, dtype=torch.float32))
        module.register_buffer("action_high", torch.as_tensor(action_space.high, dtype=torch.float32))
        return True, int(action_space.shape[0])
    raise ValueError(f"unsupported action space {action_space}")


class ActorCritic(nn.Module):
    def __init__(
        self,
        observation_space: gym.Space,
        action_space: gym.Space,
        torso: str = "auto",
        hidden_sizes: tuple[int, ...] = (256, 256),
        normalize_obs: bool = False,
    ):
        super().__init__()
        obs_shape = tuple(observation_space.shape)
        self.obs_shape = obs_shape
        if torso == "auto":
            torso = "impala" if len(obs_shape) == 3 else "mlp"
        self.torso_kind = torso
        self.continuous, self.action_dim = set_action_space(self, action_space)

        if torso == "impala":
            if len(obs_shape) != 3:
                raise ValueError(f"the IMPALA torso needs image observations, got shape {obs_shape}")
            self.actor_torso = ImpalaCNN(obs_shape)
            self.critic_torso = None
        elif torso == "mlp":
            in_dim = int(np.prod(obs_shape))
            self.actor_torso = MLP(in_dim, hidden_sizes)
            self.critic_torso = MLP(in_dim, hidden_sizes)
        else:
            raise ValueError(f"unknown torso {torso!r}")
        feat = self.actor_torso.out_dim
        self.actor_head = layer_init(nn.Linear(feat, self.action_dim), std=0.01)
        self.critic_head = layer_init(nn.Linear(feat, 1), std=1.0)
        if self.continuous:
            self.log_std = nn.Parameter(torch.zeros(self.action_dim))
        self.obs_normalizer = ObservationNormalizer(obs_shape) if normalize_obs else None

    def normalize(self, raw_obs: torch.Tensor, update: bool = False) -> torch.Tensor:
        """Observations as the networks see them; ``update`` folds them into the statistics."""
        if self.obs_normalizer is None:
            return raw_obs
        return self.obs_normalizer(raw_obs.float(), update=update)

    def _heads(self, obs: torch.Tensor) -> tuple[Distribution, torch.Tensor]:
        actor_feat = self.actor_torso(obs)
        critic_feat = actor_feat if self.critic_torso is None else self.critic_torso(obs)
        value = self.critic_head(critic_feat).squeeze(-1)
        out = self.actor_head(actor_feat)
        if self.continuous:
            dist: Distribution = Normal(out, self.log_std.exp().expand_as(out), validate_args=False)
        else:
            dist = Categorical(logits=out, validate_args=False)
        return dist, value

    def distribution(self, obs: torch.Tensor) -> Distribution:
        return self._heads(obs)[0]

    def value(self, obs: torch.Tensor) -> torch.Tensor:
        feat = self.actor_torso(obs) if self.critic_torso is None else self.critic_torso(obs)
        return self.critic_head(feat).squeeze(-1)

    def _log_prob(self, dist: Distribution, action: torch.Tensor) -> torch.Tensor:
        lp = dist.log_prob(action)
        return lp.sum(-1) if self.continuous else lp

    def _entropy(self, dist: Distribution) -> torch.Tensor:
        ent = dist.entropy()
        return ent.sum(-1) if self.continuous else ent

    @torch.no_grad()
    def act(self, obs: torch.Tensor, deterministic: bool = False):
        """Sample (or take the mode of) an action; returns ``action, log_prob, value``."""
        dist, value = self._heads(obs)
        if deterministic:
            action = dist.mean if self.continuous else dist.probs.argmax(-1)
        else:
            action = dist.sample()
        return action, self._log_prob(dist, action), value

    def evaluate(self, obs: torch.Tensor, action: torch.Tensor):
        """``log_prob, entropy, value`` of stored actions under the current parameters."""
        dist, value = self._heads(obs)
        return self._log_prob(dist, action), self._entropy(dist), value

    def env_action(self, action: torch.Tensor) -> np.ndarray:
        """Actions as the env takes them: clipped to the box for continuous control."""
        if self.continuous:
            return torch.max(torch.min(action, self.action_high), self.action_low).cpu().numpy()
        return action.cpu().numpy().astype(np.int32)


def build_actor_critic(observation_space, action_space, torso, hidden_sizes, normalize_obs) -> ActorCritic:
    return ActorCritic(observation_space, action_space, torso, tuple(hidden_sizes), normalize_obs)
