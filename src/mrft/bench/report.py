"""Lay out a benchmark analysis as ``report.md``, ``report.html`` and PNG plots.

The analysis dict (built elsewhere, JSON-safe) already holds every number, computed and
formatted; this module only arranges it. Both documents are built from **one** list of
blocks (heading, paragraph, table, bullets, image, code) and written by two small
renderers, one for Markdown and one for HTML, so they always carry the same content in
the same order. No Markdown-to-HTML conversion happens anywhere.

The HTML file is self-contained: plots are embedded as base64 ``data:`` URIs and all text
goes through :func:`html.escape`, so the single file can be mailed or attached to an issue.
The Markdown file refers to the PNGs next to it. Every file is written atomically (a
temporary file in the same folder, then :func:`os.replace`), so a reader never sees a
half-written report.

Plots use the Agg backend and one colour per method: the six standard methods keep the
same colour in every report (:data:`FIXED_COLOURS`), others take the remaining colours in
the order of ``analysis["methods"]``, so a method looks the same in every figure.
"""

from __future__ import annotations

import base64
import dataclasses
import html
import io
import math
import re
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt
import numpy as np

from mrft.atomic import atomic_write_bytes
from mrft.bench.methods import REFERENCE_ROWS

__all__ = ["ReportFiles", "headline_markdown", "write_report"]

