"""Metrics of the benchmark protocol (docs/benchmark.md), as pure functions of evaluation curves.

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

__all__ = ["Censored", "Progress", "adaptation_steps", "learning_progress", "sample_efficiency",
           "steps_to_progress", "steps_to_reach", "tail_mean"]


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


def adaptation_steps(steps: Sequence[float], values: Sequence[float], baseline_final: float,
                     budget: float, fraction: float = 0.9) -> Censored:
    """Env steps until the curve first reaches ``fraction`` of the baseline's final adapted
    value on the same task, censored at ``budget``. For a negative final value (a cost-like
    return) the target lies the same distance *below* it, so it is still a little easier
    than the baseline's end."""
    if not 0 < fraction <= 1:
        raise ValueError(f"fraction must be in (0, 1], got {fraction}")
    target = baseline_final * fraction if baseline_final >= 0 else baseline_final * (2 - fraction)
    hit = steps_to_reach(steps, values, target)
    return Censored(budget, False) if hit is None else Censored(min(hit, budget), True)


def sample_efficiency(baseline_steps: float, method_steps: float) -> float:
    """``steps_baseline / steps_method`` to the same target: above 1 means fewer samples than
    the baseline. A method that needs no adaptation step at all (already at the target) is
    infinitely efficient only in name; it is reported as ``inf`` for the caller to show as
    such."""
    if baseline_steps < 0 or method_steps < 0:
        raise ValueError("step counts must be >= 0")
    if method_steps == 0:
        return math.inf if baseline_steps > 0 else 1.0
    return baseline_steps / method_steps


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
