"""Apply the adaptation ablation's rule (docs/mrft.md, "What the KL bound costs") to a bench.

The rule was fixed before the ablation ran: a variant becomes the default where its final
score beats the default's on at least one family and is below it on none, each family
judged by the probability that a run of the default scores higher than a run of the
variant on the same instance, with its 95% interval over whole seeds (the report's
"Per family" table, ``mrft report --focus mrft``); of several such variants, the one with
the lowest cumulative regret (IQM) wins. A variant beats the default on a family where that
interval lies wholly below 0.5, and is below it where the interval lies wholly above 0.5;
an interval that reaches 0.5 decides nothing. The candidates are the variants named before
the runs (:data:`CANDIDATES`, or ``--variants``); one without an interval on some family
(fewer than three complete seeds) cannot qualify, and one absent from the bench is listed as
such. The cumulative regret needs the bench's ``oracle`` and ``context-free`` rows.

    mrft report BENCH --focus mrft
    python benchmarks/adaptation_rule.py BENCH

prints one line per candidate and the decision, and writes them to ``adaptation_rule.md`` in
the bench folder.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

from mrft.atomic import atomic_write_bytes
from mrft.errors import MrftError

DEFAULT = "mrft"
CANDIDATES = ("mrft-kl-bound", "mrft-loose-kl-bound", "mrft-frozen-meta-policy", "mrft-tenth-adapt-lr",
              "mrft-normalised-adapt-advantages")
"""The variants of MRFT's adaptation the rule was fixed for (docs/mrft.md)."""


def verdicts(analysis: dict[str, Any], candidates: tuple[str, ...] = CANDIDATES,
             default: str = DEFAULT) -> list[dict[str, Any]]:
    """Per candidate: the families it beats the default on, those it is below it on, those
    without an interval, its regret IQM, and whether it qualifies (``absent``: not compared
    in the bench)."""
    if analysis.get("focus") != default:
        raise MrftError(f"the analysis compares with {analysis.get('focus')!r}; run mrft report "
                        f"with --focus {default} first")
    regret = (analysis.get("regret") or {}).get("methods") or {}
    rows = {m: {"method": m, "beats": [], "below": [], "undecided": [], "absent": True} for m in candidates}
    for row in analysis.get("family_comparisons") or []:
        entry = rows.get(row["method"])
        if entry is None:
            continue
        entry["absent"] = False
        final = row.get("final")
        if final is None:
            entry["undecided"].append(row["env"])
        elif final[2] < 0.5:  # P(default better) wholly below one half: the variant is better
            entry["beats"].append(row["env"])
        elif final[1] > 0.5:
            entry["below"].append(row["env"])
    for entry in rows.values():
        interval = (regret.get(entry["method"]) or {}).get("regret")
        entry["regret"] = interval[0] if interval else None
        entry["qualifies"] = (not entry["absent"] and bool(entry["beats"]) and not entry["below"]
                              and not entry["undecided"])
    return list(rows.values())


def decision(rows: list[dict[str, Any]], default: str = DEFAULT) -> str:
    """The variant the rule makes the default, or ``default`` where none qualifies."""
    winners = [r for r in rows if r["qualifies"]]
    if not winners:
        return default
    if any(r["regret"] is None for r in winners) and len(winners) > 1:
        raise MrftError("several variants qualify and one has no cumulative regret to rank them by")
    return min(winners, key=lambda r: r["regret"] if r["regret"] is not None else 0.0)["method"]


def render(rows: list[dict[str, Any]], chosen: str, default: str = DEFAULT) -> str:
    lines = [f"| variant | beats {default} on | below {default} on | no interval | cumulative regret (IQM) | qualifies |",
             "|---|---|---|---|---|---|"]
    for r in rows:
        if r["absent"]:
            lines.append(f"| {r['method']} | not in the bench (or no complete seed) | | | | no |")
            continue
        regret = "-" if r["regret"] is None else f"{r['regret']:.3g}"
        lines.append(f"| {r['method']} | {', '.join(r['beats']) or '-'} | {', '.join(r['below']) or '-'} | "
                     f"{', '.join(r['undecided']) or '-'} | {regret} | {'yes' if r['qualifies'] else 'no'} |")
    verdict = (f"The default stays `{default}`: no variant qualifies." if chosen == default
               else f"`{chosen}` becomes the default.")
    return "\n".join(lines) + "\n\n" + verdict + "\n"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("bench", type=Path, help="a bench folder reported with --focus mrft")
    parser.add_argument("--variants", default=",".join(CANDIDATES),
                        help="comma-separated candidates (default: the five the rule was fixed for)")
    args = parser.parse_args(argv)
    try:
        path = args.bench / "analysis.json"
        if not path.is_file():
            raise MrftError(f"{path} not found; run mrft report {args.bench} --focus {DEFAULT}")
        candidates = tuple(v.strip() for v in args.variants.split(",") if v.strip())
        rows = verdicts(json.loads(path.read_text()), candidates)
        if all(r["absent"] for r in rows):
            raise MrftError(f"{path} compares none of {', '.join(candidates)} with {DEFAULT} family by family")
        text = render(rows, decision(rows))
    except (MrftError, json.JSONDecodeError, KeyError, TypeError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    atomic_write_bytes(args.bench / "adaptation_rule.md", text.encode())
    print(text, end="")
    return 0


if __name__ == "__main__":
    sys.exit(main())
