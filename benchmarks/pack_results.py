"""Pack the run files of results folders into one ``runs.tar.xz`` each, keeping their
summaries, reports and plots as files.

A bench folder (one with ``bench.json``) packs its ``runs/`` tree, as
``mrft report FOLDER --pack`` does after a report. Any other folder packs the logs its runs
wrote (:data:`RUN_LOGS`, in the folder or any folder below it) and keeps the rest: summaries
(``summary.json``, ``eval.json``, ``budget.json``), Markdown and plots. The packed files are
deleted once the archive reads back the same (:func:`mrft.bench.archive.pack`); the
readers of these folders (``mrft report``, ``benchmarks/sweep_facts.py``,
``benchmarks/oracle_budget.py``, ``benchmarks/plot_run.py``) read the archive.

    python benchmarks/pack_results.py benchmarks/results/cpu benchmarks/results/mujoco_preset ...
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from mrft.bench.archive import ARCHIVE, left_out, pack
from mrft.errors import MrftError

RUN_LOGS = ("metrics.jsonl", "config.json", "pretrain.json", "done.json")
"""What a run writes beside its summary: the training log, its configuration, and the
records of a finished pre-training or oracle run."""


def run_logs(folder: Path) -> list[str] | None:
    """The files to pack: ``None`` for a bench folder (its ``runs/`` tree), else the run
    logs anywhere in ``folder``."""
    if (folder / "bench.json").is_file():
        return None
    return sorted(p.relative_to(folder).as_posix() for p in folder.rglob("*")
                  if p.is_file() and p.name in RUN_LOGS and not left_out(p.name))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("folders", nargs="+", help="results folders to pack")
    args = parser.parse_args(argv)
    for folder in map(Path, args.folders):
        try:
            if not folder.is_dir():
                raise MrftError(f"{folder} is not a folder")
            packed = pack(folder, run_logs(folder), remove=True)
        except MrftError as exc:
            print(f"error: {exc}", file=sys.stderr)
            return 2
        size = (folder / ARCHIVE).stat().st_size
        print(f"{folder}: {len(packed)} files packed from disk, {ARCHIVE} {size / 2**20:.2f} MiB")
    return 0


if __name__ == "__main__":
    sys.exit(main())
