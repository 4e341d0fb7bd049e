"""What a bench report says, block by block: its sections, tables and captions, read from
the analysis (:func:`mrft.bench.analysis.analyze`), which already holds every number,
computed and formatted. This module only arranges them; :mod:`mrft.bench.render` writes the
blocks as Markdown and HTML.

Columns are in report order: the analysis's baseline, its focus method, then the other
methods; headers are :func:`~mrft.bench.text.method_label` of each.

:func:`blocks` is report.md, read top to bottom as a record. :func:`page_blocks` is
report.html, read first on a screen: the same sections, with the verdict and the two plots a
newcomer needs (adaptation curves, the first episode) right under the summary, and the
per-task table one column per method, so it fits a browser window.
"""

from __future__ import annotations

import math
import re
from collections.abc import Mapping
from typing import Any

from mrft.bench import learning_facts
from mrft.bench.exports import EXPORT_CAPTION
from mrft.bench.family_comparisons import family_comparison_blocks
from mrft.bench.metatest_section import protocol_title
from mrft.bench.methods import reference_rows
from mrft.bench.regret_blocks import regret_blocks
from mrft.bench.render import Block, Bullets, Code, Heading, Image, Key, Paragraph, Table
from mrft.bench.text import MISSING, cell_text, method_label, readable_number

ADAPTATION_CAPTION = (
    "Adaptation curves: evaluation score against adaptation env steps, "
    "mean over held-out instances x seeds, band = 95% bootstrap CI of the mean."
)
TRANSFER_CAPTION = (
    "Each task's held-out instances played by the multi-task pre-trained policy against the "
    "single-task one trained with the same per-task env steps, compared two ways: the return "
    "AUC over the adaptation (the mean return over the adaptation budget, trapezoid rule; the "
    "headline measure, since success rates can sit at 0 in both arms) and the score before "
    "any update (the success rate on Meta-World); means over seeds x instances. Transfer is "
    "positive when the 95% bootstrap interval of the probability lies above 0.5, negative "
    "below it. The rate's interval resamples tasks."
)
SIM_TO_REAL_CAPTION = (
    "In-sim return: each method's pre-trained policy on fresh simulated bodies (the train "
    "split), as it acts (a method with memory on a trial's last episode). Fractions: the "
    "return on the held-out real bodies after that many real (adaptation) episodes as a "
    "fraction of the method's own in-sim return (sim / real for costs, so a real cost twice "
    "the sim's is 0.5); mean over seeds x bodies with a 95% bootstrap interval. Episodes to "
    "90%: censored at the budget, with the count that never got there. Of the oracle: the "
    "same return as a fraction of the oracle's on the same real body (the oracle is "
    "pre-trained on real bodies of the train seeds with the hidden parameters shown, and not "
    "adapted; its own in-sim return is therefore measured on those real bodies)."
)
FAMILY_CAPTION = (
    "Each family in its own score. In context: the first evaluation, before any update: "
    "fresh episodes on the held-out instance, each the first one played there, so it is what "
    "a method infers from one episode's experience alone. Final: at the end of the adaptation "
    "budget. Fraction of the oracle's: the final score over the oracle's (a policy that is "
    "shown the hidden parameters and pre-trained with the same budget), shown when the "
    "oracle's mean is above 0 with its whole interval. Means over seeds x held-out instances, "
    "95% bootstrap intervals. Spread over seeds: the standard deviation across seeds of each "
    "seed's mean final score over the family's instances."
)
WITHIN_EPISODE_CAPTION = (
    "The return step by step through the first episode on a held-out instance (before any "
    "update): the mean reward per time step, an episode that has ended counting 0, in bins of "
    "steps; mean over instances x seeds, band = 95% bootstrap CI of the mean. A method that "
    "infers the task in context earns more late in the episode than early."
)
PRETRAIN_CAPTION = (
    "Pre-training curves: training metric against pre-training env steps, "
    "mean over seeds, band = 95% bootstrap CI of the mean."
)
INTERVALS_CAPTION = (
    "Interval estimates of the headline metrics: bar = 95% CI, tick = point estimate."
)
BUDGET_LABELS = {
    "pretrain_steps": "pre-training env steps",
    "adapt_steps": "adaptation env steps per held-out task",
    "eval_every": "evaluation every (env steps)",
    "eval_episodes": "evaluation episodes per point",
}
LEAD_FIGURES = ("adaptation.png", "within_episode.png")
"""The plots report.html shows first, under the summary."""
TASK_CELL_NOTE = (
    "Each cell: the final score with its 95% interval; below it, the adaptation env steps to "
    "the target, with how many runs reached it."
)
FIGURES = (
    ("adaptation.png", "Adaptation curves", ADAPTATION_CAPTION),
    ("within_episode.png", "Within the first episode", WITHIN_EPISODE_CAPTION),
    ("pretrain.png", "Pre-training curves", PRETRAIN_CAPTION),
    ("intervals.png", "Interval estimates", INTERVALS_CAPTION),
)
"""The report's plots in report order: file name, title, caption."""


