"""A batch of trials as one sequence per trial: its K episodes' real steps back to back.

The whole-episode collector stores trials as padded episodes ``[n, K, T]``. Methods whose
memory runs across a trial's episodes (RL2's GRU, MRFT's belief) learn from each trial as
one sequence ``[n, L]`` (``L`` the longest trial, real steps first) and give credit through
the episode boundaries inside it. Pure functions, tested on hand-made tensors.
"""

from __future__ import annotations

import torch

from mrft.algos.objectives import gae
from mrft.normalize import RewardNormalizer


def trial_sequences(mask: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Where each trial's real steps are, in order: ``index [n, L]`` into a trial's ``K * T``
    step slots (episode after episode) and ``valid [n, L]``; ``L`` is the longest trial.

    ``mask [n, K, T]`` marks real steps. A trial shorter than ``L`` ends in padding.
    """
    n = mask.shape[0]
    flat = mask.reshape(n, -1)
    # a stable sort puts the real steps first and keeps their order
    order = torch.sort((~flat).to(torch.uint8), dim=1, stable=True).indices
    length = max(int(flat.sum(1).max()), 1)
    index = order[:, :length]
    return index, torch.gather(flat, 1, index)


def gather_steps(x: torch.Tensor, index: torch.Tensor) -> torch.Tensor:
    """``x [n, K, T, ...]`` at the step slots ``index [n, L]`` -> ``[n, L, ...]``."""
    flat = x.reshape(x.shape[0], -1, *x.shape[3:])
    idx = index.reshape(*index.shape, *([1] * (flat.dim() - 2))).expand(*index.shape, *flat.shape[2:])
    return flat.gather(1, idx)


def episode_ends(mask: torch.Tensor) -> torch.Tensor:
    """``[n, K, T]``: the last real step of every episode."""
    after = torch.cat([mask[..., 1:], torch.zeros_like(mask[..., :1])], dim=-1)
    return mask & ~after


def previous(x: torch.Tensor) -> torch.Tensor:
    """``x [n, L, ...]`` one step later: what step ``t`` saw of step ``t - 1`` (zeros at 0)."""
    return torch.cat([torch.zeros_like(x[:, :1]), x[:, :-1]], dim=1)


def trial_gae(
    rewards: torch.Tensor,
    values: torch.Tensor,
    valid: torch.Tensor,
    final_value: torch.Tensor,
    terminated: torch.Tensor,
    gamma: float,
    lam: float,
) -> tuple[torch.Tensor, torch.Tensor]:
    """GAE over trial sequences ``[n, L]`` (real steps first, ``valid`` False after a trial's
    end); returns ``(advantages, returns)``.

    Step ``t``'s successor is step ``t + 1`` of the same trial, also across an episode
    boundary (the next episode's first step). The trial's last step is a termination where
    ``terminated [n]`` (its last episode ended in a terminal state), and is bootstrapped from
    ``final_value [n]``, the value of the observation after it, elsewhere.
    """
    n, length = valid.shape
    lengths = valid.sum(1)
    last = torch.zeros_like(valid)
    last[torch.arange(n, device=valid.device), (lengths - 1).clamp_min(0)] = lengths > 0
    extended = torch.cat([values, final_value[:, None]], dim=1)
    pad = torch.cat([valid, torch.zeros_like(valid[:, :1])], dim=1)
    extended = torch.where(pad, extended, final_value[:, None])
    terminal = last & terminated[:, None]
    adv, ret = gae(rewards.T, extended[:, :length].T, extended[:, length], terminal.T,
                   (last & ~terminal).T, valid.T, gamma, lam)
    return adv.T, ret.T


@torch.no_grad()
def scaled_trial_rewards(norm: RewardNormalizer | None, rewards: torch.Tensor,
                         valid: torch.Tensor) -> torch.Tensor:
    """Rewards ``[n, L]`` divided by the running std of the discounted trial return (the
    statistics carry over between batches; every batch starts its trials' returns at 0)."""
    if norm is None:
        return rewards
    n, length = rewards.shape
    norm.returns = torch.zeros(n, dtype=norm.returns.dtype, device=norm.returns.device)
    no_end = torch.zeros(n, dtype=torch.bool, device=rewards.device)
    out = torch.stack([norm(rewards[:, t], valid[:, t], no_end) for t in range(length)], dim=1)
    return torch.where(valid, out, 0.0)
