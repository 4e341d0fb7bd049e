"""Pre-training speed of mrft's PPO, MRFT and RL2 on one meta-RL env and machine.

Each algorithm trains on ``metaworld:ML1-reach`` (Meta-World reach-v3 through envpool, goal
hidden from the observation, 500-step episodes) at its own family defaults: the Meta-World
preset (16 envs, learning rate 3e-4, gamma 0.99, observation normalisation) and each
algorithm's continuous-control defaults, with nothing overridden except what makes the runs
comparable: the same env steps, seed and torch thread count. That is ``mrft train --algo A
--env metaworld:ML1-reach --total-steps N --seed S --threads T --no-progress``. PPO and MRFT
update on rollouts of the same size: 16 envs x 256 steps (4,096 env steps; 5 epochs x 8
minibatches), MRFT's trials running on across its rollouts; RL2 on whole trials of 2
episodes x 500 steps in each of the 16 envs (16,000 env steps; 4 passes x 4 minibatches of
whole trials). The default 64,000 env steps is 15 rollouts plus one of 160 steps per env
(the last rollout shrinks to fit the budget) for PPO and MRFT, and 4 trial batches for RL2.

The figure is env steps per second of the whole training loop (acting, env stepping,
learning, logging, checkpoints), the wall clock of ``Trainer.train()`` after imports and
after the trainer is built, as in ``benchmarks/rl2_speed.py`` (whose machinery,
``benchmarks/speed_common.py``, this script shares). CPU seconds of the process per 1,000
env steps are reported too (less sensitive to other load on the machine), and the trainer's
own phase timings: ``rollout`` (acting and env stepping) and ``update`` (advantages and
optimisation), per run, so the table shows where each algorithm's time goes.

Each run is a fresh Python process (``--side ALGO``, started by this script). The algorithms
run interleaved and repeated (ppo, mrft, rl2, ppo, mrft, rl2, ...) so that drifting load on a
shared machine falls on all of them alike; the table gives each one's median over its runs
and the ratios MRFT / PPO and RL2 / PPO of those medians, in env steps per wall-clock second
and per CPU second. ``--threads 1`` (torch intra-op threads) is the default because the
machine these results come from is shared with other work; see ``benchmarks/rl2_speed.py``
for why more threads than free cores slows small ops erratically. ``--threads 0`` leaves
torch its own choice.

How to run (from the repository root)::

    .venv/bin/python benchmarks/meta_speed.py            # 64,000 env steps, 3 rounds, 1 thread
    .venv/bin/python benchmarks/meta_speed.py --env nav:point --algos ppo mrft mrft-hyper
                                                         # a bench variant is its options on MRFT

Writes ``benchmarks/results/meta_speed.json`` and prints a table.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import shutil
import statistics
import sys
import time
from pathlib import Path

from speed_common import (
    REPO,
    command_line,
    emit,
    git,
    machine,
    measure_trainer,
    provenance,
    run_side,
)

RESULT_PREFIX = "META_SPEED_RESULT "
ENV_SPEC = "metaworld:ML1-reach"
ALGOS = ("ppo", "mrft", "rl2")
PHASES = ("rollout", "update", "other")  # other: logging, checkpoints, loop overhead


def _optimizer_steps(algo: str, cfg, steps_per_update: int) -> tuple[int, int]:
    """Optimiser steps and env steps of one full update at the resolved settings."""
    if algo == "ppo":
        return cfg.ppo.update_epochs * cfg.ppo.num_minibatches, cfg.env.num_envs * cfg.ppo.num_steps
    if algo == "mrft":
        return cfg.mrft.meta_iterations * cfg.mrft.meta_minibatches, cfg.env.num_envs * cfg.mrft.meta_num_steps
    return cfg.rl2.rl2_update_epochs * cfg.rl2.rl2_num_minibatches, steps_per_update


def measure_adaptation(checkpoint: str, steps: int, seed: int) -> dict:
    """Env steps/s of adapting ``checkpoint`` to held-out instance 0 for ``steps`` env steps
    with the method's own updates (8 envs, as the benchmark suites adapt), the evaluation of
    the adapted policy excluded (every method's is the same episodes)."""
    import tempfile

    from mrft.config import AdaptSettings
    from mrft.trainer import Trainer

    with tempfile.TemporaryDirectory() as tmp:
        settings = AdaptSettings(checkpoint, task=0, steps=steps, eval_every=steps, eval_episodes=2,
                                 num_envs=8, seed=seed)
        trainer = Trainer(adaptation=settings, run_dir=tmp)
        start = time.perf_counter()
        result = trainer.train()
        wall = time.perf_counter() - start - result.timings.get("evaluation", 0.0)
    return {"adapt_env_steps": result.global_step, "adapt_updates": result.updates,
            "adapt_wall_s": wall, "adapt_sps": result.global_step / wall}


def measurable(name: str):
    """The bench method ``name`` if this script measures it as the bench would run it: an
    algorithm or a variant that only sets options of it (an oracle, an adaptation-only
    variant or one with adaptation options needs what only the bench sets up)."""
    from mrft.bench.methods import method
    from mrft.errors import MrftError

    try:
        variant = method(name)
        if (variant.oracle or variant.reference or variant.pretrain_as or variant.adapt_options
                or not variant.adapt_updates or variant.algo not in ALGOS):
            raise MrftError(f"{name} is not a pre-training variant of {', '.join(ALGOS)}; "
                            "meta_speed.py measures those only")
    except MrftError as exc:
        print(f"error: {exc}", file=sys.stderr)
        sys.exit(2)
    return variant


def run_algo(name: str, steps: int, seed: int, threads: int | None, env: str = ENV_SPEC,
             adapt_steps: int = 0) -> dict:
    """One algorithm, or one of its bench variants (``mrft-hyper``: MRFT with the options
    that define it), at its family defaults (the child process): pre-training, then (with
    ``adapt_steps``) an adaptation of the result."""
    import dataclasses
    import tempfile

    from mrft.config import EnvConfig, RunConfig, TrainConfig, to_dict

    keep = tempfile.mkdtemp()
    variant = measurable(name)
    algo = variant.algo

    def make_cfg(runs_dir: str) -> TrainConfig:
        cfg = TrainConfig(algo=algo, env=EnvConfig(env=env),
                          run=RunConfig(total_steps=steps, seed=seed, runs_dir=runs_dir,
                                        run_name=f"meta-speed-{algo}", progress=False,
                                        threads=threads))
        if variant.options:
            section = dataclasses.replace(getattr(cfg, algo), **dict(variant.options))
            cfg = dataclasses.replace(cfg, **{algo: section})
        return cfg

    measured, resolved = measure_trainer(lambda _runs_dir: make_cfg(keep))
    if adapt_steps:
        measured.update(measure_adaptation(f"{keep}/meta-speed-{algo}/checkpoint.pt", adapt_steps, seed))
    shutil.rmtree(keep, ignore_errors=True)
    opt_steps, batch_steps = _optimizer_steps(algo, resolved, measured["env_steps_per_update"])
    settings = {"num_envs": resolved.env.num_envs, **to_dict(resolved.optim),
                "hidden_sizes": list(resolved.run.hidden_sizes),
                "normalize_obs": resolved.run.normalize_obs,
                algo: to_dict(getattr(resolved, algo))}
    return {"algo": name, **measured, "env_steps_per_full_update": batch_steps,
            "optimizer_steps_per_update": opt_steps,
            "optimizer_steps_per_1k_env_steps": 1000 * opt_steps / batch_steps,
            "settings": settings}


def _src_state() -> str:
    """A digest of the checkout's source as it differs from HEAD (to see edits mid-run)."""
    diff = git("diff", "HEAD", "--", "src") + git("rev-parse", "HEAD")
    return hashlib.sha256(diff.encode()).hexdigest()[:12]


def _phases(row: dict) -> dict[str, float]:
    t = row["trainer_phase_s"]
    return {"rollout": t["rollout"], "update": t["update"],
            "other": row["train_wall_s"] - t["rollout"] - t["update"]}


def _summary(rows: list[dict]) -> dict:
    phases = {p: statistics.median(_phases(r)[p] for r in rows) for p in PHASES}
    wall = statistics.median(r["train_wall_s"] for r in rows)
    first = rows[0]
    return {
        "runs": len(rows), "env_steps": first["env_steps"], "updates": first["updates"],
        "num_envs": first["settings"]["num_envs"],
        "env_steps_per_full_update": first["env_steps_per_full_update"],
        "optimizer_steps_per_1k_env_steps": first["optimizer_steps_per_1k_env_steps"],
        "sps_median": statistics.median(r["sps"] for r in rows),
        "sps_runs": [r["sps"] for r in rows],
        "cpu_s_per_1k_steps_median": statistics.median(r["cpu_s_per_1k_steps"] for r in rows),
        "cpu_s_per_1k_steps_runs": [r["cpu_s_per_1k_steps"] for r in rows],
        "train_wall_s_median": wall,
        "phase_s_median": phases,
        "phase_share_of_train_wall_median": {
            p: statistics.median(_phases(r)[p] / r["train_wall_s"] for r in rows) for p in PHASES},
        "rollout_sps_median": statistics.median(
            r["env_steps"] / r["trainer_phase_s"]["rollout"] for r in rows),
        **({"adapt_sps_median": statistics.median(r["adapt_sps"] for r in rows),
            "adapt_sps_runs": [r["adapt_sps"] for r in rows],
            "adapt_updates": first["adapt_updates"]} if "adapt_sps" in first else {}),
    }


def _ratios(summary: dict, algo: str, base: str = "ppo") -> dict:
    a, b = summary[algo], summary[base]
    ratios = {"sps": a["sps_median"] / b["sps_median"],
              "per_cpu_second": b["cpu_s_per_1k_steps_median"] / a["cpu_s_per_1k_steps_median"],
              "rollout_sps": a["rollout_sps_median"] / b["rollout_sps_median"]}
    if "adapt_sps_median" in a and "adapt_sps_median" in b:
        ratios["adapt_sps"] = a["adapt_sps_median"] / b["adapt_sps_median"]
    return ratios


def _print_table(summary: dict, ratios: dict) -> None:
    print()
    width = max(5, *(len(a) for a in summary))
    print(f"{'algo':{width}s} {'envs':>4s} {'steps/upd':>9s} {'upd':>3s} {'opt/1k':>6s} {'steps/s':>8s} "
          f"{'CPU s/1k':>8s} {'train s':>7s} {'rollout s':>9s} {'update s':>8s} {'other s':>7s}")
    for algo, s in summary.items():
        ph = s["phase_s_median"]
        print(f"{algo:{width}s} {s['num_envs']:4d} {s['env_steps_per_full_update']:9,d} {s['updates']:3d} "
              f"{s['optimizer_steps_per_1k_env_steps']:6.1f} {s['sps_median']:8.1f} "
              f"{s['cpu_s_per_1k_steps_median']:8.2f} {s['train_wall_s_median']:7.1f} "
              f"{ph['rollout']:9.1f} {ph['update']:8.1f} {ph['other']:7.1f}")
    for algo, r in ratios.items():
        print(f"{algo} / ppo: {r['sps']:.2f}x env steps/s wall clock, {r['per_cpu_second']:.2f}x per "
              f"CPU second, {r['rollout_sps']:.2f}x in the rollout phase alone"
              + (f"; adapting {r['adapt_sps']:.2f}x" if "adapt_sps" in r else ""))
    print("(medians over each algorithm's runs; train s: wall clock of Trainer.train(); other s: "
          "train s - rollout s - update s, i.e. logging, checkpoints and loop overhead)")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=64_000,
                        help="env steps per run (a multiple of 16 x 1,000 = 16,000 keeps MRFT "
                             "and RL2 batches whole)")
    parser.add_argument("--repeats", type=int, default=3,
                        help="rounds; each round runs every algorithm once, in --algos order")
    parser.add_argument("--algos", nargs="+", default=list(ALGOS),
                        help=f"algorithms ({', '.join(ALGOS)}) or their bench variants "
                             "(mrft list names them: mrft-hyper, ...)")
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--env", default=ENV_SPEC, help=f"the family (default {ENV_SPEC})")
    parser.add_argument("--adapt-steps", type=int, default=0,
                        help="also adapt each pre-trained policy for this many env steps and "
                             "report adaptation env steps/s (0: pre-training only)")
    parser.add_argument("--threads", type=int, default=1,
                        help="torch CPU threads in every run (default 1, for a shared machine; "
                             "0: torch's choice, one per core)")
    parser.add_argument("--python", default=sys.executable,
                        help="interpreter for the runs (default: this one)")
    parser.add_argument("--out", default=str(REPO / "benchmarks" / "results" / "meta_speed.json"))
    parser.add_argument("--side", default=None, help=argparse.SUPPRESS)
    args = parser.parse_args()
    threads = args.threads or None

    if args.side is not None:  # a child process: one run, one JSON line
        emit(RESULT_PREFIX, run_algo(args.side, args.steps, args.seed, threads, args.env,
                                     args.adapt_steps))
        return

    variants = {name: measurable(name).options for name in args.algos}
    started = time.strftime("%Y-%m-%d %H:%M:%S")
    wall_start = time.perf_counter()
    before, src_before = provenance(), _src_state()
    child = ["--steps", str(args.steps), "--seed", str(args.seed), "--threads", str(args.threads),
             "--env", args.env, "--adapt-steps", str(args.adapt_steps)]
    runs: list[dict] = []
    for round_ in range(args.repeats):
        for algo in args.algos:
            row = run_side(args.python, __file__, algo, child, RESULT_PREFIX,
                           label=f"{algo} {round_ + 1}/{args.repeats}")
            row["round"] = round_ + 1
            runs.append(row)
    summary = {a: _summary([r for r in runs if r["algo"] == a]) for a in args.algos}
    ratios = {a: _ratios(summary, a) for a in args.algos if a != "ppo" and "ppo" in summary}
    _print_table(summary, ratios)

    report = {
        "what": f"pre-training env steps/s of mrft's {', '.join(args.algos)} on {args.env} at "
                "each algorithm's family defaults, same machine, one run",
        "env": args.env,
        "command": command_line("benchmarks/meta_speed.py", vars(args),
                                skip=("out", "side", "python")),
        "interpreter": args.python, **before,
        "source_changed_during_run": _src_state() != src_before,
        "time": started, "total_wall_s": time.perf_counter() - wall_start,
        "machine": machine(),
        "settings": {"env_steps": args.steps, "seed": args.seed, "torch_threads": args.threads,
                     "repeats": args.repeats, "order": list(args.algos) * args.repeats,
                     "overrides": "none beyond --total-steps, --seed, --threads (family defaults)",
                     "variant_options": {name: dict(options) for name, options in variants.items()
                                         if options}},
        "timing": "sps = env steps / wall clock of Trainer.train(), each run in a fresh process "
                  "after imports and after building the trainer; phases are the trainer's own "
                  "timings (rollout: acting and env stepping; update: learning)",
        "acceptance": ({"bar": "MRFT env steps/s >= 0.70 x PPO's",
                        "mrft_over_ppo_sps": ratios["mrft"]["sps"],
                        "met": ratios["mrft"]["sps"] >= 0.70} if "mrft" in ratios else None),
        "summary": summary, "ratios_vs_ppo": ratios, "runs": runs,
    }
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    Path(args.out).write_text(json.dumps(report, indent=2) + "\n")
    print(f"wrote {args.out} (total {report['total_wall_s']:.0f} s)")


if __name__ == "__main__":
    main()
