"""Recurrent actor-critic for in-context meta-RL (RL2, Duan et al. 2016).

An observation encoder (the IMPALA CNN or MLP torso of :mod:`mrft.nets.torsos`), a GRU
whose input at every step is ``(features, previous action, previous reward, previous
done)``, and policy and value heads on the GRU state. The state is the agent's memory of
a trial: it starts at zero when a trial starts and runs on across the trial's episodes, so
what the agent found out about the task in one episode is still there in the next.

Acting advances the GRU by one step for all envs at once (:meth:`step`); learning
recomputes it over each trial's whole sequence from the same zero start (:meth:`unroll`),
so a batch stores no hidden states. Actor and critic share the encoder and the GRU (one
recurrent step per env step) and have their own heads.
"""

from __future__ import annotations

import gymnasium as gym
import numpy as np
import torch
from torch import nn
from torch.distributions import Categorical, Distribution, Normal

from mrft.nets.actor_critic import set_action_space
from mrft.nets.torsos import MLP, ImpalaCNN, layer_init
from mrft.normalize import ObservationNormalizer, symlog


class RecurrentActorCritic(nn.Module):
    def __init__(
        self,
        observation_space: gym.Space,
        action_space: gym.Space,
        torso: str = "auto",
        hidden_sizes: tuple[int, ...] = (256, 256),
        hidden_size: int = 256,
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
            self.encoder: nn.Module = ImpalaCNN(obs_shape)
        elif torso == "mlp":
            self.encoder = MLP(int(np.prod(obs_shape)), hidden_sizes)
        else:
            raise ValueError(f"unknown torso {torso!r}")
        self.hidden_size = hidden_size
        # input: features, previous action (one-hot or clipped vector), reward, done
        self.gru = nn.GRU(self.encoder.out_dim + self.action_dim + 2, hidden_size, batch_first=True)
        for name, param in self.gru.named_parameters():
            if name.startswith("weight"):
                nn.init.orthogonal_(param)
            else:
                nn.init.zeros_(param)
        self.actor_head = layer_init(nn.Linear(hidden_size, self.action_dim), std=0.01)
        self.critic_head = layer_init(nn.Linear(hidden_size, 1), std=1.0)
        if self.continuous:
            self.log_std = nn.Parameter(torch.zeros(self.action_dim))
        self.obs_normalizer = ObservationNormalizer(obs_shape) if normalize_obs else None

    # -- what the collector asks of every policy ---------------------------------------------
    def normalize(self, raw_obs: torch.Tensor, update: bool = False) -> torch.Tensor:
        """Observations as the networks see them; ``update`` folds them into the statistics."""
        if self.obs_normalizer is None:
            return raw_obs
        return self.obs_normalizer(raw_obs.float(), update=update)

    def env_action(self, action: torch.Tensor) -> np.ndarray:
        """Actions as the env takes them: clipped to the box for continuous control."""
        if self.continuous:
            return torch.max(torch.min(action, self.action_high), self.action_low).cpu().numpy()
        return action.cpu().numpy().astype(np.int32)

    # -- the recurrent core ----------------------------------------------------------------
    def action_features(self, action: torch.Tensor) -> torch.Tensor:
        """An action as the GRU sees it next step: one-hot, or the vector the env took."""
        if self.continuous:
            return torch.max(torch.min(action.float(), self.action_high), self.action_low)
        return nn.functional.one_hot(action.long(), self.action_dim).float()

    def inputs(self, obs: torch.Tensor, prev_action: torch.Tensor, prev_reward: torch.Tensor,
               prev_done: torch.Tensor) -> torch.Tensor:
        """GRU inputs ``[..., D]`` for normalised observations ``[..., *obs_shape]`` with any
        leading dims; ``prev_action`` is already :meth:`action_features`."""
        lead = prev_reward.shape
        feat = self.encoder(obs.reshape(-1, *self.obs_shape)).reshape(*lead, -1)
        return torch.cat([feat, prev_action.to(feat.dtype), symlog(prev_reward).to(feat.dtype)[..., None],
                          prev_done.to(feat.dtype)[..., None]], dim=-1)

    def initial_state(self, n: int, device: torch.device | None = None) -> torch.Tensor:
        return torch.zeros(n, self.hidden_size, device=device)

    def step(self, x: torch.Tensor, hidden: torch.Tensor) -> torch.Tensor:
        """One GRU step for ``n`` envs at once: inputs ``[n, D]``, state ``[n, H]`` -> ``[n, H]``."""
        g = self.gru
        return torch.gru_cell(x, hidden, g.weight_ih_l0, g.weight_hh_l0, g.bias_ih_l0, g.bias_hh_l0)

    def unroll(self, x: torch.Tensor) -> torch.Tensor:
        """The GRU over whole sequences ``[B, L, D]`` from a zero state -> ``[B, L, H]``.
        Padding after a sequence's end cannot change its earlier outputs (the GRU is causal)."""
        out, _ = self.gru(x)
        return out

    def heads(self, hidden: torch.Tensor) -> tuple[Distribution, torch.Tensor]:
        value = self.critic_head(hidden).squeeze(-1)
        out = self.actor_head(hidden)
        if self.continuous:
            dist: Distribution = Normal(out, self.log_std.exp().expand_as(out), validate_args=False)
        else:
            dist = Categorical(logits=out, validate_args=False)
        return dist, value

    def sample(self, dist: Distribution, deterministic: bool = False) -> torch.Tensor:
        if deterministic:
            return dist.mean if self.continuous else dist.probs.argmax(-1)
        return dist.sample()

    def log_prob(self, dist: Distribution, action: torch.Tensor) -> torch.Tensor:
        lp = dist.log_prob(action)
        return lp.sum(-1) if self.continuous else lp

    def entropy(self, dist: Distribution) -> torch.Tensor:
        ent = dist.entropy()
        return ent.sum(-1) if self.continuous else ent


def build_recurrent_actor_critic(observation_space, action_space, torso, hidden_sizes, hidden_size,
                                 normalize_obs) -> RecurrentActorCritic:
    return RecurrentActorCritic(observation_space, action_space, torso, tuple(hidden_sizes),
                                hidden_size, normalize_obs)
