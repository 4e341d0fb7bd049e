"""The report's section on cumulative regret and the normalised in-context score, as blocks
(:mod:`mrft.bench.render`) read from the analysis's ``regret`` section
(:mod:`mrft.bench.regret_section`): a table per method, a table per family and the notes
on instances left out; one line in their place where the bench lacks the reference rows.
An analysis written before these metrics existed has no section, and gets none."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from mrft.bench.render import Block, Bullets, Heading, Paragraph, Table
from mrft.bench.text import cell_text, method_label

TITLE = "Cumulative regret and in-context score, normalised"
CAPTION = (
    "Each held-out instance is put on the scale of its reference rows: the context-free policy "
    "0, the oracle 1 (their final scores on the same instance, means over seeds). Cumulative regret: 1 "
    "minus the scaled score, averaged over the adaptation budget by the trapezoid rule over "
    "the evaluation points; 0 is the oracle's score from the first step, 1 the context-free "
    "policy's throughout (below 0: above the oracle, above 1: below the context-free policy); "
    "lower is better. In context: the scaled score of the first "
    "evaluation, before any update; higher is better. Per method: IQM over tasks x seeds; per "
    "family: means over seeds x instances; 95% bootstrap intervals."
)


def lower_regret_header(focus: str) -> str:
    """The header of the probability column, its direction spelled out."""
    return f"P(a run of {method_label(focus)} has lower regret than a run of the method)"


def regret_table(analysis: Mapping[str, Any]) -> Table | None:
    """method | cumulative regret | in-context score, normalised | P(the focus method has
    lower regret); ``None`` where the analysis has no regret figures."""
    section = analysis.get("regret") or {}
    entries = section.get("methods") or {}
    if not entries:
        return None
    focus = str(section.get("focus") or analysis.get("focus") or "")
    rows = [[method_label(m), cell_text(e.get("regret_text")), cell_text(e.get("in_context_text")),
             cell_text(e.get("focus_lower_regret_text"))] for m, e in entries.items()]
    return Table(["method", "cumulative regret (IQM; lower is better)",
                  "in-context score, normalised (IQM)", lower_regret_header(focus)], rows)


def regret_blocks(analysis: Mapping[str, Any]) -> list[Block]:
    """The section; empty for an analysis without a ``regret`` section."""
    section = analysis.get("regret")
    if not section:
        return []
    out: list[Block] = [Heading(2, TITLE)]
    if section.get("unavailable"):
        return [*out, Paragraph(str(section["unavailable"]))]
    table = regret_table(analysis)
    if table is not None:
        used = section.get("instances") or {}
        out += [table, Paragraph(f"On {cell_text(used.get('used'))} of {cell_text(used.get('of'))} "
                                 "held-out instances (those the reference rows can scale).")]
    families = section.get("families") or []
    if families:
        out.append(Table(["family", "method", "cumulative regret (mean)",
                          "in-context score, normalised (mean)", "runs"],
                         [[cell_text(r.get("env")), method_label(str(r.get("method"))),
                           cell_text(r.get("regret")), cell_text(r.get("in_context")),
                           cell_text(r.get("runs"))] for r in families]))
    out.append(Paragraph(CAPTION))
    notes = section.get("notes") or []
    if notes:
        out.append(Bullets([("", str(n)) for n in notes]))
    return out


def regret_summary_lines(analysis: Mapping[str, Any]) -> list[str]:
    """The section in a few plain lines for a terminal: per method the regret and the
    normalised in-context score, each IQM [95% CI], and the probability of lower regret."""
    section = analysis.get("regret")
    if not section:
        return []
    if section.get("unavailable"):
        return [str(section["unavailable"])]
    entries = section.get("methods") or {}
    focus = method_label(str(section.get("focus") or ""))
    lines = ["cumulative regret over adaptation: 0 = the oracle throughout, 1 = the context-free",
             "policy, lower is better; in-context score normalised: context-free 0, oracle 1;",
             "IQM over seeds x held-out instances [95% CI]"]
    table = [("method", "regret", "in context", f"P({focus} lower regret)")]
    table += [(method_label(m), cell_text(e.get("regret_text")), cell_text(e.get("in_context_text")),
               cell_text(e.get("focus_lower_regret_text"))) for m, e in entries.items()]
    widths = [max(len(cells[i]) for cells in table) for i in range(4)]
    lines += ["  " + "  ".join(c.ljust(w) for c, w in zip(cells, widths, strict=True)).rstrip()
              for cells in table]
    return lines if entries else []
