"""Final held-out score against the pre-training budget: where one method overtakes another,
and what a user must spend to get there.

For some families of a suite, every method is pre-trained at ``--scales`` times the family's
budget in the suite (the same seeds, held-out instances, adaptation budget and settings as
the suite; only the pre-training length changes) and adapted as the suite adapts. Each scale
is a bench folder of its own (``OUT/x0.25``, ``OUT/x1``, ...), so the sweep is resumable:
rerun the same command and finished runs are kept. The summary (``OUT/curve.json``, ``OUT/curve.md``,
``OUT/curve.png``), written again after every scale, gives each method's final score per
family and scale: the mean over seeds of each seed's mean over the held-out instances, with
a 95% bootstrap interval over whole seeds (a seed's instances share one pre-training, so
they are not independent runs; no interval with fewer than two seeds). Against each other
method, MRFT's standing at every scale (ahead, level or behind, by whether the intervals are
apart) and the smallest scale from which it stays above by mean and from which it is never
behind: where MRFT overtakes, and what a user must spend for it, in env steps and, at
each method's median env steps/s over its pre-trainings, in wall clock. At each scale and
family every method is read on the same seeds: those of ``--seeds`` that every method has
finished there; a point short of them is marked as partial (a hollow marker, ``n/N seeds``).

The 1x point is the suite itself: ``--scale-one FOLDER`` takes it from a bench of the whole
suite (the same settings, checked) instead of running those families again.

With ``--results-doc PATH`` the summary (the plot, the table and the standings, with the
command) is also put between ``<!-- budget-curve:start -->`` and ``<!-- budget-curve:end -->``
in that document; missing markers are refused before anything runs.

    python benchmarks/budget_curve.py --suite cpu --families nav:point,shift:inverted-pendulum-signed \\
        --methods grpo,ppo,rl2,mrft --scales 0.25,0.5,1,3 --out benchmarks/results/budget-curve \\
        --scale-one benchmarks/results/cpu-v3
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import os
import sys
from pathlib import Path

import numpy as np

from mrft.algos import FOCUS
from mrft.atomic import atomic_write_bytes
from mrft.bench.eta import readable_duration, timed_steps
from mrft.bench.loading import BenchData, final_score
from mrft.bench.runner import BenchInterrupted, pretrain_source, suite_settings
from mrft.bench.statistics import mean_interval
from mrft.bench.suite import BenchSuite, load_suite
from mrft.bench.text import replace_between
from mrft.cli import describe_os_error
from mrft.errors import MrftError

DOC_MARKERS = ("<!-- budget-curve:start -->", "<!-- budget-curve:end -->")


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
    meta = recorded_bench(folder, "--scale-one ")
    recorded = meta["suite"]
    if suite_settings(recorded) != suite_settings(suite.to_dict()):
        raise MrftError(f"--scale-one {folder} holds a bench of suite {recorded.get('name')!r} with other "
                        f"settings than {suite.name!r}; its runs are not this curve's 1x point")
    missing = [m for m in methods if m not in meta.get("methods", [])]
    if missing:
        raise MrftError(f"--scale-one {folder} has no runs of {', '.join(missing)}")


def seed_finals(data: BenchData, env: str, method: str, seeds: list[int]) -> dict[int, float]:
    """``seed -> mean final score over the family's held-out instances`` for each of ``seeds``
    whose runs of ``method`` on every instance of ``env`` are finished."""
    instances = next(f.instances for f in data.families if f.env == env)
    out = {}
    for seed in seeds:
        keys = [(env, method, seed, i) for i in range(instances)]
        if all(k in data.adapt for k in keys):
            out[seed] = float(np.mean([final_score(data.adapt[k], "score") for k in keys]))
    return out


def check_settings(folder: Path, suite: BenchSuite) -> None:
    """Refuse to read ``folder`` as a scale's bench when it holds other settings than
    ``suite`` (a leftover of other ``--families``, another suite file, an edited suite)."""
    if suite_settings(recorded_bench(folder)["suite"]) != suite_settings(suite.to_dict()):
        raise MrftError(f"{folder} holds a bench with other settings than {suite.name!r}; "
                        "move it away or pick another --out")


def recorded_bench(folder: Path, flag: str = "") -> dict:
    """``folder``'s bench record (``bench.json``, with its suite), or one error line naming
    ``flag`` when there is none to read."""
    try:
        meta = json.loads((folder / "bench.json").read_text(encoding="utf-8"))
        if not isinstance(meta.get("suite"), dict):
            raise KeyError("suite")
    except (OSError, json.JSONDecodeError, KeyError, AttributeError):
        raise MrftError(f"{flag}{folder} is not a bench folder (no readable bench.json)") from None
    return meta


def scale_folder(out: Path, scale: float, scale_one: Path | None) -> Path:
    """The bench folder of ``scale``: ``OUT/x<scale>``, or ``--scale-one``'s for 1x."""
    return scale_one if scale == 1 and scale_one is not None else out / f"x{scale:g}"


