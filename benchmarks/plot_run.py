"""Plot a run's training curves (return and, where logged, success rate) from metrics.jsonl.

The log is read from RUN_DIR, or from the ``runs.tar.xz`` of a folder above it where the
run's files are packed (:func:`mrft.bench.archive.find`).

Usage:  python benchmarks/plot_run.py RUN_DIR [OUT.png]
"""

from __future__ import annotations

import sys
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt

from mrft.bench.archive import find


def series(records: list[dict], key: str) -> tuple[list[int], list[float]]:
    points = [(r["step"], r[key]) for r in records if r.get(key) is not None]
    return [p[0] for p in points], [p[1] for p in points]


def main() -> None:
    run_dir = Path(sys.argv[1])
    out = Path(sys.argv[2]) if len(sys.argv) > 2 else run_dir / "curves.png"
    files, name = find(run_dir / "metrics.jsonl")
    records = files.read_jsonl(name)
    keys = [k for k in ("charts/episodic_return", "charts/success_rate")
            if any(r.get(k) is not None for r in records)]
    fig, axes = plt.subplots(1, len(keys), figsize=(5 * len(keys), 3.5), squeeze=False)
    for ax, key in zip(axes[0], keys, strict=True):
        steps, values = series(records, key)
        ax.plot(steps, values, lw=1.2)
        ax.set_xlabel("env steps")
        ax.set_title(key.split("/")[1].replace("_", " "))
        ax.grid(alpha=0.3)
    fig.suptitle(run_dir.name)
    fig.tight_layout()
    fig.savefig(out, dpi=110)
    print(f"wrote {out}")


if __name__ == "__main__":
    main()
