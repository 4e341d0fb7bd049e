"""Facts about a finished bench sweep that its report does not state, read from the run files.

- **Run time without pauses.** A sweep that was paused (SIGSTOP while other measurements
  ran) has runs whose wall clock includes the pause. A run is counted as paused when its
  wall clock is over 3x the median of its group (family, method, pre-training or
  adaptation) and over that median by more than a minute; it then counts at the median.
  A pre-training continued after a stop counts the steps before the stop at the speed of
  its last part (:func:`mrft.bench.eta.whole_run_seconds`), as the report's cost rows do.
  The script prints the paused runs, the sum of wall clocks with and without the pauses,
  and each method's share of the run time.
- **Adaptation from a dropped start.** For one family (``--family``), the adaptations whose
  first evaluation scores below ``--dropped-below``: how many end at or above
  ``--recovered-at``, per method, and for each method the median episode length and the
  number of updates its own logs show in those runs (one ``losses/policy_loss`` record per
  update), over all of them and over the recovered ones; the median optimiser steps of those
  runs; and the mean final score of the dropped runs and of the others. These are the signed
  pendulum's figures in docs/results.md's ``cpu`` section.
- **What adaptation did.** Per family and method: the mean score at the first evaluation (in
  context, before any update) and at the last, each the mean over seeds of the seed's mean
  over held-out instances as the report computes its scores, the mean gain between them, and
  the median number of optimiser steps an adaptation took (``optimizer_steps`` in its run
  file), so a method that stops updating early can be told from one that updates throughout.
- **Where the spread over seeds comes from.** Per family and method, the standard deviation
  across seeds of each seed's mean score over the family's held-out instances, at the first
  evaluation (in context) and at the last (final; the report's "spread over seeds"), so a
  spread that adaptation leaves can be told from one that pre-training made.

- **How many runs ran at once.** Each run's span ends at the last record of its log
  (``metrics.jsonl``) and begins its wall clock earlier. From those spans: the time from
  the first start to the last end (gaps between sittings included), the most runs that ran
  at one moment (held for a minute or more, so the seams between a chain's runs do not
  count), and the hours with each number of runs under way (a paused run included), so a
  statement such as "two at a time on 2 cores" is read off the runs rather than assumed. A
  run resumed after a stop counts from its last sitting, as its wall clock does.

Reads the run files from ``runs/`` or from the folder's ``runs.tar.xz``
(:class:`mrft.bench.archive.RunFiles`). Writes ``sweep_facts.json`` in the bench folder and
prints it.

    python benchmarks/sweep_facts.py benchmarks/results/cpu
"""

from __future__ import annotations

import argparse
import collections
import json
import statistics
import sys

from mrft.atomic import atomic_write_bytes
from mrft.bench.archive import RunFiles
from mrft.bench.eta import whole_run_seconds
from mrft.bench.statistics import spread_over_seeds
from mrft.errors import MrftError

SEAM_S = 60.0
"""A count of runs held without a break for less than this is not the most at once: where one
run of a chain ends and the next begins, the estimated spans overlap by a few seconds."""
PAUSE_FACTOR = 3.0
PAUSE_MIN_EXCESS_S = 60.0


def paused(wall_clock: float, median: float) -> bool:
    """A run whose wall clock is far above its group's median: it includes a pause."""
    return wall_clock > PAUSE_FACTOR * median and wall_clock - median > PAUSE_MIN_EXCESS_S


def run_records(files: RunFiles) -> dict[str, dict]:
    """Every run file of the sweep (pre-trainings and adaptations), read once: name -> record."""
    return {name: json.loads(files.read_text(name))
            for name in files.glob("runs/*/*/seed*/pretrain.json")
            + files.glob("runs/*/*/seed*/adapt/instance*.json")}


