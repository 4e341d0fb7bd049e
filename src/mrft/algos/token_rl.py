"""RL for sequence policies: the rewards and advantages of GRPO, MRT and a length penalty over
sampled reasoning traces, as pure tensor functions.

A trace (:mod:`mrft.reasoning.traces`) is a sequence of *episodes* (attempts) and an answer.
``correct [N]`` says whether each trace's answer is right; ``forced [N, E + 1]`` holds, where
measured, the mean reward of answering at once after the trace's first ``j`` episodes (MRT's
meta-prover: forced termination after prefix ``j``; ``j = 0`` is right after the prompt),
``episodes [N]`` how many episodes each trace has. Groups are the samples of one problem
(TRL's ``num_generations``), and every method ends in GRPO's group-normalised advantages and
its clipped surrogate (:func:`mrft.algos.grpo.grpo_loss`): one implementation serves control
and sequences.

- ``grpo``: the outcome reward ``r``.
- ``length-penalty``: ``r (1 - coef * tokens / max_tokens)``, the usual baseline for thinking
  less, with the penalty on right answers only (as Arora & Zanette 2025 apply it). Charged
  to every trace, it pays a wrong answer for being short: a group whose answers are all
  wrong then ranks its traces by length alone, and in the study's first seed every answer
  was wrong from about update 160 on, and one token long from about update 220.
- ``mrt``: the form of Qu et al. 2025 (MRT with RL, one scalar per trace): with ``j`` an episode
  boundary drawn uniformly from the trace's own (before its last episode), the reward
  ``r + alpha * (r - J_j)``: the outcome plus ``alpha`` times the progress the trace made from
  prefix ``j`` to its end.
- ``mrt-episode``: per-episode progress as a dense bonus, token-level advantages: every token
  gets the trace's outcome advantage, and the tokens of episode ``i`` also ``alpha * (J_i -
  J_(i-1))``, divided by the group's outcome std like the outcome term (by 1 where the group's
  outcomes all agree); the answer's tokens, and those of an episode cut off unfinished, get the
  outcome advantage alone.
"""

from __future__ import annotations

import dataclasses

import torch

from mrft.algos.grpo import _group_stats, group_advantages

METHODS = ("grpo", "mrt", "mrt-episode", "length-penalty")
"""Sequence RL methods, the measured ones first."""
NEEDS_FORCED = {"grpo": None, "length-penalty": None, "mrt": "prefix", "mrt-episode": "every"}
"""Which forced terminations a method needs: none, one sampled prefix per trace, or every one."""


@dataclasses.dataclass(frozen=True)
class SequenceRLOptions:
    method: str = "grpo"
    alpha: float = 1.0
    """Weight of MRT's progress term."""
    length_coef: float = 0.5
    """Weight of the length penalty (``length-penalty``), per the whole token budget."""

    def __post_init__(self) -> None:
        if self.method not in METHODS:
            raise ValueError(f"method must be one of {METHODS}, got {self.method!r}")


def length_penalized(correct: torch.Tensor, lengths: torch.Tensor, max_tokens: int,
                     coef: float) -> torch.Tensor:
    """``r (1 - coef * lengths / max_tokens)``: shorter right answers earn more, and a wrong
    answer earns 0 whatever its length."""
    return correct.float() * (1.0 - coef * lengths.float() / max_tokens)


def mrt_prefix_rewards(correct: torch.Tensor, forced_at_prefix: torch.Tensor, alpha: float) -> torch.Tensor:
    """``r + alpha * (r - J_j)``, ``forced_at_prefix [N]`` the forced-termination reward after each
    trace's drawn prefix."""
    r = correct.float()
    return r + alpha * (r - forced_at_prefix.float())


def episode_progress(forced: torch.Tensor, episodes: torch.Tensor) -> torch.Tensor:
    """``[N, E]``: ``J_i - J_(i-1)`` for episodes ``i = 1 .. episodes``, 0 after a trace's last."""
    progress = forced[:, 1:] - forced[:, :-1]
    within = torch.arange(progress.shape[1], device=forced.device)[None, :] < episodes[:, None]
    return torch.where(within, progress, 0.0)


def draw_prefixes(episodes: torch.Tensor, generator: torch.Generator | None = None) -> torch.Tensor:
    """One episode boundary per trace, uniform over ``0 .. episodes - 1`` (before the last
    episode; 0 for a trace without any)."""
    u = torch.rand(episodes.shape, generator=generator).to(episodes.device)
    return (u * episodes.clamp_min(1)).long().clamp_max((episodes - 1).clamp_min(0))


def token_advantages(options: SequenceRLOptions, correct: torch.Tensor, group_ids: torch.Tensor,
                     token_episode: torch.Tensor, mask: torch.Tensor, *, lengths: torch.Tensor,
                     max_tokens: int, forced: torch.Tensor | None = None,
                     prefixes: torch.Tensor | None = None, episodes: torch.Tensor | None = None,
                     eps: float = 1e-4) -> torch.Tensor:
    """``[N, T]`` advantages of the sampled tokens (``mask``) of ``N`` traces.

    ``token_episode [N, T]`` is the episode (1, 2, ...) each token belongs to, 0 for the
    answer's tokens. ``forced [N, E + 1]`` and ``episodes [N]`` are needed by the MRT forms,
    ``prefixes [N]`` by ``mrt``."""
    method = options.method
    if method == "grpo":
        rewards = correct.float()
    elif method == "length-penalty":
        rewards = length_penalized(correct, lengths, max_tokens, options.length_coef)
    elif method == "mrt":
        picked = forced.gather(1, prefixes[:, None]).squeeze(1)
        rewards = mrt_prefix_rewards(correct, picked, options.alpha)
    else:
        rewards = correct.float()
    advantages = group_advantages(rewards, group_ids, "group", eps)[:, None].expand_as(mask).clone()
    if method == "mrt-episode" and forced.shape[1] > 1:  # any trace with an episode to pay
        _, inverse = torch.unique(group_ids, return_inverse=True)
        _, std = _group_stats(correct.float(), inverse, int(inverse.max()) + 1, torch.ones_like(mask[:, 0]))
        scale = torch.where(std > 0, std + eps, 1.0)  # a group that all agree: progress as it is
        progress = episode_progress(forced, episodes) / scale[:, None]
        index = (token_episode - 1).clamp(0, progress.shape[1] - 1)
        paid = (token_episode > 0) & (token_episode <= episodes[:, None])  # not an unfinished tail
        bonus = torch.where(paid, progress.gather(1, index), 0.0)
        advantages = advantages + options.alpha * bonus
    return torch.where(mask, advantages, 0.0)

