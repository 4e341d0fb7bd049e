"""Fold a frozen belief into the base network: a plain actor-critic that acts exactly as the
conditioned one does under that belief.

Every adaptation the meta-policy reads out is affine in the layer it touches, so for a fixed
``z`` it can be written into the weights:

- FiLM on a pre-activation, ``(W x + b)(1 + gamma) + beta``, is the layer
  ``W' = diag(1 + gamma) W``, ``b' = (1 + gamma) b + beta``;
- the low-rank head delta, ``W x + b + (x A) B + b_z``, is ``W' = W + (A B)^T``,
  ``b' = b + b_z``;
- the log-std shift is a new (clamped) log-std.

The folded network needs no belief model, no context and no Transformer: it deploys as it is
(``mrft export --distill-steps 0``), and it is where ``mrft export``'s default, progressive
distillation of the within-episode adaptation into a context-free policy, starts.
"""

from __future__ import annotations

import copy

import torch
from torch import nn

from mrft.algos.mrft.meta_policy import LOG_STD_MAX, LOG_STD_MIN, AdaptedParams
from mrft.nets import ActorCritic
from mrft.nets.torsos import MLP, ImpalaCNN


def _fold_film(linear: nn.Linear, params: AdaptedParams, layer: int, prefix: str) -> None:
    beta = params.get(f"{prefix}beta.{layer}")
    if beta is None:
        return
    gamma = params.get(f"{prefix}gamma.{layer}")
    scale = torch.ones_like(beta) if gamma is None else 1.0 + gamma
    linear.weight.mul_(scale[:, None])
    linear.bias.mul_(scale).add_(beta)


def _linears(torso: nn.Module) -> list[nn.Linear]:
    if isinstance(torso, MLP):
        return [m for m in torso.net if isinstance(m, nn.Linear)]
    if isinstance(torso, ImpalaCNN):
        return [torso.fc]
    raise TypeError(f"no fold for torso {type(torso).__name__}")


@torch.no_grad()
def fold_belief(policy: ActorCritic, params: AdaptedParams | None) -> ActorCritic:
    """A copy of ``policy`` with the adapted parameters of one belief (``params`` tensors with
    a leading dimension of 1) written into its weights."""
    folded = copy.deepcopy(policy)
    if params is None:
        return folded
    params = {k: v[0].detach() for k, v in params.items()}
    for layer, linear in enumerate(_linears(folded.actor_torso)):
        _fold_film(linear, params, layer, "")
    if folded.critic_torso is not None:
        for layer, linear in enumerate(_linears(folded.critic_torso)):
            _fold_film(linear, params, layer, "critic_")
    head = folded.actor_head
    if "head_a" in params:
        head.weight.add_((params["head_a"] @ params["head_b"]).T)
    if "head_bias" in params:
        head.bias.add_(params["head_bias"])
    if folded.continuous and "log_std" in params:
        folded.log_std.copy_((folded.log_std + params["log_std"]).clamp(LOG_STD_MIN, LOG_STD_MAX))
    return folded
