"""GRPO: group-relative advantages, the k3 KL estimator and the clipped surrogate with the
GRPO / BNPO / DAPO / Dr. GRPO loss aggregations as pure tensor functions, and the
:class:`GRPO` algorithm that applies them to batches of grouped episodes.

GRPO replaces the critic with a baseline from a group of episodes that share a prompt or
start state, so the only math is how advantages are normalised within a group and how
per-step losses are averaged. Those choices change the effective step size per token (the
point of Dr. GRPO and DAPO), so they live here as small functions that tests check on
hand-made tensors, before any trainer uses them. Episodes are rows of ``[E, T]`` tensors
with a ``mask`` marking valid steps; padded steps never reach a loss, a gradient or a
diagnostic, whatever values they hold.
"""

from __future__ import annotations

import copy
import dataclasses
import math
from typing import Literal

import torch

from mrft.algos.base import AlgoContext, Algorithm, Episodes, UpdatePlan, check
from mrft.algos.batching import shuffled_minibatches
from mrft.algos.objectives import approx_kl, clipped_surrogate_per_step
from mrft.batches import EpisodeBatch
from mrft.nets import ActorCritic


@dataclasses.dataclass
class GRPOConfig:
    """GRPO options (names follow Hugging Face TRL's GRPOConfig where one exists; docs/grpo.md in the source repository)."""

    group_size: int = 8
    """Episodes per group, all started identically (TRL: num_generations)."""
    beta: float = 0.0
    """Weight of the k3 KL to the frozen reference policy (TRL: beta)."""
    loss_type: Literal["grpo", "bnpo", "dapo", "dr_grpo"] = "dapo"
    """How per-step losses are averaged (TRL: loss_type)."""
    scale_rewards: Literal["group", "batch", "none"] = "group"
    """Divide group-centred returns by the group std, the batch std, or not at all (TRL: scale_rewards)."""
    num_iterations: int = 1
    """Optimisation passes over each batch (TRL: num_iterations)."""
    epsilon: float = 0.2
    """Lower clip range of the ratio, 1 - epsilon (TRL: epsilon)."""
    epsilon_high: float | None = None
    """Upper clip range; unset means --epsilon (TRL: epsilon_high, DAPO uses 0.28)."""
    advantage: Literal["outcome", "process"] = "outcome"
    """outcome: every step gets its episode's group-normalised return; process: normalised step
    rewards summed from each step to the episode's end."""
    ref_reset_every: int = 0
    """Copy the policy into the reference every K updates (0: never; TRL: ref_model_sync_steps)."""
    episode_minibatches: int = 1
    """Optimiser steps per pass: the batch's episodes are split into this many minibatches."""

SCALES = ("group", "batch", "none")
LOSS_TYPES = ("grpo", "bnpo", "dapo", "dr_grpo")


def _group_stats(
    values: torch.Tensor, inverse: torch.Tensor, num_groups: int, valid: torch.Tensor
) -> tuple[torch.Tensor, torch.Tensor]:
    """Per-element mean and Bessel-corrected std of the valid values of its group.

    ``inverse`` holds group indices in ``[0, num_groups)``; the std of a group with fewer
    than two valid values is 0.
    """
    weight = valid.to(values.dtype)
    values = torch.where(valid, values, 0.0)
    zeros = values.new_zeros(num_groups)
    count = zeros.index_add(0, inverse, weight)
    mean = (zeros.index_add(0, inverse, values) / count.clamp_min(1))[inverse]
    sq = zeros.index_add(0, inverse, (values - mean).square() * weight)
    std = (sq / (count - 1).clamp_min(1)).sqrt()[inverse]
    return mean, std


def _scaled(centered: torch.Tensor, std: torch.Tensor, eps: float) -> torch.Tensor:
    """``centered / (std + eps)``, exactly 0 where the std is 0 (a group of one or all equal)."""
    return torch.where(std > 0, centered / (std + eps), 0.0)


