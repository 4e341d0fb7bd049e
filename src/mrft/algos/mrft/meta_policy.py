"""Meta-policy: a small Transformer that turns a task embedding into adapted policy parameters.

The base policy's weights stay shared across tasks; what changes per task (per trial) is
a small set of *adapted parameters*:

- FiLM (Perez et al. 2018) on every hidden layer of the actor and of the critic:
  ``h <- h * (1 + gamma(z)) + beta(z)`` applied to the pre-activation;
- optional low-rank deltas on the action head: ``out <- out + ((h A(z)) B(z)) + b(z)``;
- a shift of the Gaussian log-std (continuous actions), so a trial can explore first and
  exploit later.

Every output layer that produces a delta starts at zero, so at initialisation the
adapted policy *is* the base policy (the low-rank factor ``A`` is random, ``B`` is zero,
so gradients still reach both). Adapted parameters are a plain ``dict[str, Tensor]`` with
a leading dimension of one set per row (a step's belief).
"""

from __future__ import annotations

from collections.abc import Callable

import torch
import torch.nn.functional as F
from torch import nn
from torch.distributions import Categorical, Distribution, Normal

from mrft.nets import ActorCritic
from mrft.nets.torsos import MLP, ImpalaCNN

AdaptedParams = dict[str, torch.Tensor]
ATTENTION_ROWS = 32_768
"""Rows per fused attention call: cuDNN's kernel refuses batches past 65,535 (bf16)."""
LOG_STD_MIN, LOG_STD_MAX = -5.0, 2.0


class ReturningClamp(torch.autograd.Function):
    """``x.clamp(low, high)`` whose gradient, past a bound, keeps the part that leads back.

    A plain clamp has no gradient past its bounds, so a log-std that one large update pushed
    to the maximum stays there: the policy then acts at its widest whatever the updates
    after it learn (seen adapting MRFT to a signed pendulum whose pole fell at once). Here
    the gradient passes where ``x`` is within the bounds (as the clamp's does) and, past a
    bound, only where a descent step moves ``x`` back towards it."""

    @staticmethod
    def forward(ctx, x: torch.Tensor, low: float, high: float) -> torch.Tensor:
        ctx.save_for_backward(x)
        ctx.low, ctx.high = low, high
        return x.clamp(low, high)

    @staticmethod
    def backward(ctx, grad: torch.Tensor):
        (x,) = ctx.saved_tensors
        outward = ((x > ctx.high) & (grad < 0)) | ((x < ctx.low) & (grad > 0))
        return grad.masked_fill(outward, 0.0), None, None


def film_widths(policy: ActorCritic) -> list[int]:
    """Widths of the actor's hidden layers that FiLM modulates."""
    torso = policy.actor_torso
    if isinstance(torso, MLP):
        return [m.out_features for m in torso.net if isinstance(m, nn.Linear)]
    if isinstance(torso, ImpalaCNN):
        return [torso.fc.out_features]
    raise TypeError(f"no FiLM layout for torso {type(torso).__name__}")


def critic_film_widths(policy: ActorCritic) -> list[int]:
    """Widths of the critic's own hidden layers (none when it shares the actor's torso)."""
    torso = policy.critic_torso
    if torso is None:
        return []
    return [m.out_features for m in torso.net if isinstance(m, nn.Linear)]


def _film(x: torch.Tensor, params: AdaptedParams | None, layer: int, prefix: str = "") -> torch.Tensor:
    if params is None:
        return x
    beta = params.get(f"{prefix}beta.{layer}")
    gamma = params.get(f"{prefix}gamma.{layer}")
    if beta is None:
        return x
    x = x if gamma is None else x * (1.0 + gamma.unsqueeze(1))
    return x + beta.unsqueeze(1)


def critic_forward(policy: ActorCritic, obs: torch.Tensor, params: AdaptedParams | None,
                   actor_hidden: list[torch.Tensor]) -> torch.Tensor:
    """The critic on ``obs`` ``[n, T, *obs_shape]`` under per-row adapted parameters: its own
    torso FiLMed with the ``critic_`` parameters, or (shared image torso) the actor's
    FiLMed features. Returns ``[n, T]``."""
    torso = policy.critic_torso
    if torso is None:
        return policy.critic_head(actor_hidden[-1]).squeeze(-1)
    n, t = obs.shape[:2]
    x = (obs if obs.is_floating_point() else obs.float()).reshape(n, t, -1)
    layer = 0
    for module in torso.net:
        if isinstance(module, nn.Linear):
            x = _film(module(x), params, layer, "critic_")
            layer += 1
        else:
            x = module(x)
    return policy.critic_head(x).squeeze(-1)


