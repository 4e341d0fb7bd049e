"""Our Meta-World held-out success beside the published figures, from committed benches.

Reads benches of the ``metaworld-official`` suites (``mrft bench --suite metaworld-official``
and ``metaworld-official-ml10``; each scored by the official meta-test protocol, so its
``analysis.json`` holds a ``meta_test`` section) and sets every method's held-out success,
mean over seeds with its 95% bootstrap interval, beside the figures Yu et al. publish for
the same benchmark (arXiv 1910.10897, Table 1 of the current version: ML10 and ML45; they
give no ML1 table in that form, so ML1 rows have none). Each row also says how its figure
was made (the protocol's episodes, the goals scored, the Meta-World version the bench ran
with, the pre-training budget and its share of the budget Farama's recipes use) and, in a
plain sentence, why the two figures cannot be read as one measurement where they cannot.

Writes ``published.md`` and ``published.json`` into ``--out``; with ``--results-doc`` it also
puts the table between ``<!-- metaworld-official:start -->`` and
``<!-- metaworld-official:end -->`` in that document, and refuses, changing nothing, where
the markers are missing.

    python benchmarks/metaworld_published.py benchmarks/results/metaworld-official \\
        benchmarks/results/metaworld-official-ml10 --results-doc docs/results.md
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from mrft.bench.text import (
    method_label,
    read_result_json,
    replace_between,
    write_table_files,
)
from mrft.cli import describe_os_error
from mrft.envs.metaworld_official import FAMILY_NAME as OFFICIAL
from mrft.errors import MrftError

MARKERS = ("<!-- metaworld-official:start -->", "<!-- metaworld-official:end -->")
SOURCE = "Yu et al. 2019, Table 1"
# average maximum meta-test success over 10 seeds, in percent (Meta-World v1, garage)
PUBLISHED = {
    "ML10": {"maml": 31.6, "rl2": 35.8, "pearl": 13.0},
    "ML45": {"maml": 39.9, "rl2": 33.3, "pearl": 22.0},
}
PUBLISHED_LABELS = {"maml": "MAML", "pearl": "PEARL"}
# pre-training env steps of Farama's metaworld-algorithms recipes (examples/meta_learning:
# 2,000,000 per train class), per benchmark kind
FARAMA_BUDGET = {"ML1": 2_000_000, "ML10": 20_000_000, "ML45": 90_000_000}
NO_FIGURE = {"ML1": "no published figure to set beside: Yu et al. show ML1 as learning curves only",
             None: "no published figure on this benchmark"}
NOT_COMPARABLE = ("Not one measurement: theirs is Meta-World v1, the maximum over training, "
                  "tens of millions of steps and garage's counting; ours is the final policy on "
                  "v{version} at the budget shown, each scored goal's evaluation episodes counted "
                  "once")


def benchmark_of(env: str) -> str:
    """``metaworld-official:ML1-reach`` -> ``ML1-reach``; ``...:ML10`` -> ``ML10``."""
    family, _, name = env.partition(":")
    if family != OFFICIAL or not name:
        raise MrftError(f"{env} is not a {OFFICIAL} family; this table sets the benchmark's "
                        "own test tasks beside published figures")
    return name


def bench_rows(folder: Path) -> list[dict]:
    """One row per family and method of the bench in ``folder``."""
    analysis = read_result_json(folder / "analysis.json", "the bench's analysis")
    meta = read_result_json(folder / "bench.json", "the bench record")
    section = analysis.get("meta_test")
    if not section:
        raise MrftError(f"{folder} was not scored by a meta-test protocol (no meta_test section in "
                        "analysis.json); run a metaworld-official suite")
    protocol = section["protocol"]
    budgets = {t["env"]: t.get("pretrain_steps") or meta["suite"]["budget"]["pretrain_steps"]
               for t in meta["suite"]["tasks"]}
    version = meta.get("machine", {}).get("packages", {}).get("metaworld", "unrecorded")
    rows = []
    for row in section["rows"]:
        benchmark = benchmark_of(row["env"])
        kind = benchmark.split("-")[0]
        budget = budgets[row["env"]]
        goals = sorted(set(row["goals"].values()))
        rows.append({
            "benchmark": benchmark, "method": row["method"], "seeds": row["seeds"],
            "success": row["success_interval"], "before": row["before_interval"],
            "published": PUBLISHED.get(kind, {}).get(row["method"]),
            "protocol": (f"{protocol['adaptation_episodes']} adaptation + "
                         f"{protocol['evaluation_episodes']} evaluation episodes per test task, "
                         f"{'/'.join(map(str, goals))} goals per class"),
            "metaworld": version, "pretrain_steps": budget,
            "farama_share": budget / FARAMA_BUDGET[kind] if kind in FARAMA_BUDGET else None,
            "bench": str(folder),
        })
    return rows


def unrun_published(rows: list[dict]) -> list[dict]:
    """Published figures of methods not run here, on the benchmarks that were run."""
    ran = {(r["benchmark"], r["method"]) for r in rows}
    extra = []
    for benchmark in dict.fromkeys(r["benchmark"] for r in rows):
        for method, figure in PUBLISHED.get(benchmark.split("-")[0], {}).items():
            if (benchmark, method) not in ran:
                extra.append({"benchmark": benchmark, "method": method, "published": figure})
    return extra


def percent(interval: list[float]) -> str:
    """``[mean, low, high]`` success rates as ``m% [l%, h%]``, each to one decimal (a whole
    percent without one), so 76.7% and 100% read alike in one column."""
    mean, low, high = (f"{100 * v:.1f}".removesuffix(".0") + "%" for v in interval)
    return f"{mean} [{low}, {high}]"


def made_how(row: dict) -> str:
    """How a benchmark's figures were made, and whether they read as the published ones (a
    benchmark with published figures: not one measurement; else why it has none)."""
    share = (f" ({100 * row['farama_share']:.3g}% of Farama's recipe)"
             if row["farama_share"] is not None else "")
    kind = row["benchmark"].split("-")[0]
    comparable = (NOT_COMPARABLE.format(version=row["metaworld"]) if kind in PUBLISHED
                  else NO_FIGURE.get(kind, NO_FIGURE[None]))
    return (f"{row['protocol']}; Meta-World {row['metaworld']}; {row['pretrain_steps']:,} "
            f"pre-training env steps{share}. {comparable[0].upper()}{comparable[1:]}.")


def markdown(rows: list[dict]) -> str:
    """The table, then one line per benchmark on how its figures were made (the same for
    every method of a bench, so said once rather than on every row)."""
    lines = ["| benchmark | method | held-out success, ours [95% CI] | before adaptation | seeds | "
             f"published ({SOURCE}) |",
             "| --- | --- | --- | --- | --- | --- |"]
    notes = {}
    for row in rows:
        label = method_label(row["method"]) if row["method"] not in PUBLISHED_LABELS else (
            PUBLISHED_LABELS[row["method"]])
        published = f"{row['published']:g}%" if row.get("published") is not None else "—"
        if "success" not in row:
            lines.append(f"| {row['benchmark']} | {label} | not run here | — | — | {published} |")
            continue
        notes.setdefault(row["benchmark"], made_how(row))
        lines.append(f"| {row['benchmark']} | {label} | {percent(row['success'])} | "
                     f"{percent(row['before'])} | {row['seeds']} | {published} |")
    lines.append("")
    alike: dict[str, list[str]] = {}  # benchmarks whose figures were made the same way share a line
    for benchmark, note in notes.items():
        alike.setdefault(note, []).append(benchmark)
    lines += [f"- **{', '.join(benchmarks)}**: {note}" for note, benchmarks in alike.items()]
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("benches", nargs="+", help="bench folders of metaworld-official suites")
    parser.add_argument("--out", default="benchmarks/results",
                        help="folder for published.md and published.json (default: %(default)s)")
    parser.add_argument("--results-doc", default=None,
                        help="put the table between the metaworld-official markers of this document")
    args = parser.parse_args(argv)
    try:
        rows = [row for folder in args.benches for row in bench_rows(Path(folder))]
        rows += unrun_published(rows)
        table = markdown(rows)
        edits = {}
        if args.results_doc:
            doc = Path(args.results_doc)
            edits[doc] = replace_between(doc.read_text(encoding="utf-8"), MARKERS, table, doc)
        write_table_files(args.out, "published", table, rows, edits)
        print(table)
    except MrftError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    except OSError as exc:  # a document or output folder that cannot be read or written
        print(f"error: {describe_os_error(exc)}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