def group_advantages(
    returns: torch.Tensor, group_ids: torch.Tensor, scale: str = "group", eps: float = 1e-4
) -> torch.Tensor:
    """Outcome advantages ``(R - group mean) / (std + eps)`` for ``[E]`` episode returns.

    ``scale``: ``"group"`` divides by the group's std, ``"batch"`` by the std of all returns,
    ``"none"`` does not divide (Dr. GRPO). Group ids are any non-negative integers.
    """
    if scale not in SCALES:
        raise ValueError(f"scale must be one of {SCALES}, got {scale!r}")
    ids, inverse = torch.unique(group_ids, return_inverse=True)
    mean, std = _group_stats(returns, inverse, ids.numel(), torch.ones_like(returns, dtype=torch.bool))
    centered = returns - mean
    if scale == "none":
        return centered
    if scale == "batch":
        std = returns.std() if returns.numel() > 1 else returns.new_zeros(())
        std = std.expand_as(returns)
    return _scaled(centered, std, eps)


def process_advantages(
    rewards: torch.Tensor, mask: torch.Tensor, group_ids: torch.Tensor, eps: float = 1e-4
) -> torch.Tensor:
    """Process-supervision advantages for ``[E, T]`` step rewards.

    Each valid reward is normalised by the mean and std of all valid rewards in its group;
    a step's advantage is the sum of the normalised rewards from it to the episode's end.
    Padded steps get 0.
    """
    E, T = rewards.shape
    ids, inverse = torch.unique(group_ids, return_inverse=True)
    step_groups = inverse[:, None].expand(E, T).reshape(-1)
    mean, std = _group_stats(rewards.reshape(-1), step_groups, ids.numel(), mask.reshape(-1))
    normed = _scaled(rewards - mean.view(E, T), std.view(E, T), eps)
    normed = torch.where(mask, normed, 0.0)
    return torch.where(mask, normed.flip(-1).cumsum(-1).flip(-1), 0.0)


def kl_k3(logp: torch.Tensor, ref_logp: torch.Tensor) -> torch.Tensor:
    """Schulman's k3 estimator of KL(policy || ref): ``exp(d) - d - 1`` with ``d = ref - logp``.

    Unbiased for samples from the policy and never negative.
    """
    d = ref_logp - logp
    return d.exp() - d - 1.0


def grpo_loss(
    logp: torch.Tensor,
    old_logp: torch.Tensor,
    ref_logp: torch.Tensor | None,
    advantages: torch.Tensor,
    mask: torch.Tensor,
    *,
    epsilon_low: float = 0.2,
    epsilon_high: float | None = None,
    beta: float = 0.0,
    loss_type: str = "dapo",
    max_len: int | None = None,
) -> tuple[torch.Tensor, dict[str, torch.Tensor]]:
    """Clipped surrogate plus ``beta * k3 KL`` over ``[E, T]`` steps; returns ``(loss, diagnostics)``.

    ``advantages`` is ``[E]`` (one per episode) or ``[E, T]``. The ratio is clipped to
    ``[1 - epsilon_low, 1 + epsilon_high]`` (``epsilon_high=None`` means symmetric).
    ``loss_type`` picks the averaging of per-step losses:

    - ``grpo``: mean over each episode's valid steps, then over episodes with any;
    - ``bnpo`` / ``dapo``: sum over valid steps / number of valid steps;
    - ``dr_grpo``: sum over valid steps / ``(E * max_len)``, ``max_len`` defaulting to T.

    Diagnostics are detached means over valid steps.
    """
    if loss_type not in LOSS_TYPES:
        raise ValueError(f"loss_type must be one of {LOSS_TYPES}, got {loss_type!r}")
    if beta != 0.0 and ref_logp is None:
        raise ValueError("beta != 0 needs ref_logp")
    eps_high = epsilon_low if epsilon_high is None else epsilon_high
    if advantages.dim() == 1:
        advantages = advantages[:, None]

    # Zero every input at padded steps first so that their values (even inf or NaN)
    # reach neither the loss nor the gradient: there the ratio is 1 and the loss 0.
    def valid(x: torch.Tensor) -> torch.Tensor:
        return torch.where(mask, x, 0.0)

    logp_v = valid(logp)
    adv = valid(advantages)
    per_step, ratio, log_ratio = clipped_surrogate_per_step(logp_v, valid(old_logp), adv,
                                                            epsilon_low, eps_high)
    kl = kl_k3(logp_v, valid(ref_logp)) if ref_logp is not None else None
    if beta != 0.0:
        per_step = per_step + beta * kl

    n_valid = mask.sum(-1).to(per_step.dtype)
    total = n_valid.sum().clamp_min(1)
    if loss_type == "grpo":
        per_episode = per_step.sum(-1) / n_valid.clamp_min(1)
        loss = per_episode.sum() / (n_valid > 0).sum().clamp_min(1)
    elif loss_type == "dr_grpo":
        loss = per_step.sum() / (logp.shape[0] * (logp.shape[1] if max_len is None else max_len))
    else:
        loss = per_step.sum() / total

    with torch.no_grad():
        weight = mask.to(per_step.dtype)

        def mean(x: torch.Tensor) -> torch.Tensor:
            return (x * weight).sum() / total

        low = mean(((ratio < 1.0 - epsilon_low) & (adv < 0)).to(weight.dtype))
        high = mean(((ratio > 1.0 + eps_high) & (adv > 0)).to(weight.dtype))
        diagnostics = {
            "clipfrac_low": low,
            "clipfrac_high": high,
            "clipfrac": low + high,
            "approx_kl": mean(approx_kl(ratio, log_ratio)),
            "kl": mean(kl) if kl is not None else weight.new_zeros(()),
            "ratio_mean": mean(ratio),
        }
    return loss, diagnostics


