"""Env steps/s of the two Meta-World backends on this machine: envpool (``metaworld``) and
Farama's benchmark objects in Python MuJoCo (``metaworld-official``).

For each task and backend: random-action stepping of 16 envs (the ceiling a training loop can
approach) and PPO training at the family defaults for a few updates (acting, stepping and
learning), in one run, interleaved and repeated so that drifting load on a shared machine
falls on both alike. The table gives medians and the ratio official / envpool.

Usage:  python benchmarks/metaworld_backends.py [--tasks reach pick-place] [--repeats 2]
Writes benchmarks/results/metaworld_backends.json and prints a table.
"""

from __future__ import annotations

import argparse
import json
import statistics
import time
from pathlib import Path

from speed_common import command_line, machine, provenance, raw_sps
from throughput import train_sps

BACKENDS = ("metaworld", "metaworld-official")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--tasks", nargs="+", default=["reach", "pick-place"])
    parser.add_argument("--repeats", type=int, default=2)
    parser.add_argument("--seconds", type=float, default=10.0, help="raw stepping time per measure")
    parser.add_argument("--updates", type=int, default=2, help="PPO updates per training measure")
    parser.add_argument("--out", default=str(Path(__file__).parent / "results" / "metaworld_backends.json"))
    args = parser.parse_args()
    measured: dict[tuple[str, str], dict[str, list[float]]] = {}
    for _ in range(args.repeats):
        for task in args.tasks:
            for backend in BACKENDS:
                spec = f"{backend}:ML1-{task}"
                row = measured.setdefault((task, backend), {"raw_sps": [], "train_sps": []})
                row["raw_sps"].append(raw_sps(spec, 16, args.seconds))
                row["train_sps"].append(train_sps(spec, args.updates, "fp32")["train_sps"])
                print(f"{spec:32s} raw {row['raw_sps'][-1]:8.0f}  PPO training {row['train_sps'][-1]:8.0f} "
                      "env steps/s", flush=True)
    rows = []
    for task in args.tasks:
        medians = {b: {k: statistics.median(v) for k, v in measured[task, b].items()} for b in BACKENDS}
        rows.append({"task": task, **{b: {**medians[b], "runs": measured[task, b]} for b in BACKENDS},
                     "official_over_envpool_raw": medians["metaworld-official"]["raw_sps"]
                     / medians["metaworld"]["raw_sps"],
                     "official_over_envpool_train": medians["metaworld-official"]["train_sps"]
                     / medians["metaworld"]["train_sps"]})
    print(f"\n{'task':12s} {'envpool raw':>12s} {'official raw':>13s} {'ratio':>6s}  "
          f"{'envpool PPO':>12s} {'official PPO':>13s} {'ratio':>6s}")
    for r in rows:
        print(f"{r['task']:12s} {r['metaworld']['raw_sps']:12.0f} {r['metaworld-official']['raw_sps']:13.0f} "
              f"{r['official_over_envpool_raw']:6.2f}  {r['metaworld']['train_sps']:12.0f} "
              f"{r['metaworld-official']['train_sps']:13.0f} {r['official_over_envpool_train']:6.2f}")
    report = {"what": "env steps/s of Meta-World through envpool and through Farama's benchmark objects, "
                      "16 envs, random actions and PPO training at the family defaults",
              "command": command_line("benchmarks/metaworld_backends.py", vars(args), skip=("out",)), "machine": machine(), **provenance(),
              "time": time.strftime("%Y-%m-%d %H:%M:%S"), "settings": vars(args), "rows": rows}
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    Path(args.out).write_text(json.dumps(report, indent=2))
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
