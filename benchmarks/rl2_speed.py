"""Pre-training speed of mrft's RL2 against sb3-contrib's RecurrentPPO on one env and machine.

Both sides train on the same vectorised environment, mrft's ``metaworld:ML1-reach``
(Meta-World reach-v3 through envpool, goal hidden from the observation, 500-step
episodes), at the same sizes: 8 envs, 10 epochs over each batch, a recurrent core of 256
units, an MLP of 256 x 256 tanh, learning rate 3e-4, gamma 0.99, GAE lambda 0.95. The
figure is env steps per second of the whole training loop (acting, env stepping,
learning, logging), over a fixed number of env steps per side: wall clock of
``Trainer.train()`` for mrft and of ``RecurrentPPO.learn()`` for the peer, after imports
and after the env, model and trainer are built (that setup time and each process's total
wall clock are reported beside it). CPU seconds of the process per 1,000 env steps are
reported too: they are less sensitive than wall clock to other load on the machine.

Each side runs in its own fresh Python process (``--side mrft`` / ``--side peer``, which
this script starts itself), one after the other, so neither pays for the other's imports,
threads or memory, and each may use its own interpreter: mrft in the project's venv, the
peer in a venv that has sb3-contrib. Both import mrft from this checkout's ``src``
(prepended to ``PYTHONPATH``), so the peer steps exactly mrft's env code.

The peer, in sb3-contrib's own terms: ``RecurrentPPO("MlpLstmPolicy", n_steps=256,
n_epochs=10, learning_rate=3e-4, gamma=0.99, gae_lambda=0.95,
policy_kwargs=dict(lstm_hidden_size=256, net_arch=dict(pi=[256, 256], vf=[256, 256])))``,
everything else at its defaults (``batch_size=128``, a separate critic LSTM,
``ent_coef=0``), on :class:`MrftSB3VecEnv` (mrft's vector env as a
``stable_baselines3`` ``VecEnv``) inside ``VecMonitor`` and ``VecNormalize`` (mrft
normalises observations and scales rewards too). mrft's side is ``mrft train --algo rl2
--env metaworld:ML1-reach --num-envs 8 --learning-rate 3e-4 --rl2-update-epochs 10
--rl2-hidden-size 256 --rl2-gamma 0.99 --rl2-gae-lambda 0.95 --hidden-sizes 256 256``
(its other options at their defaults), run through :class:`mrft.trainer.Trainer`.

What differs by design (each library's own method, recorded in the JSON):

- core: mrft's GRU, shared by actor and critic, reads the MLP features of the observation
  plus the previous action, reward and done; the peer's two LSTMs (actor, critic) read
  the raw (normalised) observation and feed the 256 x 256 MLP heads;
- memory span: mrft keeps the GRU state across the 2 episodes of a trial (RL2); the peer
  resets its LSTM state at every episode start (every episode is a fresh goal there);
- batch: mrft collects whole trials, 8 envs x 2 episodes x 500 steps = 8,000 env steps
  per update (and re-seeds the env pool before each episode); the peer collects
  fixed-length rollouts of 8 envs x 256 steps = 2,048 env steps per update;
- minibatches: mrft splits a batch into 4 minibatches of whole trials
  (``--rl2-num-minibatches``, 40 optimiser steps per 8,000 env steps); the peer into
  minibatches of 128 steps (160 optimiser steps per 2,048 env steps). Each env step is
  learned from 10 times on both sides.

How to run (from the repository root)::

    # one environment with everything: pip install -e '.[peers]'
    python benchmarks/rl2_speed.py

    # or the peer in a venv of its own (how benchmarks/results/rl2_speed.json was made):
    python3.11 -m venv /tmp/peers-venv
    /tmp/peers-venv/bin/pip install 'torch==2.13.0+cpu' numpy==2.4.6 gymnasium==1.4.0 \\
        envpool==1.2.5 metaworld==3.1.1 tensorboard==2.21.0 tyro==1.0.17 rich==15.0.0 \\
        matplotlib==3.11.2 rliable==1.2.0 scipy==1.17.1 sb3-contrib==2.9.2
    .venv/bin/python benchmarks/rl2_speed.py --peer-python /tmp/peers-venv/bin/python --threads 1

Pin the CPU build of torch (``+cpu``) in the peer venv, so both sides run the same torch.
``--threads 1`` (torch intra-op threads, both sides) is for a machine that other work
shares: with more runnable processes than cores, torch's default of one thread per core
makes every small op wait for a descheduled partner thread, and a GRU's step-by-step
backward pass (thousands of small ops) slows down erratically, 3x to 100x on 2 busy cores.
Writes ``benchmarks/results/rl2_speed.json`` and prints a table. sb3-contrib is a
benchmark-only dependency (the ``peers`` extra), never one of mrft's.
"""