def run_time(records: dict[str, dict]) -> dict:
    groups: dict[tuple[str, str, str], list[tuple[float, str]]] = collections.defaultdict(list)
    for name, record in records.items():
        family, method = name.split("/")[1:3]
        kind = "pretrain" if name.endswith("/pretrain.json") else "adapt"
        groups[(family, method, kind)].append((whole_run_seconds(record), name))
    total = 0.0
    per_method: collections.Counter = collections.Counter()
    pauses = []
    for (_, method, _), group in groups.items():
        median = statistics.median(w for w, _ in group)
        for wall, name in group:
            total += wall
            if paused(wall, median):
                pauses.append({"run": name, "wall_clock_s": round(wall), "median_s": round(median)})
                wall = median
            per_method[method] += wall
    unpaused = sum(per_method.values())
    return {"runs": sum(len(g) for g in groups.values()),
            "wall_clock_sum_h": round(total / 3600, 2),
            "run_time_without_pauses_h": round(unpaused / 3600, 2),
            "paused_runs": sorted(pauses, key=lambda p: p["run"]),
            "share_of_run_time": {m: round(v / unpaused, 3) for m, v in per_method.most_common()}}


def run_spans(files: RunFiles, records: dict[str, dict]) -> list[tuple[float, float]]:
    """``(start, end)`` in seconds since the epoch of every run that logged a time: the end is
    its log's last record, the start its wall clock before that."""
    spans = []
    for name, record in records.items():
        log = (name.removesuffix("pretrain.json") + "train/metrics.jsonl" if name.endswith("pretrain.json")
               else name.removesuffix(".json") + "/metrics.jsonl")
        if not files.exists(log):
            continue
        times = [r["time"] for r in files.read_jsonl(log) if "time" in r]
        if times:
            end = max(times)
            spans.append((end - float(record["wall_clock_s"]), end))
    return spans


def concurrency(spans: list[tuple[float, float]]) -> dict:
    """``{"elapsed_h", "most_at_once", "hours_with_runs": {n: hours}}`` of the runs' spans.
    ``most_at_once`` is the largest count held without a break for :data:`SEAM_S` or more, so
    the seams where one run of a chain ends and the next begins, however many, never count as
    a second run; ``hours_with_runs`` counts every moment."""
    if not spans:
        return {}
    events = sorted([(start, 1) for start, _ in spans] + [(end, -1) for _, end in spans])
    hours: collections.Counter = collections.Counter()
    running = most = 0
    previous = events[0][0]
    for moment, change in events:
        if running:
            hours[running] += moment - previous
            if moment - previous >= SEAM_S:
                most = max(most, running)
        running += change
        previous = moment
    return {"elapsed_h": round((events[-1][0] - events[0][0]) / 3600, 2), "most_at_once": most,
            "hours_with_runs": {str(n): round(hours[n] / 3600, 2) for n in sorted(hours)}}


def dropped_starts(files: RunFiles, records: dict[str, dict], family: str, below: float,
                   recovered_at: float) -> dict:
    out = {}
    for method in sorted({name.split("/")[2] for name in files.names(f"runs/{family}")}):
        dropped = recovered = 0
        lengths, updates, recovered_updates, steps = [], [], [], []
        finals: dict[bool, list[float]] = {True: [], False: []}
        for name, run in records.items():
            if not name.startswith(f"runs/{family}/{method}/") or "/adapt/" not in name:
                continue
            curve = run["curve"]
            started_dropped = curve[0]["score"] < below
            finals[started_dropped].append(curve[-1]["score"])
            if not started_dropped:
                continue
            dropped += 1
            if run.get("optimizer_steps") is not None:
                steps.append(run["optimizer_steps"])
            back = curve[-1]["score"] >= recovered_at
            recovered += back
            log = name.removesuffix(".json") + "/metrics.jsonl"
            if files.exists(log):
                rows = files.read_jsonl(log)
                updates.append(sum("losses/policy_loss" in r for r in rows))
                if back:
                    recovered_updates.append(updates[-1])
                lengths += [r["charts/episodic_length"] for r in rows
                            if "charts/episodic_length" in r]
        if dropped:
            out[method] = {
                "dropped": dropped, "recovered": recovered,
                "median_episode_length": statistics.median(lengths) if lengths else None,
                "updates_min_max": _span(updates),
                "recovered_updates_min_max": _span(recovered_updates),
                "median_optimizer_steps": _median(steps),
                "final_mean_dropped": _mean(finals[True]),
                "final_mean_others": _mean(finals[False])}
    return {"family": family, "dropped_below": below, "recovered_at": recovered_at,
            "methods": out}