def report_methods(analysis: Mapping[str, Any]) -> list[str]:
    """All methods in stable order: baseline, focus, then ``methods`` order, then any stragglers."""
    order: list[str] = []
    for name in [analysis.get("baseline"), analysis.get("focus"), *analysis.get("methods", [])]:
        if name and name not in order:
            order.append(str(name))
    return order


def plotted_methods(analysis: Mapping[str, Any]) -> list[str]:
    """:func:`report_methods` plus any method that only shows up in curves or intervals
    (kept at the end)."""
    order = report_methods(analysis)
    curves = analysis.get("curves") or {}
    panels = [*(curves.get("adaptation") or []), *(curves.get("pretrain") or []),
              *(curves.get("within_episode") or [])]
    panels += list(analysis.get("intervals") or [])
    for panel in panels:
        for name in panel.get("methods") or {}:
            if name not in order:
                order.append(name)
    return order


def _budget_items(budget: Mapping[str, Any]) -> list[tuple[str, str]]:
    """Label and value per budget; families with pre-training budgets of their own are
    listed by name in place of the suite's default."""
    per_family = budget.get("pretrain_steps_per_family")
    items = []
    for key, value in budget.items():
        if key == "pretrain_steps_per_family":
            continue
        if key == "pretrain_steps" and isinstance(per_family, Mapping):
            value = "; ".join(f"{env} {_format_int(n)}" for env, n in per_family.items())
        else:
            value = _format_int(value)
        items.append((BUDGET_LABELS.get(key, key), value))
    return items


def _format_int(value: Any) -> str:
    if isinstance(value, bool) or not isinstance(value, int | float):
        return cell_text(value)
    if isinstance(value, float) and not value.is_integer():
        return f"{value:,.2f}"
    return f"{int(value):,}"


def _format_duration(seconds: Any) -> str:
    if not isinstance(seconds, int | float) or isinstance(seconds, bool) or not math.isfinite(seconds):
        return cell_text(seconds)
    total = round(seconds)
    hours, rest = divmod(total, 3600)
    minutes, secs = divmod(rest, 60)
    if hours:
        human = f"{hours} h {minutes} min"
    elif minutes:
        human = f"{minutes} min {secs} s"
    else:
        human = f"{secs} s"
    return f"{seconds:,.0f} s ({human})"


# --------------------------------------------------------------------------- tables


