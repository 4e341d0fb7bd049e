"""From a bench folder's raw JSON to the analysis a report lays out: every metric of
BENCHMARK.md with its interval, per-task numbers, curves and provenance.

Scores form ``[seeds, tasks]`` matrices per method, a task being one held-out instance of
one task family. Aggregates are IQMs with 95% stratified bootstrap intervals (rliable's
protocol); a method enters the aggregates with the seeds for which every task finished, so
a partial bench still gives a consistent, if wider, answer.
"""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any

import numpy as np

from mrft.bench import metrics
from mrft.bench.methods import BASELINE, FOCUS, REFERENCE_ROWS, report_order
from mrft.bench.runner import TIMING_FIELDS, git_commit, pretrain_source, seed_dir
from mrft.bench.scores import RETURN, SUCCESS, score_name, training_metric
from mrft.bench.suite import Budget, TaskFamily
from mrft.bench.transfer import (
    EPISODE_MARKS,
    at_episodes,
    episodes_to_target,
    fraction_of_sim,
    is_sim_to_real,
)
from mrft.errors import MrftError

FRACTION = 0.9
ORACLE = "oracle"
CONTEXT_FREE = "context-free"
REPS = 2000


class BenchData:
    """Everything a bench folder holds, indexed by (env, method, seed[, instance])."""

    def __init__(self, out: Path, skip_broken: bool = False):
        self.out = Path(out)
        self.skipped: list[dict[str, str]] = []
        """Run files that could not be read, when ``skip_broken`` lets the report go on."""
        self.skip_broken = skip_broken
        path = self.out / "bench.json"
        if not path.is_file():
            raise MrftError(f"{self.out} is not a bench folder (no bench.json); "
                            "make one with mrft bench --out DIR")
        try:
            self.meta = json.loads(path.read_text(encoding="utf-8"))
            suite = self.meta["suite"]
            self.families = [TaskFamily(t["env"], t["instances"], t.get("pretrain_steps"))
                             for t in suite["tasks"]]
            self.budget = Budget(**suite["budget"])
        except (json.JSONDecodeError, KeyError, TypeError) as exc:
            raise MrftError(f"{path} is not a readable bench record ({exc})") from None
        self.suite_name = suite["name"]
        self.description = suite.get("description", "")
        self.methods = report_order(list(self.meta["methods"]))
        self.seeds = list(self.meta["seeds"])
        self.tasks = [(f.env, i) for f in self.families for i in range(f.instances)]
        self.pretrain: dict[tuple[str, str, int], dict[str, Any]] = {}
        self.adapt: dict[tuple[str, str, int, int], dict[str, Any]] = {}
        for family in self.families:
            for method in self.methods:
                for seed in self.seeds:
                    folder = seed_dir(self.out, family, method, seed)
                    # an adaptation-only method's pre-training lives under the method it reuses
                    # (context-free: ppo's), whether or not that method was benched too
                    source = pretrain_source(method)
                    if (family.env, source, seed) not in self.pretrain:
                        record = self._read(seed_dir(self.out, family, source, seed) / "pretrain.json",
                                            PRETRAIN_KEYS)
                        if record:
                            self.pretrain[family.env, source, seed] = record
                    for i in range(family.instances):
                        record = self._read(folder / "adapt" / f"instance{i}.json", ADAPT_KEYS)
                        if record:
                            self.adapt[family.env, method, seed, i] = record
        self.ranges = self._normalise()

    def _normalise(self) -> dict[tuple[str, int], tuple[float, float]]:
        """Give every evaluation point an aggregate score ``norm``. With one task family it is
        the score itself. With several, families scored by raw return are min-max normalised
        per task over every evaluation of every run in this bench, so that no family's scale
        dominates an IQM; success rates and normalised Procgen returns already share [0, 1]."""
        ranges = {}
        mixed = len(self.families) > 1
        for env, i in self.tasks:
            records = [r for (e, _, _, k), r in self.adapt.items() if (e, k) == (env, i)]
            values = [p["score"] for r in records for p in r["curve"]]
            lo, hi = 0.0, 1.0
            if mixed and score_name(env) == RETURN and values:
                lo, hi = min(values), max(values)
                ranges[env, i] = (lo, hi)
            for record in records:
                for point in record["curve"]:
                    point["norm"] = (point["score"] - lo) / (hi - lo) if hi > lo else 0.0
        return ranges

    def complete_seeds(self, method: str) -> list[int]:
        return [s for s in self.seeds
                if all((env, method, s, i) in self.adapt for env, i in self.tasks)]

    def matrix(self, method: str, value) -> np.ndarray | None:
        """``[complete seeds, tasks]`` of ``value(record)``; ``None`` without a complete seed."""
        seeds = self.complete_seeds(method)
        if not seeds:
            return None
        return np.array([[value(self.adapt[env, method, s, i]) for env, i in self.tasks]
                         for s in seeds], dtype=np.float64)


    def _read(self, path: Path, keys: tuple[str, ...]) -> dict[str, Any] | None:
        """A run record, ``None`` when the run has not finished, and for a file that cannot be
        read or has the wrong shape: one-line error, or (``skip_broken``) a listed skip."""
        if not path.exists():
            return None
        reason = _problem(path, keys)
        if reason is None:
            return json.loads(path.read_text(encoding="utf-8"))
        if not self.skip_broken:
            raise MrftError(f"{path}: broken run file ({reason}); delete it and run the same "
                            "mrft bench command again to redo that run, or report without it "
                            "with mrft report --skip-broken")
        self.skipped.append({"file": str(path.relative_to(self.out)), "reason": reason})
        return None


