"""Acting in trials: K consecutive episodes per env on one task instance, context kept.

A trial is meta-RL's unit: what the agent saw in episodes ``0..j-1`` (its *context*) may
change how it acts in episode ``j``. Envs are laid out in groups of ``group_size`` that
play the same task instance, so episode ``j`` of a group's trials can be compared the
GRPO way. Each episode runs in a freshly built vector env with the trial's instance
seeds (see :func:`mrft.envs.make_task_instances`), which replays the same instance.

Before each episode the collector asks the agent for adapted parameters given the trial
record so far; the agent (for MRFT, the meta-learner) owns what that means.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence
from typing import Any, Protocol

import numpy as np
import torch

from mrft import envs
from mrft.episodes import EpisodeRun, run_episodes
from mrft.nets import ActorCritic
from mrft.rollout import Episode


def symlog(x: torch.Tensor) -> torch.Tensor:
    """Sign-preserving log scale, so context rewards from any family stay in a small range."""
    return torch.sign(x) * torch.log1p(x.abs())


@dataclasses.dataclass
class TrialBatch:
    """``n`` trials of ``K`` episodes; per-step tensors are ``[n, K, T, ...]``."""

    obs: torch.Tensor
    actions: torch.Tensor
    logprobs: torch.Tensor
    rewards: torch.Tensor
    mask: torch.Tensor
    returns: torch.Tensor
    """``[n, K]`` raw return of each episode."""
    successes: torch.Tensor | None
    """``[n, K]`` 1 where the episode succeeded (families that define success)."""
    contexts: torch.Tensor
    """``[n, K + 1, C, D]``: the context window before episode ``j`` (``j = K``: after all)."""
    context_lengths: torch.Tensor
    """``[n, K + 1]`` valid steps of each window (0 before the first episode)."""
    group_ids: torch.Tensor
    """``[n]`` trials with equal ids play the same task instance."""
    task_ids: torch.Tensor
    """``[n]`` index of each trial's task in the suite split it came from."""
    episodes: list[Episode]
    env_steps: int

    @property
    def num_trials(self) -> int:
        return self.obs.shape[0]

    @property
    def trial_episodes(self) -> int:
        return self.obs.shape[1]


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


def _pad_time(x: torch.Tensor, length: int) -> torch.Tensor:
    if x.shape[1] == length:
        return x
    pad = torch.zeros((x.shape[0], length - x.shape[1], *x.shape[2:]), dtype=x.dtype, device=x.device)
    return torch.cat([x, pad], dim=1)


class TrialCollector:
    """Collects ``num_envs // group_size`` task instances x ``group_size`` trials per call.

    Task instance seeds come from a seeded generator; instance ``g`` of a call plays
    ``tasks[(first + g) % len(tasks)]`` so every task of a multi-task suite gets its turn.
    """

    def __init__(self, tasks: Sequence[envs.Task], agent: TrialAgent, num_envs: int, group_size: int,
                 trial_episodes: int, context_length: int, max_steps: int, seed: int,
                 device: torch.device):
        if num_envs % group_size:
            raise ValueError(f"num_envs={num_envs} is not a multiple of group_size={group_size}")
        self.tasks = tuple(tasks)
        self.agent = agent
        self.num_envs = num_envs
        self.group_size = group_size
        self.trial_episodes = trial_episodes
        self.context_length = context_length
        self.max_steps = max_steps
        self.seed = seed
        self.device = device
        self.rng = np.random.default_rng(seed)
        self.calls = 0
        self.group_ids = torch.arange(num_envs, device=device) // group_size

    def next_instances(self) -> tuple[list[int], list[int]]:
        """Per env: (task index, instance seed) of the next call, group members equal."""
        groups = self.num_envs // self.group_size
        first = self.calls * groups
        seeds = self.rng.integers(0, 2**31 - 1, size=groups)
        task_index = [(first + g) % len(self.tasks) for g in range(groups)]
        per_env = [(task_index[i // self.group_size], int(seeds[i // self.group_size]))
                   for i in range(self.num_envs)]
        return [t for t, _ in per_env], [s for _, s in per_env]

    @torch.no_grad()
    def collect(self, instances: tuple[list[int], list[int]] | None = None) -> TrialBatch:
        task_index, seeds = instances if instances is not None else self.next_instances()
        self.calls += 1
        tasks = [self.tasks[t] for t in task_index]
        record = TrialRecord(self.num_envs, self.context_length, self.agent.context_dim, self.device)
        env_steps = 0
        for _ in range(self.trial_episodes):
            record.windows.append(record.window())
            params = self.agent.episode_params(record, self.group_ids)
            env = envs.make_task_instances(tasks, seeds, self.seed)
            try:
                run = run_episodes(env, self.agent.policy, lambda o, p=params: self.agent.act(o, p),
                                   self.max_steps, self.device)
            finally:
                env.close()
            record.add(run, self.agent.context_features(run))
            env_steps += run.env_steps
        record.windows.append(record.window())
        return self._batch(record, task_index, env_steps)

    def _batch(self, record: TrialRecord, task_index: list[int], env_steps: int) -> TrialBatch:
        runs = record.runs
        horizon = max(r.obs.shape[1] for r in runs)

        def stack(name: str) -> torch.Tensor:
            return torch.stack([_pad_time(getattr(r, name), horizon) for r in runs], dim=1)

        returns = torch.tensor(np.stack([r.returns for r in runs], axis=1), dtype=torch.float32,
                               device=self.device)
        successes = None
        if all(r.success is not None for r in runs):
            successes = torch.tensor(np.stack([r.success for r in runs], axis=1),
                                     dtype=torch.float32, device=self.device)
        episodes = [
            Episode(float(r.returns[i]), int(r.lengths[i]),
                    float(r.success[i]) if r.success is not None else None, task_index[i], i)
            for r in runs for i in range(self.num_envs)
        ]
        contexts = torch.stack([w for w, _ in record.windows], dim=1)
        lengths = torch.stack([n for _, n in record.windows], dim=1)
        return TrialBatch(
            obs=stack("obs"), actions=stack("actions"), logprobs=stack("logprobs"),
            rewards=stack("rewards"), mask=stack("mask"), returns=returns, successes=successes,
            contexts=contexts, context_lengths=lengths, group_ids=self.group_ids,
            task_ids=torch.tensor(task_index, device=self.device), episodes=episodes,
            env_steps=env_steps,
        )

    def state_dict(self) -> dict:
        return {"action_log_complete": False, "calls": self.calls}

    def load_state_dict(self, state: dict) -> bool:
        """Resume continues with fresh task instances (the generator is advanced past used ones)."""
        calls = int(state.get("calls", 0))
        self.rng = np.random.default_rng(self.seed)
        for _ in range(calls):
            self.rng.integers(0, 2**31 - 1, size=self.num_envs // self.group_size)
        self.calls = calls
        return False