def headline_table(analysis: Mapping[str, Any]) -> Table:
    """metric | BASELINE | FOCUS | change | others...; each further method's cell carries its
    own change against the baseline, e.g. ``0.50 [0.40, 0.60] (-31%)``."""
    baseline = analysis.get("baseline")
    focus = analysis.get("focus")
    if focus == baseline:
        focus = None
    others = [m for m in report_methods(analysis) if m not in (baseline, focus)]
    header = ["metric"]
    if baseline:
        header.append(method_label(baseline))
    if focus:
        header += [method_label(focus), "change"]
    header += [method_label(m) for m in others]
    rows = []
    for row in analysis.get("headline") or []:
        values = row.get("values") or {}
        change = row.get("change") or {}
        cells = [cell_text(row.get("metric"))]
        if baseline:
            cells.append(cell_text(values.get(baseline)))
        if focus:
            cells += [cell_text(values.get(focus)), cell_text(change.get(focus))]
        for name in others:
            cell = cell_text(values.get(name))
            if cell != MISSING and change.get(name):
                cell += f" ({change[name]})"
            cells.append(cell)
        rows.append(cells)
    return Table(header, rows)


def _task_table(analysis: Mapping[str, Any]) -> Table:
    methods = report_methods(analysis)
    header = ["task", "score"]
    for name in methods:
        header += [f"{method_label(name)} final", f"{method_label(name)} steps to target"]
    rows = []
    for row in analysis.get("tasks") or []:
        per_method = row.get("methods") or {}
        cells = [cell_text(row.get("task")), cell_text(row.get("score"))]
        for name in methods:
            entry = per_method.get(name) or {}
            cells += [cell_text(entry.get("final")), cell_text(entry.get("steps"))]
        rows.append(cells)
    return Table(header, rows)


def _compact_task_table(analysis: Mapping[str, Any]) -> Table:
    """:func:`_task_table` with one column per method: the final score, and the steps to
    the target on a line of its own."""
    methods = report_methods(analysis)
    rows = []
    for row in analysis.get("tasks") or []:
        per_method = row.get("methods") or {}
        score = cell_text(row.get("score"))
        cells = [f"{cell_text(row.get('task'))}\n({score})" if score != MISSING
                 else cell_text(row.get("task"))]
        for name in methods:
            entry = per_method.get(name) or {}
            final, steps = cell_text(entry.get("final")), cell_text(entry.get("steps"))
            cells.append(MISSING if final == steps == MISSING else f"{final}\n{steps}")
        rows.append(cells)
    return Table(["task (score)", *(method_label(m) for m in methods)], rows)


def _sim_to_real_table(analysis: Mapping[str, Any]) -> Table:
    rows = analysis["sim_to_real"]
    marks = list((rows[0].get("fractions") or {}).keys())
    oracle = any(r.get("oracle_fractions") for r in rows)
    header = ["family", "method", "in-sim return", *[f"of in-sim after {m} real episodes" for m in marks],
              "real episodes to 90% of in-sim"]
    header += [f"of the oracle after {m}" for m in marks] if oracle else []
    cells = []
    for r in rows:
        row = [cell_text(r.get("env")), method_label(str(r.get("method"))), cell_text(r.get("sim_return")),
               *[cell_text((r.get("fractions") or {}).get(m)) for m in marks],
               cell_text(r.get("episodes_to_target"))]
        row += [cell_text((r.get("oracle_fractions") or {}).get(m)) for m in marks] if oracle else []
        cells.append(row)
    return Table(header, cells)


def family_summary_table(analysis: Mapping[str, Any]) -> Table | None:
    """One row per family, one column per method: the score in context (the first
    evaluation, before any update) -> the final score with its 95% interval; reference rows
    that never adapt show their one score. ``None`` when the analysis has no family rows."""
    rows = analysis.get("families") or []
    if not rows:
        return None
    methods = [m for m in report_methods(analysis) if any(r.get("method") == m for r in rows)]
    families = list(dict.fromkeys(str(r.get("env")) for r in rows))
    header = ["family (score)", *(method_label(m) for m in methods)]
    references = reference_rows()
    table = []
    for env in families:
        cells = {r.get("method"): r for r in rows if str(r.get("env")) == env}
        score = next((str(r.get("score")) for r in cells.values() if r.get("score")), "")
        row = [f"{env} ({score})" if score else env]
        for method in methods:
            r = cells.get(method)
            if r is None:
                row.append(MISSING)
                continue
            start = str(r.get("in_context", MISSING)).split(" [")[0]
            final = str(r.get("final", MISSING))
            row.append(final if method in references else f"{start} -> {final}")
        table.append(row)
    return Table(header, table)


