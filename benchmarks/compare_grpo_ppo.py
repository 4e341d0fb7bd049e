"""GRPO vs PPO learning curves on one suite: same env-step budget, same seeds.

Usage:  python benchmarks/compare_grpo_ppo.py --env metaworld:reach --hidden-goal \\
            --steps 300000 --seeds 1 2 --out benchmarks/results/grpo_vs_ppo_reach
Writes OUT/summary.json (final evaluation per method and seed, with 95% CIs),
OUT/<method>_seed<k>/metrics.jsonl (the curves) and OUT/curves.png.
"""

from __future__ import annotations

import argparse
import json
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt

from mrft.config import EnvConfig, GRPOConfig, PPOConfig, RunConfig, TrainConfig
from mrft.evaluate import evaluate, load_policy
from mrft.logging import read_metrics
from mrft.trainer import Trainer


def config(method: str, args, seed: int, runs_dir: str) -> TrainConfig:
    env = EnvConfig(env=args.env, hidden_goal=args.hidden_goal,
                    num_envs=args.grpo_envs if method == "grpo" else None)
    grpo = GRPOConfig(group_size=args.group_size, num_iterations=4, episode_minibatches=4)
    return TrainConfig(env=env, algo=method, ppo=PPOConfig(), grpo=grpo,
                       run=RunConfig(total_steps=args.steps, seed=seed, runs_dir=runs_dir,
                                     run_name=f"{method}_seed{seed}", progress=False,
                                     precision=args.precision))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--env", default="metaworld:reach")
    parser.add_argument("--hidden-goal", action="store_true")
    parser.add_argument("--steps", type=int, default=300_000)
    parser.add_argument("--seeds", type=int, nargs="+", default=[1, 2])
    parser.add_argument("--group-size", type=int, default=8)
    parser.add_argument("--grpo-envs", type=int, default=32)
    parser.add_argument("--eval-episodes", type=int, default=50)
    parser.add_argument("--precision", choices=["fp32", "bf16"], default="fp32")
    parser.add_argument("--out", required=True)
    args = parser.parse_args()
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    rows = []
    with tempfile.TemporaryDirectory() as runs_dir:
        for seed in args.seeds:
            for method in ("ppo", "grpo"):
                start = time.time()
                result = Trainer(config(method, args, seed, runs_dir)).train()
                policy, _, suite = load_policy(str(result.checkpoint))
                ev = evaluate(policy, suite.test, args.eval_episodes, num_envs=10, seed=10_000 + seed)
                row = {"method": method, "seed": seed, "env_steps": result.global_step,
                       "wall_s": time.time() - start, "sps": result.sps,
                       "return": vars(ev.return_ci),
                       "success": vars(ev.success_ci) if ev.success_ci else None}
                rows.append(row)
                print(json.dumps(row), flush=True)
                keep = out / f"{method}_seed{seed}"
                keep.mkdir(exist_ok=True)
                for name in ("metrics.jsonl", "config.json"):
                    shutil.copy(result.run_dir / name, keep / name)
    commit = subprocess.run(["git", "describe", "--always", "--dirty"], capture_output=True,
                            text=True, check=False).stdout.strip()
    summary = {"command": "python " + " ".join(sys.argv), "commit": commit, "rows": rows}
    (out / "summary.json").write_text(json.dumps(summary, indent=2))
    plot(out, args)
    print(f"wrote {out / 'summary.json'} and {out / 'curves.png'}")


def plot(out: Path, args) -> None:
    keys = [k for k in ("charts/episodic_return", "charts/success_rate")
            if any(r.get(k) is not None for run in out.glob("*_seed*") for r in read_metrics(run))]
    fig, axes = plt.subplots(1, len(keys), figsize=(5 * len(keys), 3.5), squeeze=False)
    axes = axes[0]
    colors = {"ppo": "tab:blue", "grpo": "tab:orange"}
    for run in sorted(out.glob("*_seed*")):
        method = run.name.split("_seed")[0]
        records = read_metrics(run)
        for ax, key in zip(axes, keys, strict=True):
            pts = [(r["step"], r[key]) for r in records if r.get(key) is not None]
            if pts:
                ax.plot(*zip(*pts, strict=True), color=colors[method], alpha=0.8, lw=1,
                        label=run.name)
    for ax, key in zip(axes, keys, strict=True):
        ax.set_title(key.split("/")[1].replace("_", " ") + " (training episodes)")
        ax.set_xlabel("env steps")
        ax.grid(alpha=0.3)
    axes[0].legend(fontsize=7)
    fig.suptitle(f"GRPO vs PPO on {args.env}{' (hidden goal)' if args.hidden_goal else ''}")
    fig.tight_layout()
    fig.savefig(out / "curves.png", dpi=110)


if __name__ == "__main__":
    main()
