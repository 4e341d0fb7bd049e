"""From a bench folder's raw JSON to the analysis a report lays out: every metric of
docs/benchmark.md with its interval, per-task numbers, curves and provenance.

Scores form ``[seeds, tasks]`` matrices per method, a task being one held-out instance of
one task family. Aggregates are IQMs with 95% stratified bootstrap intervals
(:mod:`mrft.bench.statistics`); a method enters the aggregates with the seeds for which
every task finished, so a partial bench still gives a consistent, if wider, answer.

The modules behind it, one concern each: :mod:`~mrft.bench.loading` reads the folder,
:mod:`~mrft.bench.headline` builds the headline rows, :mod:`~mrft.bench.breakdowns` the
tables below them, :mod:`~mrft.bench.regret_section` the cumulative regret and the
normalised in-context score (with the oracle and context-free reference rows),
:mod:`~mrft.bench.curves` the curves and :mod:`~mrft.bench.verdict` the sentences. Every
comparison is against the bench's baseline and every verdict about its focus method, both
settings (:func:`analyze`).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from mrft.bench import breakdowns, curves, headline, verdict
from mrft.bench.eta import whole_run_seconds
from mrft.bench.exports import exports
from mrft.bench.family_comparisons import family_comparisons
from mrft.bench.learning_facts import learning_facts
from mrft.bench.loading import BenchData, final_score
from mrft.bench.metatest_section import meta_test
from mrft.bench.regret_section import regret_analysis
from mrft.bench.runner import git_commit
from mrft.errors import MrftError

__all__ = ["BenchData", "analyze"]


def analyze(out: Path, skip_broken: bool = False, baseline: str | None = None,
            focus: str | None = None) -> dict[str, Any]:
    """The analysis of the bench folder ``out`` as a JSON-safe dict.

    ``baseline`` (every row compares with it) and ``focus`` (the verdict is about it) are
    taken from the arguments, else from ``bench.json``, else :data:`mrft.algos.BASELINE`
    and :data:`mrft.algos.FOCUS`. A focus method without a complete seed gives way to the
    next method; a baseline without one stops the analysis, so that another method never
    stands in for it silently. ``skip_broken`` reports without run files that cannot be
    read, listing them in the notes.
    """
    data = BenchData(out, skip_broken, baseline, focus)
    methods = [m for m in data.methods if data.complete_seeds(m)]
    if not methods:
        raise MrftError(f"{out}: no method has finished a whole seed yet; nothing to report")
    if data.baseline in data.methods and data.baseline not in methods:
        raise MrftError(f"{out}: {data.baseline}, the baseline every row compares with, has no "
                        "complete seed yet" + (" once broken run files are skipped"
                                               if data.skipped else "") + "; nothing to report")
    baseline = data.baseline if data.baseline in methods else methods[0]
    focus = (data.focus if data.focus in methods
             else next((m for m in methods if m != baseline), baseline))
    finals = {m: data.matrix(m, final_score) for m in methods}
    baseline_final = finals[baseline].mean(axis=0)
    steps = {m: headline.steps_matrix(data, m, baseline_final, headline.FRACTION) for m in methods}
    full_steps = {m: headline.steps_matrix(data, m, baseline_final, 1.0) for m in methods}
    regret, regret_rows = regret_analysis(data, methods, baseline, focus)
    rows = headline.headline_rows(data, methods, baseline, finals, steps, full_steps, regret_rows)
    return {
        "suite": {"name": data.suite_name, "description": data.description},
        "baseline": baseline, "focus": focus, "methods": methods, "seeds": data.seeds,
        "budget": _budget(data),
        "headline": [{k: v for k, v in row.items() if k != "interval"} for row in rows],
        "claims": headline.claim_figures(rows, focus),
        "verdict": verdict.verdict(rows, baseline, methods, data, finals, focus, regret),
        "tasks": breakdowns.task_rows(data, methods, steps),
        "sim_to_real": breakdowns.sim_to_real(data, methods),
        "families": breakdowns.family_rows(data, methods),
        "family_comparisons": family_comparisons(data, methods, focus),
        "informative": verdict.informative(data, finals),
        "regret": regret,
        "exports": exports(data, methods),
        "learning": learning_facts(data, methods),
        "transfer": breakdowns.transfer(data, methods),
        "meta_test": meta_test(data, methods),
        "curves": {"adaptation": curves.adaptation_curves(data, methods),
                   "pretrain": curves.pretrain_curves(data, methods),
                   "within_episode": curves.within_episode_curves(data, methods)},
        "intervals": [{"metric": row["metric"], "methods": row["interval"]}
                      for row in rows if row.get("interval")],
        "provenance": _provenance(data),
        "notes": verdict.notes(data, methods, baseline),
        "skipped": data.skipped,
    }


def _budget(data: BenchData) -> dict[str, Any]:
    """The suite's budgets; with ``pretrain_steps_per_family`` when a family has a
    pre-training budget of its own, so no reader takes the default for every family's."""
    budget: dict[str, Any] = {k: getattr(data.budget, k) for k in
                              ("pretrain_steps", "adapt_steps", "eval_every", "eval_episodes")}
    if any(f.pretrain_steps for f in data.families):
        budget["pretrain_steps_per_family"] = data.pretrain_steps_per_family()
    return budget


def _provenance(data: BenchData) -> dict[str, Any]:
    compute = sum(whole_run_seconds(r) for r in data.pretrain.values())
    compute += sum(r["wall_clock_s"] for r in data.adapt.values())
    return {"commands": data.meta.get("commands", []), "seeds": data.seeds,
            "machine": data.meta.get("machine", {}), "commit": data.meta.get("commit", "unknown"),
            "started": data.meta.get("started", ""), "finished": data.meta.get("finished", "not yet"),
            "wall_clock_s": compute, "report_commit": git_commit()}
