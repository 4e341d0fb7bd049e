"""Running statistics for observation and reward normalisation.

Kept as tensors in ``nn.Module`` buffers so they travel inside ``state_dict`` and a
checkpoint restores them exactly.
"""

from __future__ import annotations

import torch
from torch import nn


class RunningMeanStd(nn.Module):
    """Streaming mean and variance (Chan et al. parallel update), shape ``shape``."""

    def __init__(self, shape: tuple[int, ...] = (), epsilon: float = 1e-4):
        super().__init__()
        self.register_buffer("mean", torch.zeros(shape, dtype=torch.float64))
        self.register_buffer("var", torch.ones(shape, dtype=torch.float64))
        self.register_buffer("count", torch.tensor(epsilon, dtype=torch.float64))

    @torch.no_grad()
    def update(self, x: torch.Tensor) -> None:
        if x.shape[0] == 0:
            return
        batch_var, batch_mean = torch.var_mean(x.to(torch.float64), dim=0, correction=0)
        batch_count = x.shape[0]
        delta = batch_mean - self.mean
        total = self.count + batch_count
        new_mean = self.mean + delta * batch_count / total
        m2 = self.var * self.count + batch_var * batch_count + delta.pow(2) * self.count * batch_count / total
        self.mean.copy_(new_mean)
        self.var.copy_(m2 / total)
        self.count.copy_(total)


class ObservationNormalizer(nn.Module):
    """``clip((x - mean) / sqrt(var + eps))``; statistics change only when asked to update."""

    def __init__(self, shape: tuple[int, ...], clip: float = 10.0, epsilon: float = 1e-8):
        super().__init__()
        self.rms = RunningMeanStd(shape)
        self.clip = clip
        self.epsilon = epsilon

    def forward(self, obs: torch.Tensor, update: bool = False) -> torch.Tensor:
        if update:
            self.rms.update(obs)
        scaled = (obs - self.rms.mean.float()) / torch.sqrt(self.rms.var.float() + self.epsilon)
        return scaled.clamp(-self.clip, self.clip)


class RewardNormalizer(nn.Module):
    """Divides rewards by the running std of the discounted return (as Gymnasium's wrapper).

    Only real transitions update the statistics: the auto-reset step carries no reward.
    """

    def __init__(self, num_envs: int, gamma: float, clip: float = 10.0, epsilon: float = 1e-8):
        super().__init__()
        self.rms = RunningMeanStd(())
        self.register_buffer("returns", torch.zeros(num_envs, dtype=torch.float64))
        self.gamma = gamma
        self.clip = clip
        self.epsilon = epsilon

    @torch.no_grad()
    def forward(self, reward: torch.Tensor, valid: torch.Tensor, done: torch.Tensor) -> torch.Tensor:
        valid64 = valid.to(torch.float64)
        self.returns.mul_(torch.where(valid, self.gamma, 1.0)).add_(reward.to(torch.float64) * valid64)
        self.rms.update(self.returns[valid])
        self.returns.mul_(1.0 - done.to(torch.float64))
        scaled = reward / torch.sqrt(self.rms.var.float() + self.epsilon)
        return scaled.clamp(-self.clip, self.clip)


def symlog(x: torch.Tensor) -> torch.Tensor:
    """Sign-preserving log scale, so rewards of any family enter a network in a small range."""
    return torch.sign(x) * torch.log1p(x.abs())
