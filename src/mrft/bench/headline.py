"""The headline rows of a bench's analysis: every metric of docs/benchmark.md per method, with its
95% interval and its change against the baseline.

A row is a dict: ``metric`` (its name, written from the baseline's label), ``definition``,
``values`` (formatted, per method), ``change`` (per method other than the baseline), and
for the quality rows ``interval`` (``[point, low, high]`` per method, for the interval
plot) and ``change_interval`` or ``bounds`` (for the claims).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

import numpy as np

from mrft.bench import metrics, statistics
from mrft.bench.eta import whole_run_seconds
from mrft.bench.loading import BenchData
from mrft.bench.runner import pretrain_source
from mrft.bench.scores import score_name
from mrft.bench.statistics import REPS
from mrft.bench.text import change, fmt, interval_text, method_label, percent, readable_interval

FRACTION = 0.9
"""The adaptation-steps target: this fraction of the baseline's final score on the task."""
FINAL = "final return (IQM)"
IMPROVEMENT = "probability of improvement over"
REGRET = "cumulative regret (IQM; lower is better)"
IN_CONTEXT = "in-context score, normalised (IQM)"


def _iqm(x: np.ndarray) -> float:
    return statistics.interquartile_mean(x.ravel())


def steps_matrix(data: BenchData, method: str, baseline_final: np.ndarray,
                 fraction: float) -> tuple[np.ndarray, np.ndarray]:
    """Censored adaptation steps to ``fraction`` of the baseline's final score per
    ``[complete seed, task]``, and whether each run reached it."""
    budget = data.budget.adapt_steps
    seeds = data.complete_seeds(method)
    steps = np.zeros((len(seeds), len(data.tasks)))
    reached = np.zeros_like(steps, dtype=bool)
    for r, seed in enumerate(seeds):
        for t, (env, i) in enumerate(data.tasks):
            curve = data.adapt[env, method, seed, i]["curve"]
            hit = metrics.adaptation_steps([p["step"] for p in curve], [p["norm"] for p in curve],
                                           float(baseline_final[t]), budget, fraction)
            steps[r, t], reached[r, t] = hit.steps, hit.reached
    return steps, reached


def headline_rows(data: BenchData, methods: list[str], baseline: str,
                  finals: dict[str, np.ndarray], steps, full_steps,
                  extra: Sequence[dict[str, Any]] = ()) -> list[dict[str, Any]]:
    """Every headline row: final score, adaptation steps, the two sample efficiencies, the
    probability of improvement, the ``extra`` quality rows, then the cost rows. ``steps``
    and ``full_steps`` are :func:`steps_matrix` per method at :data:`FRACTION` and at the
    baseline's final itself."""
    name = method_label(baseline)
    return [
        _row(FINAL, _final_definition(data), finals, baseline, _iqm, None),
        _steps_row(steps, baseline, data.budget.adapt_steps),
        _efficiency_row("sample efficiency, adaptation", full_steps, baseline, 0.0,
                        f"steps_{name} / steps_method to reach {name}'s final adapted score on each "
                        f"task: IQM of {name}'s steps over IQM of the method's (censored runs count "
                        f"as the budget A). Above 1x: fewer samples than {name}."),
        _efficiency_row("sample efficiency, pre-training + adaptation", full_steps, baseline,
                        data.mean_pretrain_steps(),
                        f"The same ratio over the whole budget: (P + steps_{name}) / (P + steps_method), "
                        "P the pre-training env steps, equal for every method (the mean over "
                        "tasks when families have budgets of their own)."),
        _improvement_row(finals, baseline),
        *extra,
        *_cost_rows(data, methods, baseline),
    ]


