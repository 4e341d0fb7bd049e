"""The seed-claim table: the MRFT write-up's numbers beside ours, from committed results.

Reads the ``analysis.json`` that ``mrft report`` wrote in three bench folders (the headline
suite, the sim-to-real suite, the multi-task transfer suite), sets each published claim
beside the measured figure with its 95% interval and a verdict (:mod:`mrft.bench.claims`),
writes ``claims.md`` and ``claims.json`` next to them, and with ``--readme`` puts the table
into README.md between the ``<!-- claims:start -->`` and ``<!-- claims:end -->`` markers,
so README shows exactly what the result files say.

    python benchmarks/claims.py --readme
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from mrft.atomic import atomic_write_bytes
from mrft.bench import claims
from mrft.errors import MrftError

ROOT = Path(__file__).resolve().parent.parent
START, END = "<!-- claims:start -->", "<!-- claims:end -->"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--headline", default="benchmarks/results/cpu",
                        help="bench folder of the headline suite (default: %(default)s)")
    parser.add_argument("--sim-to-real", default="benchmarks/results/sim2real",
                        help="bench folder of the sim-to-real suite (default: %(default)s)")
    parser.add_argument("--transfer", default="benchmarks/results/mt10-transfer",
                        help="bench folder of the multi-task transfer suite (default: %(default)s)")
    parser.add_argument("--out", default="benchmarks/results",
                        help="folder for claims.md and claims.json (default: %(default)s)")
    parser.add_argument("--readme", action="store_true",
                        help="also replace the table between the claims markers in README.md")
    args = parser.parse_args(argv)
    sources = {"headline": Path(args.headline), "sim_to_real": Path(args.sim_to_real),
               "transfer": Path(args.transfer)}
    try:
        rows = claims.claim_rows(sources)
    except MrftError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    table = claims.markdown(rows)
    out = Path(args.out)
    atomic_write_bytes(out / "claims.md", (table + "\n").encode())
    atomic_write_bytes(out / "claims.json", json.dumps(rows, indent=2).encode())
    print(table)
    if args.readme:
        readme = ROOT / "README.md"
        text = readme.read_text(encoding="utf-8")
        if START not in text or END not in text:
            print(f"error: {readme} has no {START} ... {END} markers", file=sys.stderr)
            return 2
        head, rest = text.split(START, 1)
        tail = rest.split(END, 1)[1]
        atomic_write_bytes(readme, f"{head}{START}\n{table}\n{END}{tail}".encode())
    return 0


if __name__ == "__main__":
    sys.exit(main())