# --------------------------------------------------------------------------- sections


def blocks(analysis: Mapping[str, Any], pngs: Mapping[str, bytes]) -> list[Block]:
    """The whole report, in order; ``pngs`` holds the plots that have data, by file name. A
    suite scored by a meta-test protocol leads with that table: it is the figure a reader sets
    beside published ones."""
    return [*_summary_blocks(analysis), *_sections(analysis, pngs, page=False)]


def _sections(analysis: Mapping[str, Any], pngs: Mapping[str, bytes], page: bool) -> list[Block]:
    """The sections after the summary, in their order, for :func:`blocks` and
    :func:`page_blocks`; on the page the verdict stands above the plots, not in the headline,
    and the per-task table is the compact one."""
    return [*_meta_test_blocks(analysis), *_headline_blocks(analysis, verdict=not page),
            *_task_blocks(analysis, compact=page), *_transfer_blocks(analysis),
            *_family_blocks(analysis), *regret_blocks(analysis), *_sim_to_real_blocks(analysis),
            *_figure_blocks(pngs), *_budget_and_note_blocks(analysis), *_provenance_blocks(analysis)]


def page_blocks(analysis: Mapping[str, Any], pngs: Mapping[str, bytes],
                colours: Mapping[str, str] | None = None) -> list[Block]:
    """The report as report.html lays it out: the summary, the verdict, the lead plots under
    a key of their ``colours`` (CSS colour by method), then the sections of :func:`blocks`
    in their order (a meta-test table first), with the other plots in their place."""
    lead: list[Block] = [Image(name, title, caption, pngs[name]) for name, title, caption
                         in FIGURES if name in LEAD_FIGURES and name in pngs]
    if lead and colours:
        lead.insert(0, _lead_key(analysis, colours))
    verdict = [_verdict_item(str(line)) for line in analysis.get("verdict") or []
               if analysis.get("headline")]
    rest = {name: data for name, data in pngs.items() if name not in LEAD_FIGURES}
    return [*_summary_blocks(analysis), *([Bullets(verdict)] if verdict else []), *lead,
            *_sections(analysis, rest, page=True)]


def _lead_key(analysis: Mapping[str, Any], colours: Mapping[str, str]) -> Key:
    """The colours of the methods the lead plots draw, in legend order."""
    curves = analysis.get("curves") or {}
    drawn = {name for kind in ("adaptation", "within_episode") for panel in curves.get(kind) or []
             for name in panel.get("methods") or {}}
    references = reference_rows()
    return Key([(method_label(m), colours[m], m in references)
                for m in plotted_methods(analysis) if m in drawn and m in colours])


def _verdict_item(line: str) -> tuple[str, str]:
    """A verdict sentence as a list item: its claim as the term and its evidence, the
    closing parenthesis, as the text, so the claims can be read down the list."""
    match = re.fullmatch(r"(.+?) \((.+)\)\.", line)
    return (match.group(1), match.group(2)) if match else ("", line)


def _summary_blocks(analysis: Mapping[str, Any]) -> list[Block]:
    suite = analysis.get("suite") or {}
    out: list[Block] = [Heading(1, f"Benchmark report: {cell_text(suite.get('name'))}")]
    if suite.get("description"):
        out.append(Paragraph(str(suite["description"])))
    methods = report_methods(analysis)
    seeds = analysis.get("seeds") or []
    summary = f"Methods: {', '.join(methods) or MISSING}; baseline: {cell_text(analysis.get('baseline'))}"
    if analysis.get("focus"):
        summary += f"; focus: {analysis['focus']}"
    summary += f"; seeds: {', '.join(str(s) for s in seeds) or MISSING}."
    return [*out, Paragraph(summary)]


