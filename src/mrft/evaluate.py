"""Evaluate a policy for a fixed number of episodes and summarise with 95% confidence intervals.

Each env runs an equal share of the episodes and only its first ``quota`` episodes
count: otherwise short episodes (which finish first) would be over-represented.
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Sequence

import numpy as np
import torch

from mrft import envs
from mrft.nets import ActorCritic
from mrft.rollout import EpisodeTracker


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

    @property
    def return_ci(self) -> Interval:
        return mean_ci(self.returns)

    @property
    def success_ci(self) -> Interval | None:
        return proportion_ci(self.successes) if self.successes is not None else None


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
    max_steps: int = 10_000_000,
) -> EvalResult:
    """Run ``episodes`` episodes over ``tasks``; the same ``seed`` gives the same episodes.

    Action sampling uses its own seeded RNG stream, so evaluating inside a training run
    leaves the run's random state untouched.
    """
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        return _evaluate(policy, tasks, episodes, num_envs, seed, deterministic, device, max_steps)


def _evaluate(policy, tasks, episodes, num_envs, seed, deterministic, device, max_steps) -> EvalResult:
    num_envs = max(min(num_envs, episodes), len(tasks))
    env = envs.make_vec_env(tasks, num_envs, seed)
    quota = np.full(num_envs, episodes // num_envs)
    quota[: episodes % num_envs] += 1
    done_count = np.zeros(num_envs, dtype=np.int64)
    tracker = EpisodeTracker(num_envs)
    prev_done = np.zeros(num_envs, dtype=bool)
    returns: list[float] = []
    lengths: list[int] = []
    successes: list[float] = []
    try:
        obs = torch.as_tensor(env.reset(), device=device)
        steps = 0
        while (done_count < quota).any():
            action, _, _ = policy.act(policy.normalize(obs), deterministic=deterministic)
            result = env.step(policy.env_action(action))
            valid = ~prev_done
            done = (result.terminated | result.truncated) & valid
            for ep in tracker.step(result.reward, valid, done, result.success, env.task_ids):
                if done_count[ep.env_index] < quota[ep.env_index]:
                    returns.append(ep.ret)
                    lengths.append(ep.length)
                    if ep.success is not None:
                        successes.append(ep.success)
                done_count[ep.env_index] += 1
            prev_done = done
            obs = torch.as_tensor(result.obs, device=device)
            steps += num_envs
            if steps > max_steps:
                raise RuntimeError(f"evaluation exceeded {max_steps} env steps")
    finally:
        env.close()
    return EvalResult(returns, lengths, successes if successes else None)


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
    returns: list[float] = []
    lengths: list[int] = []
    successes: list[float] = []
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        while len(returns) < episodes:
            batch = collector.collect(groups=min(n, episodes - len(returns)))
            for ep in batch.episodes:
                returns.append(ep.ret)
                lengths.append(ep.length)
                if ep.success is not None:
                    successes.append(ep.success)
    return EvalResult(returns, lengths, successes if successes else None)


def load_policy(checkpoint: str, device: torch.device | str = "cpu"):
    """Rebuild the policy stored in a checkpoint; returns ``(policy, train_config, suite)``."""
    policy, cfg, suite, _ = load_policy_and_state(checkpoint)
    return policy.to(device).eval(), cfg, suite


def load_policy_and_state(checkpoint: str):
    """``(policy, train_config, suite, checkpoint_state)``; the policy is on the CPU."""
    from mrft.checkpoint import load_checkpoint, load_module_state
    from mrft.config import train_config_from_dict
    from mrft.envs.spaces import task_spaces
    from mrft.nets import build_actor_critic
    from mrft.trainer import resolve_config

    state = load_checkpoint(checkpoint, required=("config", "model"))
    cfg, suite = resolve_config(train_config_from_dict(state["config"]))
    spaces = task_spaces(suite.train[0])
    policy = build_actor_critic(spaces.observation_space, spaces.action_space, cfg.run.torso,
                                cfg.run.hidden_sizes, bool(cfg.run.normalize_obs))
    load_module_state(policy, state["model"], checkpoint)
    return policy, cfg, suite, state
