"""The measured tables of docs/results.md and README's verdict, from committed results: the
headline suite's tables, the seed-claim table (the MRFT write-up's numbers beside ours) and
a short verdict block.

Reads the ``analysis.json`` that ``mrft report`` wrote in three bench folders (the headline
suite, the sim-to-real suite, the multi-task transfer suite), sets each published claim
beside the measured figure with its 95% interval and a verdict (:mod:`mrft.bench.claims`),
and writes ``claims.md`` and ``claims.json``. With ``--results-doc [PATH]`` (default
docs/results.md) it also puts, into that document, the seed-claim table between
``<!-- claims:start -->`` and ``<!-- claims:end -->``, and the headline suite's quality table
with its verdict sentences, its per-family table, its cumulative regret table and its
informative-family checks between ``<!-- headline:start -->`` and ``<!-- headline:end -->``.
With ``--readme`` it puts into README.md, between ``<!-- verdict:start -->`` and
``<!-- verdict:end -->``, the headline suite's final score, probability of improvement and
(where measured) cumulative regret per method, one sentence on the focus method against the
baseline with a link to the results document, the per-family table and the seed-claim
table. With ``--evaluation FOLDER`` (a bench of the evaluation suite, whose families no
default or design choice was made on) the same tables of that bench go into the results
document between ``<!-- evaluation:start -->`` and ``<!-- evaluation:end -->``, and README's
verdict gets its table, sentence and per-family table too, after the claims, each labelled
as the evaluation set's. So both show exactly what the result files say, and which set each
number comes from.

    python benchmarks/claims.py --readme --results-doc docs/results.md
"""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

from mrft.bench import claims
from mrft.bench.headline import REGRET
from mrft.bench.report import family_summary_markdown, quality_headline_markdown, regret_markdown
from mrft.bench.text import (
    MISSING,
    method_label,
    read_result_json,
    replace_between,
    sentence_name,
    write_table_files,
)
from mrft.errors import MrftError

ROOT = Path(__file__).resolve().parent.parent
CLAIMS_MARKERS = ("<!-- claims:start -->", "<!-- claims:end -->")
HEADLINE_MARKERS = ("<!-- headline:start -->", "<!-- headline:end -->")
VERDICT_MARKERS = ("<!-- verdict:start -->", "<!-- verdict:end -->")
EVALUATION_MARKERS = ("<!-- evaluation:start -->", "<!-- evaluation:end -->")
EVALUATION_NOTE = ("The evaluation set: families no default, preset or design choice was made on, "
                   "run once with the chosen defaults.")


CLAIMS_INTRO = ("The MRFT write-up's figures beside ours, each with its 95% interval and a verdict "
                "(`src/mrft/bench/claims.py` says how a verdict is reached):")


def family_block(analysis: dict) -> str | None:
    """The per-family table (in context -> final score per method) with its caption."""
    families = family_summary_markdown(analysis)
    if not families:
        return None
    return ("Per family, mean over seeds x held-out instances: in context (the first episode on "
            "the instance, before any update) -> final score [95% CI]; the oracle and the "
            "context-free policy never adapt.\n\n" + families)


def headline_block(analysis: dict) -> str:
    """The headline suite's quality table with its verdict sentences, per-family table,
    cumulative regret table and informative-family checks."""
    parts = [quality_headline_markdown(analysis), *(analysis.get("verdict") or [])]
    families = family_block(analysis)
    if families:
        parts.append(families)
    regret = regret_markdown(analysis)
    if regret:
        parts.append("Cumulative regret over adaptation and the in-context score, each held-out "
                     "instance scaled so that the context-free policy is 0 and the oracle 1:\n\n"
                     + regret)
    checks = analysis.get("informative") or []
    if checks:
        parts.append("\n".join(f"- {c}" for c in checks))
    return "\n\n".join(parts)


def verdict_block(analysis: dict, results_link: str) -> str:
    """README's verdict: a table of the final score IQM [95% CI], the probability of
    improvement over the baseline and, where measured, the cumulative regret IQM [95% CI],
    one column per method, and one sentence saying whether the focus method beats the
    baseline, linking ``results_link``."""
    baseline = analysis["baseline"]
    methods = analysis["methods"]
    rows = {r["metric"]: r for r in analysis["headline"]}
    final = next(r for m, r in rows.items() if m.startswith("final"))
    improvement = next((r for m, r in rows.items() if m.startswith("probability of improvement")),
                       {"metric": f"probability of improvement over {method_label(baseline)}",
                        "values": {}})
    lines = [f"| `{analysis['suite']['name']}` suite | " + " | ".join(map(method_label, methods)) + " |",
             "| --- |" + " --- |" * len(methods)]
    shown = [(f"{final['metric']} [95% CI]", final), (improvement["metric"], improvement)]
    if REGRET in rows:
        shown.append((f"{REGRET} [95% CI]", rows[REGRET]))
    for label, row in shown:
        lines.append(f"| {label} | " + " | ".join(row["values"].get(m, MISSING) for m in methods) + " |")
    return "\n".join(lines) + "\n\n" + verdict_sentence(analysis, results_link)


