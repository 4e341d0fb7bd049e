"""What a bench's analysis says in words: the verdict on each method, whether each family can
show what adaptation is worth, and the notes on how the numbers were made.

Every sentence is written from the bench's baseline and focus method and from the methods
in it; a comparison is read off a probability of improvement and its 95% interval, 0.5
meaning no difference.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from mrft import algos
from mrft.bench import statistics
from mrft.bench.breakdowns import CONTEXT_FREE, ORACLE, mean_text
from mrft.bench.headline import FINAL, FRACTION, IMPROVEMENT
from mrft.bench.loading import BenchData, final_score
from mrft.bench.methods import adaptation_note, reference_rows
from mrft.bench.scores import score_name
from mrft.bench.statistics import REPS
from mrft.bench.text import method_label, sentence_name


def verdict(headline: list[dict[str, Any]], baseline: str, methods: list[str],
            data: BenchData, finals: dict[str, np.ndarray], focus: str,
            regret: dict[str, Any] | None = None) -> list[str]:
    """One plain sentence per method: better, worse or not told apart from the baseline,
    read off the probability-of-improvement interval; then the focus method against every
    other learning method, which the headline only sets side by side; then, where the
    ``regret`` section (:mod:`mrft.bench.regret_section`) has figures, whether the focus
    method has the lowest cumulative regret (:func:`regret_verdict`)."""
    improvement = next(row for row in headline if row["metric"].startswith(IMPROVEMENT))
    iqm = next(row for row in headline if row["metric"] == FINAL)["values"]
    lines = [comparison(method, baseline, improvement["interval"][method], iqm,
                        "probability of improvement")
             for method in methods
             if method != baseline and method in improvement.get("interval", {})]
    for other in methods:
        if other in (baseline, focus) or other in reference_rows():
            continue
        interval = statistics.stratified_bootstrap(
            [finals[focus], finals[other]], statistics.probability_of_improvement, REPS)
        lines.append(comparison(focus, other, interval, iqm, f"probability that a run of "
                                f"{sentence_name(focus)} ends above a run of {sentence_name(other)}"))
    lines += regret_verdict(regret or {})
    if lines and min(len(data.complete_seeds(m)) for m in methods) < 2:
        lines.append("With a single seed the intervals cannot show seed-to-seed variation; "
                     "run --seeds 3 or more before trusting them.")
    return lines


def regret_verdict(regret: dict[str, Any]) -> list[str]:
    """Whether the focus method has the lowest cumulative regret of the adapting methods (by
    IQM), and which others it is told apart from: P(a run of the focus method has *lower*
    regret than a run of the other) with its interval above 0.5 means less regret, below 0.5
    more. Empty without regret figures or without another adapting method."""
    entries = regret.get("methods") or {}
    focus = regret.get("focus")
    lower = {m: e["focus_lower_regret"] for m, e in entries.items() if e.get("focus_lower_regret")}
    if focus not in entries or not lower:
        return []
    name = sentence_name(focus)
    best = min(entries, key=lambda m: entries[m]["regret"][0])
    groups = (("lower than", [m for m, (_, low, _) in lower.items() if low > 0.5]),
              ("higher than", [m for m, (_, _, high) in lower.items() if high < 0.5]),
              ("not told apart from", [m for m, (_, low, high) in lower.items()
                                       if low <= 0.5 <= high]))
    details = [f"{words} {_names([sentence_name(m) + POSSESSIVE for m in group])}"
               for words, group in groups if group]
    if best == focus:
        claim = (f"{name} has the lowest cumulative regret of the methods that adapt here: its "
                 f"regret is {_names(details)}")
    else:
        claim = (f"{name} does not have the lowest cumulative regret of the methods that adapt "
                 f"here; {sentence_name(best)} does, and {name}'s regret is {_names(details)}")
    iqms = ", ".join(f"{sentence_name(m)} {e['regret_text']}" for m, e in entries.items())
    odds = ", ".join(f"than {sentence_name(m)} {p:.2f} [{low:.2f}, {high:.2f}]"
                     for m, (p, low, high) in lower.items())
    return [f"{claim} (cumulative regret IQM, lower is better: {iqms}; probability that a run "
            f"of {name} has lower regret {odds}, 0.5 meaning no difference)."]


POSSESSIVE = "'s"


def _names(methods: list[str]) -> str:
    return methods[0] if len(methods) == 1 else ", ".join(methods[:-1]) + " and " + methods[-1]


def comparison(method: str, other: str, interval, iqm: dict[str, str], probability: str) -> str:
    """Better, worse or not told apart, from P(a run of ``method`` ends above a run of
    ``other`` on the same task), named ``probability`` in the sentence, and its interval."""
    point, low, high = interval
    a, b = sentence_name(method), sentence_name(other)
    evidence = (f"final return IQM {iqm[method]} vs {iqm[other]}; {probability} "
                f"{point:.2f} [{low:.2f}, {high:.2f}]")
    if low > 0.5:
        return f"{a} beats {b} on final return here ({evidence}: the interval lies above 0.5)."
    if high < 0.5:
        return (f"{a} does not beat {b}; it is worse on final return here ({evidence}: the "
                "interval lies below 0.5).")
    return (f"{a} and {b} are not told apart on final return here ({evidence}: the interval "
            "contains 0.5).")


def informative(data: BenchData, finals: dict[str, np.ndarray]) -> list[str]:
    """Per family, whether adaptation can buy anything there: the oracle (told the hidden
    parameters) against the context-free policy (pre-trained, not adapted), by the
    probability of improvement with its 95% interval. A family where they are not told
    apart, or where the oracle does worse, cannot show a difference between adaptation
    methods."""
    if finals.get(ORACLE) is None or finals.get(CONTEXT_FREE) is None:
        return []
    raw = {m: data.matrix(m, lambda r: final_score(r, "score")) for m in (ORACLE, CONTEXT_FREE)}
    lines = []
    for family in data.families:
        columns = [t for t, (env, _) in enumerate(data.tasks) if env == family.env]
        point, low, high = statistics.stratified_bootstrap(
            [finals[ORACLE][:, columns], finals[CONTEXT_FREE][:, columns]],
            statistics.probability_of_improvement, REPS)
        evidence = (f"final {score_name(family.env)}: oracle {mean_text(raw[ORACLE][:, columns].ravel().tolist())}"
                    f" vs context-free {mean_text(raw[CONTEXT_FREE][:, columns].ravel().tolist())}; "
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


def _protocol_note(methods: list[str]) -> str:
    """How every method adapts, from each method's own note: the registered algorithms in
    the registry's order (the same in every report, whatever the baseline), then the other
    methods (ablations) where their note differs; reference rows never adapt."""
    references = [m for m in methods if m in reference_rows()]
    learners = [m for m in algos.REGISTRY if m in methods]
    learners += [m for m in methods if m not in learners and m not in references]
    notes = dict.fromkeys(note for m in learners if (note := adaptation_note(m)))
    text = ("Every method gets the same pre-training budget P and adaptation budget A in env steps "
            "per task and the same seeds, and adapts with its own algorithm on the held-out task")
    if notes:
        text += f" ({', '.join(notes)})"
    if references:
        rows = "rows are" if len(references) > 1 else "row is"
        text += f"; the {' and '.join(references)} {rows} scored without any update"
    return (text + ". What each spent of the budgets, how often it updated and how many "
            "parameters it trained differ by method: see \"How each method learned\". Every "
            "episode on a held-out instance, adaptation and evaluation alike, starts from the state "
            "its seed draws; the evaluation's episodes differ from the adaptation's in the actions "
            "played (and a family's exogenous noise).")


def notes(data: BenchData, methods: list[str], baseline: str) -> list[str]:
    """How the numbers were made: scores, budgets, censoring, the per-task table, the
    normalisation ranges, and which methods miss seeds; then any skipped run files."""
    lines = [
        "Scores: Meta-World uses the success rate, Procgen the normalised return "
        "(R - Rmin) / (Rmax - Rmin) with the easy-mode constants; other families the raw return.",
        _protocol_note(methods),
        "Censoring: a run that never reaches the target counts as needing the whole budget A, "
        "so ratios that involve such runs are bounds, not exact values.",
        "Per-task table: final = mean score over seeds with a 95% bootstrap CI of the mean; "
        f"steps to target = mean adaptation steps to {FRACTION:.0%} of {method_label(baseline)}'s "
        "final score on that task (censored at A), with how many runs reached it.",
        "Wall clock in 'How this was made' is the sum of the runs' own wall clocks.",
    ]
    for chain in data.meta.get("given_up", []):
        lines.append(f"Missing: chain {chain['chain']} was given up ({chain['reason']}); its "
                     "runs are not in this report. Running the bench command again runs them.")
    for env in dict.fromkeys(env for env, _ in data.ranges):
        spans = ", ".join(f"#{i}: {lo:,.3g} .. {hi:,.3g}" for (e, i), (lo, hi) in data.ranges.items()
                          if e == env)
        lines.append(f"{env}: returns mapped to [0, 1] for the aggregates by the range seen in "
                     f"this bench ({spans}); the per-task table shows the returns themselves.")
    for method in methods:
        seeds = data.complete_seeds(method)
        if len(seeds) < len(data.seeds):
            lines.append(f"{method}: only seeds {seeds} have every task finished; the "
                         "aggregates use those.")
    lines += [f"Skipped broken run file {s['file']} ({s['reason']}); its run counts as unfinished."
              for s in data.skipped]
    return lines
