"""Metrics of the benchmark protocol (BENCHMARK.md), as pure functions of evaluation curves.

A curve is the list of ``(env_step, value)`` evaluation points of one adaptation run, with
``value`` a normalised score where higher is better (normalised Procgen return,
Meta-World success rate). Runs that never reach a target are *censored*: they count as
needing the whole budget, and the caller reports how many there were.
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Sequence

import numpy as np


def steps_to_reach(steps: Sequence[float], values: Sequence[float], target: float) -> float | None:
    """First evaluation step whose value is >= ``target``; ``None`` when the curve never gets there."""
    if len(steps) != len(values):
        raise ValueError(f"{len(steps)} steps but {len(values)} values")
    for step, value in zip(steps, values, strict=True):
        if value >= target:
            return float(step)
    return None


@dataclasses.dataclass(frozen=True)
class Censored:
    steps: float
    """Steps to the target, or the budget when it was never reached."""
    reached: bool


def adaptation_steps(steps: Sequence[float], values: Sequence[float], grpo_final: float,
                     budget: float, fraction: float = 0.9) -> Censored:
    """Env steps until the curve first reaches ``fraction`` of GRPO's final adapted value on the
    same task, censored at ``budget``. For a negative final value (a cost-like return) the
    target lies the same distance *below* it, so it is still a little easier than GRPO's end."""
    if not 0 < fraction <= 1:
        raise ValueError(f"fraction must be in (0, 1], got {fraction}")
    target = grpo_final * fraction if grpo_final >= 0 else grpo_final * (2 - fraction)
    hit = steps_to_reach(steps, values, target)
    return Censored(budget, False) if hit is None else Censored(min(hit, budget), True)


def sample_efficiency(grpo_steps: float, method_steps: float) -> float:
    """``steps_GRPO / steps_method`` to the same target: above 1 means fewer samples than GRPO.
    A method that needs no adaptation step at all (already at the target) is infinitely
    efficient only in name; it is reported as ``inf`` for the caller to show as such."""
    if grpo_steps < 0 or method_steps < 0:
        raise ValueError("step counts must be >= 0")
    if method_steps == 0:
        return math.inf if grpo_steps > 0 else 1.0
    return grpo_steps / method_steps


def interquartile_mean(values: Sequence[float]) -> float:
    """Mean of the middle 50% (rliable's IQM, a 25% trimmed mean): robust to a few outlier
    runs, less noisy than the median."""
    from scipy.stats import trim_mean

    x = np.asarray(values, dtype=np.float64).ravel()
    if x.size == 0:
        raise ValueError("IQM of no values")
    return float(trim_mean(x, proportiontocut=0.25))


def _as_matrix(scores) -> np.ndarray:
    x = np.asarray(scores, dtype=np.float64)
    if x.ndim != 2 or 0 in x.shape:
        raise ValueError(f"scores must be a non-empty [runs, tasks] matrix, got shape {x.shape}")
    return x


def stratified_bootstrap(matrices, statistic, reps: int = 2000, confidence: float = 0.95,
                         seed: int = 0) -> tuple[float, float, float]:
    """``(point, low, high)`` of ``statistic(*matrices)`` with a percentile interval from the
    stratified bootstrap of Agarwal et al. 2021 (rliable): each ``[runs, tasks]`` matrix has
    its runs resampled with replacement *within each task*, independently of the others, so
    every task keeps its weight. Several matrices give intervals of comparisons (ratios,
    probability of improvement)."""
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


def stratified_bootstrap_ci(scores, statistic=interquartile_mean, reps: int = 2000,
                            confidence: float = 0.95, seed: int = 0) -> tuple[float, float, float]:
    """``(point, low, high)`` of ``statistic`` over all runs of one ``[runs, tasks]`` matrix."""
    return stratified_bootstrap([scores], lambda x: statistic(x.ravel()), reps, confidence, seed)


def probability_of_improvement(method_scores, baseline_scores) -> float:
    """P(X > Y) averaged over tasks, X a run of the method and Y a run of the baseline on the
    same task (ties count one half): the Mann-Whitney statistic rliable reports."""
    x, y = _as_matrix(method_scores), _as_matrix(baseline_scores)
    if x.shape[1] != y.shape[1]:
        raise ValueError(f"{x.shape[1]} tasks for the method but {y.shape[1]} for the baseline")
    per_task = [
        float(((x[:, t, None] > y[None, :, t]) + 0.5 * (x[:, t, None] == y[None, :, t])).mean())
        for t in range(x.shape[1])
    ]
    return float(np.mean(per_task))


@dataclasses.dataclass(frozen=True)
class Progress:
    """Where a learning curve stands at a budget, relative to where it started and ended."""

    start: float
    """Mean of the values in the first ``window`` of the steps."""
    asymptote: float
    """Mean of the values in the last ``tail`` of the steps: the plateau of a long run."""
    at_budget: float
    """Mean of the values in the ``window`` of steps that ends at the budget."""

    @property
    def fraction(self) -> float:
        """``(at_budget - start) / (asymptote - start)``: the share of the whole run's gain
        that the budget buys (``nan`` for a run that gained nothing). Scale-free, so it
        reads the same for a success rate and for a cost-like return."""
        gain = self.asymptote - self.start
        if abs(gain) <= 1e-9 * max(1.0, abs(self.start), abs(self.asymptote)):
            return math.nan
        return (self.at_budget - self.start) / gain


def learning_progress(steps: Sequence[float], values: Sequence[float], budget: float,
                      tail: float = 0.1, window: float = 0.05) -> Progress:
    """:class:`Progress` of a noisy learning curve (training returns logged as it ran) at
    ``budget`` env steps; ``tail`` and ``window`` are fractions of the curve's last step."""
    x, y = _curve(steps, values)
    width = max(window * float(x[-1]), 1e-9)

    def mean_in(low: float, high: float) -> float:
        inside = (x >= low) & (x <= high)
        return float(y[inside].mean()) if inside.any() else float(y[np.argmin(np.abs(x - high))])

    return Progress(start=mean_in(x[0], x[0] + width), asymptote=tail_mean(x, y, tail),
                    at_budget=mean_in(budget - width, budget))


def tail_mean(steps: Sequence[float], values: Sequence[float], tail: float = 0.1) -> float:
    """Mean of the values logged in the last ``tail`` of the steps: where a run ended."""
    x, y = _curve(steps, values)
    return float(y[x >= x[-1] * (1 - tail)].mean())


def _curve(steps: Sequence[float], values: Sequence[float]) -> tuple[np.ndarray, np.ndarray]:
    x = np.asarray(steps, dtype=np.float64)
    y = np.asarray(values, dtype=np.float64)
    if x.size == 0 or x.size != y.size:
        raise ValueError(f"{x.size} steps but {y.size} values")
    return x, y


def steps_to_progress(steps: Sequence[float], values: Sequence[float], fraction: float,
                      tail: float = 0.1, window: float = 0.05) -> float | None:
    """The first logged step at which :func:`learning_progress` reaches ``fraction`` of the
    run's gain; ``None`` when it never does."""
    for step in steps:
        if learning_progress(steps, values, step, tail, window).fraction >= fraction:
            return float(step)
    return None
