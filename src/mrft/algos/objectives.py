"""The math every algorithm shares, as pure tensor functions: GAE and the clipped surrogate.

PPO, GRPO and MRFT differ in where advantages come from and how per-step losses are
averaged, not in these two pieces, so each exists once and tests check it on hand values.
"""

from __future__ import annotations

import torch


def gae(
    rewards: torch.Tensor,
    values: torch.Tensor,
    next_value: torch.Tensor,
    terminated: torch.Tensor,
    truncated: torch.Tensor,
    valid: torch.Tensor,
    gamma: float,
    lam: float,
) -> tuple[torch.Tensor, torch.Tensor]:
    """Generalised advantage estimation over ``[T, N]`` tensors; returns ``(advantages, returns)``.

    - ``terminated[t]``: no bootstrap after step t, and the advantage chain is cut.
    - ``truncated[t]``: bootstrap from ``values[t + 1]`` (the value of the true final
      observation, which next-step auto-reset envs return at that step) but cut the chain.
    - ``valid[t] == False`` marks a step that is not part of an episode (the auto-reset
      transition, or padding after a whole episode ended): its advantage is 0.
    ``next_value`` is the value of the observation after the last step.
    """
    T = rewards.shape[0]
    advantages = torch.zeros_like(rewards)
    last = torch.zeros_like(next_value)
    term = terminated.to(rewards.dtype)
    cont = 1.0 - (terminated | truncated).to(rewards.dtype)
    mask = valid.to(rewards.dtype)
    for t in reversed(range(T)):
        v_next = next_value if t == T - 1 else values[t + 1]
        delta = rewards[t] + gamma * v_next * (1.0 - term[t]) - values[t]
        last = (delta + gamma * lam * cont[t] * last) * mask[t]
        advantages[t] = last
    return advantages, advantages + values


def clipped_surrogate_per_step(
    logp: torch.Tensor,
    old_logp: torch.Tensor,
    advantages: torch.Tensor,
    epsilon_low: float,
    epsilon_high: float | None = None,
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """``-min(r A, clip(r, 1 - eps_low, 1 + eps_high) A)`` per step; returns ``(loss, ratio, log_ratio)``.

    ``epsilon_high=None`` clips symmetrically (PPO); GRPO/DAPO pass a larger upper range.
    """
    eps_high = epsilon_low if epsilon_high is None else epsilon_high
    log_ratio = logp - old_logp
    ratio = log_ratio.exp()
    clipped = ratio.clamp(1.0 - epsilon_low, 1.0 + eps_high)
    return -torch.min(ratio * advantages, clipped * advantages), ratio, log_ratio


def approx_kl(ratio: torch.Tensor, log_ratio: torch.Tensor) -> torch.Tensor:
    """The low-variance estimator ``(r - 1) - log r`` of KL(old || new) per step (Schulman 2020)."""
    return (ratio - 1.0) - log_ratio
