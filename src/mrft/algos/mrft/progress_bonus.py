"""Progress bonus (MRT: Qu et al. 2025, arXiv 2503.07572) as potential-based shaping.

Rewarding only outcomes teaches a meta-learner to succeed eventually, not to *learn
quickly*: a step that fails yet reveals the task earns nothing. MRT pays an episode for the
progress it makes, ``alpha (J_j - J_(j-1))``, with ``J_j`` the expected outcome of the policy
once the episode is in its context. MRFT's belief is updated every step, so the bonus is
paid every step: ``J(z)`` is the value of a belief (the mean scaled reward per step the
policy earns given ``z``), and step ``t`` earns ``alpha (gamma J(z_(t+1)) - J(z_t))``.
Being potential-based (Ng, Harada and Russell 1999), it cannot change which policy is
optimal; it only moves credit to the steps whose evidence made the task look more solvable.
"""

from __future__ import annotations

import torch


def potential_bonus(potentials: torch.Tensor, mask: torch.Tensor, gamma: float,
                    alpha: float, terminated: torch.Tensor | None = None) -> torch.Tensor:
    """Per-step progress bonus as potential-based shaping (Ng, Harada and Russell 1999):
    ``alpha * (gamma * J(z_{t+1}) - J(z_t))`` at every real step.

    ``potentials`` is ``[n, L + 1]`` with ``J`` of the belief before each step and, in the
    column after a row's last step, of the belief after it; ``mask`` ``[n, L]`` marks real
    steps (a prefix of each row); ``terminated`` ``[n]`` marks rows that end in a terminal
    state, whose potential after the last step is 0, as Ng et al.'s invariance needs (a
    terminal state has no future to be worth anything; a non-zero potential there would pay a
    trial for ending early when ``J > 0``). This is MRT's episode-level bonus
    ``alpha (J_j - J_{j-1})`` made dense: evidence that makes the task look more solvable is
    paid when it arrives, not at the end of the episode. Over a row of ``T`` steps the
    discounted bonuses telescope to ``alpha (gamma^T J(z_T) - J(z_0))`` (``- alpha J(z_0)``
    for a terminated row), and being potential-based the bonus leaves the optimal policy
    unchanged.
    """
    if potentials.shape[1] != mask.shape[1] + 1:
        raise ValueError(f"potentials must be [n, L + 1] for mask [n, L], got "
                         f"{tuple(potentials.shape)} and {tuple(mask.shape)}")
    lengths = mask.sum(1)
    steps = torch.arange(mask.shape[1] + 1, device=mask.device)[None, :]
    # from a row's last step on, the final potential: J of the belief after that step, or 0
    # after a terminal state
    final = potentials.gather(1, lengths[:, None])
    if terminated is not None:
        final = torch.where(terminated[:, None], 0.0, final)
    held = torch.where(steps < lengths[:, None], potentials, final)
    bonus = alpha * (gamma * held[:, 1:] - held[:, :-1])
    return torch.where(mask, bonus, 0.0)