def actor_forward(
    policy: ActorCritic, obs: torch.Tensor, params: AdaptedParams | None = None
) -> tuple[Distribution, list[torch.Tensor]]:
    """The actor on ``obs`` of shape ``[n, T, *obs_shape]`` under per-row adapted parameters.

    ``params`` tensors have leading dimension ``n`` (one set per trial); ``None`` runs the
    plain base policy. Returns the action distribution over ``[n, T]`` and the hidden
    activations (post-FiLM, post-nonlinearity) of each modulated layer, which progressive
    distillation aligns.
    """
    n, t = obs.shape[:2]
    torso = policy.actor_torso
    hidden: list[torch.Tensor] = []
    if isinstance(torso, MLP):
        x = (obs if obs.is_floating_point() else obs.float()).reshape(n, t, -1)
        layer = 0
        for module in torso.net:
            if isinstance(module, nn.Linear):
                x = _film(module(x), params, layer)
                layer += 1
            else:
                x = module(x)
                hidden.append(x)
    elif isinstance(torso, ImpalaCNN):
        flat = obs.reshape(n * t, *obs.shape[2:])
        x = (flat.float() / 255.0).contiguous(memory_format=torch.channels_last)
        x = torch.relu(torch.flatten(torso.sequences(x), start_dim=1))
        x = torch.relu(_film(torso.fc(x).reshape(n, t, -1), params, 0))
        hidden.append(x)
    else:
        raise TypeError(f"no adapted forward for torso {type(torso).__name__}")
    out = policy.actor_head(x)
    if params is not None and "head_a" in params:
        low_rank = torch.einsum("ntf,nfr->ntr", x, params["head_a"])
        out = out + torch.einsum("ntr,nra->nta", low_rank, params["head_b"])
    if params is not None and "head_bias" in params:
        out = out + params["head_bias"].unsqueeze(1)
    if policy.continuous:
        log_std = policy.log_std.expand_as(out)
        if params is not None and "log_std" in params:
            # bounded so that no belief, however far out, can make the policy degenerate or infinite
            log_std = ReturningClamp.apply(log_std + params["log_std"].unsqueeze(1), LOG_STD_MIN, LOG_STD_MAX)
        dist: Distribution = Normal(out, log_std.exp(), validate_args=False)
    else:
        dist = Categorical(logits=out, validate_args=False)
    return dist, hidden


def log_prob(policy: ActorCritic, dist: Distribution, actions: torch.Tensor) -> torch.Tensor:
    lp = dist.log_prob(actions)
    return lp.sum(-1) if policy.continuous else lp


def entropy(policy: ActorCritic, dist: Distribution) -> torch.Tensor:
    ent = dist.entropy()
    return ent.sum(-1) if policy.continuous else ent


class TokenBlock(nn.Module):
    """A pre-norm Transformer layer (self-attention, then a ReLU feed-forward of width
    ``2 d``) for the few tokens of one belief. Its cost matters because the meta-policy runs
    at every env step and on every update sample."""

    def __init__(self, d_model: int, num_heads: int):
        super().__init__()
        if d_model % num_heads:
            raise ValueError(f"d_model {d_model} is not a multiple of {num_heads} heads")
        self.num_heads = num_heads
        self.attn_norm = nn.LayerNorm(d_model)
        self.qkv = nn.Linear(d_model, 3 * d_model)
        self.attn_out = nn.Linear(d_model, d_model)
        self.ff_norm = nn.LayerNorm(d_model)
        self.ff = nn.Sequential(nn.Linear(d_model, 2 * d_model), nn.ReLU(), nn.Linear(2 * d_model, d_model))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        n, t, d = x.shape
        h, hd = self.num_heads, d // self.num_heads
        q, k, v = self.qkv(self.attn_norm(x)).reshape(n, t, 3, h, hd).permute(2, 0, 3, 1, 4).unbind(0)
        # softmax(q k^T / sqrt(hd)) v; the fused kernel's backward is several times faster
        # than that of batched products of thousands of 5 x 5 matrices
        if n <= ATTENTION_ROWS:  # one call; no concatenation (a copy, forward and backward)
            mixed = F.scaled_dot_product_attention(q, k, v)
        else:
            mixed = torch.cat([F.scaled_dot_product_attention(*part) for part in
                               zip(*(x.split(ATTENTION_ROWS) for x in (q, k, v)), strict=True)])
        mixed = mixed.transpose(1, 2).reshape(n, t, d)
        x = x + self.attn_out(mixed)
        return x + self.ff(self.ff_norm(x))