def verdict_sentence(analysis: dict, results_link: str) -> str:
    """Whether the focus method beats the baseline, in the words of the analysis's verdict."""
    baseline, focus = analysis["baseline"], analysis["focus"]
    a, b = sentence_name(focus), sentence_name(baseline)
    openings = (f"{a} beats {b} ", f"{a} does not beat {b};", f"{a} and {b} are not told apart ")
    said = next((line.split(" here (", 1)[0] for line in analysis.get("verdict") or []
                 if line.startswith(openings)), None)
    if said is None:
        said = f"{a} is not compared with {b} (no complete seed of both)"
    return (f"On the `{analysis['suite']['name']}` suite, {said} ({method_label(baseline)} is the "
            f"baseline every method is compared with, {method_label(focus)} the method in "
            f"focus; [all results]({results_link})).")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--headline", default="benchmarks/results/cpu-v3",
                        help="bench folder of the headline suite (default: %(default)s)")
    parser.add_argument("--sim-to-real", default="benchmarks/results/sim2real",
                        help="bench folder of the sim-to-real suite (default: %(default)s)")
    parser.add_argument("--transfer", default="benchmarks/results/mt10-transfer",
                        help="bench folder of the multi-task transfer suite (default: %(default)s)")
    parser.add_argument("--out", default="benchmarks/results",
                        help="folder for claims.md and claims.json (default: %(default)s)")
    parser.add_argument("--results-doc", nargs="?", const=str(ROOT / "docs" / "results.md"),
                        help="replace the tables between the claims and headline markers in "
                             "this document (default: docs/results.md)")
    parser.add_argument("--readme", action="store_true",
                        help="replace the block between the verdict markers in README.md")
    parser.add_argument("--readme-path", default=str(ROOT / "README.md"),
                        help="the README that --readme rewrites (default: the project's)")
    parser.add_argument("--evaluation", default=None,
                        help="bench folder of the evaluation suite: its tables go into the results "
                             "document and README, labelled as the evaluation set's")
    args = parser.parse_args(argv)
    sources = {"headline": Path(args.headline), "sim_to_real": Path(args.sim_to_real),
               "transfer": Path(args.transfer)}
    try:
        rows = claims.claim_rows(sources)
        out = Path(args.out)
        table = claims.markdown(rows, links_from=out)
        edits = documents(args, rows, sources["headline"])  # every marker checked before writing
        write_table_files(out, "claims", table, rows, edits)
        print(table)
    except MrftError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    return 0


def documents(args: argparse.Namespace, rows: list[dict[str, str]], headline: Path) -> dict[Path, str]:
    """The new text of the results document and of README, as asked for."""
    if not (args.results_doc or args.readme):
        return {}
    analysis = _analysis(headline, "headline")
    evaluation = _analysis(Path(args.evaluation), "evaluation") if args.evaluation else None
    edits = {}
    results = Path(args.results_doc or ROOT / "docs" / "results.md")
    if args.results_doc:
        text = results.read_text(encoding="utf-8")
        text = replace_between(text, CLAIMS_MARKERS,
                               claims.markdown(rows, links_from=results.parent), results)
        text = replace_between(text, HEADLINE_MARKERS, headline_block(analysis), results)
        if evaluation is not None:
            text = replace_between(text, EVALUATION_MARKERS,
                                   EVALUATION_NOTE + "\n\n" + headline_block(evaluation), results)
        edits[results] = text
    if args.readme:
        readme = Path(args.readme_path)
        link = Path(os.path.relpath(results.resolve(), readme.parent.resolve())).as_posix()
        parts = [verdict_block(analysis, link), family_block(analysis), CLAIMS_INTRO,
                 claims.markdown(rows, links_from=readme.parent)]
        if evaluation is not None:  # last, under its own label
            parts += [EVALUATION_NOTE, verdict_block(evaluation, link), family_block(evaluation)]
        block = "\n\n".join(part for part in parts if part)
        edits[readme] = replace_between(readme.read_text(encoding="utf-8"), VERDICT_MARKERS, block,
                                        readme)
    return edits


def _analysis(folder: Path, which: str) -> dict:
    return read_result_json(folder / "analysis.json", f"the {which} analysis")


if __name__ == "__main__":
    sys.exit(main())
