"""The table an ablation decides by, from a bench folder's ``analysis.json``.

One row per method, in the bench's order, and per family two columns: the score in
context (the first evaluation, before any update) and the final score, each a mean over
seeds x held-out instances with its 95% bootstrap interval, then the method's spread over
seeds per family and its pre-training env steps per second. Below it, per family, each
method's probability of scoring higher than the bench's focus method (run
``mrft report --focus mrft`` to compare with the default) on the same instance, in context
and after adaptation, each with its 95% interval over whole seeds. ``--doc PATH`` puts the
tables into that document between ``<!-- ablation:start -->`` and
``<!-- ablation:end -->``, so the document shows what the result files say.

    python benchmarks/ablation_table.py benchmarks/results/mrft-v3-ablation --doc docs/mrft.md
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from mrft.atomic import atomic_write_bytes
from mrft.bench.text import MISSING, method_label, readable_number, replace_between
from mrft.cli import describe_os_error
from mrft.errors import MrftError

MARKERS = ("<!-- ablation:start -->", "<!-- ablation:end -->")
SPEED = "pre-training env steps/s"


def ablation_table(analysis: dict) -> str:
    """The markdown table of one bench's analysis (see the module docstring)."""
    families = list(dict.fromkeys(r["env"] for r in analysis.get("families") or []))
    if not families:
        raise MrftError("the analysis has no per-family rows; run mrft report on a bench with "
                        "at least one complete seed")
    cells = {(r["env"], r["method"]): r for r in analysis["families"]}
    speed = next((r["values"] for r in analysis.get("headline") or [] if r["metric"] == SPEED), {})
    header = ["method"]
    for env in families:
        header += [f"{env} in context", f"{env} final"]
    header += [f"spread over seeds ({', '.join(families)})", SPEED]
    lines = ["| " + " | ".join(header) + " |", "|" + " --- |" * len(header)]
    for method in analysis["methods"]:
        row = [method_label(method)]
        for env in families:
            cell = cells.get((env, method))
            row += [cell["in_context"], cell["final"]] if cell else [MISSING, MISSING]
        row.append(" / ".join(readable_number((cells.get((env, method)) or {}).get("seed_spread"))
                              for env in families))
        row.append(str(speed.get(method, MISSING)).split(" (")[0])
        lines.append("| " + " | ".join(row) + " |")
    seeds = ", ".join(map(str, analysis.get("seeds") or []))
    table = "\n".join(lines) + f"\n\nSeeds {seeds}; `{analysis['suite']['name']}` suite."
    comparisons = comparison_table(analysis, families)
    return table + ("\n\n" + comparisons if comparisons else "")


def comparison_table(analysis: dict, families: list[str]) -> str:
    """Per method and family: P(a run of the method beats a run of the focus method on the
    same instance), in context / final; the analysis holds the focus's side, 1 - p."""
    rows = analysis.get("family_comparisons") or []
    if not rows:
        return ""
    focus = method_label(analysis["focus"])

    def beats_focus(triple: list[float] | None) -> str:
        if triple is None:  # fewer seeds than an interval needs
            return MISSING
        point, low, high = triple
        return f"{1 - point:.2f} [{1 - high:.2f}, {1 - low:.2f}]"

    cells = {(r["env"], r["method"]): r for r in rows}
    header = ["method", *(f"{env}: in context / final" for env in families)]
    lines = ["| " + " | ".join(header) + " |", "|" + " --- |" * len(header)]
    for method in dict.fromkeys(r["method"] for r in rows):
        row = [method_label(method)]
        for env in families:
            cell = cells.get((env, method))
            row.append(f"{beats_focus(cell['in_context'])} / {beats_focus(cell['final'])}"
                       if cell else MISSING)
        lines.append("| " + " | ".join(row) + " |")
    return (f"Probability that a run of the method scores higher than a run of {focus} on the "
            "same held-out instance (ties count one half), 95% bootstrap interval over whole "
            f"seeds; 0.5: not told apart; {MISSING}: too few seeds.\n\n" + "\n".join(lines))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("bench", help="bench folder holding analysis.json (mrft report writes it)")
    parser.add_argument("--doc", help="replace the table between the ablation markers here")
    args = parser.parse_args(argv)
    path = Path(args.bench) / "analysis.json"
    try:
        try:
            analysis = json.loads(path.read_text(encoding="utf-8"))
        except (OSError, json.JSONDecodeError) as exc:
            raise MrftError(f"{path}: cannot read the analysis ({exc}); run mrft report") from None
        table = ablation_table(analysis)
        if args.doc:
            doc = Path(args.doc)
            text = replace_between(doc.read_text(encoding="utf-8"), MARKERS, table, doc)
            atomic_write_bytes(doc, text.encode())
        print(table)
    except MrftError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    except OSError as exc:
        print(f"error: {describe_os_error(exc)}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
