"""The table an ablation decides by, from a bench folder's ``analysis.json``.

One row per method, in the bench's order,
and per family two columns: the score in context (the first evaluation, before any update)
and the final score, each a mean over seeds x held-out instances with its 95% bootstrap
interval, then the method's spread over seeds per family and its pre-training env steps per
second. ``--doc PATH`` puts the table into that document between ``<!-- ablation:start -->``
and ``<!-- ablation:end -->``, so the document shows what the result files say.

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
    return "\n".join(lines) + f"\n\nSeeds {seeds}; `{analysis['suite']['name']}` suite."


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
