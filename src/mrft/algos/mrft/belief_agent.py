"""MRFT's meta-learner: task belief -> adapted actor and critic, plus the belief's own losses.

:class:`BeliefAgent` holds everything MRFT learns besides the base actor-critic:

- the belief encoder (:mod:`mrft.algos.mrft.belief`) over transitions
  ``c_t = (f(o_t), a_t, symlog r_t, done_t)``;
- the reward decoder that trains it (self-supervised);
- the conditioner that turns a belief into adapted parameters of the base actor *and*
  critic: the meta-policy Transformer (FiLM, low-rank head deltas, log-std shift; zero-init,
  so the adapted network starts as the base network), the same parameters from one small
  MLP (a hypernetwork), plain concatenation of ``z`` to the input, or none at all (the base
  network acts alone);
- ``J(z)``, the value of a belief: the mean (scaled) reward per step the current policy
  earns on the task given that belief, the potential of the progress bonus;
- optionally, the gradient inner loop (:meth:`BeliefAgent.refine`): at the start of each of a
  trial's later episodes, ``--inner-steps`` gradient steps on an offset of the belief (the
  context parameters of CAVIA, Zintgraf et al. 2019) that lower the decoder's error on the
  trial's transitions so far, with learned per-dimension step sizes (Meta-SGD, Li et al.
  2017). The offset holds for that episode.

The belief is layer-normalised: its scale then carries no information the conditioner
could inflate, and tasks stay comparable.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn
from torch.distributions import Distribution

from mrft.algos.mrft.belief import BeliefEncoder, BeliefState, ObservationDecoder, RewardDecoder
from mrft.algos.mrft.encoder import context_dim, context_features
from mrft.algos.mrft.meta_policy import (
    AdaptedParams,
    ConcatConditioner,
    actor_forward,
    build_hyper_conditioner,
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
                 head_rank: int = 4, d_model: int = 64, num_layers: int = 2,
                 inner_steps: int = 0, inner_lr: float = 0.1, decode_obs: bool = False):
        super().__init__()
        self.inner_steps = inner_steps
        # Meta-SGD: one learned step size per belief dimension (only when there is an inner loop,
        # so checkpoints without one keep their layout)
        self.inner_lr = nn.Parameter(torch.full((embed_dim,), float(inner_lr))) if inner_steps else None
        self.num_actions = None if policy.continuous else policy.action_dim
        obs_dim = observation_feature_dim(policy)
        self.encoder = BeliefEncoder(context_dim(obs_dim, policy.action_dim), embed_dim, encoder,
                                     channels, levels)
        self.decoder = RewardDecoder(embed_dim, obs_dim, policy.action_dim)
        # built only when used, so checkpoints without one keep their layout
        self.obs_decoder = ObservationDecoder(embed_dim, obs_dim, policy.action_dim) if decode_obs else None
        if conditioning == "meta-policy":
            self.conditioner: nn.Module = build_meta_policy(policy, embed_dim, head_rank, d_model, 4,
                                                            num_layers, critic=True)
        elif conditioning == "hyper":
            self.conditioner = build_hyper_conditioner(policy, embed_dim, head_rank, d_model)
        elif conditioning == "concat":
            self.conditioner = ConcatConditioner(embed_dim, policy)
        elif conditioning == "none":
            self.conditioner = None
        else:
            raise ValueError("conditioning must be 'meta-policy', 'hyper', 'concat' or 'none', "
                             f"got {conditioning!r}")
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
        """The belief acted on: the encoder's, plus the inner loop's offset when there is one."""
        z = self.normalized(self.encoder.belief(state))
        return z if state.offset is None else z + state.offset

    def refine(self, z: torch.Tensor, obs_features: torch.Tensor, actions: torch.Tensor,
               rewards: torch.Tensor, mask: torch.Tensor, create_graph: bool = False) -> torch.Tensor:
        """The gradient inner loop: the offset ``delta [B, E]`` reached from 0 by
        ``inner_steps`` steps ``delta <- delta - inner_lr * grad_delta L(z + delta)``, with ``L``
        per row the decoder's mean squared error on that row's transitions ``mask [B, L]``
        (``obs_features [B, L, O]``, encoded ``actions [B, L, A]``, symlog ``rewards [B, L]``).
        ``create_graph`` keeps the steps differentiable, so the outer loss trains the step
        sizes, the decoder and the encoder through them."""
        delta = torch.zeros_like(z, requires_grad=True)
        if not self.inner_steps or rewards.shape[1] == 0:
            return delta.detach() if not create_graph else delta
        weights = mask.to(z.dtype)
        counts = weights.sum(1).clamp_min(1.0)
        length = rewards.shape[1]
        with torch.enable_grad():
            for _ in range(self.inner_steps):
                predicted = self.decoder((z + delta)[:, None, :].expand(-1, length, -1), obs_features, actions)
                per_row = ((predicted - rewards) ** 2 * weights).sum(1) / counts
                (grad,) = torch.autograd.grad(per_row.sum(), delta, create_graph=create_graph)
                delta = delta - self.inner_lr * grad
        return delta if create_graph else delta.detach()

    def refine_trials(self, beliefs: torch.Tensor, obs_features: torch.Tensor, actions: torch.Tensor,
                      rewards: torch.Tensor, episode_index: torch.Tensor, lengths: torch.Tensor,
                      episodes: int) -> torch.Tensor:
        """Whole-trial beliefs ``[B, L + 1, E]`` (from :meth:`sequence`) as the actor held them
        with the inner loop on: every step of episode ``j >= 1`` is offset by :meth:`refine`
        from the belief at the episode's start on the trial's transitions before it.
        Differentiable (the outer loss trains the step sizes through it)."""
        if not self.inner_steps:
            return beliefs
        batch, length = rewards.shape
        rows = torch.arange(batch, device=rewards.device)
        valid = torch.arange(length, device=rewards.device)[None, :] < lengths[:, None]
        offsets = beliefs.new_zeros(batch, length, beliefs.shape[-1])
        for j in range(1, episodes):
            before = valid & (episode_index < j)
            within = valid & (episode_index == j)
            if not within.any():
                continue
            start = before.sum(1)
            delta = self.refine(beliefs[rows, start], obs_features, actions, rewards, before,
                                create_graph=True)
            offsets = offsets + torch.where(within[:, :, None], delta[:, None, :], 0.0)
        return beliefs + torch.cat([offsets, offsets.new_zeros(batch, 1, offsets.shape[-1])], dim=1)

    def sequence(self, x: torch.Tensor, start: BeliefState | None = None) -> torch.Tensor:
        """Normalised beliefs ``[B, L + 1, E]`` of trials ``x [B, L, D]`` continuing ``start``
        (None: from the trial's start). The inner loop's offset, which the acting belief may
        carry, is not part of it (:meth:`refine_trials` adds it)."""
        return self.normalized(self.encoder.sequence(x, start))

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


def build_agent(m, policy: ActorCritic) -> BeliefAgent:
    """The belief model that MRFT options ``m`` describe, over ``policy`` (without the
    meta-learner: no conditioner and no inner loop)."""
    conditioning = m.conditioning if m.meta_learner else "none"
    return BeliefAgent(policy, m.embed_dim, m.belief_encoder, m.tcn_channels, m.tcn_levels,
                       conditioning, m.head_rank, m.meta_d_model, m.meta_layers,
                       inner_steps=m.inner_steps if m.meta_learner else 0, inner_lr=m.inner_lr,
                       decode_obs=m.meta_learner and m.decode == "rewards+obs")


READOUTS = ("film_out.", "critic_film_out.", "bias_out.", "head_a_out.", "head_b_out.",
            "log_std_out.")
"""The meta-policy's read-outs, which checkpoints written before
:class:`~mrft.algos.mrft.meta_policy.ParameterReadout` hold under ``conditioner.`` itself."""


def upgraded_agent_state(state: dict) -> dict:
    """A saved belief model's weights under this version's names: an older meta-policy's
    read-outs move to ``conditioner.readout.`` (the same tensors)."""
    if not isinstance(state, dict) or "conditioner.token_in.weight" not in state:
        return state
    prefix = "conditioner."
    return {(f"{prefix}readout.{key[len(prefix):]}" if key.startswith(prefix)
             and key[len(prefix):].startswith(READOUTS) else key): value
            for key, value in state.items()}


def load_agent(agent: BeliefAgent, algo_state: dict, source: str) -> None:
    """The belief model saved in a checkpoint's ``algo`` state, or one error line."""
    from mrft.checkpoint import load_module_state
    from mrft.errors import MrftError

    if "agent" not in algo_state:
        raise MrftError(f"checkpoint {source} holds no MRFT belief model; was it trained with "
                        "--algo mrft by this version?")
    load_module_state(agent, upgraded_agent_state(algo_state["agent"]), source)