class ParameterReadout(nn.Module):
    """The adapted parameters read out of per-layer features: one linear read-out per adapted
    layer (FiLM ``gamma`` and ``beta``), and from the head's features the action bias, the
    low-rank head factors and the log-std shift. Every read-out that produces a delta starts
    at zero, so the adapted policy equals the base policy until training moves them."""

    def __init__(self, d_model: int, widths: list[int], critic_widths: list[int], feature_dim: int,
                 action_dim: int, continuous: bool, rank: int):
        super().__init__()
        self.widths = list(widths)
        self.critic_widths = list(critic_widths)
        self.rank = rank
        self.continuous = continuous
        self.feature_dim = feature_dim
        self.action_dim = action_dim
        self.film_out = nn.ModuleList(nn.Linear(d_model, 2 * w) for w in widths)
        self.critic_film_out = nn.ModuleList(nn.Linear(d_model, 2 * w) for w in self.critic_widths)
        self.bias_out = nn.Linear(d_model, action_dim)
        zeroed: list[nn.Linear] = [*self.film_out, *self.critic_film_out, self.bias_out]
        if rank > 0:
            self.head_a_out = nn.Linear(d_model, feature_dim * rank)
            nn.init.normal_(self.head_a_out.weight, std=0.02)
            nn.init.zeros_(self.head_a_out.bias)
            self.head_b_out = nn.Linear(d_model, rank * action_dim)
            zeroed.append(self.head_b_out)
        if continuous:
            self.log_std_out = nn.Linear(d_model, action_dim)
            zeroed.append(self.log_std_out)
        for linear in zeroed:
            nn.init.zeros_(linear.weight)
            nn.init.zeros_(linear.bias)

    @property
    def num_slots(self) -> int:
        """Feature vectors :meth:`forward` reads: one per adapted layer, one for the head."""
        return len(self.widths) + len(self.critic_widths) + 1

    def forward(self, slot: Callable[[int], torch.Tensor]) -> AdaptedParams:
        """``slot(i)`` is the ``[n, d_model]`` features of slot ``i``."""
        params: AdaptedParams = {}
        for i, (out, width) in enumerate(zip(self.film_out, self.widths, strict=True)):
            gamma, beta = out(slot(i)).split(width, dim=-1)
            params[f"gamma.{i}"] = gamma
            params[f"beta.{i}"] = beta
        offset = len(self.widths)
        for i, (out, width) in enumerate(zip(self.critic_film_out, self.critic_widths, strict=True)):
            gamma, beta = out(slot(offset + i)).split(width, dim=-1)
            params[f"critic_gamma.{i}"] = gamma
            params[f"critic_beta.{i}"] = beta
        head = slot(self.num_slots - 1)
        n = head.shape[0]
        params["head_bias"] = self.bias_out(head)
        if self.rank > 0:
            params["head_a"] = self.head_a_out(head).reshape(n, self.feature_dim, self.rank)
            params["head_b"] = self.head_b_out(head).reshape(n, self.rank, self.action_dim)
        if self.continuous:
            params["log_std"] = self.log_std_out(head)
        return params