PRETRAIN_KEYS = TIMING_FIELDS
ADAPT_KEYS = ("curve", *TIMING_FIELDS)


def _problem(path: Path, keys: tuple[str, ...]) -> str | None:
    """Why a run file cannot be used, or ``None``."""
    try:
        record = json.loads(path.read_text(encoding="utf-8"))
    except UnicodeDecodeError:
        return "not UTF-8 text"
    except json.JSONDecodeError as exc:
        return f"not valid JSON: {exc.msg} at line {exc.lineno}"
    except OSError as exc:
        return f"unreadable: {exc.strerror}"
    if not isinstance(record, dict):
        return "not a JSON object"
    missing = [k for k in keys if k not in record]
    if missing:
        return f"missing {', '.join(missing)}"
    if "curve" in keys:
        curve = record["curve"]
        if not isinstance(curve, list) or not curve or not all(
                isinstance(p, dict) and isinstance(p.get("step"), (int, float))
                and isinstance(p.get("score"), (int, float)) for p in curve):
            return "curve is not a list of points with step and score"
    return None


def final_score(record: dict[str, Any], key: str = "norm") -> float:
    """Score at the end of adaptation: ``norm`` for aggregates, ``score`` as measured."""
    return float(record["curve"][-1][key])


def analyze(out: Path, skip_broken: bool = False) -> dict[str, Any]:
    data = BenchData(out, skip_broken)
    methods = [m for m in data.methods if data.complete_seeds(m)]
    if not methods:
        raise MrftError(f"{out}: no method has finished a whole seed yet; nothing to report")
    if BASELINE in data.methods and BASELINE not in methods:
        # every row compares with the baseline: another method must never stand in silently
        raise MrftError(f"{out}: {BASELINE}, the baseline every row compares with, has no "
                        "complete seed yet" + (" once broken run files are skipped"
                                               if data.skipped else "") + "; nothing to report")
    baseline = BASELINE if BASELINE in methods else methods[0]
    focus = FOCUS if FOCUS in methods else next((m for m in methods if m != baseline), baseline)
    finals = {m: data.matrix(m, final_score) for m in methods}
    grpo_final = finals[baseline].mean(axis=0)
    budget = data.budget.adapt_steps
    steps = {m: _steps_matrix(data, m, grpo_final, FRACTION) for m in methods}
    full_steps = {m: _steps_matrix(data, m, grpo_final, 1.0) for m in methods}

    headline = [
        _row("final return (IQM)", _final_definition(data), finals, baseline,
             lambda x: metrics.interquartile_mean(x.ravel()), None),
        _steps_row(steps, baseline, budget),
        _efficiency_row("sample efficiency, adaptation", full_steps, baseline, 0.0,
                        "steps_GRPO / steps_method to reach GRPO's final adapted score on each "
                        "task: IQM of GRPO's steps over IQM of the method's (censored runs count "
                        "as the budget A). Above 1x: fewer samples than GRPO."),
        _efficiency_row("sample efficiency, pre-training + adaptation", full_steps, baseline,
                        _mean_pretrain_steps(data),
                        "The same ratio over the whole budget: (P + steps_GRPO) / (P + steps_method), "
                        "P the pre-training env steps, equal for every method (the mean over "
                        "tasks when families have budgets of their own)."),
        _improvement_row(finals, baseline),
    ]
    headline += _cost_rows(data, methods, baseline)
    return {
        "suite": {"name": data.suite_name, "description": data.description},
        "baseline": baseline, "focus": focus, "methods": methods, "seeds": data.seeds,
        "budget": _budget(data),
        "headline": [{k: v for k, v in row.items() if k != "interval"} for row in headline],
        "claims": _claim_figures(headline, focus),
        "verdict": _verdict(headline, baseline, methods, data, finals, focus),
        "tasks": _task_rows(data, methods, steps),
        "sim_to_real": _sim_to_real(data, methods),
        "families": _family_rows(data, methods),
        "informative": _informative(data, finals),
        "exported": _exported(data, methods),
        "transfer": _transfer(data, methods),
        "curves": {"adaptation": _adaptation_curves(data, methods),
                   "pretrain": _pretrain_curves(data, methods),
                   "within_episode": _within_episode_curves(data, methods)},
        "intervals": [{"metric": row["metric"], "methods": row["interval"]}
                      for row in headline if row.get("interval")],
        "provenance": _provenance(data),
        "notes": _notes(data, methods) + [
            f"Skipped broken run file {s['file']} ({s['reason']}); its run counts as unfinished."
            for s in data.skipped],
        "skipped": data.skipped,
    }


