"""RL fine-tuning of the reasoning model: GRPO, MRT in two forms and a length penalty, on one
loop with one budget.

Each update samples ``group`` traces for each of ``problems_per_update`` train problems under
the episode budget, measures the forced-termination rewards the method needs
(:data:`mrft.algos.token_rl.NEEDS_FORCED`), turns them into token advantages
(:func:`mrft.algos.token_rl.token_advantages`) and takes ``iterations`` steps of GRPO's
clipped surrogate (``grpo_loss``) on the tokens the model sampled. Every
method spends the same *sampling budget*: tokens sampled, the forced-termination answers
included, so a method that measures progress pays for it with fewer updates.
"""

from __future__ import annotations

import dataclasses
import time
from collections.abc import Callable

import numpy as np
import torch

from mrft.algos.grpo import grpo_loss
from mrft.algos.token_rl import NEEDS_FORCED, SequenceRLOptions, draw_prefixes, token_advantages
from mrft.reasoning.countdown import Problem
from mrft.reasoning.lm import TinyLM
from mrft.reasoning.rollout import SAMPLER_BANS, Traces, forced_rewards, play


@dataclasses.dataclass(frozen=True)
class RLConfig:
    options: SequenceRLOptions = dataclasses.field(default_factory=SequenceRLOptions)
    token_budget: int = 2_000_000
    """Tokens sampled over the whole run, forced-termination answers included."""
    problems_per_update: int = 8
    group: int = 8
    episodes: int = 6
    """K: the episode budget; the sampler forces an answer after the K-th episode."""
    max_tokens: int = 200
    forced_samples: int = 1
    """Forced answers sampled per measured prefix."""
    iterations: int = 2
    learning_rate: float = 1e-4
    epsilon: float = 0.2
    epsilon_high: float = 0.28
    loss_type: str = "dapo"
    seed: int = 1


@dataclasses.dataclass
class RLState:
    update: int = 0
    tokens: int = 0
    """Tokens sampled so far (the budget's unit)."""


def measure_forced(model: TinyLM, traces: Traces, options: SequenceRLOptions, samples_each: int,
                   generator: torch.Generator) -> tuple[dict[str, torch.Tensor], int]:
    """What the method needs of forced termination: ``forced [N, K + 1]`` (every prefix, or the
    drawn one only, the rest 0) and ``prefixes [N]``; and the tokens it sampled."""
    need = NEEDS_FORCED[options.method]
    n = len(traces.texts)
    if need is None:
        return {}, 0
    width = int(traces.episodes.max()) + 1
    forced = torch.zeros(n, width)
    if need == "prefix":
        prefixes = draw_prefixes(traces.episodes, generator)
        requests = [(row, int(prefixes[row])) for row in range(n)]
    else:
        prefixes = None
        requests = [(row, j) for row in range(n) for j in range(int(traces.episodes[row]) + 1)]
    values, tokens = forced_rewards(model, traces, requests, samples_each, generator)
    for (row, j), value in zip(requests, values.tolist(), strict=True):
        forced[row, j] = value
    out = {"forced": forced}
    if prefixes is not None:
        out["prefixes"] = prefixes
    return out, tokens


def update(model: TinyLM, optimizer: torch.optim.Optimizer, problems: list[Problem], cfg: RLConfig,
           generator: torch.Generator) -> dict[str, float]:
    """One update on ``problems``; returns its statistics, ``tokens`` among them."""
    traces = play(model, problems, cfg.group, cfg.episodes, cfg.max_tokens, generator)
    extra, forced_tokens = measure_forced(model, traces, cfg.options, cfg.forced_samples, generator)
    tokens, mask = traces.samples.tokens, traces.samples.sampled
    advantages = token_advantages(cfg.options, traces.correct, traces.group_ids, traces.token_episode,
                                  mask, lengths=traces.lengths, max_tokens=cfg.max_tokens,
                                  episodes=traces.episodes, **extra)
    model.train()
    with torch.no_grad():
        old = model.token_logprobs(tokens, banned=SAMPLER_BANS)
    stats: dict[str, float] = {}
    for _ in range(cfg.iterations):
        logp = model.token_logprobs(tokens, banned=SAMPLER_BANS)
        loss, diagnostics = grpo_loss(logp, old, None, advantages, mask, epsilon_low=cfg.epsilon,
                                      epsilon_high=cfg.epsilon_high, loss_type=cfg.loss_type)
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        optimizer.step()
        stats.update({k: float(v) for k, v in diagnostics.items()})
    stats.update({"accuracy": float(traces.correct.mean()), "episodes": float(traces.episodes.float().mean()),
                  "trace_tokens": float(traces.lengths.float().mean()),
                  "tokens": float(int(mask.sum()) + forced_tokens), "forced_tokens": float(forced_tokens)})
    if "forced" in extra and cfg.options.method == "mrt-episode":
        stats["forced_first"] = float(extra["forced"][:, 0].mean())
    return stats


def train_rl(model: TinyLM, train: list[Problem], cfg: RLConfig, state: RLState | None = None,
             optimizer: torch.optim.Optimizer | None = None,
             progress: Callable[[dict], None] | None = None,
             stop: Callable[[RLState], bool] | None = None) -> tuple[RLState, torch.optim.Optimizer]:
    """Updates until ``cfg.token_budget`` tokens are sampled (or ``stop(state)``); the problems
    and samples of update ``u`` depend on ``(cfg.seed, u)`` alone, so a resumed run goes on as
    the uninterrupted one would."""
    state = state or RLState()
    optimizer = optimizer or torch.optim.Adam(model.parameters(), lr=cfg.learning_rate)
    start = time.time()
    while state.tokens < cfg.token_budget and not (stop is not None and stop(state)):
        rng = np.random.default_rng([cfg.seed, state.update])
        picked = [train[i] for i in rng.choice(len(train), size=cfg.problems_per_update, replace=False)]
        generator = torch.Generator().manual_seed(int(rng.integers(2**31)))
        stats = update(model, optimizer, picked, cfg, generator)
        state.update += 1
        state.tokens += int(stats["tokens"])
        if progress is not None:
            # the run's tokens so far; the update's own are its "update_tokens"
            record = {f"update_{k}" if k in ("tokens", "forced_tokens") else k: v for k, v in stats.items()}
            progress({"update": state.update, "tokens": state.tokens, "seconds": time.time() - start, **record})
    return state, optimizer
