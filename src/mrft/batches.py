"""The data that flows from collectors to algorithms, free of any env: finished episodes'
records, a fixed-horizon rollout (:class:`RolloutBatch`), whole episodes in trials
(:class:`EpisodeBatch`), a fixed-length chunk of trials (:class:`StreamBatch`), and the
:class:`Actor` interface a collector asks for actions.

Algorithms import these and nothing that steps an env; the collectors that fill them live
in :mod:`mrft.rollout`, :mod:`mrft.episodes` and :mod:`mrft.trial_stream`.
"""

from __future__ import annotations

import dataclasses

import numpy as np
import torch

from mrft.nets import ActorCritic


@dataclasses.dataclass
class Episode:
    ret: float
    length: int
    success: float | None
    task_id: int
    env_index: int


@dataclasses.dataclass
class RolloutBatch:
    """One rollout; every tensor is ``[T, N, ...]`` except the bootstrap ``next_value [N]``."""

    obs: torch.Tensor
    actions: torch.Tensor
    logprobs: torch.Tensor
    values: torch.Tensor
    rewards: torch.Tensor
    terminated: torch.Tensor
    truncated: torch.Tensor
    valid: torch.Tensor
    next_value: torch.Tensor
    task_ids: torch.Tensor
    episodes: list[Episode]

    @property
    def env_steps(self) -> int:
        return self.valid.numel()


@dataclasses.dataclass
class EpisodeRun:
    """One episode in each of ``n`` envs: padded ``[n, T]`` tensors and per-env totals."""

    obs: torch.Tensor
    actions: torch.Tensor
    logprobs: torch.Tensor
    values: torch.Tensor
    """``[n, T + 1]``: column ``T`` (and any column after an env's end) holds the value of the
    observation that followed the env's last step, the bootstrap of a truncated episode."""
    rewards: torch.Tensor
    mask: torch.Tensor
    terminated: torch.Tensor
    """``[n]`` the episode ended in a terminal state (no bootstrap)."""
    returns: np.ndarray
    lengths: np.ndarray
    success: np.ndarray | None

    @property
    def env_steps(self) -> int:
        return int(self.lengths.sum())

    def first_rows(self, k: int) -> EpisodeRun:
        """The episodes of the first ``k`` envs only."""
        return EpisodeRun(self.obs[:k], self.actions[:k], self.logprobs[:k], self.values[:k],
                          self.rewards[:k], self.mask[:k], self.terminated[:k], self.returns[:k],
                          self.lengths[:k], None if self.success is None else self.success[:k])


