"""Multi-task transfer: does pre-training on many tasks help each of them, or hurt it?

A transfer suite holds a multi-task family (``metaworld:MT10``: several tasks in one
pre-training run) and, for some or all of its tasks, a single-task family of that task
alone (``metaworld:reach``) with the same per-task pre-training steps (``pretrain_steps`` of
its ``[[tasks]]`` entry). For each method and task, the score of the pre-trained policy on
held-out instances of the task (the first point of the adaptation curve, before any
update) in the multi-task run is compared with the single-task run's:

- **positive transfer** on a task: the probability that a multi-task run beats a
  single-task run (ties one half) has a 95% bootstrap interval above 0.5;
- **negative transfer**: the interval lies below 0.5; otherwise not told apart;
- **positive-transfer rate**: the share of tasks with positive transfer, with a 95%
  bootstrap interval over tasks.

A multi-task family's held-out instance ``i`` plays test task ``i mod T`` (``mrft adapt
--task i``), so its instances cycle through the tasks.
"""

from __future__ import annotations

import functools
from collections.abc import Sequence

import numpy as np

from mrft.bench import statistics


@functools.cache
def test_tasks(env: str) -> tuple:
    """The held-out tasks of ``env`` (parsing Meta-World's official sets takes seconds)."""
    from mrft.envs import parse_env

    return parse_env(env).test


def transfer_pairs(families: Sequence) -> list[tuple[object, int, str, object]]:
    """``(multi family, task index, task name, single family)`` for every task of a
    multi-task family that also has a single-task family in ``families``."""
    tests = {f.env: test_tasks(f.env) for f in families}
    pairs = []
    for multi in families:
        if len(tests[multi.env]) < 2:
            continue
        for k, task in enumerate(tests[multi.env]):
            for single in families:
                if tests[single.env] == (task,):
                    pairs.append((multi, k, task.name, single))
    return pairs


def transfer_probability(multi: Sequence[float], single: Sequence[float],
                         reps: int = 2000) -> tuple[float, float, float]:
    """P(a multi-task run scores above a single-task run), ties one half, with a 95%
    bootstrap interval over both sets of runs."""
    a = np.asarray(multi, dtype=np.float64)[:, None]
    b = np.asarray(single, dtype=np.float64)[:, None]
    return statistics.stratified_bootstrap([a, b], statistics.probability_of_improvement, reps)


def transfer_rate(positive: Sequence[bool], reps: int = 2000,
                  seed: int = 0) -> tuple[float, float, float]:
    """Share of tasks with positive transfer, with a 95% bootstrap interval over tasks."""
    x = np.asarray(positive, dtype=np.float64)
    if x.size == 0:
        raise ValueError("no task to rate")
    rng = np.random.default_rng(seed)
    means = x[rng.integers(0, x.size, (reps, x.size))].mean(axis=1)
    return float(x.mean()), float(np.percentile(means, 2.5)), float(np.percentile(means, 97.5))