def _span(values: list[int]) -> list[int] | None:
    return [min(values), max(values)] if values else None


def _median(values: list[float]) -> float | None:
    return statistics.median(values) if values else None


def _mean(values: list[float]) -> float | None:
    return round(statistics.fmean(values), 4) if values else None


AdaptRuns = dict[tuple[str, str], dict[str, list[dict]]]


def adapt_runs(records: dict[str, dict]) -> AdaptRuns:
    """The adaptation runs of :func:`run_records`: ``(family, method) -> seed -> [run, ...]``."""
    runs: AdaptRuns = collections.defaultdict(lambda: collections.defaultdict(list))
    for name, record in records.items():
        if "/adapt/" in name:
            family, method, seed = name.split("/")[1:4]
            runs[(family, method)][seed].append(record)
    return runs


def adaptation(runs: AdaptRuns) -> dict:
    """``family -> method -> {"in_context", "final", "gain", "median_optimizer_steps",
    "runs"}``: scores as the mean over seeds of each seed's mean over instances; the gain is
    final minus in context; the median over every adaptation run of its optimiser steps."""
    out: dict[str, dict] = collections.defaultdict(dict)
    for (family, method), seeds in sorted(runs.items()):
        first = _mean([statistics.fmean(r["curve"][0]["score"] for r in rs)
                       for rs in seeds.values()])
        last = _mean([statistics.fmean(r["curve"][-1]["score"] for r in rs)
                      for rs in seeds.values()])
        steps = [r["optimizer_steps"] for rs in seeds.values() for r in rs
                 if r.get("optimizer_steps") is not None]
        out[family][method] = {"in_context": first, "final": last,
                               "gain": round(last - first, 4), "median_optimizer_steps":
                               _median(steps), "runs": sum(len(rs) for rs in seeds.values())}
    return dict(out)


def seed_spread(runs: AdaptRuns) -> dict:
    """``family -> method -> {"in_context", "final", "seeds"}``: the spread over seeds
    (:func:`mrft.bench.statistics.spread_over_seeds`, as the report's) of the first and the
    last evaluation score; a method with fewer than two seeds is left out."""
    out: dict[str, dict] = collections.defaultdict(dict)
    for (family, method), seeds in sorted(runs.items()):
        if len(seeds) < 2:
            continue
        first = [[r["curve"][0]["score"] for r in rs] for rs in seeds.values()]
        last = [[r["curve"][-1]["score"] for r in rs] for rs in seeds.values()]
        out[family][method] = {"in_context": round(spread_over_seeds(first), 4),
                               "final": round(spread_over_seeds(last), 4), "seeds": len(seeds)}
    return dict(out)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("folder", help="a bench folder (with runs/ or runs.tar.xz), or its archive")
    parser.add_argument("--family", default="shift_inverted-pendulum-signed",
                        help="folder name of the family under runs/ (default: %(default)s)")
    parser.add_argument("--dropped-below", type=float, default=200.0,
                        help="a first evaluation below this is a dropped start (default: %(default)s)")
    parser.add_argument("--recovered-at", type=float, default=700.0,
                        help="a final score at or above this is a recovery (default: %(default)s)")
    args = parser.parse_args(argv)
    files = RunFiles(args.folder)
    try:
        found = files.names("runs")
    except MrftError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    if not found:
        print(f"error: {files.folder} has no runs/ folder or {files.archive.name}; give a bench "
              "folder", file=sys.stderr)
        return 2
    records = run_records(files)
    facts = {"run_time": run_time(records), "concurrency": concurrency(run_spans(files, records))}
    if files.names(f"runs/{args.family}"):
        facts["dropped_starts"] = dropped_starts(files, records, args.family, args.dropped_below,
                                                 args.recovered_at)
    runs = adapt_runs(records)
    facts["adaptation"] = adaptation(runs)
    facts["seed_spread"] = seed_spread(runs)
    text = json.dumps(facts, indent=2)
    atomic_write_bytes(files.folder / "sweep_facts.json", (text + "\n").encode())
    print(text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
