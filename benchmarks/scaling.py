"""What more cores buy on one machine: a 2-rank torchrun training run against one process,
and a Ray sweep on 2 workers against the same sweep run serially.

1. **torchrun**: ``mrft train --algo ppo --env metaworld:ML1-reach --total-steps S
   --eval-episodes 0`` as one process and as ``torchrun --standalone --nproc_per_node=2``
   (two ranks), the same total env steps. Figure: env steps per second of the whole
   command, start-up included.
2. **Ray**: ``mrft bench --suite benchmarks/suites/scaling.toml --methods grpo,ppo`` (eight
   chains) serially and with ``--ray`` (a local Ray with this machine's cores). Figure: wall
   clock of the whole command, Ray's start-up included; the result files of both must agree
   (timings aside), which the script checks.

Every process runs one torch thread (``OMP_NUM_THREADS=1``: what torchrun gives each rank
and Ray each 1-CPU run), so each side uses as many cores as it has processes; with torch's
default of one thread per core, two processes on two cores would also fight over threads,
and float sums split over a different number of threads differ in their last bits, so a
serial sweep equals a Ray sweep only at the same thread count.

Sides alternate and repeat (``--repeats``) so drifting load falls on all; the table gives
medians and the speed-ups of the medians. Writes ``--out`` (default
``benchmarks/results/scaling.json``).

    python benchmarks/scaling.py
"""

from __future__ import annotations

import argparse
import json
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from speed_common import REPO, checkout_env, command_line, loadavg, machine, provenance

from mrft.bench.runner import TIMING_FIELDS

SUITE = REPO / "benchmarks" / "suites" / "scaling.toml"
TRAIN = ["train", "--algo", "ppo", "--env", "metaworld:ML1-reach", "--seed", "1", "--no-progress",
         "--eval-episodes", "0"]


def timed_command(cmd: list[str], env: dict[str, str]) -> float:
    """Wall seconds of ``cmd``; its output goes to a log that is shown only on failure."""
    print("$ " + " ".join(cmd), flush=True)
    start = time.perf_counter()
    proc = subprocess.run(cmd, cwd=REPO, env=env, capture_output=True, text=True, check=False)
    wall = time.perf_counter() - start
    if proc.returncode != 0:
        sys.stdout.write(proc.stdout[-4000:] + proc.stderr[-4000:])
        raise SystemExit(f"failed (exit {proc.returncode}): {' '.join(cmd)}")
    print(f"  {wall:.1f} s", flush=True)
    return wall


def train_side(ranks: int, steps: int, scratch: Path, env: dict[str, str]) -> dict:
    runs = scratch / f"train{ranks}"
    shutil.rmtree(runs, ignore_errors=True)
    args = [*TRAIN, "--total-steps", str(steps), "--runs-dir", str(runs)]
    if ranks == 1:
        cmd = [sys.executable, "-m", "mrft", *args]
    else:
        cmd = [sys.executable, "-m", "torch.distributed.run", "--standalone",
               f"--nproc_per_node={ranks}", "-m", "mrft", *args]
    load = loadavg()
    wall = timed_command(cmd, env)
    return {"ranks": ranks, "env_steps": steps, "wall_s": wall, "sps": steps / wall,
            "loadavg_before": load}


def result_files(folder: Path) -> dict[str, dict]:
    """Every run's result file (``pretrain.json``, ``adapt/instance<i>.json``) without its
    timings, keyed by its path in the folder."""
    out = {}
    for path in sorted((folder / "runs").rglob("*.json")):
        if path.name == "pretrain.json" or path.parent.name == "adapt":
            row = json.loads(path.read_text())
            out[str(path.relative_to(folder))] = {k: v for k, v in row.items() if k not in TIMING_FIELDS}
    return out


def sweep_side(ray: bool, scratch: Path, env: dict[str, str]) -> tuple[dict, dict]:
    out = scratch / ("sweep-ray" if ray else "sweep-serial")
    shutil.rmtree(out, ignore_errors=True)
    cmd = [sys.executable, "-m", "mrft", "bench", "--suite", str(SUITE), "--methods", "grpo,ppo",
           "--out", str(out), "--no-report"] + (["--ray"] if ray else [])
    load = loadavg()
    wall = timed_command(cmd, env)
    return {"ray": ray, "wall_s": wall, "loadavg_before": load}, result_files(out)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--train-steps", type=int, default=131_072,
                        help="env steps of each training run (all ranks together)")
    parser.add_argument("--repeats", type=int, default=2)
    parser.add_argument("--sweep", action=argparse.BooleanOptionalAction, default=True,
                        help="also time the Ray sweep (needs mrft[ray])")
    parser.add_argument("--out", default=str(REPO / "benchmarks" / "results" / "scaling.json"))
    args = parser.parse_args()
    env = {**checkout_env(), "OMP_NUM_THREADS": "1"}

    started = time.perf_counter()
    train_rows: dict[int, list[dict]] = {1: [], 2: []}
    sweep_rows: dict[bool, list[dict]] = {False: [], True: []}
    files: dict[bool, dict] = {}
    with tempfile.TemporaryDirectory(prefix="mrft-scaling-") as tmp:
        scratch = Path(tmp)
        for _ in range(args.repeats):
            for ranks in (1, 2):
                train_rows[ranks].append(train_side(ranks, args.train_steps, scratch, env))
            if args.sweep:
                for ray in (False, True):
                    row, files[ray] = sweep_side(ray, scratch, env)
                    sweep_rows[ray].append(row)

    result: dict = {
        "command": command_line("benchmarks/scaling.py", vars(args), skip=("out",)),
        "machine": machine(), **provenance(), "time": time.strftime("%Y-%m-%d %H:%M:%S"),
        "wall_s": time.perf_counter() - started,
        "torchrun": {"rows": train_rows},
    }
    sps = {r: statistics.median(x["sps"] for x in rows) for r, rows in train_rows.items()}
    result["torchrun"]["median_sps"] = sps
    result["torchrun"]["speedup_2_ranks"] = sps[2] / sps[1]
    lines = [f"torchrun, {args.train_steps:,} env steps: 1 process {sps[1]:,.0f} steps/s, "
             f"2 ranks {sps[2]:,.0f} steps/s: x{sps[2] / sps[1]:.2f}"]
    if args.sweep:
        wall = {r: statistics.median(x["wall_s"] for x in rows) for r, rows in sweep_rows.items()}
        same = files[False] == files[True]
        result["ray"] = {"rows": {"serial": sweep_rows[False], "ray": sweep_rows[True]},
                         "median_wall_s": {"serial": wall[False], "ray": wall[True]},
                         "speedup": wall[False] / wall[True],
                         "same_result_files": same, "result_files": len(files[False])}
        lines.append(f"Ray sweep, {len(files[False])} result files: serial {wall[False]:.0f} s, "
                     f"Ray {wall[True]:.0f} s: x{wall[False] / wall[True]:.2f}; "
                     f"same results: {same}")
    Path(args.out).write_text(json.dumps(result, indent=1) + "\n")
    print("\n".join(lines))
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