# ---- headline rows ---------------------------------------------------------------------
def _claim_figures(headline: list[dict[str, Any]], focus: str) -> dict[str, list[float]]:
    """The focus method's figures that :mod:`mrft.bench.claims` sets beside the published
    claims, each ``[point, low, high]``: sample efficiency (x; ``None`` for an unbounded end,
    when a resample needs no adaptation step at all), the relative change of the adaptation
    steps and of the final score against the baseline."""
    def row(prefix: str) -> dict[str, Any]:
        return next((r for r in headline if r["metric"].startswith(prefix)), {})

    figures = {
        "sample_efficiency": (row("sample efficiency, adaptation").get("bounds") or {}).get(focus),
        "adaptation_steps_change": (row("adaptation steps").get("change_interval") or {}).get(focus),
        "final_change": (row("final return").get("change_interval") or {}).get(focus),
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


def _fmt(value: float, pattern: str) -> str:
    if value is None or not math.isfinite(value):
        return "inf" if value == math.inf else "—"
    return pattern.format(value)


def _interval_text(point: float, low: float, high: float, pattern: str) -> str:
    return f"{_fmt(point, pattern)} [{_fmt(low, pattern)}, {_fmt(high, pattern)}]"


def _readable_interval(point: float, low: float, high: float) -> str:
    """Three significant digits below 100, whole numbers above (returns of 1,000, not 1e+03)."""
    pattern = "{:,.0f}" if max(abs(point), abs(low), abs(high)) >= 100 else "{:.3g}"
    return _interval_text(point, low, high, pattern)


def _percent(value: float) -> str:
    """Signed whole percent; a change that rounds to zero reads +0%, never -0%."""
    if not math.isfinite(value):
        return "—"
    return f"{round(value) or 0:+d}%"


def _change(value: float, base: float) -> str:
    if base == 0 or not math.isfinite(value) or not math.isfinite(base):
        return "—"
    return _percent((value - base) / abs(base) * 100)


def _row(metric: str, definition: str, matrices: dict[str, np.ndarray], baseline: str,
         statistic, pattern: str | None) -> dict[str, Any]:
    values, interval, points = {}, {}, {}
    for method, x in matrices.items():
        point, low, high = metrics.stratified_bootstrap([x], statistic, REPS)
        points[method] = point
        values[method] = (_readable_interval(point, low, high) if pattern is None
                          else _interval_text(point, low, high, pattern))
        interval[method] = [point, low, high]
    change = {m: _change(p, points[baseline]) for m, p in points.items() if m != baseline}
    return {"metric": metric, "definition": definition, "values": values, "change": change,
            "interval": interval,
            "change_interval": _change_intervals(matrices, baseline, statistic)}


def _change_intervals(matrices: dict[str, np.ndarray], baseline: str,
                      statistic) -> dict[str, list[float]]:
    """Per method: ``(statistic(method) - statistic(baseline)) / |statistic(baseline)|``, the
    relative change as the headline's change column reads it (an improvement is positive
    for a negative, cost-like baseline too), with a 95% stratified bootstrap interval that
    resamples both methods' runs; left out where a resampled baseline is 0."""
    def relative(x: np.ndarray, base: np.ndarray) -> float:
        b = statistic(base)
        return (statistic(x) - b) / abs(b) if b != 0 else math.nan

    out = {}
    for method, x in matrices.items():
        if method == baseline:
            continue
        triple = metrics.stratified_bootstrap([x, matrices[baseline]], relative, REPS)
        if all(map(math.isfinite, triple)):
            out[method] = list(triple)
    return out


def _steps_matrix(data: BenchData, method: str, grpo_final: np.ndarray,
                  fraction: float) -> tuple[np.ndarray, np.ndarray]:
    """Censored adaptation steps to ``fraction`` of GRPO's final score, and whether reached."""
    budget = data.budget.adapt_steps
    seeds = data.complete_seeds(method)
    steps = np.zeros((len(seeds), len(data.tasks)))
    reached = np.zeros_like(steps, dtype=bool)
    for r, seed in enumerate(seeds):
        for t, (env, i) in enumerate(data.tasks):
            curve = data.adapt[env, method, seed, i]["curve"]
            hit = metrics.adaptation_steps([p["step"] for p in curve], [p["norm"] for p in curve],
                                           float(grpo_final[t]), budget, fraction)
            steps[r, t], reached[r, t] = hit.steps, hit.reached
    return steps, reached


def _steps_row(steps, baseline: str, budget: int) -> dict[str, Any]:
    row = _row("adaptation steps to 90% of GRPO's final (IQM)",
               f"Adaptation env steps until the evaluation score first reaches {FRACTION:.0%} of "
               "GRPO's final adapted score on the same task (mean over GRPO's seeds), censored at "
               f"the budget A = {budget:,}: a run that never gets there counts as A. IQM over "
               "tasks x seeds; lower is better.",
               {m: s for m, (s, _) in steps.items()}, baseline,
               lambda x: metrics.interquartile_mean(x.ravel()), "{:,.0f}")
    for method, (_, reached) in steps.items():
        never = int((~reached).sum())
        row["values"][method] += f"; {never}/{reached.size} never reached"
    return row


def _budget(data: BenchData) -> dict[str, Any]:
    """The suite's budgets; with ``pretrain_steps_per_family`` when a family has a
    pre-training budget of its own, so no reader takes the default for every family's."""
    budget: dict[str, Any] = {k: getattr(data.budget, k) for k in
                              ("pretrain_steps", "adapt_steps", "eval_every", "eval_episodes")}
    if any(f.pretrain_steps for f in data.families):
        budget["pretrain_steps_per_family"] = _pretrain_steps_per_family(data)
    return budget


def _pretrain_steps_per_family(data: BenchData) -> dict[str, int]:
    return {f.env: f.pretrain_steps or data.budget.pretrain_steps for f in data.families}


def _mean_pretrain_steps(data: BenchData) -> float:
    """Pre-training env steps per task, averaged over the bench's tasks (instances)."""
    per_family = _pretrain_steps_per_family(data)
    return float(np.mean([per_family[env] for env, _ in data.tasks]))


def _efficiency_row(metric: str, full_steps, baseline: str, offset: float,
                    definition: str) -> dict[str, Any]:
    base = full_steps[baseline][0]

    def ratio(grpo: np.ndarray, method: np.ndarray) -> float:
        num = metrics.interquartile_mean(grpo.ravel()) + offset
        den = metrics.interquartile_mean(method.ravel()) + offset
        return metrics.sample_efficiency(num, den)

    values, change, bounds = {baseline: "1.0x"}, {}, {baseline: [1.0, 1.0, 1.0]}
    for method, (x, _) in full_steps.items():
        if method == baseline:
            continue
        point, low, high = metrics.stratified_bootstrap([base, x], ratio, REPS)
        values[method] = _interval_text(point, low, high, "{:.2f}x")
        change[method] = _percent((point - 1) * 100)
        bounds[method] = [v if math.isfinite(v) else None for v in (point, low, high)]
    # the interval plot draws finite intervals only; the claims read every bound
    return {"metric": metric, "definition": definition, "values": values, "change": change,
            "interval": {m: b for m, b in bounds.items() if None not in b}, "bounds": bounds}


def _improvement_row(finals: dict[str, np.ndarray], baseline: str) -> dict[str, Any]:
    values, interval = {}, {}
    for method, x in finals.items():
        if method == baseline:
            continue
        point, low, high = metrics.stratified_bootstrap(
            [x, finals[baseline]], metrics.probability_of_improvement, REPS)
        values[method] = _interval_text(point, low, high, "{:.2f}")
        interval[method] = [point, low, high]
    return {"metric": "probability of improvement over GRPO",
            "definition": "P(a run of the method ends adaptation with a higher score than a run "
                          "of GRPO on the same task), ties counting one half, averaged over tasks "
                          "(rliable), with a 95% stratified bootstrap CI; 0.5 means no difference.",
            "values": values, "change": {}, "interval": interval}


def _cost_rows(data: BenchData, methods: list[str], baseline: str) -> list[dict[str, Any]]:
    def per_method(records, key) -> dict[str, list[float]]:
        return {m: [r[key] for (_, rm, *_), r in records.items() if rm == m] for m in methods}

    pre = {m: [r for (_, rm, _), r in data.pretrain.items() if rm == pretrain_source(m)]
           for m in methods}
    rows = []
    for metric, definition, values, pattern, agg in (
        ("pre-training wall clock per run (s)", "Mean wall clock of one pre-training run.",
         {m: [r["wall_clock_s"] for r in pre[m]] for m in methods}, "{:,.0f}", np.mean),
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
                     "values": {m: _fmt(p, pattern) for m, p in points.items()},
                     "change": {m: _change(p, points[baseline]) for m, p in points.items()
                                if m != baseline and baseline in points}})
    return rows