def summarise(out: Path, suite: BenchSuite, scales: list[float], families: list[str],
              methods: list[str], seeds: list[int], scale_one: Path | None = None) -> dict:
    """Per family, scale and method, the final score on the seeds every method has finished
    there (see the module docstring), and the commits each scale's runs were made at."""
    budgets = {t.env: t.pretrain_steps or suite.budget.pretrain_steps for t in suite.tasks}
    rows, commits, rates = [], {}, {}
    for scale in scales:
        folder = scale_folder(out, scale, scale_one)
        if not (folder / "bench.json").exists():
            continue
        if folder != scale_one:
            check_settings(folder, scaled_suite(suite, families, scale))
        data = BenchData(folder)
        commits[f"x{scale:g}"] = data.meta.get("commits") or [data.meta.get("commit")]
        for env in families:
            for method in methods:
                rates.setdefault((env, method), []).extend(
                    pretraining_rates(data, env, method, seeds, round(budgets[env] * scale)))
            finals = {m: seed_finals(data, env, m, seeds) for m in methods}
            common = sorted(set(seeds).intersection(*(set(f) for f in finals.values())))
            for method in methods:
                values = [finals[method][s] for s in common]
                if not values:
                    continue
                low = high = None
                if len(values) > 1:
                    _, low, high = mean_interval(values)
                rows.append({"family": env, "method": method, "scale": scale,
                             "pretrain_steps": round(budgets[env] * scale), "mean": float(np.mean(values)),
                             "low": low, "high": high, "seeds": common, "expected_seeds": len(seeds),
                             "complete": len(common) == len(seeds)})
    speeds = [{"family": env, "method": method, "sps": float(np.median(found)), "runs": len(found)}
              for (env, method), found in rates.items() if found]
    return {"families": families, "methods": methods, "scales": scales, "seeds": seeds,
            "rows": rows, "commits": commits, "pretrain_speed": speeds,
            "pretrain_budgets": {env: budgets[env] for env in families}}


def pretraining_rates(data: BenchData, env: str, method: str, seeds: list[int], steps: int) -> list[float]:
    """The env steps/s of each of ``seeds``' pre-trainings of ``method`` on ``env`` in one
    scale's bench: the steps its wall clock covers (:func:`~mrft.bench.eta.timed_steps`, as
    the sweep's ETA counts them) over that wall clock; a run too short to time by is left out."""
    out = []
    for seed in seeds:
        record = data.pretrain.get((env, pretrain_source(method), seed))
        ran = timed_steps(record, steps) if record and record.get("wall_clock_s") else None
        if ran is not None:
            out.append(ran / float(record["wall_clock_s"]))
    return out


def markdown(summary: dict) -> str:
    lines = ["# Final held-out score against the pre-training budget", "",
             "Mean over seeds of each seed's mean final score over the held-out instances, with a "
             "95% bootstrap interval over whole seeds; at each scale every method on the same seeds "
             "(n/N: a scale not finished yet). In brackets after the score: the pre-training env "
             "steps.", ""]
    for env in summary["families"]:
        lines += [f"## {env}", "", "| method | " + " | ".join(f"x{s:g}" for s in summary["scales"]) + " |",
                  "|---|" + "---|" * len(summary["scales"])]
        for method in summary["methods"]:
            cells = []
            for scale in summary["scales"]:
                row = next((r for r in summary["rows"] if r["family"] == env and r["method"] == method
                            and r["scale"] == scale), None)
                cells.append("-" if row is None else _cell(row))
            lines.append(f"| {method} | " + " | ".join(cells) + " |")
        lines.append("")
    lines += cost_markdown(summary)
    lines += overtaking_markdown(summary, summary.get("focus", FOCUS))
    lines += ["Made at: " + "; ".join(f"{scale} {', '.join(c for c in commits if c)}"
                                       for scale, commits in summary.get("commits", {}).items()), ""]
    return "\n".join(lines)


