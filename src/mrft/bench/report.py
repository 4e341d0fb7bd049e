"""Lay out a benchmark analysis as ``report.md``, ``report.html`` and PNG plots, and the
headline tables that README and the claims script set into other documents.

The analysis dict (:func:`mrft.bench.analysis.analyze`, JSON-safe) already holds every
number, computed and formatted. :mod:`mrft.bench.report_blocks` arranges it into blocks,
:mod:`mrft.bench.plots` draws the figures and :mod:`mrft.bench.render` writes the blocks
as Markdown and as a self-contained HTML file, whose first screen holds the verdict and the
lead plots. Every file is written atomically (a temporary file in the same folder, then
:func:`os.replace`), so a reader never sees a half-written report.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from mrft.atomic import atomic_write_bytes
from mrft.bench.plots import PLOT_FILES, hex_colours, render_plots
from mrft.bench.regret_blocks import regret_table
from mrft.bench.render import Heading, markdown_table, render_html, render_markdown
from mrft.bench.report_blocks import (
    blocks,
    family_summary_table,
    headline_table,
    page_blocks,
    plotted_methods,
)
from mrft.bench.text import method_label

__all__ = ["ReportFiles", "family_summary_markdown", "headline_markdown", "method_label",
           "quality_headline_markdown", "regret_markdown", "write_report"]

COST_METRICS = ("wall clock", "env steps/s", "memory")
"""Headline rows that measure cost, not quality: they depend on the machine and on what
else ran beside the sweep, so a summary of quality leaves them to the report."""


@dataclasses.dataclass(frozen=True)
class ReportFiles:
    """Paths of what :func:`write_report` wrote."""

    markdown: Path
    html: Path
    plots: list[Path]


def headline_markdown(analysis: Mapping[str, Any]) -> str:
    """The headline table as plain Markdown: metric | BASELINE | FOCUS | change | others...

    Each further method's cell carries its own change vs the baseline, e.g.
    ``0.50 [0.40, 0.60] (-31%)``; anything missing shows as ``—``.
    """
    return markdown_table(headline_table(analysis))


def quality_headline_markdown(analysis: Mapping[str, Any]) -> str:
    """The headline table without its cost rows (:data:`COST_METRICS`)."""
    rows = [r for r in analysis.get("headline") or []
            if not any(word in str(r.get("metric", "")) for word in COST_METRICS)]
    return headline_markdown({**analysis, "headline": rows})


def family_summary_markdown(analysis: Mapping[str, Any]) -> str:
    """One row per family, one column per method: the score in context (the first
    evaluation, before any update) -> the final score with its 95% interval; reference rows
    that never adapt show their one score. Empty when the analysis has no family rows."""
    table = family_summary_table(analysis)
    return markdown_table(table) if table else ""


def regret_markdown(analysis: Mapping[str, Any]) -> str:
    """One row per adapting method: the cumulative regret (lower is better) and the
    normalised in-context score, each IQM [95% CI], and the probability that a run of the
    focus method has lower regret; the one line saying what they need where the bench lacks
    the reference rows; empty for an analysis without these metrics."""
    table = regret_table(analysis)
    if table is not None:
        return markdown_table(table)
    return str((analysis.get("regret") or {}).get("unavailable") or "")


def write_report(analysis: Mapping[str, Any], out_dir: Path) -> ReportFiles:
    """Write report.md, report.html and the plots that have data into ``out_dir``."""
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    order = plotted_methods(analysis)
    pngs = render_plots(analysis, order)
    for stale in PLOT_FILES:
        if stale not in pngs:  # a plot left over from an earlier report of this folder
            (out_dir / stale).unlink(missing_ok=True)
    plots = []
    for filename, data in pngs.items():
        path = out_dir / filename
        atomic_write_bytes(path, data)
        plots.append(path)
    document = blocks(analysis, pngs)
    title = document[0].text if isinstance(document[0], Heading) else "Benchmark report"
    markdown_path = out_dir / "report.md"
    html_path = out_dir / "report.html"
    atomic_write_bytes(markdown_path, render_markdown(document).encode("utf-8"))
    page = render_html(page_blocks(analysis, pngs, hex_colours(analysis, order)), title)
    atomic_write_bytes(html_path, page.encode("utf-8"))
    return ReportFiles(markdown=markdown_path, html=html_path, plots=plots)
