"""How much of its asymptote the oracle reaches at each family's pre-training budget.

A benchmark budget is honest when the reference that sees everything (the oracle: PPO with
the hidden task parameters in its observation) has learnt most of what it can learn:
below that, every method is compared half-trained and "nobody adapts" may only mean
"nobody learnt yet". For every family of a suite this script pre-trains the oracle twice,
both times with exactly the suite's settings for the ``oracle`` method: once for the
family's budget B (the run the bench makes, learning rate annealed to 0 at B) and once for
a long run of ``--steps`` env steps (default 4B). From their training curves (success rate
on Meta-World, episodic return elsewhere) it reports

- the fraction of the long run's gain that the budget run reaches:
  ``(R_B - R_start) / (R_plateau - R_start)``, with R_B the mean over the last 10% of the
  budget run, R_start the mean over the first 5% of the long run and R_plateau the mean
  over its last 10% (:class:`mrft.bench.metrics.Progress`);
- the first step at which the long run's curve reaches ``--fraction`` of that gain (with
  the long run's slower learning-rate schedule, so an upper bound for a run of that length).

Outputs in ``--out``: ``budget.json``, ``budget.md``, ``budget.png`` (one panel per family:
both curves, the plateau and the budget), and each run's ``metrics.jsonl`` and
``config.json``. Finished runs are kept (``done.json``), so rerunning the same command
resumes; a finished budget run of another length is refused, not mixed in (a long run
longer than asked for is kept: it only sees more of the plateau). Finished runs are read
from ``--out`` or from its ``runs.tar.xz`` (:class:`mrft.bench.archive.RunFiles`), so the
summary can be made again from a packed folder.

    python benchmarks/oracle_budget.py --suite cpu --out benchmarks/results/oracle_budget/cpu
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import shutil
import sys
import time
from pathlib import Path

import numpy as np

from mrft.atomic import atomic_write_bytes
from mrft.bench import metrics
from mrft.bench.archive import RunFiles
from mrft.bench.methods import METHODS
from mrft.bench.runner import family_slug
from mrft.bench.scores import training_metric
from mrft.bench.suite import TaskFamily, load_suite
from mrft.errors import MrftError


def train_oracle(suite, family: TaskFamily, steps: int, seed: int, folder: Path) -> float:
    """Pre-train the oracle of ``family`` for ``steps``; returns the wall clock in seconds."""
    from mrft.trainer import Trainer

    long_family = dataclasses.replace(family, pretrain_steps=steps)
    cfg = suite.train_config(long_family, METHODS["oracle"], seed, str(folder.parent), folder.name)
    if folder.exists():
        shutil.rmtree(folder)  # an unfinished run starts again
    start = time.time()
    result = Trainer(cfg).train()
    if result.interrupted:
        raise KeyboardInterrupt
    return time.time() - start


def _curve(files: RunFiles, run: str, key: str) -> tuple[list[float], list[float]]:
    records = [r for r in files.read_jsonl(f"{run}/metrics.jsonl") if key in r]
    return [r["step"] for r in records], [r[key] for r in records]


def _nan_to_none(value: float) -> float | None:
    return None if not np.isfinite(value) else float(value)


def summarise(env: str, budget: int, files: RunFiles, runs: list[tuple[str, str]],
              fraction: float) -> dict:
    """``runs``: ``(budget run, long run)`` folders per seed, by their names in ``files``."""
    key = training_metric(env)
    rows = []
    for budget_run, long_run in runs:
        steps, values = _curve(files, long_run, key)
        short_steps, short_values = _curve(files, budget_run, key)
        long = metrics.learning_progress(steps, values, budget)
        progress = metrics.Progress(long.start, long.asymptote,
                                    metrics.tail_mean(short_steps, short_values))
        rows.append({"steps": steps, "values": values, "budget_steps": short_steps,
                     "budget_values": short_values, "start": progress.start,
                     "plateau": progress.asymptote, "at_budget": progress.at_budget,
                     "fraction": _nan_to_none(progress.fraction),
                     "steps_to_fraction": metrics.steps_to_progress(steps, values, fraction)})
    fractions = [r["fraction"] for r in rows if r["fraction"] is not None]
    reached = [r["steps_to_fraction"] for r in rows]
    return {"env": env, "metric": key, "budget": budget, "runs": rows,
            "flat_runs": len(rows) - len(fractions),
            "fraction_at_budget": float(np.mean(fractions)) if fractions else None,
            "fraction_range": [float(np.min(fractions)), float(np.max(fractions))] if fractions else None,
            "steps_to_fraction": None if None in reached else float(np.max(reached))}


def markdown(summary: list[dict], fraction: float, steps_note: str) -> str:
    lines = [f"| family | metric | budget | start | plateau | end of the budget run | fraction of the gain at the "
             f"budget | steps to {fraction:.0%} of the gain |", "| --- | --- | ---: | ---: | ---: | ---: | ---: | ---: |"]
    for s in summary:
        runs = s["runs"]
        if s["fraction_at_budget"] is None:
            share = "— (the long run gained nothing)"
        else:
            low, high = s["fraction_range"]
            spread = f" ({low:.2f} .. {high:.2f})" if len(runs) > 1 else ""
            share = f"{s['fraction_at_budget']:.2f}{spread}"
        to = "not within the run" if s["steps_to_fraction"] is None else f"{s['steps_to_fraction']:,.0f}"
        lines.append(f"| {s['env']} | {s['metric'].split('/')[1].replace('_', ' ')} | {s['budget']:,} | "
                     f"{np.mean([r['start'] for r in runs]):.3g} | {np.mean([r['plateau'] for r in runs]):.3g} | "
                     f"{np.mean([r['at_budget'] for r in runs]):.3g} | {share} | {to} |")
    return "\n".join(lines) + "\n\n" + steps_note + "\n"


def plot(summary: list[dict], path: Path) -> None:
    import matplotlib.pyplot as plt

    from mrft.bench.plots import short_steps  # selects the Agg backend

    cols = min(3, len(summary))
    rows = -(-len(summary) // cols)
    fig, axes = plt.subplots(rows, cols, figsize=(4.6 * cols, 3.3 * rows), squeeze=False)
    for ax in axes.flat[len(summary):]:
        ax.set_visible(False)
    for ax, s in zip(axes.flat, summary, strict=False):
        for n, run in enumerate(s["runs"]):
            ax.plot(run["steps"], run["values"], color="tab:purple", alpha=0.7, linewidth=1,
                    label="long run" if n == 0 else None)
            ax.plot(run["budget_steps"], run["budget_values"], color="tab:green", alpha=0.8,
                    linewidth=1, label="budget run" if n == 0 else None)
            ax.axhline(run["plateau"], color="tab:purple", linestyle=":", linewidth=1)
        share = s["fraction_at_budget"]
        ax.axvline(s["budget"], color="black", linestyle="--", linewidth=1,
                   label="budget" + ("" if share is None else f": {share:.0%} of the gain"))
        ax.set_title(s["env"], fontsize=10)
        ax.xaxis.set_major_formatter(short_steps)
        ax.set_xlabel("oracle pre-training env steps", fontsize=9)
        ax.set_ylabel(s["metric"].split("/")[1].replace("_", " "), fontsize=9)
        ax.tick_params(labelsize=8)
        ax.grid(alpha=0.3)
        ax.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--suite", required=True, help="built-in suite name or TOML path")
    parser.add_argument("--out", required=True, help="output folder (resumable)")
    parser.add_argument("--steps", type=int, default=None,
                        help="env steps of each long oracle run (default: 4x each family's budget)")
    parser.add_argument("--seeds", type=int, default=1, help="oracle runs per family (seeds 1..S)")
    parser.add_argument("--fraction", type=float, default=0.8,
                        help="the share of the gain whose first step is reported (default: %(default)s)")
    parser.add_argument("--families", default="", help="comma-separated envs to measure (default: all)")
    args = parser.parse_args(argv)
    try:
        suite = load_suite(args.suite)
    except MrftError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    out = Path(args.out)
    files = RunFiles(out)
    wanted = {e.strip() for e in args.families.split(",") if e.strip()}
    families = [f for f in suite.tasks if not wanted or f.env in wanted]
    summary = []
    for family in families:
        budget = family.pretrain_steps or suite.budget.pretrain_steps
        steps = args.steps or 4 * budget
        runs = []
        for seed in range(1, args.seeds + 1):
            pair = []
            for name, length in ((f"budget-seed{seed}", budget), (f"seed{seed}", steps)):
                run = f"runs/{family_slug(family.env)}/{name}"
                if files.exists(f"{run}/done.json"):
                    made = json.loads(files.read_text(f"{run}/done.json"))["steps"]
                    # a budget run must be the bench's; a longer long run only sees more plateau
                    if made != length and not (name.startswith("seed") and made > length):
                        print(f"error: {files.where(run)} holds a run of {made:,} steps, not "
                              f"{length:,}; use another --out or delete it", file=sys.stderr)
                        return 2
                else:
                    print(f"oracle {family.env} seed {seed}: {length:,} env steps", file=sys.stderr, flush=True)
                    seconds = train_oracle(suite, family, length, seed, out / run)
                    atomic_write_bytes(out / run / "done.json",
                                       json.dumps({"steps": length, "wall_clock_s": seconds}).encode())
                pair.append(run)
            runs.append(tuple(pair))
        summary.append(summarise(family.env, budget, files, runs, args.fraction))
    note = (f"Oracle = PPO with the hidden parameters shown, the `oracle` method of suite "
            f"`{suite.name}` with its settings, trained once for the family's budget (as the bench "
            "trains it) and once for the long run; curves are its training metric on the train "
            "split. Fraction of the gain = (R_B - R_start) / (R_plateau - R_start): R_B the mean over "
            "the last 10% of the budget run, R_start over the first 5% of the long run, R_plateau "
            "over its last 10%. Steps to the fraction are read on the long run, whose learning rate "
            "anneals over its own length. Command: `python benchmarks/oracle_budget.py "
            + " ".join(argv if argv is not None else sys.argv[1:]) + "`.")
    out.mkdir(parents=True, exist_ok=True)
    atomic_write_bytes(out / "budget.json", json.dumps(summary, indent=2).encode())
    text = markdown(summary, args.fraction, note)
    atomic_write_bytes(out / "budget.md", text.encode())
    plot(summary, out / "budget.png")
    print(text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
