"""Final held-out score against the pre-training budget: where one method overtakes another,
and what a user must spend to get there.

For some families of a suite, every method is pre-trained at ``--scales`` times the family's
budget in the suite (the same seeds, held-out instances, adaptation budget and settings as
the suite; only the pre-training length changes) and adapted as the suite adapts. Each scale
is a bench folder of its own (``OUT/x0.25``, ``OUT/x1``, ...), so the sweep is resumable:
rerun the same command and finished runs are kept. The summary (``OUT/curve.json``, ``OUT/curve.md``,
``OUT/curve.png``) gives each method's final score per family and scale: mean over seeds x
held-out instances with a 95% bootstrap interval, and the scales from which each method is
not behind the others.

The 1x point is the suite itself: ``--scale-one FOLDER`` takes it from a bench of the whole
suite (the same settings, checked) instead of running those families again.

    python benchmarks/budget_curve.py --suite cpu --families nav:point,shift:inverted-pendulum-signed \\
        --methods grpo,ppo,rl2,mrft --scales 0.25,0.5,1,3 --out benchmarks/results/budget-curve \\
        --scale-one benchmarks/results/cpu-v3
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import sys
from pathlib import Path

import numpy as np

from mrft.bench.loading import BenchData, final_score
from mrft.bench.statistics import mean_interval
from mrft.bench.suite import BenchSuite, load_suite
from mrft.errors import MrftError


def scaled_suite(suite: BenchSuite, families: list[str], scale: float) -> BenchSuite:
    """``suite`` restricted to ``families`` with every pre-training budget times ``scale``."""
    tasks = []
    for env in families:
        matches = [t for t in suite.tasks if t.env == env]
        if not matches:
            raise MrftError(f"{env} is not a family of suite {suite.name!r}: "
                            f"{', '.join(t.env for t in suite.tasks)}")
        task = matches[0]
        steps = task.pretrain_steps or suite.budget.pretrain_steps
        tasks.append(dataclasses.replace(task, pretrain_steps=max(1, round(steps * scale))))
    return dataclasses.replace(suite, name=f"{suite.name}-budget-x{scale:g}", tasks=tuple(tasks),
                               description=f"{suite.description} Pre-training budgets x{scale:g}.")


def run_scale(suite: BenchSuite, methods: list[str], seeds: int, out: Path, ray: str | None) -> None:
    from mrft.bench.runner import Bench

    command = "python benchmarks/budget_curve.py " + " ".join(sys.argv[1:])
    bench = Bench(suite, methods, list(range(1, seeds + 1)), out, command)
    if ray is None:
        bench.run()
    else:
        from mrft.bench.ray_sweep import run_on_ray

        run_on_ray(bench, ray, 1.0, 0.0)


def check_scale_one(suite: BenchSuite, folder: Path, methods: list[str]) -> None:
    """Refuse a ``--scale-one`` folder that is not a bench of ``suite`` with every one of
    ``methods``: its runs must be what the 1x scale would have run."""
    from mrft.bench.runner import suite_settings

    path = folder / "bench.json"
    try:
        meta = json.loads(path.read_text(encoding="utf-8"))
        recorded = meta["suite"]
    except (OSError, json.JSONDecodeError, KeyError, TypeError):
        raise MrftError(f"--scale-one {folder} is not a bench folder (no readable bench.json)") from None
    if suite_settings(recorded) != suite_settings(suite.to_dict()):
        raise MrftError(f"--scale-one {folder} holds a bench of suite {recorded.get('name')!r} with other "
                        f"settings than {suite.name!r}; its runs are not this curve's 1x point")
    missing = [m for m in methods if m not in meta.get("methods", [])]
    if missing:
        raise MrftError(f"--scale-one {folder} has no runs of {', '.join(missing)}")


def final_scores(folder: Path) -> dict[tuple[str, str], list[float]]:
    """``(family, method) -> final scores`` over seeds x held-out instances of one bench."""
    data = BenchData(folder)
    scores: dict[tuple[str, str], list[float]] = {}
    for (env, method, seed, _instance), record in data.adapt.items():
        if seed in data.complete_seeds(method):
            scores.setdefault((env, method), []).append(final_score(record, "score"))
    return scores


def scale_folder(out: Path, scale: float, scale_one: Path | None) -> Path:
    """The bench folder of ``scale``: ``OUT/x<scale>``, or ``--scale-one``'s for 1x."""
    return scale_one if scale == 1 and scale_one is not None else out / f"x{scale:g}"