def claim_figures(headline: list[dict[str, Any]], focus: str) -> dict[str, list[float]]:
    """The focus method's figures that :mod:`mrft.bench.claims` sets beside the published
    claims, each ``[point, low, high]``: sample efficiency (x; ``None`` for an unbounded end,
    when a resample needs no adaptation step at all), the relative change of the adaptation
    steps and of the final score against the baseline; and, where the bench has the reference
    rows, the cumulative regret (lower is better), its relative change against the baseline
    and the normalised in-context score."""
    def row(prefix: str) -> dict[str, Any]:
        return next((r for r in headline if r["metric"].startswith(prefix)), {})

    figures = {
        "sample_efficiency": (row("sample efficiency, adaptation").get("bounds") or {}).get(focus),
        "adaptation_steps_change": (row("adaptation steps").get("change_interval") or {}).get(focus),
        "final_change": (row("final return").get("change_interval") or {}).get(focus),
        "regret": (row(REGRET).get("interval") or {}).get(focus),
        "regret_change": (row(REGRET).get("change_interval") or {}).get(focus),
        "in_context_normalised": (row(IN_CONTEXT).get("interval") or {}).get(focus),
    }
    return {name: list(v) for name, v in figures.items() if v}


def _final_definition(data: BenchData) -> str:
    names = sorted({f"{score_name(f.env)} on {f.env}" for f in data.families})
    text = ("Mean evaluation score at the end of adaptation (" + "; ".join(names) + "), "
            "IQM over tasks x seeds with a 95% stratified bootstrap CI.")
    if data.ranges:
        text += (" Returns are min-max normalised per task over all evaluations in this bench "
                 "before aggregating (see the notes), as are the targets of the step metrics.")
    return text


def iqm_row(metric: str, definition: str, matrices: dict[str, np.ndarray],
            baseline: str | None) -> dict[str, Any]:
    """A headline row of the IQM of each method's ``[runs, tasks]`` matrix with its 95%
    stratified bootstrap interval, and its relative change against ``baseline`` where that
    is among the methods (``None``: no change column, for a score whose zero is a reference
    point, so that a ratio to it says nothing)."""
    return _row(metric, definition, matrices, baseline, _iqm, None)


def _row(metric: str, definition: str, matrices: dict[str, np.ndarray], baseline: str | None,
         statistic, pattern: str | None) -> dict[str, Any]:
    """One quality row; no change column where ``baseline`` has no matrix."""
    values, interval, points = {}, {}, {}
    for method, x in matrices.items():
        point, low, high = statistics.stratified_bootstrap([x], statistic, REPS)
        points[method] = point
        values[method] = (readable_interval(point, low, high) if pattern is None
                          else interval_text(point, low, high, pattern))
        interval[method] = [point, low, high]
    if baseline not in matrices:
        return {"metric": metric, "definition": definition, "values": values, "change": {},
                "interval": interval, "change_interval": {}}
    changes = {m: change(p, points[baseline]) for m, p in points.items() if m != baseline}
    return {"metric": metric, "definition": definition, "values": values, "change": changes,
            "interval": interval,
            "change_interval": _change_intervals(matrices, baseline, statistic)}


def _change_intervals(matrices: dict[str, np.ndarray], baseline: str,
                      statistic) -> dict[str, list[float]]:
    """Per method: the relative change of ``statistic`` against the baseline as the change
    column reads it, with its interval (:func:`mrft.bench.statistics.relative_change`); left
    out where a resampled baseline is 0."""
    out = {}
    for method, x in matrices.items():
        if method == baseline:
            continue
        triple = statistics.relative_change(x, matrices[baseline], statistic, REPS)
        if all(map(math.isfinite, triple)):
            out[method] = list(triple)
    return out


def _steps_row(steps, baseline: str, budget: int) -> dict[str, Any]:
    name = method_label(baseline)
    row = _row(f"adaptation steps to {FRACTION:.0%} of {name}'s final (IQM)",
               f"Adaptation env steps until the evaluation score first reaches {FRACTION:.0%} of "
               f"{name}'s final adapted score on the same task (mean over {name}'s seeds), censored at "
               f"the budget A = {budget:,}: a run that never gets there counts as A. IQM over "
               "tasks x seeds; lower is better.",
               {m: s for m, (s, _) in steps.items()}, baseline, _iqm, "{:,.0f}")
    for method, (_, reached) in steps.items():
        never = int((~reached).sum())
        row["values"][method] += f"; {never}/{reached.size} never reached"
    return row