MISSING = "—"
DPI = 110
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
EXPORT_CAPTION = (
    "The exported policy is what `mrft export` writes: the network alone, with the belief the "
    "adapted policy starts its scored episodes from folded into its weights, so it deploys "
    "without a belief model; it scores lower where the belief learns within an episode. Mean "
    "over seeds x held-out instances at the end of adaptation, 95% bootstrap interval."
)
SIM_TO_REAL_CAPTION = (
    "In-sim return: each method's pre-trained policy on fresh simulated bodies (the train "
    "split), as it acts (MRFT and RL2 on a trial's last episode). Fractions: the return on the "
    "held-out real bodies after that many real (adaptation) episodes as a fraction of the "
    "method's own in-sim return (sim / real for costs, so a real cost twice the sim's is 0.5); "
    "mean over seeds x bodies with a 95% bootstrap interval. Episodes to 90%: censored at the "
    "budget, with the count that never got there. Of the oracle: the same return as a fraction "
    "of the oracle's on the same real body (the oracle is pre-trained on real bodies of the "
    "train seeds with the hidden parameters shown, and not adapted; its own in-sim return is "
    "therefore measured on those real bodies)."
)
FAMILY_CAPTION = (
    "Each family in its own score. In context: the first evaluation, before any update: "
    "fresh episodes on the held-out instance, each the first one played there, so it is what "
    "a method infers from one episode's experience alone. Final: at the end of the adaptation "
    "budget. Fraction of the oracle's: the final score over the oracle's (a policy that is "
    "shown the hidden parameters and pre-trained with the same budget), shown when the "
    "oracle's mean is above 0 with its whole interval. Means over seeds x held-out instances, "
    "95% bootstrap intervals."
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
PLOT_FILES = ("adaptation.png", "within_episode.png", "pretrain.png", "intervals.png")
BUDGET_LABELS = {
    "pretrain_steps": "pre-training env steps",
    "adapt_steps": "adaptation env steps per held-out task",
    "eval_every": "evaluation every (env steps)",
    "eval_episodes": "evaluation episodes per point",
}


@dataclasses.dataclass(frozen=True)
class ReportFiles:
    """Paths of what :func:`write_report` wrote."""

    markdown: Path
    html: Path
    plots: list[Path]


# --------------------------------------------------------------------------- blocks


@dataclasses.dataclass(frozen=True)
class Heading:
    level: int
    text: str


@dataclasses.dataclass(frozen=True)
class Paragraph:
    text: str
    emphasis: bool = False


@dataclasses.dataclass(frozen=True)
class Table:
    header: list[str]
    rows: list[list[str]]


@dataclasses.dataclass(frozen=True)
class Bullets:
    items: list[tuple[str, str]]
    """(term, text); an empty term gives a plain item, else ``term: text`` with the term bold."""


@dataclasses.dataclass(frozen=True)
class Image:
    filename: str
    alt: str
    caption: str
    png: bytes


@dataclasses.dataclass(frozen=True)
class Code:
    text: str
    language: str = ""


Block = Heading | Paragraph | Table | Bullets | Image | Code


# --------------------------------------------------------------------------- helpers


def method_label(name: str) -> str:
    """Column header of a method: ``grpo`` -> ``GRPO``; compound names (ablations) unchanged."""
    return name.upper() if re.fullmatch(r"[A-Za-z0-9]+", name) else name


def _text(value: Any) -> str:
    if value is None:
        return MISSING
    text = str(value).strip()
    return text if text else MISSING


def _methods(analysis: Mapping[str, Any]) -> list[str]:
    """All methods in stable order: baseline, focus, then ``methods`` order, then any stragglers."""
    order: list[str] = []
    for name in [analysis.get("baseline"), analysis.get("focus"), *analysis.get("methods", [])]:
        if name and name not in order:
            order.append(str(name))
    return order


def _all_methods(analysis: Mapping[str, Any]) -> list[str]:
    """``_methods`` plus any method that only shows up in curves or intervals (kept at the end)."""
    order = _methods(analysis)
    curves = analysis.get("curves") or {}
    panels = [*(curves.get("adaptation") or []), *(curves.get("pretrain") or []),
              *(curves.get("within_episode") or [])]
    panels += list(analysis.get("intervals") or [])
    for panel in panels:
        for name in panel.get("methods") or {}:
            if name not in order:
                order.append(name)
    return order


FIXED_COLOURS = ("grpo", "mrft", "ppo", "rl2", "oracle", "context-free")
"""Methods with a colour of their own (tab10's first six, in this order) in every report,
so GRPO is the same blue in every bench; other methods take the remaining colours."""


def _colours(methods: Sequence[str]) -> dict[str, Any]:
    palette = plt.get_cmap("tab10").colors
    colours = {name: palette[i] for i, name in enumerate(FIXED_COLOURS)}
    spare = [c for c in palette if c not in colours.values()]
    for i, name in enumerate(m for m in methods if m not in colours):
        colours[name] = spare[i % len(spare)]
    return colours


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
        return _text(value)
    if isinstance(value, float) and not value.is_integer():
        return f"{value:,.2f}"
    return f"{int(value):,}"


def _format_duration(seconds: Any) -> str:
    if not isinstance(seconds, int | float) or isinstance(seconds, bool) or not math.isfinite(seconds):
        return _text(seconds)
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


def _headline_table(analysis: Mapping[str, Any]) -> Table:
    baseline = analysis.get("baseline")
    focus = analysis.get("focus")
    if focus == baseline:
        focus = None
    others = [m for m in _methods(analysis) if m not in (baseline, focus)]
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
        cells = [_text(row.get("metric"))]
        if baseline:
            cells.append(_text(values.get(baseline)))
        if focus:
            cells += [_text(values.get(focus)), _text(change.get(focus))]
        for name in others:
            cell = _text(values.get(name))
            if cell != MISSING and change.get(name):
                cell += f" ({change[name]})"
            cells.append(cell)
        rows.append(cells)
    return Table(header, rows)


def _task_table(analysis: Mapping[str, Any]) -> Table:
    methods = _methods(analysis)
    header = ["task", "score"]
    for name in methods:
        header += [f"{method_label(name)} final", f"{method_label(name)} steps to target"]
    rows = []
    for row in analysis.get("tasks") or []:
        per_method = row.get("methods") or {}
        cells = [_text(row.get("task")), _text(row.get("score"))]
        for name in methods:
            entry = per_method.get(name) or {}
            cells += [_text(entry.get("final")), _text(entry.get("steps"))]
        rows.append(cells)
    return Table(header, rows)


def _sim_to_real_table(analysis: Mapping[str, Any]) -> Table:
    rows = analysis["sim_to_real"]
    marks = list((rows[0].get("fractions") or {}).keys())
    oracle = any(r.get("oracle_fractions") for r in rows)
    header = ["family", "method", "in-sim return", *[f"of in-sim after {m} real episodes" for m in marks],
              "real episodes to 90% of in-sim"]
    header += [f"of the oracle after {m}" for m in marks] if oracle else []
    cells = []
    for r in rows:
        row = [_text(r.get("env")), method_label(str(r.get("method"))), _text(r.get("sim_return")),
               *[_text((r.get("fractions") or {}).get(m)) for m in marks], _text(r.get("episodes_to_target"))]
        row += [_text((r.get("oracle_fractions") or {}).get(m)) for m in marks] if oracle else []
        cells.append(row)
    return Table(header, cells)


def headline_markdown(analysis: Mapping[str, Any]) -> str:
    """The headline table as plain Markdown: metric | BASELINE | FOCUS | change | others...

    Each further method's cell carries its own change vs the baseline, e.g.
    ``0.50 [0.40, 0.60] (-31%)``; anything missing shows as ``—``.
    """
    return _markdown_table(_headline_table(analysis))


COST_METRICS = ("wall clock", "env steps/s", "memory")
"""Headline rows that measure cost, not quality: they depend on the machine and on what
else ran beside the sweep, so a summary of quality leaves them to the report."""


def quality_headline_markdown(analysis: Mapping[str, Any]) -> str:
    """The headline table without its cost rows (:data:`COST_METRICS`)."""
    rows = [r for r in analysis.get("headline") or []
            if not any(word in str(r.get("metric", "")) for word in COST_METRICS)]
    return headline_markdown({**analysis, "headline": rows})


def family_summary_markdown(analysis: Mapping[str, Any]) -> str:
    """One row per family, one column per method: the score in context (the first
    evaluation, before any update) -> the final score with its 95% interval; reference rows
    that never adapt show their one score. Empty when the analysis has no family rows."""
    rows = analysis.get("families") or []
    if not rows:
        return ""
    methods = [m for m in _methods(analysis) if any(r.get("method") == m for r in rows)]
    families = list(dict.fromkeys(str(r.get("env")) for r in rows))
    header = ["family (score)", *(method_label(m) for m in methods)]
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
            row.append(final if method in REFERENCE_ROWS else f"{start} -> {final}")
        table.append(row)
    return _markdown_table(Table(header, table))


# --------------------------------------------------------------------------- plots


def _series(entry: Mapping[str, Any] | None) -> tuple[np.ndarray, ...] | None:
    if not entry:
        return None
    steps = np.asarray(entry.get("steps") or [], dtype=float)
    mean = np.asarray(entry.get("mean") or [], dtype=float)
    if steps.size == 0 or steps.size != mean.size:
        return None
    low = np.asarray(entry.get("low") or mean, dtype=float)
    high = np.asarray(entry.get("high") or mean, dtype=float)
    if low.size != steps.size:
        low = mean
    if high.size != steps.size:
        high = mean
    return steps, mean, low, high


def _short_steps(value: float, _position: Any = None) -> str:
    """Tick label for env steps: 300000 -> 300k, 2500000 -> 2.5M."""
    for scale, suffix in ((1e6, "M"), (1e3, "k")):
        if abs(value) >= scale:
            return f"{value / scale:g}{suffix}"
    return f"{value:g}"


def _grid(count: int) -> tuple[int, int]:
    cols = min(count, 3)
    return math.ceil(count / cols), cols


def _save(fig: Any) -> bytes:
    buffer = io.BytesIO()
    try:
        fig.savefig(buffer, format="png", dpi=DPI, bbox_inches="tight")
    finally:
        plt.close(fig)
    return buffer.getvalue()


def _curve_plot(panels: Sequence[Mapping[str, Any]], order: Sequence[str],
                colours: Mapping[str, Any], xlabel: str, ylabel_key: str) -> bytes | None:
    """One subplot per panel, a line with a low..high band per method, reference rows dashed;
    one legend for the figure (in the grid's spare cell, else below it), since every panel
    has the same methods in the same colours; None when no data."""
    panels = [p for p in panels if any(_series(e) for e in (p.get("methods") or {}).values())]
    if not panels:
        return None
    nrows, ncols = _grid(len(panels))
    fig, axes = plt.subplots(nrows, ncols, figsize=(4.6 * ncols, 3.4 * nrows), squeeze=False)
    for ax in axes.flat[len(panels):]:
        ax.set_visible(False)
    handles: dict[str, Any] = {}
    for ax, panel in zip(axes.flat, panels, strict=False):
        entries = panel.get("methods") or {}
        runs = set()
        for name in [m for m in order if m in entries]:
            series = _series(entries[name])
            if series is None:
                continue
            steps, mean, low, high = series
            runs.add(entries[name].get("runs"))
            colour = colours[name]
            reference = name in REFERENCE_ROWS
            (line,) = ax.plot(steps, mean, color=colour, label=name, linewidth=1.6,
                              linestyle="--" if reference else "-",
                              marker="o" if steps.size <= 12 and not reference else None, markersize=3)
            ax.fill_between(steps, low, high, color=colour, alpha=0.06 if reference else 0.15,
                            linewidth=0)
            handles.setdefault(name, line)
        title = _text(panel.get("env"))
        runs.discard(None)
        if runs:
            title += f"  (n={min(runs)})" if len(runs) == 1 else f"  (n={min(runs)}-{max(runs)})"
        ax.set_title(title, fontsize=10)
        ax.set_xlabel(xlabel, fontsize=9)
        ax.xaxis.set_major_formatter(_short_steps)
        ax.set_ylabel(_text(panel.get(ylabel_key)), fontsize=9)
        ax.tick_params(labelsize=8)
        ax.grid(alpha=0.3)
    names = [m for m in order if m in handles]
    lines, labels = [handles[m] for m in names], [method_label(m) for m in names]
    if len(panels) < nrows * ncols and len(names) <= 16:
        spare = axes.flat[len(panels)]
        spare.set_visible(True)
        spare.axis("off")
        spare.legend(lines, labels, loc="center", fontsize=10 if len(names) <= 8 else 8,
                     ncol=math.ceil(len(names) / 8), frameon=False)
        fig.tight_layout()
    else:
        fig.tight_layout()
        # below the panels: outside the axes, kept by _save's bbox_inches="tight"
        fig.legend(lines, labels, loc="upper center", bbox_to_anchor=(0.5, 0.0),
                   ncol=min(len(names), 2 * ncols), fontsize=9, frameon=False)
    return _save(fig)


def _interval_plot(panels: Sequence[Mapping[str, Any]], order: Sequence[str],
                   colours: Mapping[str, Any]) -> bytes | None:
    """rliable-style interval estimates: per metric, a low..high bar and a point tick per method."""
    def valid(triple: Any) -> bool:
        return isinstance(triple, Sequence) and len(triple) == 3

    panels = [p for p in panels if any(valid(t) for t in (p.get("methods") or {}).values())]
    if not panels:
        return None
    nmethods = max(len(p.get("methods") or {}) for p in panels)
    nrows, ncols = _grid(len(panels))
    height = max(1.6, 0.45 * nmethods + 1.0)
    fig, axes = plt.subplots(nrows, ncols, figsize=(3.8 * ncols, height * nrows), squeeze=False)
    for ax in axes.flat[len(panels):]:
        ax.set_visible(False)
    for ax, panel in zip(axes.flat, panels, strict=False):
        entries = panel.get("methods") or {}
        names = [m for m in order if m in entries and valid(entries[m])]
        for y, name in enumerate(names):
            point, low, high = (float(v) for v in entries[name])
            colour = colours[name]
            ax.barh(y, high - low, left=low, height=0.6, color=colour, alpha=0.75)
            ax.vlines(point, y - 0.35, y + 0.35, color="black", linewidth=2)
        ax.set_yticks(range(len(names)), names, fontsize=9)
        ax.set_ylim(-0.6, len(names) - 0.4)
        ax.invert_yaxis()
        ax.set_title(_text(panel.get("metric")), fontsize=10)
        ax.tick_params(axis="x", labelsize=8)
        ax.grid(axis="x", alpha=0.3)
        for side in ("top", "right", "left"):
            ax.spines[side].set_visible(False)
    fig.tight_layout()
    return _save(fig)


def _render_plots(analysis: Mapping[str, Any]) -> dict[str, bytes]:
    """PNG bytes by filename, for the plots that have data."""
    order = _all_methods(analysis)
    colours = _colours(order)
    curves = analysis.get("curves") or {}
    pngs = {
        "adaptation.png": _curve_plot(curves.get("adaptation") or [], order, colours,
                                      "adaptation env steps", "score"),
        "pretrain.png": _curve_plot(curves.get("pretrain") or [], order, colours,
                                    "pre-training env steps", "metric"),
        "within_episode.png": _curve_plot(curves.get("within_episode") or [], order, colours,
                                          "time step of the first episode", "ylabel"),
        "intervals.png": _interval_plot(analysis.get("intervals") or [], order, colours),
    }
    return {name: data for name, data in pngs.items() if data is not None}


# --------------------------------------------------------------------------- document


def _blocks(analysis: Mapping[str, Any], pngs: Mapping[str, bytes]) -> list[Block]:
    suite = analysis.get("suite") or {}
    blocks: list[Block] = [Heading(1, f"Benchmark report: {_text(suite.get('name'))}")]
    if suite.get("description"):
        blocks.append(Paragraph(str(suite["description"])))
    methods = _methods(analysis)
    seeds = analysis.get("seeds") or []
    summary = f"Methods: {', '.join(methods) or MISSING}; baseline: {_text(analysis.get('baseline'))}"
    if analysis.get("focus"):
        summary += f"; focus: {analysis['focus']}"
    summary += f"; seeds: {', '.join(str(s) for s in seeds) or MISSING}."
    blocks.append(Paragraph(summary))

    blocks.append(Heading(2, "Headline"))
    headline = analysis.get("headline") or []
    if headline:
        blocks.append(_headline_table(analysis))
        blocks += [Paragraph(str(line)) for line in analysis.get("verdict") or []]
        if analysis.get("focus"):
            blocks.append(Paragraph(
                f"Change is relative to the baseline ({_text(analysis.get('baseline'))})."))
    else:
        blocks.append(Paragraph("No headline metrics."))

    definitions = [(_text(r.get("metric")), _text(r.get("definition"))) for r in headline]
    if definitions:
        blocks += [Heading(2, "What the metrics mean"), Bullets(definitions)]
        blocks.append(Paragraph(
            "Scores are those of the stochastic policy (sampled actions), the policy each method "
            "trains and acts with; every evaluation point of the raw curves also holds the "
            "deterministic policy's score (mean action or argmax) under deterministic/return "
            "and deterministic/success. Evaluation changes nothing: no learning, no "
            "normaliser update, its own random stream."))

    blocks.append(Heading(2, "Per-task results"))
    if analysis.get("tasks"):
        blocks.append(_task_table(analysis))
    else:
        blocks.append(Paragraph("No per-task results."))

    transfer = analysis.get("transfer") or {}
    if transfer.get("rows"):
        blocks.append(Heading(2, "Multi-task transfer"))
        for measure in transfer.get("measures") or [transfer]:
            rows = [[r["task"], method_label(r["method"]), r["multi"], r["single"], r["probability"],
                     r["transfer"]] for r in measure["rows"]]
            name = measure.get("measure", "score")
            blocks += [Heading(3, f"By {name}"),
                       Table(["task", "method", f"multi-task {name}", f"single-task {name}",
                              "P(multi-task run beats single-task run)", "transfer"], rows),
                       Bullets([(f"{method_label(m)} positive-transfer rate", rate)
                                for m, rate in measure["rates"].items()])]
        blocks.append(Paragraph(TRANSFER_CAPTION))

    if analysis.get("exported"):
        rows = [[method_label(r["method"]), r["adapted"], r["exported"], r["runs"]]
                for r in analysis["exported"]]
        blocks += [Heading(2, "Exported policies"),
                   Table(["method", "adapted policy, final score", "exported policy, final score", "runs"], rows),
                   Paragraph(EXPORT_CAPTION)]

    if analysis.get("families"):
        rows = [[r["env"], method_label(r["method"]), r["in_context"], r["final"], r["of_oracle"], str(r["runs"])]
                for r in analysis["families"]]
        blocks += [Heading(2, "Per family: in context, after adaptation, against the oracle"),
                   Table(["family", "method", "in context (first episode)", "final",
                          "final, fraction of the oracle's", "runs"], rows),
                   Paragraph(FAMILY_CAPTION)]

    if analysis.get("informative"):
        blocks += [Heading(2, "Does the family reward adaptation?"),
                   Bullets([("", str(line)) for line in analysis["informative"]])]

    if analysis.get("sim_to_real"):
        blocks += [Heading(2, "Sim to real"), _sim_to_real_table(analysis), Paragraph(SIM_TO_REAL_CAPTION)]

    figures = [
        ("adaptation.png", "Adaptation curves", ADAPTATION_CAPTION),
        ("within_episode.png", "Within the first episode", WITHIN_EPISODE_CAPTION),
        ("pretrain.png", "Pre-training curves", PRETRAIN_CAPTION),
        ("intervals.png", "Interval estimates", INTERVALS_CAPTION),
    ]
    figures = [f for f in figures if f[0] in pngs]
    if figures:
        blocks.append(Heading(2, "Plots"))
        for filename, title, caption in figures:
            blocks += [Heading(3, title), Image(filename, title, caption, pngs[filename])]

    budget = analysis.get("budget") or {}
    if budget:
        blocks.append(Heading(2, "Budgets"))
        blocks.append(Bullets(_budget_items(budget)))

    notes = analysis.get("notes") or []
    if notes:
        blocks += [Heading(2, "Notes"), Bullets([("", str(n)) for n in notes])]

    blocks += _provenance_blocks(analysis)
    return blocks


def _provenance_blocks(analysis: Mapping[str, Any]) -> list[Block]:
    prov = analysis.get("provenance") or {}
    blocks: list[Block] = [Heading(2, "How this was made")]
    commands = prov.get("commands") or []
    if commands:
        blocks += [Paragraph("Commands:"), Code("\n".join(str(c) for c in commands), "bash")]
    seeds = prov.get("seeds", analysis.get("seeds")) or []
    facts = [
        ("seeds", ", ".join(str(s) for s in seeds) or MISSING),
        ("commit of the runs", _text(prov.get("commit"))),
        ("commit of this report", _text(prov.get("report_commit"))),
        ("started", _text(prov.get("started"))),
        ("finished", _text(prov.get("finished"))),
        ("wall clock", _format_duration(prov.get("wall_clock_s"))),
    ]
    blocks.append(Bullets(facts))
    machine = prov.get("machine") or {}
    if machine:
        blocks += [Heading(3, "Machine"),
                   Table(["property", "value"], [[str(k), _text(v)] for k, v in machine.items()])]
    return blocks


# --------------------------------------------------------------------------- renderers


def _md_cell(text: str) -> str:
    return " ".join(str(text).split()).replace("|", "\\|")


def _markdown_table(table: Table) -> str:
    lines = ["| " + " | ".join(_md_cell(h) for h in table.header) + " |",
             "|" + "|".join(" --- " for _ in table.header) + "|"]
    lines += ["| " + " | ".join(_md_cell(c) for c in row) + " |" for row in table.rows]
    return "\n".join(lines)


def render_markdown(blocks: Sequence[Block]) -> str:
    parts = []
    for block in blocks:
        match block:
            case Heading(level, text):
                parts.append(f"{'#' * level} {text}")
            case Paragraph(text, emphasis):
                parts.append(f"*{text}*" if emphasis else text)
            case Table():
                parts.append(_markdown_table(block))
            case Bullets(items):
                parts.append("\n".join(f"- **{term}**: {text}" if term else f"- {text}"
                                       for term, text in items))
            case Image(filename, alt, caption, _):
                parts.append(f"![{alt}]({filename})\n\n*{caption}*")
            case Code(text, language):
                fence = "```"
                while fence in text:
                    fence += "`"
                parts.append(f"{fence}{language}\n{text}\n{fence}")
    return "\n\n".join(parts) + "\n"


CSS = """
body { font-family: system-ui, -apple-system, "Segoe UI", sans-serif; max-width: 72rem;
       margin: 2rem auto; padding: 0 1rem; color: #222; line-height: 1.45; }
table { border-collapse: collapse; margin: 0.8rem 0; font-size: 0.92rem; }
th, td { border: 1px solid #ccc; padding: 0.3rem 0.6rem; text-align: left; vertical-align: top; }
th { background: #f3f3f3; }
tbody tr:nth-child(even) { background: #fafafa; }
td:not(:first-child) { font-family: ui-monospace, "SFMono-Regular", Menlo, monospace;
                       font-variant-numeric: tabular-nums; white-space: nowrap; }
pre { background: #f5f5f5; padding: 0.7rem; overflow-x: auto; }
code { font-family: ui-monospace, "SFMono-Regular", Menlo, monospace; }
figure { margin: 1rem 0; }
figure img { max-width: 100%; height: auto; }
figcaption { font-style: italic; color: #555; font-size: 0.9rem; }
""".strip()


def render_html(blocks: Sequence[Block], title: str) -> str:
    esc = html.escape
    body = []
    for block in blocks:
        match block:
            case Heading(level, text):
                body.append(f"<h{level}>{esc(text)}</h{level}>")
            case Paragraph(text, emphasis):
                body.append(f"<p><em>{esc(text)}</em></p>" if emphasis else f"<p>{esc(text)}</p>")
            case Table(header, rows):
                head = "".join(f"<th>{esc(h)}</th>" for h in header)
                lines = ["<table>", f"<thead><tr>{head}</tr></thead>", "<tbody>"]
                lines += ["<tr>" + "".join(f"<td>{esc(c)}</td>" for c in row) + "</tr>"
                          for row in rows]
                lines += ["</tbody>", "</table>"]
                body.append("\n".join(lines))
            case Bullets(items):
                lis = [f"<li><strong>{esc(term)}</strong>: {esc(text)}</li>" if term
                       else f"<li>{esc(text)}</li>" for term, text in items]
                body.append("<ul>\n" + "\n".join(lis) + "\n</ul>")
            case Image(_, alt, caption, png):
                data = base64.b64encode(png).decode("ascii")
                body.append(f'<figure><img src="data:image/png;base64,{data}" alt="{esc(alt)}">'
                            f"<figcaption>{esc(caption)}</figcaption></figure>")
            case Code(text, _):
                body.append(f"<pre><code>{esc(text)}</code></pre>")
    return ("<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n"
            f"<title>{esc(title)}</title>\n<style>\n{CSS}\n</style>\n</head>\n<body>\n"
            + "\n".join(body) + "\n</body>\n</html>\n")


# --------------------------------------------------------------------------- entry point


def write_report(analysis: Mapping[str, Any], out_dir: Path) -> ReportFiles:
    """Write report.md, report.html and the plots that have data into ``out_dir``."""
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    pngs = _render_plots(analysis)
    for stale in PLOT_FILES:
        if stale not in pngs:  # a plot left over from an earlier report of this folder
            (out_dir / stale).unlink(missing_ok=True)
    plots = []
    for filename, data in pngs.items():
        path = out_dir / filename
        atomic_write_bytes(path, data)
        plots.append(path)
    blocks = _blocks(analysis, pngs)
    title = blocks[0].text if isinstance(blocks[0], Heading) else "Benchmark report"
    markdown_path = out_dir / "report.md"
    html_path = out_dir / "report.html"
    atomic_write_bytes(markdown_path, render_markdown(blocks).encode("utf-8"))
    atomic_write_bytes(html_path, render_html(blocks, title).encode("utf-8"))
    return ReportFiles(markdown=markdown_path, html=html_path, plots=plots)
