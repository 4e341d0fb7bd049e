"""Trials: K consecutive episodes per env on one task instance, with the context kept.

A trial is meta-RL's unit: what the agent saw in episodes ``0..j-1`` (its *context*) may
change how it acts in episode ``j``. The whole-episode collector
(:class:`mrft.episodes.EpisodeCollector` with ``trial_episodes = K``) plays the trials and
replays each trial's instance for every episode; :class:`TrialActor` is the acting side:
before each episode it asks the agent for adapted parameters given the trial record so
far, and it hands the context windows the loss needs to the batch (``extras``).
"""

from __future__ import annotations

from typing import Any, Protocol

import torch

from mrft.episodes import Actor, EpisodeRun
from mrft.nets import ActorCritic


def symlog(x: torch.Tensor) -> torch.Tensor:
    """Sign-preserving log scale, so context rewards from any family stay in a small range."""
    return torch.sign(x) * torch.log1p(x.abs())


class TrialRecord:
    """Episodes of the current trials as they arrive, plus each trial's context so far."""

    def __init__(self, num_envs: int, context_length: int, context_dim: int, device: torch.device):
        self.num_envs = num_envs
        self.context_length = context_length
        self.context_dim = context_dim
        self.device = device
        self.runs: list[EpisodeRun] = []
        self._context_steps: list[list[torch.Tensor]] = [[] for _ in range(num_envs)]
        self.windows: list[tuple[torch.Tensor, torch.Tensor]] = []

    def add(self, run: EpisodeRun, features: torch.Tensor) -> None:
        """``features [n, T, D]``: context steps of the episode (masked steps dropped)."""
        self.runs.append(run)
        for i in range(self.num_envs):
            self._context_steps[i].append(features[i, run.mask[i]])

    def window(self) -> tuple[torch.Tensor, torch.Tensor]:
        """The context so far, uniformly thinned to at most ``context_length`` steps per trial.

        Thinning keeps the first and last step and spreads the rest evenly, so a long
        episode is summarised across its whole length rather than by its end only.
        """
        c = self.context_length
        rows = []
        lengths = []
        for steps in self._context_steps:
            full = torch.cat(steps) if steps else None
            if full is None or full.shape[0] == 0:
                rows.append(None)
                lengths.append(0)
                continue
            if full.shape[0] > c:
                index = torch.linspace(0, full.shape[0] - 1, c, device=full.device).round().long()
                full = full[index]
            rows.append(full)
            lengths.append(full.shape[0])
        out = torch.zeros(self.num_envs, c, self.context_dim, device=self.device)
        for i, r in enumerate(rows):
            if r is not None:
                out[i, : r.shape[0]] = r
        return out, torch.tensor(lengths, dtype=torch.long, device=self.device)


class TrialAgent(Protocol):
    """What a trial collector needs from the learner."""

    policy: ActorCritic
    context_dim: int

    def episode_params(self, record: TrialRecord, group_ids: torch.Tensor) -> Any:
        """Adapted parameters for the next episode of every trial (``None``: base policy)."""

    def act(self, obs: torch.Tensor, params: Any) -> tuple[torch.Tensor, torch.Tensor]:
        """``(action, log_prob)`` for normalised observations ``[n, ...]``."""

    def context_features(self, run: EpisodeRun) -> torch.Tensor:
        """``[n, T, D]`` context steps of one finished episode."""


class TrialActor(Actor):
    """Acts with the agent's adapted parameters, recomputed from the context before each
    episode of a trial; returns the context windows (``contexts [n, K + 1, C, D]``,
    ``context_lengths [n, K + 1]``: the window before episode ``j``, and after the last)."""

    def __init__(self, agent: TrialAgent, context_length: int, device: torch.device,
                 deterministic: bool = False):
        super().__init__(agent.policy, deterministic)
        self.agent = agent
        self.context_length = context_length
        self.device = device
        self.record: TrialRecord | None = None
        self.params: Any = None

    def begin_trial(self, group_ids: torch.Tensor, env_rows: torch.Tensor) -> None:
        self.group_ids = group_ids
        self.record = TrialRecord(group_ids.shape[0], self.context_length, self.agent.context_dim,
                                  self.device)

    def begin_episode(self) -> None:
        self.record.windows.append(self.record.window())
        self.params = self.agent.episode_params(self.record, self.group_ids)

    def end_episode(self, run: EpisodeRun) -> None:
        self.record.add(run, self.agent.context_features(run))

    def end_trial(self) -> dict[str, torch.Tensor]:
        self.record.windows.append(self.record.window())
        return {"contexts": torch.stack([w for w, _ in self.record.windows], dim=1),
                "context_lengths": torch.stack([n for _, n in self.record.windows], dim=1)}

    @torch.no_grad()
    def act(self, obs: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        action, logprob = self.agent.act(obs, self.params, self.deterministic)
        return action, logprob, self.policy.value(obs)
