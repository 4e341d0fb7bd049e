"""Aggregate statistics of a benchmark, as pure functions of score arrays.

Scores come as ``[runs, tasks]`` matrices, a run being one seed and a task one held-out
instance. The aggregate is the interquartile mean; intervals are 95% percentile intervals
of the stratified bootstrap; methods are compared by the probability of improvement. The
definitions are those of Agarwal et al. 2021, "Deep Reinforcement Learning at the Edge of
the Statistical Precipice". Per-run scalars (a mean over runs, a ratio of means) get a
plain percentile bootstrap.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence

import numpy as np

REPS = 2000
"""Bootstrap resamples behind every interval of the analysis."""


def interquartile_mean(values: Sequence[float]) -> float:
    """Mean of the middle 50% (IQM, a 25% trimmed mean: ``floor(n / 4)`` values cut from each
    end of the sorted values): robust to a few outlier runs, less noisy than the median.
    The same as ``scipy.stats.trim_mean(values, 0.25)`` (a NaN gives NaN), without its
    per-call overhead, which dominated every bootstrap of the analysis."""
    x = np.sort(np.asarray(values, dtype=np.float64).ravel())
    if x.size == 0:
        raise ValueError("IQM of no values")
    if np.isnan(x[-1]):  # np.sort puts NaN last
        return math.nan
    cut = x.size // 4
    return float(x[cut:x.size - cut].mean())


def _as_matrix(scores) -> np.ndarray:
    x = np.asarray(scores, dtype=np.float64)
    if x.ndim != 2 or 0 in x.shape:
        raise ValueError(f"scores must be a non-empty [runs, tasks] matrix, got shape {x.shape}")
    return x


def stratified_bootstrap(matrices, statistic, reps: int = REPS, confidence: float = 0.95,
                         seed: int = 0) -> tuple[float, float, float]:
    """``(point, low, high)`` of ``statistic(*matrices)`` with a percentile interval from the
    stratified bootstrap: each ``[runs, tasks]`` matrix has its runs resampled with
    replacement *within each task*, independently of the others, so every task keeps its
    weight. Several matrices give intervals of comparisons (ratios, probability of
    improvement)."""
    xs = [_as_matrix(m) for m in matrices]
    if len({x.shape[1] for x in xs}) != 1:
        raise ValueError("all score matrices need the same tasks")
    rng = np.random.default_rng(seed)
    point = statistic(*xs)
    stats = np.empty(reps)
    for i in range(reps):
        stats[i] = statistic(*[_resample(x, rng) for x in xs])
    alpha = (1 - confidence) / 2
    # infinite statistics (a ratio over zero steps) cannot be interpolated between
    method = "linear" if np.isfinite(stats).all() else "nearest"
    low, high = np.quantile(stats, [alpha, 1 - alpha], method=method)
    return float(point), float(low), float(high)


def _resample(x: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    runs, tasks = x.shape
    return x[rng.integers(0, runs, size=(runs, tasks)), np.arange(tasks)]


def stratified_bootstrap_ci(scores, statistic=interquartile_mean, reps: int = REPS,
                            confidence: float = 0.95, seed: int = 0) -> tuple[float, float, float]:
    """``(point, low, high)`` of ``statistic`` over all runs of one ``[runs, tasks]`` matrix."""
    return stratified_bootstrap([scores], lambda x: statistic(x.ravel()), reps, confidence, seed)


def probability_of_improvement(method_scores, baseline_scores) -> float:
    """P(X > Y) averaged over tasks, X a run of the method and Y a run of the baseline on the
    same task, ties counting one half: the Mann-Whitney U statistic over the pairs of runs."""
    x, y = _as_matrix(method_scores), _as_matrix(baseline_scores)
    if x.shape[1] != y.shape[1]:
        raise ValueError(f"{x.shape[1]} tasks for the method but {y.shape[1]} for the baseline")
    per_task = [
        float(((x[:, t, None] > y[None, :, t]) + 0.5 * (x[:, t, None] == y[None, :, t])).mean())
        for t in range(x.shape[1])
    ]
    return float(np.mean(per_task))


def relative_change(matrix: np.ndarray, baseline: np.ndarray,
                    statistic: Callable[[np.ndarray], float],
                    reps: int = REPS) -> tuple[float, float, float]:
    """``(statistic(matrix) - statistic(baseline)) / |statistic(baseline)|`` with a stratified
    bootstrap interval that resamples both matrices; ``nan`` where the baseline's statistic
    is 0. Dividing by the magnitude makes an improvement positive for a negative, cost-like
    baseline too."""
    def relative(x: np.ndarray, base: np.ndarray) -> float:
        b = statistic(base)
        return (statistic(x) - b) / abs(b) if b != 0 else np.nan

    return stratified_bootstrap([matrix, baseline], relative, reps)


def band(series: list[np.ndarray], reps: int = REPS, seed: int = 0) -> dict[str, list[float]]:
    """Mean over runs with a 95% percentile-bootstrap interval of the mean at every point;
    unlike a t-interval it stays inside the score's range (a success rate never below 0)."""
    stacked = np.stack(series)
    rng = np.random.default_rng(seed)
    rows = rng.integers(0, stacked.shape[0], size=(reps, stacked.shape[0]))
    means = stacked[rows].mean(axis=1)
    low, high = np.quantile(means, [0.025, 0.975], axis=0)
    return {"mean": stacked.mean(axis=0).tolist(), "low": low.tolist(), "high": high.tolist()}


def mean_interval(values: Sequence[float]) -> list[float]:
    """``[mean, low, high]`` of scalar per-run values, the interval by :func:`band`."""
    result = band([np.array([v]) for v in values])
    return [result["mean"][0], result["low"][0], result["high"][0]]


def spread_over_seeds(per_seed: Sequence[Sequence[float]]) -> float | None:
    """The spread of an outcome over seeds: the sample standard deviation, across seeds, of
    each seed's mean score (``per_seed[s]``: seed ``s``'s scores, one per instance); None
    with fewer than two seeds."""
    means = [float(np.mean(scores)) for scores in per_seed]
    return float(np.std(means, ddof=1)) if len(means) > 1 else None


def ratio_of_means(values: Sequence[float], reference: Sequence[float],
                   reps: int = REPS) -> tuple[float, float, float]:
    """``mean(values) / mean(reference)`` with a 95% bootstrap interval that resamples both
    sets of runs independently (a pairing of the runs is not used, which makes the interval
    a little wider); resamples whose reference mean is not above 0 are dropped, and the
    interval is ``nan`` when none is left."""
    a, b = np.asarray(values, dtype=np.float64), np.asarray(reference, dtype=np.float64)
    rng = np.random.default_rng(0)
    numerators = a[rng.integers(0, a.size, (reps, a.size))].mean(1)
    denominators = b[rng.integers(0, b.size, (reps, b.size))].mean(1)
    ratios = numerators[denominators > 0] / denominators[denominators > 0]
    low, high = np.quantile(ratios, [0.025, 0.975]) if ratios.size else (np.nan, np.nan)
    return float(a.mean() / b.mean()), float(low), float(high)
