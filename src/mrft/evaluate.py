"""Evaluate a policy for a fixed number of episodes and summarise with 95% confidence intervals.

Episodes are whole episodes from the whole-episode collector, played in rounds over the
envs, so short episodes are not over-represented and every env takes its turn.
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Sequence
from typing import TYPE_CHECKING

import numpy as np
import torch

from mrft import envs
from mrft.nets import ActorCritic

if TYPE_CHECKING:
    from mrft.episodes import Actor


@dataclasses.dataclass
class Interval:
    mean: float
    low: float
    high: float

    def __str__(self) -> str:
        return f"{self.mean:.3f} (95% CI {self.low:.3f} .. {self.high:.3f})"


@dataclasses.dataclass
class EvalResult:
    returns: list[float]
    lengths: list[int]
    successes: list[float] | None
    reward_sums: np.ndarray | None = None
    """``[T]`` summed reward at each time step over the scored episodes (see ``reward_counts``)."""
    reward_counts: np.ndarray | None = None
    """``[T]`` how many scored episodes were still running at each time step."""

    @property
    def return_ci(self) -> Interval:
        return mean_ci(self.returns)

    @property
    def success_ci(self) -> Interval | None:
        return proportion_ci(self.successes) if self.successes is not None else None

    def reward_by_step(self, bins: int = 50) -> dict[str, list[float] | int]:
        """The return step by step: the mean reward at each time step over all scored
        episodes, an episode that has ended counting 0 (so the values sum to the mean
        return, and a policy that falls early shows as reward that stops), averaged in at
        most ``bins`` equal bins of steps (``step``: the first step of each bin; ``horizon``:
        the longest episode). An in-context learner's rate rises as its belief about the
        task sharpens; a fixed policy's stays level or falls."""
        if self.reward_sums is None or not self.reward_counts.any():
            return {"step": [], "reward": [], "horizon": 0}
        horizon = int(np.flatnonzero(self.reward_counts)[-1]) + 1
        episodes = float(self.reward_counts[0])
        starts = np.unique(np.linspace(0, horizon, min(bins, horizon) + 1).round().astype(int)[:-1])
        sums = np.add.reduceat(self.reward_sums[:horizon], starts)
        widths = np.diff(np.append(starts, horizon))
        return {"step": starts.tolist(), "reward": (sums / (widths * episodes)).tolist(),
                "horizon": horizon}


def mean_ci(values: Sequence[float], confidence: float = 0.95) -> Interval:
    """Mean with a Student-t confidence interval (zero width for a single value)."""
    from scipy import stats

    x = np.asarray(values, dtype=np.float64)
    mean = float(x.mean())
    if x.size < 2:
        return Interval(mean, mean, mean)
    half = float(stats.t.ppf(0.5 + confidence / 2, x.size - 1) * x.std(ddof=1) / math.sqrt(x.size))
    return Interval(mean, mean - half, mean + half)


def proportion_ci(outcomes: Sequence[float], confidence: float = 0.95) -> Interval:
    """Success rate with a Wilson score interval, which stays inside [0, 1] even at 0% or 100%."""
    from scipy import stats

    x = np.asarray(outcomes, dtype=np.float64)
    n = x.size
    p = float(x.mean())
    z = float(stats.norm.ppf(0.5 + confidence / 2))
    centre = (p + z * z / (2 * n)) / (1 + z * z / n)
    half = z * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n)) / (1 + z * z / n)
    return Interval(p, max(0.0, centre - half), min(1.0, centre + half))


@torch.no_grad()
def evaluate(
    policy: ActorCritic,
    tasks: Sequence[envs.Task],
    episodes: int,
    *,
    num_envs: int = 8,
    seed: int = 0,
    deterministic: bool = False,
    device: torch.device | str = "cpu",
    max_episode_steps: int = 100_000,
    actor: Actor | None = None,
    trial_episodes: int = 1,
) -> EvalResult:
    """``episodes`` whole episodes on fresh instances of ``tasks`` (cycling over the tasks),
    played by the whole-episode collector in rounds of ``num_envs``; the same ``seed`` gives
    the same episodes. Nothing is learned, no statistics change, and action sampling uses its
    own seeded stream, so evaluating inside a run leaves the run's random state untouched.

    ``actor`` (:class:`mrft.episodes.Actor`, default: ``policy`` acting alone) plays trials of
    ``trial_episodes`` episodes on one instance each; the last episode of each trial is scored.
    """
    from mrft.episodes import Actor, EpisodeCollector

    n = max(1, min(num_envs, episodes))
    actor = actor if actor is not None else Actor(policy, deterministic)
    collector = EpisodeCollector(tasks, actor, n, 1, trial_episodes, max_episode_steps,
                                 seed, torch.device(device), update_normalizer=False)
    try:
        return play_rounds(collector, episodes, seed)
    finally:
        collector.close()


