"""Progress bonus for multi-episode trials (MRT: Qu et al. 2025, arXiv 2503.07572).

In a trial the policy plays ``K`` consecutive episodes on one task, each conditioned on
the context gathered by the episodes before it. Rewarding only each episode's outcome
teaches the policy to succeed eventually, but not to *learn quickly*: an exploratory
episode that fails yet reveals the task earns nothing. Meta-reinforcement fine-tuning
instead minimises cumulative regret, and a dense proxy for that is the progress an
episode makes: how much the expected outcome of the policy rises once the episode is in
its context. Episode ``j`` (1-based) therefore earns

    alpha * (J_j - J_{j-1}),

where ``J_j`` estimates the outcome of the context-conditioned policy after the first
``j`` episodes (``J_0`` is the empty-context estimate). The bonuses of a trial telescope to
``alpha * (J_K - J_0)``, so they redistribute credit across episodes towards the ones
that made progress without changing what the whole trial is worth beyond that term.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn


def progress_bonus(values: torch.Tensor, alpha: float) -> torch.Tensor:
    """Per-episode progress bonus ``alpha * (values[:, 1:] - values[:, :-1])``.

    ``values`` is ``[N, K + 1]``: row ``n`` is one trial and ``values[n, j]`` is the outcome
    estimate conditioned on the context after its first ``j`` episodes (column 0: empty
    context). Returns ``[N, K]``. An episode that makes the estimate drop (it misled the
    policy) gets a negative bonus. Gradients are not stopped here: callers pass estimates
    from a frozen or detached estimator when the bonus must act as a fixed reward.
    """
    if values.dim() != 2:
        raise ValueError(
            f"values must be 2-D [N, K + 1] (trials x episode boundaries), got shape "
            f"{tuple(values.shape)}"
        )
    if values.shape[1] < 2:
        raise ValueError(
            "values needs at least 2 columns (the empty-context estimate and one after an "
            f"episode), got shape {tuple(values.shape)}"
        )
    return alpha * (values[:, 1:] - values[:, :-1])


def shaped_returns(returns: torch.Tensor, values: torch.Tensor, alpha: float) -> torch.Tensor:
    """Outcome per episode plus its progress bonus: ``returns + progress_bonus(values, alpha)``.

    ``returns`` is ``[N, K]`` and ``values`` is ``[N, K + 1]``. With ``alpha == 0`` the input
    ``returns`` is given back as is, so the outcome-only baseline runs through the same
    code path without even a float rounding difference.
    """
    if returns.dim() != 2:
        raise ValueError(f"returns must be 2-D [N, K], got shape {tuple(returns.shape)}")
    bonus = progress_bonus(values, alpha)
    if bonus.shape != returns.shape:
        raise ValueError(
            f"values must have shape [N, K + 1] = {[returns.shape[0], returns.shape[1] + 1]} "
            f"for returns of shape {list(returns.shape)}, got {list(values.shape)}"
        )
    if alpha == 0:
        return returns
    return returns + bonus.to(returns.dtype)


class ProgressEstimator(nn.Module):
    """The learned ``J``: predicts the outcome of the next episode from a task embedding.

    ``z`` is the encoder's embedding of the context so far; the target is the return (or
    success) that the next episode actually achieved. A small tanh MLP is enough because
    the embedding already summarises the context, and a small head keeps the bonus a
    smooth function of ``z`` that does not chase noise in single outcomes.
    """

    def __init__(self, embed_dim: int, hidden: int = 64):
        super().__init__()
        self.net = nn.Sequential(nn.Linear(embed_dim, hidden), nn.Tanh(), nn.Linear(hidden, 1))

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        """``z`` ``[..., embed_dim]`` -> predicted outcome ``[...]``."""
        return self.net(z).squeeze(-1)

    def loss(self, z: torch.Tensor, outcomes: torch.Tensor) -> torch.Tensor:
        """Mean squared error between ``self(z)`` and observed ``outcomes`` ``[...]``.

        ``z`` is used as given, so gradients reach the encoder that produced it. Pass
        ``z.detach()`` when the encoder must be shaped only by the policy loss and not by
        this regression.
        """
        prediction = self(z)
        if prediction.shape != outcomes.shape:
            raise ValueError(
                f"outcomes must have shape {tuple(prediction.shape)} (z without its last dim), "
                f"got {tuple(outcomes.shape)}"
            )
        return F.mse_loss(prediction, outcomes.to(prediction.dtype))


def potential_bonus(potentials: torch.Tensor, mask: torch.Tensor, gamma: float,
                    alpha: float) -> torch.Tensor:
    """Per-step progress bonus as potential-based shaping (Ng, Harada and Russell 1999):
    ``alpha * (gamma * J(z_{t+1}) - J(z_t))`` at every real step.

    ``potentials`` is ``[n, L + 1]`` with ``J`` of the belief before each step and, in the
    column after a row's last step, of the belief after it; ``mask`` ``[n, L]`` marks real
    steps (a prefix of each row). This is MRT's episode-level bonus ``alpha (J_j - J_{j-1})``
    made dense: evidence that makes the task look more solvable is paid when it arrives,
    not at the end of the episode. Over a row of ``T`` steps the discounted bonuses
    telescope to ``alpha (gamma^T J(z_T) - J(z_0))``, and being potential-based the bonus
    leaves the optimal policy unchanged.
    """
    if potentials.shape[1] != mask.shape[1] + 1:
        raise ValueError(f"potentials must be [n, L + 1] for mask [n, L], got "
                         f"{tuple(potentials.shape)} and {tuple(mask.shape)}")
    lengths = mask.sum(1)
    steps = torch.arange(mask.shape[1] + 1, device=mask.device)[None, :]
    # padding after a row's end repeats the final potential, so J(z_{t+1}) at the last step
    # is the belief after it
    final = potentials.gather(1, lengths[:, None])
    held = torch.where(steps <= lengths[:, None], potentials, final)
    bonus = alpha * (gamma * held[:, 1:] - held[:, :-1])
    return torch.where(mask, bonus, 0.0)
