"""Cumulative regret over adaptation and the normalised in-context score, as pure functions
of evaluation curves and reference scores (docs/benchmark.md).

Each held-out instance of a family is put on a common scale by its two
reference rows: the context-free policy (pre-trained, never adapted) maps to 0 and the
oracle (told the hidden parameters) to 1,

    s_norm(t) = (score(t) - context_free) / (oracle - context_free),

so families scored in different units can be compared. An instance is scaled only where
the oracle beats the context-free policy there with non-overlapping intervals (the check of
docs/benchmark.md's cumulative-regret row, made per instance where the scale is used): where the oracle does not
score above it the scale is undefined, and where the two are not told apart the gap is
noise, and dividing by it would blow every method's score on that instance up (a gap of
0.01 on a score range of 1 turns a shortfall of 0.05 into a normalised score of -5). Such
an instance is left out.

The cumulative regret of one adaptation curve is the mean shortfall from the oracle over
the adaptation budget A (MRT's measure, Qu et al. 2025):

    regret = (1 / A) * integral over [0, A] of (1 - s_norm(t)) dt,

by the trapezoid rule over the curve's evaluation points. 0 means the oracle's score from
the first step on; 1 means the context-free policy's throughout; lower is better. The
normalised in-context score is ``s_norm`` at the curve's first point (step 0: the first
episodes on the instance, before any update); higher is better.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import numpy as np

from mrft.bench.statistics import mean_interval, probability_of_improvement

__all__ = [
    "cumulative_regret",
    "gap_is_positive",
    "instance_reference",
    "normalise",
    "probability_of_lower",
    "references_separated",
]


def gap_is_positive(context_free: float, oracle: float) -> bool:
    """Whether the oracle scores above the context-free policy, so that :func:`normalise`
    is defined (a gap of 0 or below has no scale, or one that runs backwards)."""
    return bool(oracle - context_free > 0)


def references_separated(context_free: Sequence[float], oracle: Sequence[float]) -> bool:
    """Whether the oracle's runs on an instance beat the context-free policy's with
    non-overlapping 95% bootstrap intervals of their means (one run a side: its score is its
    interval), so that the gap between them is a scale and not noise."""
    if not context_free or not oracle:
        return False
    return bool(mean_interval(list(oracle))[1] > mean_interval(list(context_free))[2])


def normalise(scores: Sequence[float] | float, context_free: float, oracle: float) -> np.ndarray:
    """``(score - context_free) / (oracle - context_free)``: the context-free policy's score
    maps to 0 and the oracle's to 1. Raises ``ValueError`` when the gap is not positive."""
    if not gap_is_positive(context_free, oracle):
        raise ValueError(f"the oracle ({oracle}) must score above the context-free policy "
                         f"({context_free}) to normalise by them")
    return (np.asarray(scores, dtype=np.float64) - context_free) / (oracle - context_free)


def cumulative_regret(steps: Sequence[float], normalised: Sequence[float], budget: float) -> float:
    """``(1 / budget) * integral over [0, budget] of (1 - s_norm(t)) dt`` of a curve of
    normalised scores at adaptation env ``steps`` (increasing, starting at 0), by the
    trapezoid rule over its points. A curve that ends before ``budget`` keeps its last
    value to the budget; points beyond it are cut at the budget (interpolated there)."""
    x = np.asarray(steps, dtype=np.float64)
    y = np.asarray(normalised, dtype=np.float64)
    if x.size == 0 or x.size != y.size:
        raise ValueError(f"{x.size} steps but {y.size} scores")
    if budget <= 0:
        raise ValueError(f"the adaptation budget must be > 0, got {budget}")
    if x[0] != 0 or (np.diff(x) < 0).any():
        raise ValueError("an adaptation curve's steps must increase from 0")
    grid = np.concatenate([x[x < budget], [budget]])
    shortfall = 1.0 - np.interp(grid, x, y)  # np.interp holds the last value past the end
    return float(np.trapezoid(shortfall, grid) / budget)


def instance_reference(scores: Mapping[int, float]) -> float | None:
    """A reference row's score on one instance: its mean over the seeds that have a run (None
    when none has). One scale per instance for every seed: a method's seed has nothing to do
    with a reference row's seed, and a single seed's gap between the two rows can be near zero
    by chance, which would blow that seed's normalised scores up."""
    if not scores:
        return None
    return float(np.mean(list(scores.values())))


def probability_of_lower(method_values, other_values) -> float:
    """P(a run of the method has a *lower* value than a run of the other on the same task),
    ties counting one half, averaged over tasks: the probability of improvement for a
    measure where lower is better, such as the regret (both ``[runs, tasks]`` matrices)."""
    lower_is_better = -1.0
    return probability_of_improvement(lower_is_better * np.asarray(method_values, dtype=np.float64),
                                      lower_is_better * np.asarray(other_values, dtype=np.float64))