def _efficiency_row(metric: str, full_steps, baseline: str, offset: float,
                    definition: str) -> dict[str, Any]:
    base = full_steps[baseline][0]

    def ratio(baseline_steps: np.ndarray, method_steps: np.ndarray) -> float:
        return metrics.sample_efficiency(_iqm(baseline_steps) + offset, _iqm(method_steps) + offset)

    values, changes, bounds = {baseline: "1.0x"}, {}, {baseline: [1.0, 1.0, 1.0]}
    for method, (x, _) in full_steps.items():
        if method == baseline:
            continue
        point, low, high = statistics.stratified_bootstrap([base, x], ratio, REPS)
        values[method] = interval_text(point, low, high, "{:.2f}x")
        changes[method] = percent((point - 1) * 100)
        bounds[method] = [v if math.isfinite(v) else None for v in (point, low, high)]
    # the interval plot draws finite intervals only; the claims read every bound
    return {"metric": metric, "definition": definition, "values": values, "change": changes,
            "interval": {m: b for m, b in bounds.items() if None not in b}, "bounds": bounds}


def _improvement_row(finals: dict[str, np.ndarray], baseline: str) -> dict[str, Any]:
    name = method_label(baseline)
    values, interval = {}, {}
    for method, x in finals.items():
        if method == baseline:
            continue
        point, low, high = statistics.stratified_bootstrap(
            [x, finals[baseline]], statistics.probability_of_improvement, REPS)
        values[method] = interval_text(point, low, high, "{:.2f}")
        interval[method] = [point, low, high]
    return {"metric": f"{IMPROVEMENT} {name}",
            "definition": "P(a run of the method ends adaptation with a higher score than a run "
                          f"of {name} on the same task), ties counting one half, averaged over tasks "
                          "(rliable), with a 95% stratified bootstrap CI; 0.5 means no difference.",
            "values": values, "change": {}, "interval": interval}


def _cost_rows(data: BenchData, methods: list[str], baseline: str) -> list[dict[str, Any]]:
    def per_method(records, key) -> dict[str, list[float]]:
        return {m: [r[key] for (_, rm, *_), r in records.items() if rm == m] for m in methods}

    pre = {m: [r for (_, rm, _), r in data.pretrain.items() if rm == pretrain_source(m)]
           for m in methods}
    rows = []
    for metric, definition, values, pattern, agg in (
        ("pre-training wall clock per run (s)", "Mean wall clock of one pre-training run; a run "
         "continued from its checkpoint after a stop counts the steps before the stop at the "
         "speed of the part after it.",
         {m: [whole_run_seconds(r) for r in pre[m]] for m in methods}, "{:,.0f}", np.mean),
        ("adaptation wall clock per run (s)",
         "Mean wall clock of one adaptation run, evaluations included.",
         per_method(data.adapt, "wall_clock_s"), "{:,.1f}", np.mean),
        ("pre-training env steps/s", "Mean env steps per second of the pre-training loop.",
         {m: [r["sps"] for r in pre[m]] for m in methods}, "{:,.0f}", np.mean),
        ("adaptation env steps/s",
         "Adaptation env steps per second of wall clock, evaluation time included.",
         per_method(data.adapt, "sps"), "{:,.0f}", np.mean),
        ("peak memory (MiB)", "Largest resident memory of the bench process during any run of "
         "the method (pre-training or adaptation).",
         {m: [r["peak_memory_mib"] for r in pre[m]]
          + [r["peak_memory_mib"] for (_, rm, *_), r in data.adapt.items() if rm == m]
          for m in methods}, "{:,.0f}", np.max),
    ):
        points = {m: float(agg(v)) for m, v in values.items() if v}
        rows.append({"metric": metric, "definition": definition,
                     "values": {m: fmt(p, pattern) for m, p in points.items()},
                     "change": {m: change(p, points[baseline]) for m, p in points.items()
                                if m != baseline and baseline in points}})
    return rows