def cost_markdown(summary: dict) -> list[str]:
    """What one seed's pre-training costs in wall clock at each budget: its env steps over
    the method's median env steps/s on the family, over every scale's runs."""
    speeds = summary.get("pretrain_speed") or []
    if not speeds:
        return []
    scales = summary["scales"]
    lines = ["## What pre-training costs", "",
             "Wall clock of one seed's pre-training at each budget: its env steps at the median env "
             "steps/s of the method's pre-trainings on the family over every scale (how many runs in "
             "brackets; a resumed run counts the steps after its resume). The runs shared the machine, "
             "so read these as ratios between methods rather than as absolute times.", ""]
    lines += ["| family | method | env steps/s | " + " | ".join(f"x{s:g}" for s in scales) + " |",
              "|---|---|---|" + "---|" * len(scales)]
    for speed in speeds:
        budget = summary["pretrain_budgets"][speed["family"]]
        cells = [readable_duration(budget * scale / speed["sps"]) for scale in scales]
        lines.append(f"| {speed['family']} | {speed['method']} | {speed['sps']:,.0f} ({speed['runs']}) | "
                     + " | ".join(cells) + " |")
    lines.append("")
    return lines


MIN_INTERVAL_SEEDS = 3
"""Seeds a point needs for its interval to decide ahead or behind (as the report asks of a
comparison); with fewer the means decide, and the standing says so."""


def standing(focus: dict, other: dict) -> str:
    """Where ``focus``'s point stands against ``other``'s at one family and scale (both read
    on the same seeds): "ahead" or "behind" when their intervals over seeds are apart,
    "level" when they overlap; with fewer than :data:`MIN_INTERVAL_SEEDS` seeds the means
    decide (equal means: level), and the word says so. A scale not finished for every seed
    says how many it has."""
    seeds = len(focus["seeds"])
    if seeds < MIN_INTERVAL_SEEDS or None in (focus["low"], other["low"]):
        gap = focus["mean"] - other["mean"]
        mark = ("ahead" if gap > 0 else "behind" if gap < 0 else "level") + f" by mean, {seeds} seed"
        mark += "" if seeds == 1 else "s"
    elif focus["low"] > other["high"]:
        mark = "ahead"
    elif focus["high"] < other["low"]:
        mark = "behind"
    else:
        mark = "level"
    if not focus.get("complete", True):
        mark += f" ({seeds}/{focus['expected_seeds']} seeds)"
    return mark


def overtaking(summary: dict, focus: str) -> list[dict]:
    """Per family and other method: ``focus``'s standing at each scale both were read at, the
    smallest scale from which ``focus``'s mean is above the other's at that scale and every
    larger one (``None``: not at the largest), and the smallest from which it is never
    behind (by :func:`standing`). This is what a user must spend for ``focus`` to pay off."""
    out = []
    for env in summary["families"]:
        points = {(r["method"], r["scale"]): r for r in summary["rows"] if r["family"] == env}
        for other in summary["methods"]:
            if other == focus:
                continue
            scales = sorted(s for s in set(summary["scales"]) if (focus, s) in points and (other, s) in points)
            if not scales:
                continue
            marks = {s: standing(points[(focus, s)], points[(other, s)]) for s in scales}
            above = [points[(focus, s)]["mean"] > points[(other, s)]["mean"] for s in scales]
            never_behind = [not marks[s].startswith("behind") for s in scales]
            out.append({"family": env, "method": other, "standing": {f"x{s:g}": marks[s] for s in scales},
                        "above_from": _from_on(scales, above), "not_behind_from": _from_on(scales, never_behind)})
    return out


def _from_on(scales: list[float], holds: list[bool]) -> float | None:
    """The smallest of ``scales`` (ascending) from which ``holds`` is true at it and every
    larger one."""
    start = None
    for scale, ok in zip(scales, holds, strict=True):
        start = (scale if start is None else start) if ok else None
    return start


def overtaking_markdown(summary: dict, focus: str) -> list[str]:
    rows = summary.get("overtaking") or []
    if not rows:
        return []
    lines = [f"## {focus} against each method", "",
             f"At each scale: ahead or behind where the two intervals over seeds are apart, level where "
             f"they overlap (with fewer than {MIN_INTERVAL_SEEDS} seeds the means decide, as marked); then "
             f"the smallest scale from which {focus}'s mean is above the other's at every larger scale "
             "too, and from which it is never behind.", ""]
    for row in rows:
        marks = ", ".join(f"{scale} {mark}" for scale, mark in row["standing"].items())
        above = "not at the largest scale" if row["above_from"] is None else f"from x{row['above_from']:g}"
        level = "not at the largest scale" if row["not_behind_from"] is None else f"from x{row['not_behind_from']:g}"
        lines.append(f"- {row['family']}, against {row['method']}: {marks}; above by mean {above}; "
                     f"never behind {level}.")
    return [*lines, ""]


def document_block(summary: dict, out: Path, doc: Path) -> str:
    """What the results document shows of the curve: the plot (linked relative to ``doc``),
    the tables and standings of :func:`markdown` without its title, and the command."""
    body = markdown(summary).split("\n", 2)[2].replace("\n## ", "\n#### ")
    image = Path(os.path.relpath(out.resolve() / "curve.png", doc.resolve().parent)).as_posix()
    command = summary["command"]
    root = next((p for p in doc.resolve().parents if (p / ".git").exists()), None)
    if root is not None:  # paths inside the document's repository read as a reader would type them
        command = command.replace(f"{root}{os.sep}", "")
    return (f"![Final held-out score against pre-training env steps]({image})\n\n{body.strip()}\n\n"
            f"Made by `{command}`.")