class GRPO(Algorithm):
    """Critic-free GRPO over whole episodes grouped by identical start (docs/grpo.md in the source repository).

    The policy's value head is never trained; advantages come from comparing the returns
    of the G episodes in each group. ``num_iterations`` passes reuse one batch (TRL's
    ``num_iterations``); the reference policy for the KL term is the policy at the start of
    the phase (pre-training or adaptation), refreshed every ``ref_reset_every`` updates
    when asked.
    """

    name = "grpo"
    Config = GRPOConfig
    summary = "critic-free, group-relative advantages over episodes from one start (TRL names)"
    adapts_by = "GRPO with GRPO"
    adapts_in_groups = True

    def __init__(self, cfg, policy: ActorCritic, ctx: AlgoContext):
        super().__init__(cfg, policy, ctx)
        self.grpo = cfg.grpo
        self.ref_policy = None
        if cfg.grpo.beta != 0.0:
            self.ref_policy = copy.deepcopy(policy).eval().requires_grad_(False)

    @classmethod
    def validate_options(cls, grpo: GRPOConfig) -> None:
        check(grpo.group_size >= 2, f"--group-size must be >= 2, got {grpo.group_size}")
        check(grpo.beta >= 0 and math.isfinite(grpo.beta), f"--beta must be >= 0, got {grpo.beta}")
        check(grpo.num_iterations > 0, f"--num-iterations must be > 0, got {grpo.num_iterations}")
        check(grpo.epsilon_high is None or (grpo.epsilon_high > 0 and math.isfinite(grpo.epsilon_high)),
              f"--epsilon-high must be > 0, got {grpo.epsilon_high}")
        check(grpo.ref_reset_every >= 0, f"--ref-reset-every must be >= 0, got {grpo.ref_reset_every}")
        check(grpo.episode_minibatches > 0,
              f"--episode-minibatches must be > 0, got {grpo.episode_minibatches}")
        check(grpo.epsilon > 0, f"--epsilon must be > 0, got {grpo.epsilon}")

    @classmethod
    def resolve(cls, cfg, num_train_tasks: int, default_envs: int):
        group = cfg.grpo.group_size
        if cfg.env.num_envs is None:
            num_envs = max(default_envs, group * num_train_tasks)
            num_envs = -(-num_envs // group) * group
        else:
            check(cfg.env.num_envs % group == 0,
                  f"--num-envs {cfg.env.num_envs} must be a multiple of --group-size {group}")
            num_envs = cfg.env.num_envs
        return dataclasses.replace(cfg, env=dataclasses.replace(cfg.env, num_envs=num_envs))

    def state_modules(self) -> list:
        """The reference policy too: every rank measures its KL to rank 0's."""
        extra = [self.ref_policy] if self.ref_policy is not None else []
        return [*self.modules(), *extra]

    def collection(self) -> Episodes:
        # adapting, every env plays the one held-out instance from the same start: one group
        group = self.ctx.num_envs if self.ctx.adapting else self.grpo.group_size
        return Episodes(group_size=group)

    @torch.no_grad()
    def prepare(self, batch: EpisodeBatch) -> UpdatePlan:
        returns, group_ids = batch.flat("returns"), batch.episode_group_ids
        obs, actions, mask = batch.flat("obs"), batch.flat("actions"), batch.flat("mask")
        if self.grpo.advantage == "process":
            advantages = process_advantages(batch.flat("rewards"), mask, group_ids)
        else:
            advantages = group_advantages(returns, group_ids, self.grpo.scale_rewards)
        data = {"obs": obs, "actions": actions, "logprobs": batch.flat("logprobs"),
                "mask": mask, "advantages": advantages}
        if self.ref_policy is not None:
            data["ref_logprobs"] = self._logp(self.ref_policy, obs, actions, mask)[0]
        return UpdatePlan(data, int(self.grpo.num_iterations),
                          stats=group_statistics(returns, group_ids))

    @staticmethod
    def _logp(policy, obs, actions, mask):
        """Log-probabilities and entropies at valid steps, scattered back into ``[E, T]``."""
        logp_valid, entropy_valid, _ = policy.evaluate(obs[mask], actions[mask])
        logp = torch.zeros(mask.shape, dtype=logp_valid.dtype, device=mask.device)
        logp[mask] = logp_valid
        return logp, entropy_valid

    def minibatches(self, data, generator: torch.Generator):
        """Minibatches of whole episodes."""
        return shuffled_minibatches(data, self.grpo.episode_minibatches, generator)

    def loss(self, mb: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
        logp, entropy = self._logp(self.policy, mb["obs"], mb["actions"], mb["mask"])
        loss, diagnostics = grpo_loss(
            logp, mb["logprobs"], mb.get("ref_logprobs"), mb["advantages"], mb["mask"],
            epsilon_low=self.grpo.epsilon, epsilon_high=self.grpo.epsilon_high,
            beta=self.grpo.beta, loss_type=self.grpo.loss_type,
        )
        return {"loss": loss, "policy_loss": loss.detach(), "entropy": entropy.mean().detach(),
                **diagnostics}

    def after_update(self, update: int, batch, diagnostics) -> None:
        every = self.grpo.ref_reset_every
        if self.ref_policy is not None and every > 0 and update % every == 0:
            self.ref_policy.load_state_dict(self.policy.state_dict())

    def state_dict(self) -> dict:
        return {"ref_policy": self.ref_policy.state_dict()} if self.ref_policy is not None else {}

    def load_state_dict(self, state: dict) -> None:
        if self.ref_policy is not None and "ref_policy" in state:
            self.ref_policy.load_state_dict(state["ref_policy"])


def group_statistics(returns: torch.Tensor, group_ids: torch.Tensor) -> dict[str, float]:
    """``grpo/frac_zero_std_groups`` (groups that carry no signal) and mean ``grpo/group_return_std``."""
    ids, inverse = torch.unique(group_ids, return_inverse=True)
    _, std = _group_stats(returns, inverse, ids.numel(), torch.ones_like(returns, dtype=torch.bool))
    per_group = torch.zeros(ids.numel(), dtype=std.dtype, device=std.device).scatter(0, inverse, std)
    return {"grpo/frac_zero_std_groups": float((per_group == 0).float().mean()),
            "grpo/group_return_std": float(per_group.mean())}
