"""``mrft report`` over a bench of 10,000 runs finishes in under a minute and 2 GB: a real tiny
bench, its run records copied to 33 seeds x 50 instances per family with the scores moved by
noise, reported in a fresh process whose wall clock and peak memory are measured."""

import json
import os
import random
import shutil
import subprocess
import sys
import time
from pathlib import Path

from test_bench_ray import TINY

from mrft.bench.runner import Bench
from mrft.bench.suite import load_suite


def _moved(record, shift: float):
    """``record`` with every score and return moved by ``shift``."""
    if isinstance(record, dict):
        return {k: v + shift if k in ("score", "return") and isinstance(v, float) else _moved(v, shift)
                for k, v in record.items()}
    if isinstance(record, list):
        return [_moved(v, shift) for v in record]
    return record


def synthetic_bench(base: Path, out: Path, seeds: int, instances: int) -> int:
    """A bench in ``out`` with ``base``'s families and methods, ``seeds`` seeds and
    ``instances`` held-out instances per family, each run a copy of one of ``base``'s seed-1
    runs; returns how many run records it holds."""
    rng = random.Random(0)
    meta = json.loads((base / "bench.json").read_text())
    for task in meta["suite"]["tasks"]:
        task["instances"] = instances
    meta["seeds"] = list(range(1, seeds + 1))
    out.mkdir(parents=True)
    (out / "bench.json").write_text(json.dumps(meta))
    runs = 0
    for method_dir in sorted((base / "runs").glob("*/*")):
        first = method_dir / "seed1"
        records = [json.loads(p.read_text()) for p in sorted((first / "adapt").glob("instance*.json"))]
        for seed in range(1, seeds + 1):
            target = out / "runs" / method_dir.parent.name / method_dir.name / f"seed{seed}"
            (target / "adapt").mkdir(parents=True)
            if (first / "pretrain.json").is_file():
                shutil.copy(first / "pretrain.json", target / "pretrain.json")
                shutil.copytree(first / "train", target / "train",
                                ignore=shutil.ignore_patterns("*.pt", "events.*"))
                runs += 1
            for i in range(instances):
                record = _moved(dict(records[i % len(records)], instance=i, instance_index=i,
                                     seed=seed), rng.gauss(0.0, 0.1))
                (target / "adapt" / f"instance{i}.json").write_text(json.dumps(record))
                runs += 1
    return runs


def test_a_report_over_ten_thousand_runs_takes_under_a_minute_and_two_gigabytes(tmp_path):
    suite = tmp_path / "tiny.toml"
    suite.write_text(TINY)
    base = tmp_path / "base"
    with open(os.devnull, "w") as quiet:
        Bench(load_suite(str(suite)), ["grpo", "ppo", "context-free"], [1], base, "test",
              log=quiet).run()
    big = tmp_path / "big"
    assert synthetic_bench(base, big, seeds=33, instances=50) >= 10_000
    # the report in a fresh process that writes its own peak memory when it ends: VmHWM, the high
    # water mark of this process's own memory (ru_maxrss would carry over the forking pytest
    # process's peak through exec)
    measure = ("import re, sys\n"
               "from mrft.cli import main\n"
               "try:\n    main(['report', sys.argv[1]])\n"
               "finally:\n"
               "    status = open('/proc/self/status').read()\n"
               "    print('peak_kib', re.search(r'VmHWM:\\s+(\\d+) kB', status).group(1))\n")
    start = time.monotonic()
    proc = subprocess.run([sys.executable, "-c", measure, str(big)], capture_output=True, text=True,
                          timeout=600)
    seconds = time.monotonic() - start
    assert proc.returncode == 0, proc.stderr
    peak_mib = int(proc.stdout.rsplit("peak_kib", 1)[1]) / 1024
    assert (big / "report.md").is_file() and (big / "report.html").is_file()
    assert seconds < 60, seconds
    assert peak_mib < 2048, peak_mib