def _verdict(headline: list[dict[str, Any]], baseline: str, methods: list[str],
             data: BenchData, finals: dict[str, np.ndarray], focus: str) -> list[str]:
    """One plain sentence per method: better, worse or not told apart from the baseline,
    read off the probability-of-improvement interval (0.5 = no difference); then the focus
    method against every other learning method, which the headline only sets side by side."""
    rows = {row["metric"]: row for row in headline}
    improvement = rows["probability of improvement over GRPO"]
    iqm = rows["final return (IQM)"]["values"]
    lines = [_comparison(method, baseline, improvement["interval"][method], iqm,
                         "probability of improvement")
             for method in methods
             if method != baseline and method in improvement.get("interval", {})]
    for other in methods:
        if other in (baseline, focus) or other in REFERENCE_ROWS:
            continue
        interval = metrics.stratified_bootstrap(
            [finals[focus], finals[other]], metrics.probability_of_improvement, REPS)
        lines.append(_comparison(focus, other, interval, iqm, f"probability that a run of "
                                 f"{focus.upper()} ends above a run of {other.upper()}"))
    if lines and min(len(data.complete_seeds(m)) for m in methods) < 2:
        lines.append("With a single seed the intervals cannot show seed-to-seed variation; "
                     "run --seeds 3 or more before trusting them.")
    return lines


