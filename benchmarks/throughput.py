"""Training-loop throughput vs envpool's raw random-action stepping, with a time breakdown.

Usage:  python benchmarks/throughput.py [--procgen-updates 2] [--metaworld-updates 8]
Writes benchmarks/results/throughput.json and prints a table. Each row runs the real
trainer (PPO, family defaults) for a few updates and reads the phase timings it logs.
"""

from __future__ import annotations

import argparse
import json
import platform
import subprocess
import tempfile
import time
from pathlib import Path

import torch
from speed_common import raw_sps

from mrft.config import EnvConfig, RunConfig, TrainConfig
from mrft.trainer import Trainer


def train_sps(spec: str, updates: int, precision: str) -> dict:
    with tempfile.TemporaryDirectory() as tmp:
        cfg = TrainConfig(env=EnvConfig(env=spec),
                          run=RunConfig(total_steps=10**12, runs_dir=tmp, run_name="t", progress=False,
                                        precision=precision))
        trainer = Trainer(cfg)
        result = trainer.train(max_updates=updates)
        total = sum(result.timings.values())
        return {
            "num_envs": trainer.cfg.env.num_envs,
            "num_steps": trainer.cfg.ppo.num_steps,
            "env_steps": result.global_step,
            "updates": result.updates,
            "train_sps": result.sps,
            "rollout_only_sps": result.global_step / result.timings["rollout"],
            "time_share": {k: v / total for k, v in result.timings.items()},
            "seconds": result.timings,
            "torso": trainer.policy.torso_kind,
        }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--procgen-updates", type=int, default=2)
    parser.add_argument("--metaworld-updates", type=int, default=8)
    parser.add_argument("--out", default=str(Path(__file__).parent / "results" / "throughput.json"))
    args = parser.parse_args()
    rows = []
    cases = (("procgen:bigfish", args.procgen_updates, "fp32"),
             ("procgen:bigfish", args.procgen_updates, "bf16"),
             ("metaworld:reach", args.metaworld_updates, "fp32"))
    raw_cache: dict[tuple[str, int], float] = {}
    for spec, updates, precision in cases:
        trained = train_sps(spec, updates, precision)
        for n in (trained["num_envs"], 64):
            if (spec, n) not in raw_cache:
                raw_cache[spec, n] = raw_sps(spec, n)
        raw, raw64 = raw_cache[spec, trained["num_envs"]], raw_cache[spec, 64]
        rows.append({"env": spec, "precision": precision, **trained, "raw_envpool_sps": raw,
                     "raw_envpool_sps_64_envs": raw64, "train_over_raw": trained["train_sps"] / raw})
        print(f"{spec:18s} {precision} torso={trained['torso']:6s} envs={trained['num_envs']:3d} "
              f"train {trained['train_sps']:8.0f} SPS | rollout-only {trained['rollout_only_sps']:8.0f} | "
              f"raw envpool {raw:8.0f} ({raw64:.0f} at 64 envs) | "
              + " ".join(f"{k} {v:.0%}" for k, v in trained["time_share"].items()), flush=True)
    commit = subprocess.run(["git", "describe", "--always", "--dirty"], capture_output=True,
                            text=True, check=False).stdout.strip()
    report = {
        "command": "python benchmarks/throughput.py " + " ".join(
            f"--{k.replace('_', '-')} {v}" for k, v in vars(args).items() if k != "out"),
        "machine": {"cpus": torch.get_num_threads(), "platform": platform.platform(),
                    "python": platform.python_version(), "torch": torch.__version__},
        "commit": commit, "time": time.strftime("%Y-%m-%d %H:%M:%S"), "rows": rows,
    }
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    Path(args.out).write_text(json.dumps(report, indent=2))
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
