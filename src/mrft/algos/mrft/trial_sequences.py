"""A batch of trials as one sequence per trial: the K episodes' real steps back to back.

The collector stores trials as padded episodes ``[n, K, T]``; the belief and the returns
run over a trial as a whole (the belief is carried across its episodes, and so is credit),
so the update wants ``[n, L]`` sequences, ``L`` the longest trial, left-aligned and padded
after each trial's end.
"""

from __future__ import annotations

import dataclasses

import torch

from mrft.episodes import EpisodeBatch


@dataclasses.dataclass
class TrialSequences:
    obs: torch.Tensor
    actions: torch.Tensor
    logprobs: torch.Tensor
    values: torch.Tensor
    rewards: torch.Tensor
    mask: torch.Tensor
    """``[n, L]`` real steps (a prefix of each row)."""
    episode_end: torch.Tensor
    """``[n, L]`` the step that ends an episode of the trial."""
    episode_index: torch.Tensor
    """``[n, L]`` which of the trial's episodes a step belongs to."""
    beliefs: torch.Tensor
    """``[n, L + 1, E]``: the belief each step's action was taken with; column ``length``
    (and every padded one after it) holds the belief after the trial's last step."""

    @property
    def lengths(self) -> torch.Tensor:
        return self.mask.sum(1)

    @classmethod
    def from_batch(cls, batch: EpisodeBatch) -> TrialSequences:
        n, k, t = batch.mask.shape
        flat_mask = batch.mask.reshape(n, k * t)
        lengths = flat_mask.sum(1)
        width = int(lengths.max())
        # positions of the real steps of each row, in time order, then padding
        order = torch.sort((~flat_mask).to(torch.int8), dim=1, stable=True).indices[:, :width]
        rows = torch.arange(n, device=order.device)[:, None]
        mask = torch.arange(width, device=order.device)[None, :] < lengths[:, None]

        def gather(x: torch.Tensor) -> torch.Tensor:
            flat = x[:, :, :t].reshape(n, k * t, *x.shape[3:])
            picked = flat[rows, order]
            zero = torch.zeros((), dtype=picked.dtype, device=picked.device)
            shape = (n, width) + (1,) * (picked.dim() - 2)
            return torch.where(mask.reshape(shape), picked, zero)

        episode_lengths = batch.mask.sum(2)  # [n, K]
        ends = torch.zeros_like(batch.mask)
        last = (episode_lengths - 1).clamp_min(0)
        ends.scatter_(2, last[:, :, None], (episode_lengths > 0)[:, :, None])
        index = torch.arange(k, device=order.device)[None, :, None].expand(n, k, t)
        beliefs = gather(batch.extras["beliefs"])
        final = batch.extras["final_belief"][:, None, :].expand(n, 1, beliefs.shape[-1])
        beliefs = torch.cat([beliefs, final], dim=1)
        after = ~torch.cat([mask, torch.zeros(n, 1, dtype=torch.bool, device=mask.device)], dim=1)
        beliefs = torch.where(after[:, :, None], final, beliefs)
        return cls(obs=gather(batch.obs), actions=gather(batch.actions),
                   logprobs=gather(batch.logprobs), values=gather(batch.values),
                   rewards=gather(batch.rewards), mask=mask, episode_end=gather(ends),
                   episode_index=gather(index), beliefs=beliefs)