from __future__ import annotations

import argparse
import json
import platform
import sys
import time
from pathlib import Path

from speed_common import (
    REPO,
    command_line,
    emit,
    loadavg,
    machine,
    make_sb3_vec_env,
    measure_trainer,
    provenance,
    run_side,
    since_start,
    timed,
)

RESULT_PREFIX = "RL2_SPEED_RESULT "
ENV_SPEC = "metaworld:ML1-reach"

# the sizes both sides share
NUM_ENVS = 8
EPOCHS = 10
RECURRENT_SIZE = 256
MLP = (256, 256)
LEARNING_RATE = 3e-4
GAMMA = 0.99
GAE_LAMBDA = 0.95
PEER_N_STEPS = 256


# -- the two sides, each in its own process --------------------------------------------------


def run_peer(steps: int, seed: int, batch_size: int, threads: int | None) -> dict:
    import numpy as np
    import sb3_contrib
    import stable_baselines3
    import torch
    from sb3_contrib import RecurrentPPO
    from stable_baselines3.common.vec_env import VecMonitor, VecNormalize

    import_s = since_start()
    load_before = loadavg()
    if threads is not None:
        torch.set_num_threads(threads)

    def build():
        env = VecNormalize(VecMonitor(make_sb3_vec_env(ENV_SPEC, NUM_ENVS, seed)), gamma=GAMMA)
        policy_kwargs = {"lstm_hidden_size": RECURRENT_SIZE,
                         "net_arch": {"pi": list(MLP), "vf": list(MLP)},
                         "activation_fn": torch.nn.Tanh}
        return RecurrentPPO("MlpLstmPolicy", env, n_steps=PEER_N_STEPS, batch_size=batch_size,
                            n_epochs=EPOCHS, learning_rate=LEARNING_RATE, gamma=GAMMA,
                            gae_lambda=GAE_LAMBDA, policy_kwargs=policy_kwargs, seed=seed,
                            device="cpu", verbose=0)

    model, setup_s, _ = timed(build)
    _, wall, cpu = timed(lambda: model.learn(total_timesteps=steps))
    env_steps = int(model.num_timesteps)
    rollout = NUM_ENVS * PEER_N_STEPS
    minibatches = -(-rollout // batch_size)
    returns = [float(e["r"]) for e in model.ep_info_buffer]
    successes = [float(s) for s in model.ep_success_buffer]
    model.get_env().close()
    return {
        "side": "peer", "library": f"sb3-contrib {sb3_contrib.__version__}",
        "algo": "RecurrentPPO (MlpLstmPolicy)", "env_steps": env_steps,
        "train_wall_s": wall, "train_cpu_s": cpu, "sps": env_steps / wall,
        "cpu_s_per_1k_steps": 1000 * cpu / env_steps, "setup_s": setup_s,
        "import_s": import_s, "updates": env_steps // rollout,
        "env_steps_per_update": rollout, "optimizer_steps_per_update": EPOCHS * minibatches,
        "optimizer_steps_per_1k_env_steps": 1000 * EPOCHS * minibatches / rollout,
        "settings": {
            "n_envs": NUM_ENVS, "n_steps": PEER_N_STEPS, "batch_size": batch_size,
            "n_epochs": EPOCHS, "learning_rate": LEARNING_RATE, "gamma": GAMMA,
            "gae_lambda": GAE_LAMBDA, "lstm_hidden_size": RECURRENT_SIZE, "n_lstm_layers": 1,
            "shared_lstm": False, "enable_critic_lstm": True,
            "net_arch": {"pi": list(MLP), "vf": list(MLP)}, "activation_fn": "Tanh",
            "ent_coef": model.ent_coef, "clip_range": 0.2, "max_grad_norm": model.max_grad_norm,
            "wrappers": ["MrftSB3VecEnv", "VecMonitor", "VecNormalize(obs, reward)"],
            "parameters": sum(p.numel() for p in model.policy.parameters()),
        },
        "recent_return_mean": float(np.mean(returns)) if returns else None,
        "recent_success_mean": float(np.mean(successes)) if successes else None,
        "versions": {"torch": torch.__version__, "numpy": np.__version__,
                     "stable-baselines3": stable_baselines3.__version__,
                     "sb3-contrib": sb3_contrib.__version__},
        "torch_threads": torch.get_num_threads(), "python": platform.python_version(),
        "loadavg_before": load_before, "loadavg_after": loadavg(),
    }


def run_mrft(steps: int, seed: int, minibatches: int, threads: int | None) -> dict:
    from mrft.algos.rl2 import RL2Config
    from mrft.config import EnvConfig, OptimConfig, RunConfig, TrainConfig

    def make_cfg(runs_dir: str) -> TrainConfig:
        return TrainConfig(
            algo="rl2",
            env=EnvConfig(env=ENV_SPEC, num_envs=NUM_ENVS),
            optim=OptimConfig(learning_rate=LEARNING_RATE),
            rl2=RL2Config(rl2_update_epochs=EPOCHS, rl2_hidden_size=RECURRENT_SIZE,
                          rl2_gamma=GAMMA, rl2_gae_lambda=GAE_LAMBDA,
                          rl2_num_minibatches=minibatches),
            run=RunConfig(total_steps=steps, seed=seed, hidden_sizes=MLP, runs_dir=runs_dir,
                          run_name="rl2-speed", progress=False, threads=threads),
        )

    measured, resolved = measure_trainer(make_cfg)
    per_update = measured["env_steps_per_update"]
    return {
        "side": "mrft", "library": "mrft", "algo": "rl2 (GRU, whole trials)", **measured,
        "optimizer_steps_per_update": EPOCHS * minibatches,
        "optimizer_steps_per_1k_env_steps": 1000 * EPOCHS * minibatches / per_update,
        "settings": {
            "num_envs": resolved.env.num_envs, "learning_rate": resolved.optim.learning_rate,
            "anneal_lr": resolved.optim.anneal_lr, "hidden_sizes": list(resolved.run.hidden_sizes),
            "normalize_obs": resolved.run.normalize_obs,
            **{k: v for k, v in vars(resolved.rl2).items()},
            "parameters": measured["parameters"],
        },
    }


# -- the driver ------------------------------------------------------------------------------


def _side(python: str, side: str, args: argparse.Namespace) -> dict:
    child = ["--seed", str(args.seed), "--peer-steps", str(args.peer_steps),
             "--mrft-steps", str(args.mrft_steps), "--peer-batch-size", str(args.peer_batch_size),
             "--mrft-minibatches", str(args.mrft_minibatches)]
    if args.threads is not None:
        child += ["--threads", str(args.threads)]
    return run_side(python, __file__, side, child, RESULT_PREFIX)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--peer-steps", type=int, default=16_384,
                        help="env steps for the peer (a multiple of 8 x 256 = 2,048)")
    parser.add_argument("--mrft-steps", type=int, default=64_000,
                        help="env steps for mrft (a multiple of 8 x 1,000 = 8,000)")
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--peer-batch-size", type=int, default=128,
                        help="RecurrentPPO batch_size (its default)")
    parser.add_argument("--mrft-minibatches", type=int, default=4,
                        help="--rl2-num-minibatches (its default)")
    parser.add_argument("--threads", type=int, default=None,
                        help="torch CPU threads on both sides (default: torch's choice, one per "
                             "core); 1 is steadier on a machine that other work shares")
    parser.add_argument("--mrft-python", default=sys.executable,
                        help="interpreter for the mrft side (default: this one)")
    parser.add_argument("--peer-python", default=sys.executable,
                        help="interpreter for the peer side; it needs sb3-contrib")
    parser.add_argument("--only", choices=("mrft", "peer"), default=None,
                        help="run one side and print it (no JSON written)")
    parser.add_argument("--out", default=str(REPO / "benchmarks" / "results" / "rl2_speed.json"))
    parser.add_argument("--side", choices=("mrft", "peer"), default=None, help=argparse.SUPPRESS)
    args = parser.parse_args()

    if args.side is not None:  # a child process: one side, one JSON line
        if args.side == "mrft":
            row = run_mrft(args.mrft_steps, args.seed, args.mrft_minibatches, args.threads)
        else:
            row = run_peer(args.peer_steps, args.seed, args.peer_batch_size, args.threads)
        emit(RESULT_PREFIX, row)
        return

    started = time.strftime("%Y-%m-%d %H:%M:%S")
    wall_start = time.perf_counter()
    sides = ("mrft", "peer") if args.only is None else (args.only,)
    rows = {s: _side(args.mrft_python if s == "mrft" else args.peer_python, s, args) for s in sides}
    if args.only is not None:
        print(json.dumps(rows[args.only], indent=2))
        return
    ours, theirs = rows["mrft"], rows["peer"]
    ratio = ours["sps"] / theirs["sps"]
    cpu_ratio = theirs["cpu_s_per_1k_steps"] / ours["cpu_s_per_1k_steps"]
    print()
    print(f"{'side':5s} {'algorithm':28s} {'env steps':>9s} {'train s':>8s} {'steps/s':>9s} "
          f"{'CPU s/1k':>8s} {'updates':>7s} {'opt/1k':>6s}")
    for row in (ours, theirs):
        print(f"{row['side']:5s} {row['algo']:28s} {row['env_steps']:9,d} {row['train_wall_s']:8.1f} "
              f"{row['sps']:9.1f} {row['cpu_s_per_1k_steps']:8.2f} {row['updates']:7d} "
              f"{row['optimizer_steps_per_1k_env_steps']:6.1f}")
    print(f"ratio (mrft / peer): {ratio:.1f}x env steps/s wall clock, {cpu_ratio:.1f}x per CPU second "
          f"(train s: wall clock of the training call, after imports and setup)")

    command = command_line("benchmarks/rl2_speed.py", vars(args), skip=("out", "side", "only"))
    report = {
        "what": "pre-training env steps/s, mrft RL2 vs sb3-contrib RecurrentPPO, "
                f"{ENV_SPEC}, {NUM_ENVS} envs, same machine, one run",
        "env": ENV_SPEC, "command": command, **provenance(),
        "time": started, "total_wall_s": time.perf_counter() - wall_start,
        "machine": machine(),
        "shared_settings": {"num_envs": NUM_ENVS, "epochs": EPOCHS, "torch_threads": args.threads,
                            "recurrent_hidden_size": RECURRENT_SIZE, "mlp": list(MLP),
                            "activation": "tanh", "learning_rate": LEARNING_RATE, "gamma": GAMMA,
                            "gae_lambda": GAE_LAMBDA},
        "sps_mrft": ours["sps"], "sps_peer": theirs["sps"], "ratio": ratio,
        "ratio_per_cpu_second": cpu_ratio,
        "timing": "sps = env steps / wall clock of Trainer.train() (mrft) or RecurrentPPO.learn() "
                  "(peer), each in a fresh process after imports and after building env, model "
                  "and trainer (setup_s, import_s and process_wall_s are given per side)",
        "mrft": ours, "peer": theirs,
    }
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    Path(args.out).write_text(json.dumps(report, indent=2) + "\n")
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
