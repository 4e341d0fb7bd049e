"""MRFT's view of a batch of trials: one sequence per trial (:mod:`mrft.algos.sequences`),
with the belief each action was taken with."""

from __future__ import annotations

import dataclasses

import torch

from mrft.algos.sequences import episode_ends, gather_steps, trial_sequences
from mrft.batches import EpisodeBatch


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
    final_value: torch.Tensor
    """``[n]`` value of the observation after each trial's last step."""
    terminated: torch.Tensor
    """``[n]`` the trial's last episode ended in a terminal state."""

    @property
    def lengths(self) -> torch.Tensor:
        return self.mask.sum(1)

    @classmethod
    def from_batch(cls, batch: EpisodeBatch) -> TrialSequences:
        n, k, t = batch.mask.shape
        index, mask = trial_sequences(batch.mask)

        def gather(x: torch.Tensor) -> torch.Tensor:
            picked = gather_steps(x, index)
            shape = mask.shape + (1,) * (picked.dim() - 2)
            return torch.where(mask.reshape(shape), picked, torch.zeros((), dtype=picked.dtype))

        episode = torch.arange(k, device=mask.device)[None, :, None].expand(n, k, t)
        beliefs = gather(batch.extras["beliefs"])
        final = batch.extras["final_belief"][:, None, :]
        padded = torch.cat([beliefs, final], dim=1)
        after = ~torch.cat([mask, torch.zeros_like(mask[:, :1])], dim=1)
        return cls(obs=gather(batch.obs), actions=gather(batch.actions),
                   logprobs=gather(batch.logprobs), values=gather(batch.values[:, :, :-1]),
                   rewards=gather(batch.rewards), mask=mask,
                   episode_end=gather(episode_ends(batch.mask)), episode_index=gather(episode),
                   beliefs=torch.where(after[:, :, None], final, padded),
                   final_value=batch.values[:, -1, -1], terminated=batch.terminated[:, -1])
