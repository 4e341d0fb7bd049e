"""MRFT's meta-learner: task belief -> adapted actor and critic, plus the belief's own losses.

:class:`BeliefAgent` holds everything MRFT learns besides the base actor-critic:

- the belief encoder (:mod:`mrft.algos.mrft.belief`) over transitions
  ``c_t = (f(o_t), a_t, symlog r_t, done_t)``;
- the reward decoder that trains it (self-supervised);
- the conditioner that turns a belief into adapted parameters of the base actor *and*
  critic: the meta-policy Transformer (FiLM, low-rank head deltas, log-std shift; zero-init,
  so the adapted network starts as the base network) or, as the ablation, plain
  concatenation of ``z`` to the input, or none at all (the base network acts alone);
- ``J(z)``, the value of a belief: the mean (scaled) reward per step the current policy
  earns on the task given that belief, the potential of the progress bonus.

The belief is layer-normalised: its scale then carries no information the conditioner
could inflate, and tasks stay comparable.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn
from torch.distributions import Distribution

from mrft.algos.mrft.belief import BeliefEncoder, BeliefState, RewardDecoder
from mrft.algos.mrft.encoder import context_dim, context_features
from mrft.algos.mrft.meta_policy import (
    AdaptedParams,
    ConcatConditioner,
    actor_forward,
    build_meta_policy,
    critic_forward,
)
from mrft.nets import ActorCritic
from mrft.nets.torsos import MLP
from mrft.normalize import symlog


def observation_feature_dim(policy: ActorCritic) -> int:
    torso = policy.actor_torso
    return torso.net[0].in_features if isinstance(torso, MLP) else torso.out_dim


@torch.no_grad()
def observation_features(policy: ActorCritic, obs: torch.Tensor) -> torch.Tensor:
    """What the belief sees of an observation ``[..., *obs_shape]``: the normalised vector
    itself, or the base CNN's features for images (a frame is too large to feed raw)."""
    lead = obs.shape[: obs.dim() - len(policy.obs_shape)]
    if isinstance(policy.actor_torso, MLP):
        return obs.float().reshape(*lead, -1)
    flat = obs.reshape(-1, *obs.shape[len(lead):])
    return policy.actor_torso(flat).reshape(*lead, -1)


class BeliefAgent(nn.Module):
    def __init__(self, policy: ActorCritic, embed_dim: int = 32, encoder: str = "tcn",
                 channels: int = 64, levels: int = 4, conditioning: str = "meta-policy",
                 head_rank: int = 4, d_model: int = 64, num_layers: int = 2):
        super().__init__()
        self.num_actions = None if policy.continuous else policy.action_dim
        obs_dim = observation_feature_dim(policy)
        self.encoder = BeliefEncoder(context_dim(obs_dim, policy.action_dim), embed_dim, encoder,
                                     channels, levels)
        self.decoder = RewardDecoder(embed_dim, obs_dim, policy.action_dim)
        if conditioning == "meta-policy":
            self.conditioner: nn.Module = build_meta_policy(policy, embed_dim, head_rank, d_model, 4,
                                                            num_layers, critic=True)
        elif conditioning == "concat":
            self.conditioner = ConcatConditioner(embed_dim, policy)
        elif conditioning == "none":
            self.conditioner = None
        else:
            raise ValueError(f"conditioning must be 'meta-policy', 'concat' or 'none', got {conditioning!r}")
        self.potential = nn.Sequential(nn.Linear(embed_dim, 64), nn.Tanh(), nn.Linear(64, 1))

    # -- transitions and beliefs ------------------------------------------------------------
    def action_encoding(self, actions: torch.Tensor) -> torch.Tensor:
        """Actions as the decoder reads them: one-hot when discrete."""
        if self.num_actions is not None:
            return F.one_hot(actions.long(), self.num_actions).float()
        return actions.float()

    def transitions(self, obs_features: torch.Tensor, actions: torch.Tensor, rewards: torch.Tensor,
                    done: torch.Tensor) -> torch.Tensor:
        """Encoder inputs ``[..., D]`` of transitions with raw ``rewards``."""
        return context_features(obs_features, actions, symlog(rewards), done,
                                num_actions=self.num_actions)

    @staticmethod
    def normalized(z: torch.Tensor) -> torch.Tensor:
        return F.layer_norm(z, z.shape[-1:])

    def belief(self, state: BeliefState) -> torch.Tensor:
        return self.normalized(self.encoder.belief(state))

    def sequence(self, x: torch.Tensor) -> torch.Tensor:
        """Normalised beliefs ``[B, L + 1, E]`` of whole trials ``x [B, L, D]``."""
        return self.normalized(self.encoder.sequence(x))

    def value_of_belief(self, z: torch.Tensor) -> torch.Tensor:
        """``J(z)``: potential of the progress bonus."""
        return self.potential(z).squeeze(-1)

    # -- the conditioned actor-critic ---------------------------------------------------------
    def params(self, z: torch.Tensor) -> AdaptedParams | None:
        """Adapted parameters for beliefs ``z``; None (the base network) without a conditioner."""
        return None if self.conditioner is None else self.conditioner(z)

    def forward_policy(self, policy: ActorCritic, obs: torch.Tensor,
                       z: torch.Tensor) -> tuple[Distribution, torch.Tensor]:
        """Action distribution (batch ``[B, 1]``) and value ``[B]`` of observations
        ``[B, *obs_shape]`` each under its own belief ``z [B, E]``."""
        params = self.params(z)
        dist, hidden = actor_forward(policy, obs.unsqueeze(1), params)
        value = critic_forward(policy, obs.unsqueeze(1), params, hidden)
        return dist, value.squeeze(1)
