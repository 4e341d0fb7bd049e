"""The cumulative regret and the normalised in-context score of a bench's analysis: per
method an IQM with its 95% stratified bootstrap interval (as the other headline metrics),
per family a mean, and the probability that a run of the focus method has lower regret
than a run of each other adapting method.

The math is :mod:`mrft.bench.regret`; this module reads the runs of a bench folder. Each
held-out instance is scaled by the bench's reference rows on it (the context-free policy 0,
the oracle 1: their final scores on that instance, means over seeds), the same scale for
every seed; an instance where the oracle does not beat the context-free policy with
non-overlapping intervals has no scale (:func:`mrft.bench.regret.references_separated`),
and is left out of both metrics with a note. Only methods
that adapt get a regret: the reference rows define the scale.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from mrft.bench import regret, statistics
from mrft.bench.breakdowns import CONTEXT_FREE, ORACLE, mean_text
from mrft.bench.headline import IN_CONTEXT, REGRET, iqm_row
from mrft.bench.loading import BenchData, final_score
from mrft.bench.methods import reference_rows
from mrft.bench.statistics import REPS
from mrft.bench.text import interval_text, readable_number

Scales = dict[int, dict[int, tuple[float, float]]]
"""Per task column kept: per seed, the (context-free, oracle) scores that scale it."""


def regret_analysis(data: BenchData, methods: list[str], baseline: str,
                    focus: str) -> tuple[dict[str, Any], list[dict[str, Any]]]:
    """The analysis's ``regret`` section and the two headline rows (:data:`REGRET`,
    :data:`IN_CONTEXT`; none when the metrics cannot be computed). Without a reference row,
    or without an instance it can scale, the section holds one line, ``unavailable``,
    saying why."""
    missing = [row for row in (ORACLE, CONTEXT_FREE) if not any(k[1] == row for k in data.adapt)]
    if missing:
        return {"unavailable": needs_line(missing)}, []
    adapting = [m for m in methods if m not in reference_rows()]
    if not adapting:
        return {"unavailable": "Cumulative regret and the normalised in-context score are "
                               "measured on methods that adapt; this bench has none with a "
                               "complete seed."}, []
    scales, notes = task_scales(data)
    if not scales:
        return {"unavailable": "Cumulative regret and the normalised in-context score need an "
                               f"instance where the {ORACLE} scores above the {CONTEXT_FREE} "
                               "policy; this bench has none.", "notes": notes}, []
    try:
        matrices = {m: run_matrices(data, m, scales) for m in adapting}
    except ValueError as exc:  # a run file whose curve does not start at step 0
        return {"unavailable": f"Cumulative regret cannot be computed here: {exc}."}, []
    columns = sorted(scales)
    rows = [iqm_row(REGRET, regret_definition(len(columns), len(data.tasks)),
                    {m: r for m, (r, _) in matrices.items()}, baseline),
            iqm_row(IN_CONTEXT, IN_CONTEXT_DEFINITION,  # 0 is the context-free policy
                    {m: first for m, (_, first) in matrices.items()}, None)]
    entries = {m: {"regret": rows[0]["interval"][m], "regret_text": rows[0]["values"][m],
                   "in_context": rows[1]["interval"][m], "in_context_text": rows[1]["values"][m],
                   "runs": int(matrices[m][0].size)} for m in adapting}
    if focus in matrices:
        for other in adapting:
            if other != focus:
                triple = statistics.stratified_bootstrap(
                    [matrices[focus][0], matrices[other][0]], regret.probability_of_lower, REPS)
                entries[other]["focus_lower_regret"] = list(triple)
                entries[other]["focus_lower_regret_text"] = interval_text(*triple, "{:.2f}")
    section = {"focus": focus, "instances": {"used": len(columns), "of": len(data.tasks)},
               "methods": entries, "families": family_rows(data, matrices, columns),
               "notes": notes}
    return section, rows


def needs_line(missing: list[str]) -> str:
    """The one line a report shows in place of these metrics when reference rows are missing."""
    return (f"Cumulative regret and the normalised in-context score need the {ORACLE} and "
            f"{CONTEXT_FREE} reference rows, which set each instance's scale (add them to "
            f"--methods); this bench has no {' and no '.join(missing)} runs.")


IN_CONTEXT_DEFINITION = (
    "The first evaluation on a held-out instance, before any update (its first episodes "
    "there), normalised as the regret is: the context-free policy 0, the oracle 1; higher is "
    "better. IQM over tasks x seeds with a 95% stratified bootstrap CI; methods that adapt only. "
    "No relative change: its 0 is the context-free policy, so read differences directly."
)


def regret_definition(used: int, tasks: int) -> str:
    """The regret row's definition, with how many of the bench's instances it covers."""
    return (
        "Per adaptation run, the shortfall from the oracle averaged over the adaptation budget "
        "A (MRT's measure, Qu et al. 2025): (1/A) x the integral over [0, A] of 1 - s_norm(t), "
        "by the trapezoid rule over the evaluation points from step 0, where s_norm = (score - "
        "context-free) / (oracle - context-free) with the reference rows' final scores on the "
        "same instance (means over seeds). 0: the oracle's score from the "
        "first step; 1: the context-free policy's throughout; below 0: above the oracle; lower "
        "is better. IQM over tasks x "
        f"seeds with a 95% stratified bootstrap CI; methods that adapt only, on {used} of "
        f"{tasks} instances (those where the oracle beats the context-free policy with "
        "non-overlapping intervals).")


def task_scales(data: BenchData) -> tuple[Scales, list[str]]:
    """The task columns that can be scaled, with their (context-free, oracle) scores
    (:func:`mrft.bench.regret.instance_reference`: means over the bench's seeds) for every
    seed, and a note per task left out: one without a reference run, one where the oracle
    does not score above the context-free policy, and one where the two are not told apart."""
    scales: Scales = {}
    notes = []
    for t, (env, i) in enumerate(data.tasks):
        finals = {row: {s: final_score(data.adapt[env, row, s, i], "score") for s in data.seeds
                        if (env, row, s, i) in data.adapt}
                  for row in (CONTEXT_FREE, ORACLE)}
        refs = {row: regret.instance_reference(values) for row, values in finals.items()}
        absent = [row for row, value in refs.items() if value is None]
        if absent:
            notes.append(f"{env} #{i}: no {' or '.join(absent)} run, so no scale; left out of the "
                         "cumulative regret and the normalised in-context score.")
            continue
        if not regret.gap_is_positive(refs[CONTEXT_FREE], refs[ORACLE]):
            notes.append(f"{env} #{i}: the {ORACLE} does not score above the {CONTEXT_FREE} "
                         f"policy ({readable_number(refs[ORACLE])} vs "
                         f"{readable_number(refs[CONTEXT_FREE])}, "
                         "means over seeds), so the regret is undefined there; left out of the "
                         "cumulative regret and the normalised in-context score.")
            continue
        if not regret.references_separated(list(finals[CONTEXT_FREE].values()),
                                           list(finals[ORACLE].values())):
            notes.append(f"{env} #{i}: the {ORACLE} and the {CONTEXT_FREE} policy are not told apart "
                         f"({mean_text(list(finals[ORACLE].values()))} vs "
                         f"{mean_text(list(finals[CONTEXT_FREE].values()))}: the intervals overlap), "
                         "so their gap is no scale; left out of the cumulative regret and the "
                         "normalised in-context score.")
            continue
        scales[t] = {s: (refs[CONTEXT_FREE], refs[ORACLE]) for s in data.seeds}
    return scales, notes


def run_matrices(data: BenchData, method: str, scales: Scales) -> tuple[np.ndarray, np.ndarray]:
    """``[complete seeds, scaled tasks]`` matrices of the cumulative regret and of the
    normalised in-context score of ``method``'s runs."""
    seeds = data.complete_seeds(method)
    columns = sorted(scales)
    regrets = np.empty((len(seeds), len(columns)))
    first = np.empty_like(regrets)
    for r, seed in enumerate(seeds):
        for c, t in enumerate(columns):
            env, i = data.tasks[t]
            curve = data.adapt[env, method, seed, i]["curve"]
            normalised = regret.normalise([p["score"] for p in curve], *scales[t][seed])
            regrets[r, c] = regret.cumulative_regret([p["step"] for p in curve], normalised,
                                                     data.budget.adapt_steps)
            first[r, c] = normalised[0]
    return regrets, first


def family_rows(data: BenchData, matrices: dict[str, tuple[np.ndarray, np.ndarray]],
                columns: list[int]) -> list[dict[str, Any]]:
    """Per family and adapting method: the mean regret and mean normalised in-context score
    over seeds x scaled instances, each with a 95% bootstrap interval of the mean."""
    rows = []
    for family in data.families:
        mine = [c for c, t in enumerate(columns) if data.tasks[t][0] == family.env]
        if not mine:
            continue
        for method, (regrets, first) in matrices.items():
            rows.append({"env": family.env, "method": method,
                         "regret": mean_text(regrets[:, mine].ravel().tolist()),
                         "in_context": mean_text(first[:, mine].ravel().tolist()),
                         "runs": int(regrets[:, mine].size)})
    return rows