def _headline_blocks(analysis: Mapping[str, Any], verdict: bool = True) -> list[Block]:
    """The headline table, the verdict under it unless ``verdict`` is False (report.html
    shows it first), and what each metric means."""
    out: list[Block] = [Heading(2, "Headline")]
    headline = analysis.get("headline") or []
    if headline:
        out.append(headline_table(analysis))
        if verdict:
            out += [Paragraph(str(line)) for line in analysis.get("verdict") or []]
        if analysis.get("focus"):
            out.append(Paragraph(
                f"Change is relative to the baseline ({cell_text(analysis.get('baseline'))})."))
    else:
        out.append(Paragraph("No headline metrics."))
    definitions = [(cell_text(r.get("metric")), cell_text(r.get("definition"))) for r in headline]
    if definitions:
        out += [Heading(2, "What the metrics mean"), Bullets(definitions)]
        out.append(Paragraph(
            "Scores are those of the stochastic policy (sampled actions), the policy each method "
            "trains and acts with; the final evaluation point of each raw curve also holds the "
            "deterministic policy's score (mean action or argmax) under deterministic/return "
            "and deterministic/success. Evaluation changes nothing: no learning, no "
            "normaliser update, its own random stream."))
    return out


def _task_blocks(analysis: Mapping[str, Any], compact: bool = False) -> list[Block]:
    if analysis.get("tasks") and compact:
        return [Heading(2, "Per-task results"), Paragraph(TASK_CELL_NOTE),
                _compact_task_table(analysis)]
    if analysis.get("tasks"):
        return [Heading(2, "Per-task results"), _task_table(analysis)]
    return [Heading(2, "Per-task results"), Paragraph("No per-task results.")]


def _transfer_blocks(analysis: Mapping[str, Any]) -> list[Block]:
    transfer = analysis.get("transfer") or {}
    if not transfer.get("rows"):
        return []
    out: list[Block] = [Heading(2, "Multi-task transfer")]
    for measure in transfer.get("measures") or [transfer]:
        rows = [[r["task"], method_label(r["method"]), r["multi"], r["single"], r["probability"],
                 r["transfer"]] for r in measure["rows"]]
        name = measure.get("measure", "score")
        out += [Heading(3, f"By {name}"),
                Table(["task", "method", f"multi-task {name}", f"single-task {name}",
                       "P(multi-task run beats single-task run)", "transfer"], rows),
                Bullets([(f"{method_label(m)} positive-transfer rate", rate)
                         for m, rate in measure["rates"].items()])]
    return [*out, Paragraph(TRANSFER_CAPTION)]


def _meta_test_blocks(analysis: Mapping[str, Any]) -> list[Block]:
    """The official meta-test protocol's figure (:mod:`mrft.bench.metatest_section`), where the
    suite scores by it."""
    section = analysis.get("meta_test")
    if not section or not section.get("rows"):
        return []
    protocol = section["protocol"]
    rows = [[r["env"], method_label(r["method"]), r["success"], r["before"],
             ", ".join(f"{c.removesuffix('-v3')} {v:.2f}" for c, v in r["per_class"].items()),
             ", ".join(str(n) for n in sorted(set(r["goals"].values()))), str(r["seeds"])]
            for r in section["rows"]]
    return [Heading(2, f"Meta-test success ({protocol_title(protocol)})"),
            Table(["family", "method", "success after adaptation", "before adaptation",
                   "per test class", "goals per class", "seeds"], rows),
            Paragraph(section["caption"])]