class Actor:
    """What the collector asks for actions. The base class acts with a plain policy;
    context-based methods override the hooks to carry what a trial has seen so far."""

    def __init__(self, policy: ActorCritic, deterministic: bool = False):
        self.policy = policy
        self.deterministic = deterministic

    def begin_trial(self, group_ids: torch.Tensor, env_rows: torch.Tensor) -> None:
        """A new trial starts in every env; ``env_rows[i]`` is the row of any per-env state
        (adapted parameters) that env ``i`` uses."""

    def begin_episode(self) -> None:
        """The next episode of every trial is about to start."""

    row_restarts = True
    """Whether :meth:`restart_rows` can start one env's episode while the others play on
    (:mod:`mrft.trial_stream`); a plain policy carries nothing across steps."""

    def restart_rows(self, episode_rows: torch.Tensor, trial_rows: torch.Tensor) -> None:
        """The envs ``episode_rows`` (bool ``[n]``) start their next episode now while the others
        play on; those of ``trial_rows`` start a new trial."""

    def observe(self, action: torch.Tensor, reward: torch.Tensor, stepped: torch.Tensor,
                done: torch.Tensor) -> None:
        """One env step was taken: ``action`` and raw ``reward`` ``[n]``; ``stepped`` marks the
        envs still in their episode (the others' rows are padding), ``done`` those whose
        episode ended with this step. Stateful actors (a recurrent state, a task belief)
        fold the transition in here, before the next ``act``."""

    def end_episode(self, run: EpisodeRun) -> None:
        """Every env finished the current episode."""

    def end_trial(self) -> dict[str, torch.Tensor]:
        """Per-trial tensors the algorithm needs besides the episodes (e.g. context windows)."""
        return {}

    def begin_chunk(self) -> None:
        """A fixed-length chunk of steps starts (:mod:`mrft.trial_stream`); trials and
        episodes may have started before it and may go on after it."""

    def end_chunk(self) -> dict:
        """What the algorithm needs besides the chunk's steps: for a stateful actor, its
        state where the chunk started and what each action was conditioned on."""
        return {}

    @torch.no_grad()
    def act(self, obs: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """``(action, log_prob, value)`` for normalised observations ``[n, ...]``."""
        return self.policy.act(obs, deterministic=self.deterministic)

    @torch.no_grad()
    def value(self, obs: torch.Tensor) -> torch.Tensor:
        return self.policy.value(obs)


@dataclasses.dataclass
class EpisodeBatch:
    """``n`` trials of ``K`` episodes; per-step tensors are ``[n, K, T, ...]``."""

    obs: torch.Tensor
    actions: torch.Tensor
    logprobs: torch.Tensor
    values: torch.Tensor
    """``[n, K, T + 1]`` (see :class:`EpisodeRun`)."""
    rewards: torch.Tensor
    mask: torch.Tensor
    terminated: torch.Tensor
    """``[n, K]``."""
    returns: torch.Tensor
    """``[n, K]`` raw return of each episode (the outcome)."""
    successes: torch.Tensor | None
    group_ids: torch.Tensor
    """``[n]`` trials with equal ids play the same task instance from the same start."""
    task_ids: torch.Tensor
    episodes: list[Episode]
    env_steps: int
    extras: dict[str, torch.Tensor]
    runs: list[EpisodeRun]

    @property
    def num_trials(self) -> int:
        return self.obs.shape[0]

    @property
    def trial_episodes(self) -> int:
        return self.obs.shape[1]

    def flat(self, name: str) -> torch.Tensor:
        """A per-step or per-episode tensor with trials and episodes merged: ``[n * K, ...]``."""
        x = getattr(self, name)
        return x.reshape(-1, *x.shape[2:])

    @property
    def episode_group_ids(self) -> torch.Tensor:
        """``[n * K]`` one group per (group, episode index): what GRPO compares within."""
        k = self.trial_episodes
        ids = self.group_ids[:, None] * k + torch.arange(k, device=self.group_ids.device)
        return ids.reshape(-1)

    def as_rollout(self) -> RolloutBatch:
        """The episodes as a ``[T, E]`` rollout (one column per episode) for GAE: ends are
        terminations or truncations at each episode's last step, bootstrapped from ``values``."""
        mask = self.flat("mask")
        values = self.flat("values")
        E, T = mask.shape
        lengths = mask.sum(1)
        last = torch.zeros_like(mask)
        last[torch.arange(E, device=mask.device), (lengths - 1).clamp_min(0)] = lengths > 0
        term = self.flat("terminated")[:, None] & last
        trunc = ~self.flat("terminated")[:, None] & last
        return RolloutBatch(
            obs=self.flat("obs").transpose(0, 1), actions=self.flat("actions").transpose(0, 1),
            logprobs=self.flat("logprobs").T, values=values[:, :T].T, rewards=self.flat("rewards").T,
            terminated=term.T, truncated=trunc.T, valid=mask.T, next_value=values[:, T],
            task_ids=self.task_ids.repeat_interleave(self.trial_episodes), episodes=self.episodes,
        )


@dataclasses.dataclass
class StreamBatch:
    """``T`` ticks of ``N`` envs playing trials (:mod:`mrft.trial_stream`); per-step
    tensors are ``[N, T, ...]``. A tick where an env waits for its neighbours to finish their
    episode is not a step (``valid`` False): nothing learns from it and the budget does not
    pay for it."""

    obs: torch.Tensor
    actions: torch.Tensor
    logprobs: torch.Tensor
    values: torch.Tensor
    rewards: torch.Tensor
    valid: torch.Tensor
    episode_end: torch.Tensor
    """The step ended its episode."""
    trial_end: torch.Tensor
    """The step ended the last episode of its trial (where credit stops)."""
    trial_start: torch.Tensor
    """The step is the first of a trial (the actor's context starts afresh)."""
    terminated: torch.Tensor
    """The step ended its episode in a terminal state."""
    final_values: torch.Tensor
    """Where a step ended a trial by truncation: the value of the observation after it."""
    next_value: torch.Tensor
    """``[N]`` the value of each env's next step (the bootstrap of a trial the chunk cuts)."""
    task_ids: torch.Tensor
    """``[N, T]`` the train task of each step."""
    episodes: list[Episode]
    episode_index: list[int]
    """For each finished episode, its place in its trial (0 for the first)."""
    extras: dict
    trial_episodes: int | None
    """Episodes per trial; None: one endless trial (adapting to one instance)."""

    @property
    def env_steps(self) -> int:
        return int(self.valid.sum())


def pad_time(x: torch.Tensor, length: int, repeat_last: bool = False) -> torch.Tensor:
    """``x [n, T, ...]`` padded along time to ``length`` with zeros, or with its last column."""
    if x.shape[1] == length:
        return x
    shape = (x.shape[0], length - x.shape[1], *x.shape[2:])
    pad = x[:, -1:].expand(shape) if repeat_last else x.new_zeros(shape)
    return torch.cat([x, pad], dim=1)
