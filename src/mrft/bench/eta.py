"""The sweep's ETA (how long the runs left should take, from the runs finished so far), and
what a finished run's recorded wall clock covers."""

from __future__ import annotations

from collections import Counter
from typing import Any

from mrft.bench.suite import BenchSuite, TaskFamily

LEAST_SHARE = 0.25
"""A resumed run that ran less than this share of its budget teaches the ETA nothing."""


def timed_steps(record: dict[str, Any] | None, budget: float) -> float | None:
    """The env steps a finished run's wall clock covers: its ``budget``, or for a run resumed
    at step k only ``steps - k``; ``None`` when that is less than :data:`LEAST_SHARE` of the
    budget, a time that is mostly loading and final evaluation and would read as a slow rate."""
    steps = float(budget)
    if record and record.get("resumed_at_step"):
        steps = float(record.get("steps", budget)) - float(record["resumed_at_step"])
    return None if steps < LEAST_SHARE * budget else steps


def whole_run_seconds(record: dict[str, Any]) -> float:
    """A finished run's wall clock over all its steps. A pre-training resumed at step k records
    only the time of the part run after the resume, the earlier parts' time being lost with
    their process; its first k steps count here at the speed of the last part's loop
    (``sps``), so that a sweep stopped and continued does not read as a faster one."""
    wall = float(record["wall_clock_s"])
    resumed = float(record.get("resumed_at_step") or 0)
    sps = float(record.get("sps") or 0)
    return wall + resumed / sps if resumed and sps > 0 else wall


class EtaModel:
    """Seconds per env step learned from the runs finished in this session, per (kind, method,
    family): methods differ several-fold in cost, and so do families (a MuJoCo body's update
    takes ten passes where a grid takes four; its evaluation episodes are a thousand steps).
    An unseen triple borrows the rate of its kind and method over the other families, then
    of its kind, then of all. A resumed pre-training counts only the steps it ran."""

    def __init__(self, suite: BenchSuite):
        self.budget = suite.budget
        self.seconds: dict[tuple[str, str, str], float] = {}
        self.steps: dict[tuple[str, str, str], float] = {}

    def weight(self, kind: str, family: TaskFamily) -> float:
        if kind == "pretrain":
            return float(family.pretrain_steps or self.budget.pretrain_steps)
        return float(self.budget.adapt_steps)

    def observe(self, unit: Any, seconds: float, record: dict[str, Any] | None = None) -> None:
        """``unit``: a finished :class:`~mrft.bench.runner.Unit`; ``record``: its result (a
        pre-training resumed at step k ran ``steps - k``); one too short to time by
        (:func:`timed_steps`) is not learned from."""
        steps = timed_steps(record, self.weight(unit.kind, unit.family))
        if steps is None:
            return
        key = (unit.kind, unit.method, unit.family.env)
        self.seconds[key] = self.seconds.get(key, 0.0) + seconds
        self.steps[key] = self.steps.get(key, 0.0) + steps

    def rate(self, kind: str, method: str, env: str) -> float:
        def pooled(match) -> float | None:
            keys = [k for k in self.steps if match(k)]
            if not keys:
                return None
            return sum(self.seconds[k] for k in keys) / sum(self.steps[k] for k in keys)

        for match in (lambda k: k == (kind, method, env), lambda k: k[:2] == (kind, method),
                      lambda k: k[0] == kind, lambda k: True):
            found = pooled(match)
            if found is not None:
                return found
        raise ValueError("no run has finished yet")

    def time_left(self, left: Counter[tuple[str, str, TaskFamily]]) -> float | None:
        """The run time the ``left`` units (counted by kind, method and family) should take
        (None before any run has finished)."""
        if not self.steps:
            return None
        return sum(n * self.weight(kind, family) * self.rate(kind, method, family.env)
                   for (kind, method, family), n in left.items() if n > 0)

    def text(self, left: Counter[tuple[str, str, TaskFamily]], parallel: int = 1) -> str:
        """The time the ``left`` units should take, ``parallel`` of them at a time."""
        seconds = self.time_left(left)
        return "after the first run" if seconds is None else readable_duration(seconds / max(parallel, 1))


def readable_duration(seconds: float) -> str:
    """``42s``, ``3m07s``, ``2h05m``: as wide as a progress line can afford."""
    seconds = round(seconds)
    if seconds < 60:
        return f"{seconds}s"
    if seconds < 3600:
        return f"{seconds // 60}m{seconds % 60:02d}s"
    return f"{seconds // 3600}h{(seconds % 3600) // 60:02d}m"