def _family_blocks(analysis: Mapping[str, Any]) -> list[Block]:
    """Exported policies, per-family rows and the informative-family checks, where present."""
    out: list[Block] = []
    if analysis.get("exports"):
        rows = [[r["env"], method_label(r["method"]), r["adapted"], r["export"], r["distilled"],
                 r["distilled_share_text"], r["distill_steps"], str(r["runs"])]
                for r in analysis["exports"]]
        out += [Heading(2, "Exported policies"),
                Table(["family", "method", "adapted policy, final score", "folded belief, final score",
                       "distilled student, final score", "distilled / adapted, normalised",
                       "distillation env steps", "runs"], rows),
                Paragraph(EXPORT_CAPTION)]
    if analysis.get("families"):
        rows = [[r["env"], method_label(r["method"]), r["in_context"], r["final"], r["of_oracle"],
                 readable_number(r.get("seed_spread")), str(r["runs"])] for r in analysis["families"]]
        out += [Heading(2, "Per family: in context, after adaptation, against the oracle"),
                Table(["family", "method", "in context (first episode)", "final",
                       "final, fraction of the oracle's", "spread over seeds (std)", "runs"], rows),
                Paragraph(FAMILY_CAPTION)]
    out += family_comparison_blocks(analysis)
    if analysis.get("informative"):
        out += [Heading(2, "Does the family reward adaptation?"),
                Bullets([("", str(line)) for line in analysis["informative"]])]
    return out


def _sim_to_real_blocks(analysis: Mapping[str, Any]) -> list[Block]:
    if not analysis.get("sim_to_real"):
        return []
    return [Heading(2, "Sim to real"), _sim_to_real_table(analysis), Paragraph(SIM_TO_REAL_CAPTION)]


def _figure_blocks(pngs: Mapping[str, bytes]) -> list[Block]:
    figures = [f for f in FIGURES if f[0] in pngs]
    if not figures:
        return []
    out: list[Block] = [Heading(2, "Plots")]
    for filename, title, caption in figures:
        out += [Heading(3, title), Image(filename, title, caption, pngs[filename])]
    return out


def _budget_and_note_blocks(analysis: Mapping[str, Any]) -> list[Block]:
    out: list[Block] = []
    budget = analysis.get("budget") or {}
    if budget:
        out += [Heading(2, "Budgets"), Bullets(_budget_items(budget))]
    if analysis.get("learning"):
        out += [Heading(2, "How each method learned"),
                Table(learning_facts.HEADER, learning_facts.table_rows(analysis["learning"], method_label)),
                Paragraph(learning_facts.CAPTION)]
        far_apart = learning_facts.rate_notes(analysis["learning"], method_label)
        if far_apart:
            out.append(Bullets([("", line) for line in far_apart]))
    notes = analysis.get("notes") or []
    if notes:
        out += [Heading(2, "Notes"), Bullets([("", str(n)) for n in notes])]
    return out


def _provenance_blocks(analysis: Mapping[str, Any]) -> list[Block]:
    prov = analysis.get("provenance") or {}
    out: list[Block] = [Heading(2, "How this was made")]
    commands = prov.get("commands") or []
    if commands:
        out += [Paragraph("Commands:"), Code("\n".join(str(c) for c in commands), "bash")]
    seeds = prov.get("seeds", analysis.get("seeds")) or []
    facts = [
        ("seeds", ", ".join(str(s) for s in seeds) or MISSING),
        ("commit of the runs", cell_text(prov.get("commit"))),
        ("commit of this report", cell_text(prov.get("report_commit"))),
        ("started", cell_text(prov.get("started"))),
        ("finished", cell_text(prov.get("finished"))),
        ("wall clock", _format_duration(prov.get("wall_clock_s"))),
    ]
    out.append(Bullets(facts))
    machine = prov.get("machine") or {}
    if machine:
        out += [Heading(3, "Machine"),
                   Table(["property", "value"], [[str(k), cell_text(v)] for k, v in machine.items()])]
    return out

