"""What ``mrft bench`` and ``mrft report`` print at the end: per family, each method's score in
context (the first evaluation on a held-out instance, before any update) and its final
score after adaptation, each with its 95% interval; then each adapting method's cumulative
regret and normalised in-context score (or the one line saying what they need), and the
official meta-test figure where the suite scores by a protocol, in plain
columns a terminal shows without wrapping; the full tables are in the report."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from mrft.bench.metatest_section import protocol_title
from mrft.bench.methods import reference_rows
from mrft.bench.regret_blocks import regret_summary_lines
from mrft.bench.text import method_label


def summary_text(analysis: Mapping[str, Any]) -> str:
    """One block per family, then one for the regret; empty when the analysis has no family
    rows yet."""
    rows = analysis.get("families") or []
    seeds = len(analysis.get("seeds") or [])
    blocks = []
    for env in dict.fromkeys(row["env"] for row in rows):
        family = [row for row in rows if row["env"] == env]
        lines = [f"{env}: {family[0]['score']}, mean over {seeds} seed(s) x held-out instances "
                 f"[95% CI]"]
        table = [("method", "in context", "final")]
        references = reference_rows()
        table += [(row["method"] if row["method"] in references else method_label(row["method"]),
                   row["in_context"], row["final"]) for row in family]
        widths = [max(len(cells[i]) for cells in table) for i in range(3)]
        lines += ["  " + "  ".join(cell.ljust(width) for cell, width in zip(cells, widths, strict=True))
                  .rstrip() for cells in table]
        blocks.append("\n".join(lines))
    meta_test = analysis.get("meta_test") or {}
    if meta_test.get("rows"):
        lines = [f"meta-test success ({protocol_title(meta_test['protocol'])}), mean over classes, "
                 f"then seeds [95% CI]"]
        lines += [f"  {row['env']}  {method_label(row['method'])}  {row['success']}"
                  for row in meta_test["rows"]]
        blocks.append("\n".join(lines))
    regret = regret_summary_lines(analysis)
    if blocks and regret:
        blocks.append("\n".join(regret))
    return "\n\n".join(blocks)