@torch.no_grad()
def evaluate_instance(actor, task: envs.Task, instance: int, episodes: int, num_envs: int,
                      max_episode_steps: int, *, seed: int, device: torch.device | str = "cpu",
                      cache: dict | None = None) -> EvalResult:
    """``episodes`` fresh episodes of one task instance, played by ``actor``
    (:class:`mrft.episodes.Actor`) in rounds over ``min(episodes, num_envs)`` envs: episode
    ``i`` runs in env ``i mod num_envs``, so every env (and every per-env context) takes its
    turn. Nothing is learned and no statistics change; sampling uses its own seeded stream,
    leaving the caller's random state untouched. ``cache`` keeps the env pool between calls.
    """
    from mrft.episodes import EpisodeCollector

    cache = {} if cache is None else cache
    n = max(1, min(episodes, num_envs))
    collector = cache.get("collector")
    if collector is None or collector.num_envs != n:
        collector = EpisodeCollector((task,), actor, n, 1, 1, max_episode_steps, seed,
                                     torch.device(device), instance=instance,
                                     update_normalizer=False)
        cache["collector"] = collector
    collector.actor = actor
    rewind = getattr(collector.env, "rewind", None)
    if rewind is not None:  # exogenous noise (market paths): the same episodes at every call
        rewind()
    return play_rounds(collector, episodes, seed)


def trial_player(tasks: Sequence[envs.Task], max_episode_steps: int, seed: int):
    """``play(actor, trials, episodes, sample_seed) -> (batch, hidden parameters or None)``:
    one trial of ``episodes`` episodes on each of ``trials`` fresh instances of ``tasks``,
    the same instances at every call (env seed ``seed``), actions sampled from a stream
    seeded by ``sample_seed``; what an algorithm's probe (``mrft eval --probe``) plays."""
    from mrft.envs import oracle
    from mrft.episodes import EpisodeCollector

    def play(actor, trials: int, episodes: int, sample_seed: int):
        collector = EpisodeCollector(tasks, actor, trials, 1, episodes, max_episode_steps, seed,
                                     torch.device("cpu"), update_normalizer=False)
        try:
            with torch.random.fork_rng(devices=[]):
                torch.manual_seed(sample_seed)
                batch = collector.collect()
            shown = oracle.shows_parameters(tasks[0])
            return batch, (collector.env.task_parameters() if shown else None)
        finally:
            collector.close()

    return play


def play_rounds(collector, episodes: int, seed: int) -> EvalResult:
    """``episodes`` episodes from ``collector`` in rounds of its envs (the last round smaller),
    sampling from a stream seeded by ``seed`` that leaves the caller's random state alone.
    With trials of several episodes, each trial counts once: its last episode."""
    returns: list[float] = []
    lengths: list[int] = []
    successes: list[float] = []
    sums = np.zeros(0)
    counts = np.zeros(0)
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        while len(returns) < episodes:
            batch = collector.collect(groups=min(collector.num_envs, episodes - len(returns)))
            for ep in batch.episodes[-batch.num_trials:]:
                returns.append(ep.ret)
                lengths.append(ep.length)
                if ep.success is not None:
                    successes.append(ep.success)
            mask = batch.mask[:, -1].double().cpu().numpy()
            rewards = batch.rewards[:, -1].double().cpu().numpy() * mask
            if mask.shape[1] > sums.size:
                sums = np.pad(sums, (0, mask.shape[1] - sums.size))
                counts = np.pad(counts, (0, mask.shape[1] - counts.size))
            sums[:mask.shape[1]] += rewards.sum(0)
            counts[:mask.shape[1]] += mask.sum(0)
    return EvalResult(returns, lengths, successes if successes else None, sums, counts)


def load_policy(checkpoint: str, device: torch.device | str = "cpu"):
    """Rebuild the policy stored in a checkpoint; returns ``(policy, train_config, suite)``."""
    policy, cfg, suite, _ = load_policy_and_state(checkpoint)
    return policy.to(device).eval(), cfg, suite


def load_policy_and_state(checkpoint: str):
    """``(policy, train_config, suite, checkpoint_state)``; the policy is on the CPU."""
    from mrft import algos
    from mrft.checkpoint import load_checkpoint, load_module_state
    from mrft.config import train_config_from_dict
    from mrft.envs.spaces import task_spaces
    from mrft.resolve import resolve_config

    state = load_checkpoint(checkpoint, required=("config", "model"))
    cfg, suite = resolve_config(train_config_from_dict(state["config"]))
    spaces = task_spaces(suite.train[0])
    policy = algos.get(cfg.algo).build_policy(cfg, spaces.observation_space, spaces.action_space)
    load_module_state(policy, state["model"], checkpoint)
    return policy, cfg, suite, state