def _comparison(method: str, other: str, interval, iqm: dict[str, str], probability: str) -> str:
    """Better, worse or not told apart, from P(a run of ``method`` ends above a run of
    ``other`` on the same task), named ``probability`` in the sentence, and its interval."""
    point, low, high = interval
    a, b = method.upper(), other.upper()
    evidence = (f"final return IQM {iqm[method]} vs {iqm[other]}; {probability} "
                f"{point:.2f} [{low:.2f}, {high:.2f}]")
    if low > 0.5:
        return f"{a} beats {b} on final return here ({evidence}: the interval lies above 0.5)."
    if high < 0.5:
        return (f"{a} does not beat {b}; it is worse on final return here ({evidence}: the "
                "interval lies below 0.5).")
    return (f"{a} and {b} are not told apart on final return here ({evidence}: the interval "
            "contains 0.5).")


# ---- per task and curves ---------------------------------------------------------------
def _task_rows(data: BenchData, methods: list[str], steps) -> list[dict]:
    """Per task: final score over seeds as measured, and the censored steps of ``steps``."""
    rows = []
    for t, (env, i) in enumerate(data.tasks):
        cells = {}
        for method in methods:
            records = [data.adapt[env, method, s, i] for s in data.complete_seeds(method)]
            task_steps, reached = steps[method][0][:, t], steps[method][1][:, t]
            cells[method] = {
                "final": _mean_interval([final_score(r, "score") for r in records]),
                "steps": f"{task_steps.mean():,.0f} ({int(reached.sum())}/{reached.size} reached)",
            }
        rows.append({"task": f"{env} #{i}", "score": score_name(env), "methods": cells})
    return rows


def _return_auc(record: dict[str, Any]) -> float:
    """The area under a run's return curve over its adaptation, per env step (the mean
    return over the adaptation, by the trapezoid rule); one point: that point's return."""
    steps = np.array([p["step"] for p in record["curve"]], dtype=np.float64)
    returns = np.array([p["return"] for p in record["curve"]], dtype=np.float64)
    if steps.size < 2 or steps[-1] == steps[0]:
        return float(returns[0])
    return float(np.trapezoid(returns, steps) / (steps[-1] - steps[0]))


TRANSFER_MEASURES = (
    ("return AUC", _return_auc),
    ("score before any update", lambda record: float(record["curve"][0]["score"])),
)
"""How a multi-task run is compared with a single-task one, the first being the headline:
the return AUC over the adaptation (sensitive where success rates sit at 0 in both arms, as
they do at small budgets) and the family's score before any update."""


def _transfer(data: BenchData, methods: list[str]) -> dict[str, Any]:
    """Multi-task against single-task pre-training, per task, method and measure
    (:data:`TRANSFER_MEASURES`, :mod:`mrft.bench.multitask`); empty without a multi-task
    family and a single-task one. The top-level ``rows``, ``rates`` and ``rate_intervals``
    are the first measure's."""
    from mrft.bench.multitask import test_tasks, transfer_pairs, transfer_probability, transfer_rate

    if len(data.families) < 2:
        return {}
    try:
        pairs = transfer_pairs(data.families)
    except MrftError:  # an env this process cannot build (a user's gym module): no pairs to find
        return {}
    if not pairs:
        return {}
    counts = {multi.env: len(test_tasks(multi.env)) for multi, *_ in pairs}
    measures = []
    for measure, value in TRANSFER_MEASURES:
        rows, rates, intervals = [], {}, {}
        for method in methods:
            seeds = data.complete_seeds(method)
            positive = []
            for multi, k, name, single in pairs:
                multi_scores = [value(data.adapt[multi.env, method, s, i])
                                for s in seeds for i in range(multi.instances)
                                if i % counts[multi.env] == k]
                single_scores = [value(data.adapt[single.env, method, s, i])
                                 for s in seeds for i in range(single.instances)]
                if not multi_scores or not single_scores:
                    continue
                point, low, high = transfer_probability(multi_scores, single_scores, REPS)
                verdict = "positive" if low > 0.5 else "negative" if high < 0.5 else "not told apart"
                positive.append(low > 0.5)
                rows.append({"task": name, "method": method, "measure": measure,
                             "multi": f"{np.mean(multi_scores):.3g}",
                             "single": f"{np.mean(single_scores):.3g}",
                             "probability": _interval_text(point, low, high, "{:.2f}"),
                             "transfer": verdict})
            if positive:
                rate, low, high = transfer_rate(positive)
                rates[method] = (f"{_interval_text(rate, low, high, '{:.2f}')} "
                                 f"({sum(positive)} of {len(positive)} tasks)")
                intervals[method] = [rate, low, high]
        measures.append({"measure": measure, "rows": rows, "rates": rates,
                         "rate_intervals": intervals})
    return {**{k: measures[0][k] for k in ("rows", "rates", "rate_intervals")},
            "measure": measures[0]["measure"], "measures": measures}


