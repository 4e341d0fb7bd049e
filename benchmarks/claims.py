"""README's measured tables, from committed results: the headline suite's tables and the
seed-claim table (the MRFT write-up's numbers beside ours).

Reads the ``analysis.json`` that ``mrft report`` wrote in three bench folders (the headline
suite, the sim-to-real suite, the multi-task transfer suite), sets each published claim
beside the measured figure with its 95% interval and a verdict (:mod:`mrft.bench.claims`),
and writes ``claims.md`` and ``claims.json``. With ``--readme`` it also puts, into
README.md, the seed-claim table between ``<!-- claims:start -->`` and
``<!-- claims:end -->``, and the headline suite's quality table with its verdict sentences, its
per-family table and its informative-family checks between ``<!-- headline:start -->`` and
``<!-- headline:end -->``, so README shows exactly what the result files say.

    python benchmarks/claims.py --readme
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from mrft.atomic import atomic_write_bytes
from mrft.bench import claims
from mrft.bench.report import family_summary_markdown, quality_headline_markdown
from mrft.errors import MrftError

ROOT = Path(__file__).resolve().parent.parent
CLAIMS_MARKERS = ("<!-- claims:start -->", "<!-- claims:end -->")
HEADLINE_MARKERS = ("<!-- headline:start -->", "<!-- headline:end -->")


def headline_block(analysis: dict) -> str:
    """The headline suite's quality table with its verdict sentences, per-family table and
    informative-family checks."""
    parts = [quality_headline_markdown(analysis), *(analysis.get("verdict") or [])]
    families = family_summary_markdown(analysis)
    if families:
        parts.append("Per family, mean over seeds x held-out instances: in context (the first "
                     "episode on the instance, before any update) -> final score [95% CI]; the "
                     "oracle and the context-free policy never adapt.\n\n" + families)
    checks = analysis.get("informative") or []
    if checks:
        parts.append("\n".join(f"- {c}" for c in checks))
    return "\n\n".join(parts)


def replace_between(text: str, markers: tuple[str, str], block: str, where: Path) -> str:
    start, end = markers
    if start not in text or end not in text:
        raise MrftError(f"{where} has no {start} ... {end} markers")
    head, rest = text.split(start, 1)
    return f"{head}{start}\n{block}\n{end}{rest.split(end, 1)[1]}"


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
                        help="also replace the tables between the claims and headline markers in README.md")
    parser.add_argument("--readme-path", default=str(ROOT / "README.md"),
                        help="the README that --readme rewrites (default: the project's)")
    args = parser.parse_args(argv)
    sources = {"headline": Path(args.headline), "sim_to_real": Path(args.sim_to_real),
               "transfer": Path(args.transfer)}
    try:
        rows = claims.claim_rows(sources)
        out = Path(args.out)
        table = claims.markdown(rows, links_from=out)
        atomic_write_bytes(out / "claims.md", (table + "\n").encode())
        atomic_write_bytes(out / "claims.json", json.dumps(rows, indent=2).encode())
        print(table)
        if args.readme:
            readme = Path(args.readme_path)
            headline = json.loads((sources["headline"] / "analysis.json").read_text(encoding="utf-8"))
            text = readme.read_text(encoding="utf-8")
            text = replace_between(text, CLAIMS_MARKERS,
                                   claims.markdown(rows, links_from=readme.parent), readme)
            text = replace_between(text, HEADLINE_MARKERS, headline_block(headline), readme)
            atomic_write_bytes(readme, text.encode())
    except MrftError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