class MetaPolicy(nn.Module):
    """``z [n, embed_dim] -> AdaptedParams``: one Transformer token per adapted layer.

    Each token starts from its own projection of ``z``; self-attention lets the layers'
    adaptations depend on one another (a FiLM shift in layer 1 wants a matching one in
    layer 2). Per-token linear read-outs (:class:`ParameterReadout`) produce the parameters.
    """

    def __init__(
        self,
        embed_dim: int,
        widths: list[int],
        feature_dim: int,
        action_dim: int,
        continuous: bool,
        rank: int = 4,
        d_model: int = 64,
        num_heads: int = 4,
        num_layers: int = 2,
        critic_widths: list[int] = (),
    ):
        super().__init__()
        self.readout = ParameterReadout(d_model, widths, list(critic_widths), feature_dim,
                                        action_dim, continuous, rank)
        self.num_tokens = self.readout.num_slots
        self.d_model = d_model
        self.token_in = nn.Linear(embed_dim, d_model * self.num_tokens)
        self.token_pos = nn.Parameter(torch.randn(self.num_tokens, d_model) * 0.02)
        self.blocks = nn.ModuleList(TokenBlock(d_model, num_heads) for _ in range(num_layers))
        # the final norm bounds what the read-outs see, whatever the residual stream carries
        self.final_norm = nn.LayerNorm(d_model)

    def forward(self, z: torch.Tensor) -> AdaptedParams:
        n = z.shape[0]
        tokens = self.token_in(z).reshape(n, self.num_tokens, self.d_model) + self.token_pos
        for block in self.blocks:
            tokens = block(tokens)
        tokens = self.final_norm(tokens)
        return self.readout(lambda i: tokens[:, i])


class HyperConditioner(nn.Module):
    """``z -> AdaptedParams`` by one small MLP (a hypernetwork): the meta-policy's adapted
    parameters (FiLM on every hidden layer of the actor and critic, the low-rank head delta,
    the action bias and log-std shift) read out of one shared hidden vector instead of a
    Transformer's tokens, at a fraction of its cost per sample."""

    def __init__(self, embed_dim: int, widths: list[int], feature_dim: int, action_dim: int,
                 continuous: bool, rank: int = 4, d_model: int = 64, critic_widths: list[int] = ()):
        super().__init__()
        self.trunk = nn.Sequential(nn.Linear(embed_dim, d_model), nn.ReLU(), nn.LayerNorm(d_model))
        self.readout = ParameterReadout(d_model, widths, list(critic_widths), feature_dim,
                                        action_dim, continuous, rank)

    def forward(self, z: torch.Tensor) -> AdaptedParams:
        hidden = self.trunk(z)
        return self.readout(lambda _slot: hidden)


def build_meta_policy(policy: ActorCritic, embed_dim: int, rank: int, d_model: int,
                      num_heads: int, num_layers: int, critic: bool = False) -> MetaPolicy:
    """The meta-policy for ``policy``; ``critic`` also conditions the critic's own layers."""
    widths = film_widths(policy)
    return MetaPolicy(embed_dim, widths, widths[-1], policy.action_dim, policy.continuous,
                      rank=rank, d_model=d_model, num_heads=num_heads, num_layers=num_layers,
                      critic_widths=critic_film_widths(policy) if critic else [])


def build_hyper_conditioner(policy: ActorCritic, embed_dim: int, rank: int,
                            d_model: int) -> HyperConditioner:
    """The hypernetwork conditioner of ``policy``'s actor and critic."""
    widths = film_widths(policy)
    return HyperConditioner(embed_dim, widths, widths[-1], policy.action_dim, policy.continuous,
                            rank=rank, d_model=d_model, critic_widths=critic_film_widths(policy))


class ConcatConditioner(nn.Module):
    """The ablation of the meta-policy: ``z`` joins the observation at the input, which for a
    first linear layer ``W [o, z] = W_o o + W_z z`` is a shift of its pre-activation by a
    linear map of ``z`` (actor and critic), and nothing else is adapted. Zero-initialised
    like the meta-policy's read-outs."""

    def __init__(self, embed_dim: int, policy: ActorCritic):
        super().__init__()
        self.actor_in = nn.Linear(embed_dim, film_widths(policy)[0])
        critic = critic_film_widths(policy)
        self.critic_in = nn.Linear(embed_dim, critic[0]) if critic else None
        for linear in (self.actor_in, self.critic_in):
            if linear is not None:
                nn.init.zeros_(linear.weight)
                nn.init.zeros_(linear.bias)

    def forward(self, z: torch.Tensor) -> AdaptedParams:
        params = {"beta.0": self.actor_in(z)}
        if self.critic_in is not None:
            params["critic_beta.0"] = self.critic_in(z)
        return params