def _cell(row: dict) -> str:
    interval = "" if row["low"] is None else f" [{row['low']:.3g}, {row['high']:.3g}]"
    partial = "" if row["complete"] else f", {len(row['seeds'])}/{row['expected_seeds']} seeds"
    return f"{row['mean']:.3g}{interval} ({row['pretrain_steps']:,}{partial})"


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
            ax.plot(x, [r["mean"] for r in rows], label=method, color=colour)
            for r in rows:  # a hollow marker: the scale is not finished for every seed
                ax.plot(r["pretrain_steps"], r["mean"], marker="o", color=colour,
                        markerfacecolor=colour if r["complete"] else "white")
            banded = [r for r in rows if r["low"] is not None]
            ax.fill_between([r["pretrain_steps"] for r in banded], [r["low"] for r in banded],
                            [r["high"] for r in banded], alpha=0.2, color=colour)
        ax.set_xscale("log")
        ticks = sorted({(r["pretrain_steps"], r["scale"]) for r in summary["rows"] if r["family"] == env})
        ax.set_xticks([steps for steps, _ in ticks], [f"{steps:,}\nx{scale:g}" for steps, scale in ticks])
        ax.minorticks_off()
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
    except OSError as exc:  # a results document that cannot be read or written
        print(f"error: {describe_os_error(exc)}", file=sys.stderr)
        return 2
    except (BenchInterrupted, KeyboardInterrupt) as exc:
        print(f"interrupted: {exc or 'the runs finished so far are saved'}; rerun the same command "
              "to continue", file=sys.stderr)
        return 130
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
    parser.add_argument("--results-doc", default=None,
                        help="also put the summary between the budget-curve markers of this document")
    return parser.parse_args()


def parse_scales(text: str) -> list[float]:
    """``--scales``: comma-separated positive multiples of the suite's pre-training budget."""
    try:
        scales = [float(s) for s in text.split(",")]
    except ValueError:
        raise MrftError(f"--scales takes comma-separated numbers such as 0.5,1,3, got {text!r}") from None
    if any(not scale > 0 or scale == float("inf") for scale in scales):
        raise MrftError(f"--scales must be positive and finite, got {text!r}")
    return scales


def run(args: argparse.Namespace) -> None:
    suite = load_suite(args.suite)
    families = args.families.split(",")
    methods = args.methods.split(",")
    scales = parse_scales(args.scales)
    if args.seeds is not None and args.seeds < 1:
        raise MrftError(f"--seeds must be at least 1, got {args.seeds}")
    out = Path(args.out)
    seeds = list(range(1, (args.seeds or suite.seeds) + 1))
    scale_one = Path(args.scale_one) if args.scale_one else None
    if scale_one is not None:
        check_scale_one(suite, scale_one, methods)
    doc = Path(args.results_doc) if args.results_doc else None
    if doc is not None:  # refused now, not after hours of runs
        replace_between(doc.read_text(encoding="utf-8"), DOC_MARKERS, "", doc)

    def write_summary() -> None:
        summary = summarise(out, suite, scales, families, methods, seeds, scale_one)
        if FOCUS in methods:
            summary["focus"] = FOCUS
            summary["overtaking"] = overtaking(summary, FOCUS)
        summary["command"] = "python benchmarks/budget_curve.py " + " ".join(sys.argv[1:])
        out.mkdir(parents=True, exist_ok=True)
        (out / "curve.json").write_text(json.dumps(summary, indent=1), encoding="utf-8")
        (out / "curve.md").write_text(markdown(summary), encoding="utf-8")
        plot(summary, out / "curve.png")
        if doc is not None:
            text = replace_between(doc.read_text(encoding="utf-8"), DOC_MARKERS,
                                   document_block(summary, out, doc), doc)
            atomic_write_bytes(doc, text.encode())
        print(markdown(summary), flush=True)

    if not args.summary_only:
        for scale in scales:
            folder = scale_folder(out, scale, scale_one)
            if folder == scale_one:  # the suite's own bench: nothing to run
                continue
            print(f"== x{scale:g}", flush=True)
            try:
                run_scale(scaled_suite(suite, families, scale), methods, len(seeds), folder, args.ray)
            finally:  # what is finished is summarised, whatever stopped the sweep
                if (folder / "bench.json").exists():
                    write_summary()
    write_summary()


if __name__ == "__main__":
    sys.exit(main())