def _exported(data: BenchData, methods: list[str]) -> list[dict[str, str]]:
    """Per method whose adaptation also scored an exported, context-free policy (MRFT's
    ``mrft export``: the belief folded into the weights): the adapted policy's final score
    beside the exported one's, mean over seeds x tasks with a bootstrap interval. Records
    written before ``export/score`` existed fall back to the raw success or return when
    that is the family's score."""
    def exported(record: dict[str, Any], env: str) -> float | None:
        point = record["curve"][-1]
        if "export/score" in point:
            return float(point["export/score"])
        raw = {SUCCESS: "export/success", RETURN: "export/return"}.get(score_name(env))
        return float(point[raw]) if raw in point else None

    rows = []
    for method in methods:
        pairs = [(final_score(r, "score"), exported(r, env))
                 for (env, m, s, i), r in data.adapt.items()
                 if m == method and s in data.complete_seeds(method)]
        pairs = [(a, e) for a, e in pairs if e is not None]
        if not pairs:
            continue
        adapted, export = (_mean_interval(values) for values in zip(*pairs, strict=True))
        rows.append({"method": method, "adapted": adapted, "exported": export, "runs": str(len(pairs))})
    return rows


def _family_rows(data: BenchData, methods: list[str]) -> list[dict[str, Any]]:
    """Per family and method, in the family's own score: the score in context (the first
    evaluation, before any update: fresh episodes on the new instance, each the first one
    played there), the final score, and the final score as a fraction of the oracle's
    (when the bench has an oracle whose final score is above 0 with its whole interval: a
    ratio to a mean that may be 0 says nothing); each a mean over seeds x instances with a
    95% bootstrap interval."""
    def scores(family: TaskFamily, method: str, index: int) -> list[float]:
        return [data.adapt[family.env, method, s, i]["curve"][index]["score"]
                for s in data.complete_seeds(method) for i in range(family.instances)]

    rows = []
    for family in data.families:
        oracle = scores(family, ORACLE, -1) if ORACLE in methods else []
        for method in methods:
            finals = scores(family, method, -1)
            if not finals:
                continue
            of_oracle = "—"
            if oracle and method != ORACLE and _mean_triple(oracle)[1] > 0:
                of_oracle = _ratio_interval(finals, oracle)
            rows.append({"env": family.env, "score": score_name(family.env), "method": method,
                         "in_context": _mean_interval(scores(family, method, 0)),
                         "final": _mean_interval(finals), "of_oracle": of_oracle,
                         "runs": len(finals)})
    return rows


def _ratio_interval(values: list[float], reference: list[float], reps: int = REPS) -> str:
    """``mean(values) / mean(reference)`` with a 95% bootstrap interval that resamples both
    sets of runs, each pooled over seeds x instances (independently: the pairing by
    instance is not used, which makes the interval a little wider); resamples whose
    reference mean is not above 0 are dropped."""
    a, b = np.asarray(values, dtype=np.float64), np.asarray(reference, dtype=np.float64)
    rng = np.random.default_rng(0)
    numerators = a[rng.integers(0, a.size, (reps, a.size))].mean(1)
    denominators = b[rng.integers(0, b.size, (reps, b.size))].mean(1)
    ratios = numerators[denominators > 0] / denominators[denominators > 0]
    low, high = np.quantile(ratios, [0.025, 0.975]) if ratios.size else (math.nan, math.nan)
    return _readable_interval(a.mean() / b.mean(), low, high)


def _informative(data: BenchData, finals: dict[str, np.ndarray]) -> list[str]:
    """Per family, whether adaptation can buy anything there: the oracle (told the hidden
    parameters) against the context-free policy (PPO's, not adapted), by the probability of
    improvement with its 95% interval. A family where they are not told apart, or where the
    oracle does worse, cannot show a difference between adaptation methods."""
    if finals.get(ORACLE) is None or finals.get(CONTEXT_FREE) is None:
        return []
    raw = {m: data.matrix(m, lambda r: final_score(r, "score")) for m in (ORACLE, CONTEXT_FREE)}
    lines = []
    for family in data.families:
        columns = [t for t, (env, _) in enumerate(data.tasks) if env == family.env]
        point, low, high = metrics.stratified_bootstrap(
            [finals[ORACLE][:, columns], finals[CONTEXT_FREE][:, columns]],
            metrics.probability_of_improvement, REPS)
        evidence = (f"final {score_name(family.env)}: oracle {_mean_interval(raw[ORACLE][:, columns].ravel().tolist())}"
                    f" vs context-free {_mean_interval(raw[CONTEXT_FREE][:, columns].ravel().tolist())}; "
                    f"probability that the oracle beats the context-free policy {point:.2f} "
                    f"[{low:.2f}, {high:.2f}]")
        if low > 0.5:
            lines.append(f"{family.env} is informative: knowing the hidden parameters helps ({evidence}).")
        elif high < 0.5:
            lines.append(f"{family.env} is uninformative at this budget: the oracle does worse than "
                         f"the context-free policy ({evidence}), so no adaptation method can show "
                         "what it is worth here.")
        else:
            lines.append(f"{family.env} is uninformative at this budget: the oracle and the context-free "
                         f"policy are not told apart ({evidence}), so no adaptation method can "
                         "show what it is worth here.")
    return lines


