"""MRFT, each of its ablations and GRPO: pre-train, then adapt to held-out task instances.

Usage:  python benchmarks/mrft_ablation.py --env metaworld:ML1-reach --pretrain-steps 150000 \\
            --adapt-steps 16000 --eval-every 8000 --tasks 0 1 2 --seeds 1 \\
            --out benchmarks/results/mrft_ablation_reach
Every method gets the same pre-training budget, the same adaptation budget and the same
seeds. Writes OUT/summary.json (every adaptation curve plus the settings),
OUT/<method>_seed<k>/metrics.jsonl (pre-training curves, monitoring metrics included),
OUT/adaptation.png (mean curve over held-out instances per method) and OUT/monitor.png
(the three monitoring metrics over MRFT pre-training). Finished runs are skipped when the
command is run again with the same OUT. Seeds can run as separate processes into their own
OUT folders; ``--merge DIR1 DIR2 ... --out OUT`` then combines their summaries and plots.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import shutil
import time
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt
import numpy as np

from mrft.adapt import AdaptSettings, adapt
from mrft.bench.methods import METHODS as BENCH_METHODS
from mrft.config import EnvConfig, GRPOConfig, MRFTConfig, PPOConfig, RunConfig, TrainConfig
from mrft.logging import read_metrics, write_json
from mrft.trainer import Trainer

# every MRFT ablation and GRPO, in the order of the plots
METHODS = {name: m for name, m in BENCH_METHODS.items() if name != "ppo"}


def train_config(method: str, args, seed: int, runs_dir: Path) -> TrainConfig:
    algo, options = METHODS[method].algo, dict(METHODS[method].mrft_options)
    grpo = GRPOConfig(group_size=args.group_size, num_iterations=args.num_iterations,
                      episode_minibatches=args.episode_minibatches,
                      max_episode_steps=args.max_episode_steps)
    mrft = MRFTConfig(tasks_per_batch=args.tasks_per_batch,
                      distill_stage_steps=tuple(args.distill_stage_steps), **options)
    env = EnvConfig(env=args.env, num_envs=args.tasks_per_batch * args.group_size)
    return TrainConfig(env=env, algo=algo, ppo=PPOConfig(learning_rate=args.learning_rate),
                       grpo=grpo, mrft=mrft,
                       run=RunConfig(total_steps=args.pretrain_steps, seed=seed,
                                     runs_dir=str(runs_dir), run_name=f"{method}_seed{seed}",
                                     progress=False, hidden_sizes=tuple(args.hidden_sizes)))


def pretrain(method: str, args, seed: int, out: Path) -> tuple[Path, float]:
    source = METHODS[method].pretrain_as or method
    run_dir = out / f"{source}_seed{seed}"
    done = run_dir / "pretrain.json"
    if done.exists():
        return run_dir / "checkpoint.pt", json.loads(done.read_text())["wall_clock_s"]
    if run_dir.exists():
        shutil.rmtree(run_dir)
    start = time.time()
    result = Trainer(train_config(source, args, seed, out)).train()
    elapsed = time.time() - start
    write_json(done, {"wall_clock_s": elapsed, "steps": result.global_step, "sps": result.sps})
    return result.checkpoint, elapsed


def plot(summary: dict, out: Path) -> None:
    fig, ax = plt.subplots(figsize=(7, 4.5))
    metric = "success" if all("success" in r["curve"][0] for r in summary["runs"]) else "return"
    for method in METHODS:
        runs = [r for r in summary["runs"] if r["method_name"] == method]
        if not runs:
            continue
        steps = [p["step"] for p in runs[0]["curve"]]
        values = np.array([[p[metric] for p in r["curve"]][: len(steps)] for r in runs])
        mean = values.mean(axis=0)
        err = values.std(axis=0, ddof=1) / np.sqrt(len(runs)) if len(runs) > 1 else 0 * mean
        ax.plot(steps, mean, marker="o", label=f"{method} (n={len(runs)})")
        ax.fill_between(steps, mean - err, mean + err, alpha=0.15)
    ax.set_xlabel("adaptation env steps")
    ax.set_ylabel(f"evaluation {metric} on held-out instances")
    ax.set_title(f"{summary['settings']['env']}: adaptation (mean +- s.e. over instances x seeds)")
    ax.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(out / "adaptation.png", dpi=120)
    plt.close(fig)

    seeds = summary["settings"]["seeds"]
    names = ["monitor/entropy_change_rate", "monitor/grad_similarity", "monitor/task_feature_distance"]
    fig, axes = plt.subplots(1, 3, figsize=(13, 3.5))
    for ax, name in zip(axes, names, strict=True):
        for seed in seeds:
            path = out / f"mrft_seed{seed}"
            if not (path / "metrics.jsonl").exists():
                continue
            records = [r for r in read_metrics(path) if name in r]
            ax.plot([r["step"] for r in records], [r[name] for r in records], label=f"seed {seed}")
        ax.set_title(name, fontsize=9)
        ax.set_xlabel("pre-training env steps")
        ax.legend(fontsize=7)
    fig.tight_layout()
    fig.savefig(out / "monitor.png", dpi=120)
    plt.close(fig)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--env", default="metaworld:ML1-reach")
    parser.add_argument("--methods", nargs="+", default=list(METHODS), choices=list(METHODS))
    parser.add_argument("--pretrain-steps", type=int, default=150_000)
    parser.add_argument("--adapt-steps", type=int, default=16_000)
    parser.add_argument("--eval-every", type=int, default=8_000)
    parser.add_argument("--eval-episodes", type=int, default=16)
    parser.add_argument("--adapt-envs", type=int, default=16)
    parser.add_argument("--tasks", type=int, nargs="+", default=[0, 1, 2])
    parser.add_argument("--seeds", type=int, nargs="+", default=[1])
    parser.add_argument("--group-size", type=int, default=8)
    parser.add_argument("--tasks-per-batch", type=int, default=4)
    parser.add_argument("--num-iterations", type=int, default=1)
    parser.add_argument("--episode-minibatches", type=int, default=4)
    parser.add_argument("--max-episode-steps", type=int, default=1000)
    parser.add_argument("--learning-rate", type=float, default=3e-4)
    parser.add_argument("--hidden-sizes", type=int, nargs="+", default=[256, 256])
    parser.add_argument("--distill-stage-steps", type=int, nargs=2, default=[4000, 4000])
    parser.add_argument("--merge", nargs="+", default=None,
                        help="combine the summaries of these OUT folders into --out and plot")
    parser.add_argument("--out", required=True)
    args = parser.parse_args()
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    if args.merge:
        parts = [json.loads((Path(d) / "summary.json").read_text()) for d in args.merge]
        settings = dict(parts[0]["settings"])
        settings["seeds"] = sorted({s for p in parts for s in p["settings"]["seeds"]})
        settings["merged_from"] = args.merge
        merged = {"settings": settings, "runs": [r for p in parts for r in p["runs"]]}
        for d in args.merge:
            for seed_dir in Path(d).glob("*_seed*"):
                target = out / seed_dir.name
                if seed_dir.is_dir() and not target.exists():
                    shutil.copytree(seed_dir, target, ignore=shutil.ignore_patterns("*.pt", "events.*"))
        write_json(out / "summary.json", merged)
        plot(merged, out)
        print(f"merged {len(merged['runs'])} runs into {out}")
        return
    summary_path = out / "summary.json"
    summary = json.loads(summary_path.read_text()) if summary_path.exists() else {"runs": []}
    summary["settings"] = vars(args)
    done = {(r["method_name"], r["seed"], r["instance"]) for r in summary["runs"]}
    for seed in args.seeds:
        for method in args.methods:
            checkpoint, pre_s = pretrain(method, args, seed, out)
            for task in args.tasks:
                if (method, seed, task) in done:
                    continue
                settings = AdaptSettings(task=task, steps=args.adapt_steps, eval_every=args.eval_every,
                                         eval_episodes=args.eval_episodes, num_envs=args.adapt_envs,
                                         distill=METHODS[method].adapt_distill, seed=seed)
                record = adapt(str(checkpoint), settings)
                record.update(method_name=method, seed=seed, pretrain_wall_clock_s=pre_s,
                              settings=dataclasses.asdict(settings))
                summary["runs"].append(record)
                write_json(summary_path, summary)
                last = record["curve"][-1]
                print(f"{method:24s} seed {seed} task {task}: " + ", ".join(
                    f"{k} {v:.3f}" for k, v in last.items() if k != "step"), flush=True)
    write_json(summary_path, summary)
    plot(summary, out)
    print(f"wrote {summary_path}, {out / 'adaptation.png'}, {out / 'monitor.png'}")


if __name__ == "__main__":
    main()