def summarise(out: Path, scales: list[float], families: list[str], methods: list[str],
              budgets: dict[str, int], scale_one: Path | None = None) -> dict:
    rows = []
    for scale in scales:
        folder = scale_folder(out, scale, scale_one)
        if not (folder / "bench.json").exists():
            continue
        for (env, method), values in final_scores(folder).items():
            if env in families and method in methods:
                _, low, high = mean_interval(values)
                rows.append({"family": env, "method": method, "scale": scale,
                             "pretrain_steps": round(budgets[env] * scale), "mean": float(np.mean(values)),
                             "low": low, "high": high, "runs": len(values)})
    return {"families": families, "methods": methods, "scales": scales, "rows": rows}


def markdown(summary: dict) -> str:
    lines = ["# Final held-out score against the pre-training budget", "",
             "Mean over seeds x held-out instances, 95% bootstrap interval.", ""]
    for env in summary["families"]:
        lines += [f"## {env}", "", "| method | " + " | ".join(f"x{s:g}" for s in summary["scales"]) + " |",
                  "|---|" + "---|" * len(summary["scales"])]
        for method in summary["methods"]:
            cells = []
            for scale in summary["scales"]:
                row = next((r for r in summary["rows"] if r["family"] == env and r["method"] == method
                            and r["scale"] == scale), None)
                cells.append("-" if row is None else
                             f"{row['mean']:.3g} [{row['low']:.3g}, {row['high']:.3g}] ({row['pretrain_steps']:,})")
            lines.append(f"| {method} | " + " | ".join(cells) + " |")
        lines.append("")
    return "\n".join(lines)


def plot(summary: dict, path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from mrft import algos
    from mrft.bench.plots import colours

    families = summary["families"]
    palette = colours(summary["methods"], algos.BASELINE, algos.FOCUS)
    fig, axes = plt.subplots(1, len(families), figsize=(5.5 * len(families), 4), squeeze=False)
    for ax, env in zip(axes[0], families, strict=True):
        for method in summary["methods"]:
            rows = sorted((r for r in summary["rows"] if r["family"] == env and r["method"] == method),
                          key=lambda r: r["scale"])
            if not rows:
                continue
            x = [r["pretrain_steps"] for r in rows]
            colour = palette[method]
            ax.plot(x, [r["mean"] for r in rows], marker="o", label=method, color=colour)
            ax.fill_between(x, [r["low"] for r in rows], [r["high"] for r in rows], alpha=0.2,
                            color=colour)
        ax.set_xscale("log")
        ax.set_title(env)
        ax.set_xlabel("pre-training env steps")
        ax.set_ylabel("final held-out score")
        ax.legend()
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)


def main() -> int:
    try:
        run(parse_args())
    except MrftError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    return 0


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--suite", default="cpu")
    parser.add_argument("--families", required=True, help="comma-separated families of the suite")
    parser.add_argument("--methods", default="grpo,ppo,rl2,mrft")
    parser.add_argument("--scales", default="0.25,0.5,1,3")
    parser.add_argument("--seeds", type=int, default=None, help="default: the suite's")
    parser.add_argument("--out", required=True)
    parser.add_argument("--ray", default=None, help="run each scale's sweep on Ray (address or 'local')")
    parser.add_argument("--summary-only", action="store_true", help="only summarise what is there")
    parser.add_argument("--scale-one", default=None,
                        help="a bench of the whole suite (same settings) whose runs are the 1x point")
    return parser.parse_args()


def run(args: argparse.Namespace) -> None:
    suite = load_suite(args.suite)
    families = args.families.split(",")
    methods = args.methods.split(",")
    scales = [float(s) for s in args.scales.split(",")]
    out = Path(args.out)
    budgets = {t.env: t.pretrain_steps or suite.budget.pretrain_steps for t in suite.tasks}
    scale_one = Path(args.scale_one) if args.scale_one else None
    if scale_one is not None:
        check_scale_one(suite, scale_one, methods)
    if not args.summary_only:
        for scale in scales:
            folder = scale_folder(out, scale, scale_one)
            if folder == scale_one:  # the suite's own bench: nothing to run
                continue
            print(f"== x{scale:g}", flush=True)
            run_scale(scaled_suite(suite, families, scale), methods, args.seeds or suite.seeds,
                      folder, args.ray)
    summary = summarise(out, scales, families, methods, budgets, scale_one)
    summary["command"] = "python benchmarks/budget_curve.py " + " ".join(sys.argv[1:])
    out.mkdir(parents=True, exist_ok=True)
    (out / "curve.json").write_text(json.dumps(summary, indent=1), encoding="utf-8")
    (out / "curve.md").write_text(markdown(summary), encoding="utf-8")
    plot(summary, out / "curve.png")
    print(markdown(summary))


if __name__ == "__main__":
    sys.exit(main())