def _sim_to_real(data: BenchData, methods: list[str]) -> list[dict[str, Any]]:
    """Per sim-to-real family and method: the in-sim return, the fraction of it reached on the
    real bodies after each of :data:`EPISODE_MARKS` real episodes (mean over seeds x
    instances with a bootstrap interval), the same as a fraction of the oracle's return on
    each real body (the oracle pre-trains on real bodies), and the real episodes until
    :data:`mrft.bench.transfer.TARGET` of the in-sim return (censored at the budget)."""
    from mrft.envs import parse_env
    from mrft.envs.spaces import task_spaces

    rows = []
    for family in data.families:
        if not is_sim_to_real(family.env):
            continue
        horizon = task_spaces(parse_env(family.env).test[0]).horizon
        oracle = {}  # instance -> the oracle's mean real return (trained on real bodies, not adapted)
        if ORACLE in methods:
            for i in range(family.instances):
                finals = [data.adapt[family.env, ORACLE, s, i]["curve"][-1]["return"]
                          for s in data.complete_seeds(ORACLE)]
                if finals:
                    oracle[i] = float(np.mean(finals))
        for method in methods:
            sims, at_mark, to_target, never = [], {m: [] for m in EPISODE_MARKS}, [], 0
            of_oracle = {m: [] for m in EPISODE_MARKS}
            for seed in data.complete_seeds(method):
                pretrain = data.pretrain.get((family.env, pretrain_source(method), seed)) or {}
                if "sim_return" not in pretrain:
                    continue
                sims.append(pretrain["sim_return"])
                for i in range(family.instances):
                    curve = data.adapt[family.env, method, seed, i]["curve"]
                    episodes = [p["step"] / horizon for p in curve]
                    fractions = [fraction_of_sim(p["return"], sims[-1]) for p in curve]
                    for mark in EPISODE_MARKS:
                        fraction = at_episodes(episodes, fractions, mark)
                        if fraction is None:
                            continue
                        at_mark[mark].append(fraction)
                        if i in oracle:
                            real = at_episodes(episodes, [p["return"] for p in curve], mark)
                            of_oracle[mark].append(fraction_of_sim(real, oracle[i]))
                    reached = episodes_to_target(episodes, fractions)
                    to_target.append(episodes[-1] if reached is None else reached)
                    never += reached is None

            if sims:
                rows.append({
                    "env": family.env, "method": method, "sim_return": _mean_interval(sims),
                    "fractions": {str(m): _mean_interval(v) if v else "—" for m, v in at_mark.items()},
                    "fraction_interval": {str(m): _mean_triple(v) for m, v in at_mark.items() if v},
                    "oracle_fractions": {str(m): _mean_interval(v) for m, v in of_oracle.items() if v},
                    "episodes_to_target": f"{_mean_interval(to_target)}; {never}/{len(to_target)} never"})
    return rows


def _mean_triple(values: list[float]) -> list[float]:
    """``[mean, low, high]`` of scalar per-run values, the interval by :func:`_band`."""
    band = _band([np.array([v]) for v in values])
    return [band["mean"][0], band["low"][0], band["high"][0]]


def _mean_interval(values: list[float]) -> str:
    """``mean [low, high]`` of scalar per-run values, the interval by :func:`_band`."""
    return _readable_interval(*_mean_triple(values))


def _band(series: list[np.ndarray], reps: int = REPS, seed: int = 0) -> dict[str, list[float]]:
    """Mean over runs with a 95% percentile-bootstrap interval of the mean at every point;
    unlike a t-interval it stays inside the score's range (a success rate never below 0)."""
    stacked = np.stack(series)
    rng = np.random.default_rng(seed)
    rows = rng.integers(0, stacked.shape[0], size=(reps, stacked.shape[0]))
    means = stacked[rows].mean(axis=1)
    low, high = np.quantile(means, [0.025, 0.975], axis=0)
    return {"mean": stacked.mean(axis=0).tolist(), "low": low.tolist(), "high": high.tolist()}


def _adaptation_curves(data: BenchData, methods: list[str]) -> list[dict[str, Any]]:
    panels = []
    for family in data.families:
        panel = {"env": family.env, "score": score_name(family.env), "methods": {}}
        for method in methods:
            runs = [data.adapt[family.env, method, s, i] for s in data.complete_seeds(method)
                    for i in range(family.instances)]
            if not runs:
                continue
            grid = sorted({p["step"] for r in runs for p in r["curve"]})
            series = [np.interp(grid, [p["step"] for p in r["curve"]],
                                [p["score"] for p in r["curve"]]) for r in runs]
            panel["methods"][method] = {"steps": [float(g) for g in grid], **_band(series),
                                        "runs": len(runs)}
        panels.append(panel)
    return panels


def _within_episode_curves(data: BenchData, methods: list[str]) -> list[dict[str, Any]]:
    """Per family: the return step by step through the first episode on a new instance
    (the first evaluation, before any update; :meth:`mrft.evaluate.EvalResult.reward_by_step`),
    mean over seeds x instances with a band. An in-context learner (MRFT, RL2) should earn
    more late in the episode than early; a policy that does not infer the task stays level
    or, where failing ends the episode, falls. Runs from code that did not record the
    profile are left out."""
    panels = []
    for family in data.families:
        panel = {"env": family.env, "ylabel": "reward per step", "methods": {}}
        profiles = {m: [p for s in data.complete_seeds(m) for i in range(family.instances)
                        if (p := data.adapt[family.env, m, s, i]["curve"][0].get("reward_by_step"))
                        and p.get("step") and p.get("horizon")]
                    for m in methods}
        everyone = [p for runs in profiles.values() for p in runs]
        if not everyone:
            continue
        grid = _bin_centres(max(everyone, key=lambda p: p["horizon"]))
        for method, runs in profiles.items():
            if runs:
                series = [_profile_at(grid, p) for p in runs]
                panel["methods"][method] = {"steps": grid.tolist(), **_band(series),
                                            "runs": len(series)}
        panels.append(panel)
    return panels


def _bin_centres(profile: dict[str, Any]) -> np.ndarray:
    edges = np.append(profile["step"], profile["horizon"]).astype(np.float64)
    return (edges[:-1] + edges[1:]) / 2


def _profile_at(grid: np.ndarray, profile: dict[str, Any]) -> np.ndarray:
    """A binned profile read at ``grid`` steps: interpolated between its bin centres, and 0
    after its longest episode ended (every episode over, nothing more earned)."""
    values = np.interp(grid, _bin_centres(profile), profile["reward"])
    values[grid >= profile["horizon"]] = 0.0
    return values


def _pretrain_curves(data: BenchData, methods: list[str], points: int = 40) -> list[dict]:
    from mrft.logging import read_metrics

    panels = []
    for family in data.families:
        key = training_metric(family.env)
        panel = {"env": family.env, "metric": f"training {key.split('/')[1].replace('_', ' ')}",
                 "methods": {}}
        for method in dict.fromkeys(pretrain_source(m) for m in methods):
            series = []
            for seed in data.seeds:
                if (family.env, method, seed) not in data.pretrain:
                    continue
                folder = seed_dir(data.out, family, method, seed) / "train"
                try:
                    records = [r for r in read_metrics(folder) if key in r]
                except OSError:
                    continue
                if records:
                    series.append(([r["step"] for r in records], [r[key] for r in records]))
            if not series:
                continue
            end = min(s[-1] for s, _ in series)
            start = max(s[0] for s, _ in series)
            grid = np.linspace(start, end, points) if end > start else np.array([end])
            band = _band([np.interp(grid, s, v) for s, v in series])
            panel["methods"][method] = {"steps": grid.tolist(), **band, "runs": len(series)}
        panels.append(panel)
    return panels


# ---- provenance and notes --------------------------------------------------------------
def _provenance(data: BenchData) -> dict[str, Any]:
    compute = sum(r["wall_clock_s"] for r in data.pretrain.values())
    compute += sum(r["wall_clock_s"] for r in data.adapt.values())
    return {"commands": data.meta.get("commands", []), "seeds": data.seeds,
            "machine": data.meta.get("machine", {}), "commit": data.meta.get("commit", "unknown"),
            "started": data.meta.get("started", ""), "finished": data.meta.get("finished", "not yet"),
            "wall_clock_s": compute, "report_commit": git_commit()}


def _notes(data: BenchData, methods: list[str]) -> list[str]:
    notes = [
        "Scores: Meta-World uses the success rate, Procgen the normalised return "
        "(R - Rmin) / (Rmax - Rmin) with the easy-mode constants; other families the raw return.",
        "Every method gets the same pre-training budget P and adaptation budget A per task and "
        "the same seeds, and adapts with its own algorithm on the held-out task (PPO with PPO, "
        "GRPO with GRPO, MRFT in context and with its own bounded updates, RL2 by its memory "
        "alone, as RL2 is defined); the oracle and "
        "context-free rows are scored without any update.",
        "Censoring: a run that never reaches the target counts as needing the whole budget A, "
        "so ratios that involve such runs are bounds, not exact values.",
        "Per-task table: final = mean score over seeds with a 95% bootstrap CI of the mean; "
        "steps to target = mean adaptation steps to 90% of GRPO's final score on that task "
        "(censored at A), with how many runs reached it.",
        "Wall clock in 'How this was made' is the sum of the runs' own wall clocks.",
    ]
    for env in dict.fromkeys(env for env, _ in data.ranges):
        spans = ", ".join(f"#{i}: {lo:,.3g} .. {hi:,.3g}" for (e, i), (lo, hi) in data.ranges.items()
                          if e == env)
        notes.append(f"{env}: returns mapped to [0, 1] for the aggregates by the range seen in "
                     f"this bench ({spans}); the per-task table shows the returns themselves.")
    for method in methods:
        seeds = data.complete_seeds(method)
        if len(seeds) < len(data.seeds):
            notes.append(f"{method}: only seeds {seeds} have every task finished; the "
                         "aggregates use those.")
    return notes
