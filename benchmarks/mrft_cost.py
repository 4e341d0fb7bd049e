"""Where MRFT's time goes: each part of its network timed alone, at a family's real sizes.

MRFT runs more network than PPO at every env step and on every update sample: the belief
encoder folds each transition into the belief, the conditioner turns the belief into the
adapted parameters of the actor and critic, and the update trains the belief on its loss
beside the policy. This script times each part on one thread, in this process, at the sizes
the family's defaults give (its policy's hidden widths, its envs per batch, its minibatch of
PPO's size), for every conditioner and belief encoder MRFT has:

- ``acting``: one env tick for all the family's envs: the belief encoder's step, the
  conditioner's forward and the conditioned actor-critic's forward (no env step), against
  PPO's actor-critic forward alone;
- ``update``: one minibatch forward and backward: the conditioner and the conditioned
  actor-critic on the minibatch's steps, the belief encoder over the rows that minibatch
  trains the belief on, against PPO's actor-critic alone.

Each figure is the median of ``--repeats`` timings of ``--calls`` calls. Absolute times move
with the machine's load; the ratios within one run are what to read.

How to run (from the repository root)::

    .venv/bin/python benchmarks/mrft_cost.py --env nav:point

Writes ``benchmarks/results/mrft_cost.json`` and prints a table.
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import time
from pathlib import Path

from speed_common import REPO, command_line, machine, provenance

CONDITIONERS = ("meta-policy", "hyper", "concat")
ENCODERS = ("tcn", "gru")


def _timed(fn, calls: int, repeats: int) -> float:
    """Median over ``repeats`` of the mean seconds of one of ``calls`` calls of ``fn``."""
    for _ in range(max(1, calls // 4)):
        fn()
    samples = []
    for _ in range(repeats):
        start = time.perf_counter()
        for _ in range(calls):
            fn()
        samples.append((time.perf_counter() - start) / calls)
    return statistics.median(samples)


def measure(env: str, calls: int, repeats: int) -> dict:
    import dataclasses
    import tempfile

    import torch

    from mrft.algos.mrft.belief_agent import build_agent
    from mrft.config import EnvConfig, RunConfig, TrainConfig
    from mrft.trainer import Trainer

    torch.set_num_threads(1)
    torch.manual_seed(0)
    cfg = TrainConfig(algo="mrft", env=EnvConfig(env=env),
                      run=RunConfig(total_steps=1, runs_dir=tempfile.mkdtemp(), run_name="cost",
                                    progress=False, threads=1, device="cpu"))
    trainer = Trainer(cfg)  # resolves the family's presets and builds its policy
    resolved, policy = trainer.cfg, trainer.policy
    m = resolved.mrft
    envs = resolved.env.num_envs
    steps = envs * int(m.meta_num_steps) // int(m.meta_minibatches)
    rows_per_minibatch = max(1, envs // int(m.meta_minibatches))
    obs_dim = policy.obs_shape
    tick_obs = torch.randn(envs, *obs_dim)
    batch_obs = torch.randn(steps, *obs_dim)
    row_length = int(m.meta_num_steps)
    result = {"env": env, "torch": torch.__version__, "num_envs": envs, "minibatch_steps": steps,
              "belief_rows_per_minibatch": rows_per_minibatch, "row_length": row_length,
              "hidden_sizes": list(resolved.run.hidden_sizes)}

    def ppo_update():
        dist = policy.distribution(batch_obs)
        loss = dist.log_prob(dist.sample()).sum() + policy.value(batch_obs).sum()
        loss.backward()

    with torch.no_grad():
        result["ppo_acting_s"] = _timed(lambda: (policy.distribution(tick_obs).sample(),
                                                 policy.value(tick_obs)), calls, repeats)
    result["ppo_update_s"] = _timed(ppo_update, calls // 4 or 1, repeats)
    parts = {}
    for conditioning in CONDITIONERS:
        for encoder in ENCODERS:
            agent = build_agent(dataclasses.replace(m, conditioning=conditioning,
                                                    belief_encoder=encoder), policy)
            parts[f"{conditioning}+{encoder}"] = _design_cost(
                agent, policy, tick_obs, batch_obs, rows_per_minibatch, row_length, calls, repeats)
    result["mrft"] = parts
    return result


def _design_cost(agent, policy, tick_obs, batch_obs, rows_per_minibatch: int, row_length: int,
                 calls: int, repeats: int) -> dict[str, float]:
    """Seconds per call of one MRFT design's parts (see the module docstring)."""
    import torch

    from mrft.algos.mrft.belief_agent import observation_features

    envs = tick_obs.shape[0]
    state = agent.encoder.initial_state(envs)
    actions = policy.distribution(tick_obs).sample()
    x = agent.transitions(observation_features(policy, tick_obs), actions, torch.zeros(envs),
                          torch.zeros(envs))
    stepped = torch.ones(envs, dtype=torch.bool)
    z_tick = agent.belief(state)
    z_batch = torch.randn(batch_obs.shape[0], z_tick.shape[-1])
    rows = torch.randn(rows_per_minibatch, row_length, x.shape[-1])

    def conditioned_update():
        dist, value = agent.forward_policy(policy, batch_obs, z_batch)
        (dist.log_prob(dist.sample()).sum() + value.sum()).backward()

    def belief_update():
        agent.sequence(rows).sum().backward()

    with torch.no_grad():
        step_s = _timed(lambda: agent.encoder.step(state, x, stepped), calls, repeats)
        policy_s = _timed(lambda: agent.forward_policy(policy, tick_obs, z_tick), calls, repeats)
    return {"acting_belief_step_s": step_s, "acting_conditioned_policy_s": policy_s,
            "update_conditioned_policy_s": _timed(conditioned_update, calls // 4 or 1, repeats),
            "update_belief_encoder_s": _timed(belief_update, calls // 4 or 1, repeats)}


def _print(result: dict) -> None:
    ppo_act, ppo_upd = result["ppo_acting_s"], result["ppo_update_s"]
    print(f"{result['env']}: {result['num_envs']} envs, minibatch of {result['minibatch_steps']} "
          f"steps, belief over {result['belief_rows_per_minibatch']} rows of "
          f"{result['row_length']} per minibatch; times in ms, x = over PPO's")
    print(f"{'design':20s} {'act: belief':>11s} {'act: policy':>11s} {'act total':>13s} "
          f"{'upd: policy':>11s} {'upd: belief':>11s} {'upd total':>13s}")
    print(f"{'PPO':20s} {'':>11s} {1e3 * ppo_act:11.3f} {1e3 * ppo_act:9.3f} 1.0x "
          f"{1e3 * ppo_upd:11.2f} {'':>11s} {1e3 * ppo_upd:9.2f} 1.0x")
    for name, p in result["mrft"].items():
        act = p["acting_belief_step_s"] + p["acting_conditioned_policy_s"]
        upd = p["update_conditioned_policy_s"] + p["update_belief_encoder_s"]
        print(f"{name:20s} {1e3 * p['acting_belief_step_s']:11.3f} "
              f"{1e3 * p['acting_conditioned_policy_s']:11.3f} {1e3 * act:9.3f} {act / ppo_act:3.1f}x "
              f"{1e3 * p['update_conditioned_policy_s']:11.2f} {1e3 * p['update_belief_encoder_s']:11.2f} "
              f"{1e3 * upd:9.2f} {upd / ppo_upd:3.1f}x")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--env", default="nav:point")
    parser.add_argument("--calls", type=int, default=200, help="calls per timing")
    parser.add_argument("--repeats", type=int, default=5, help="timings per figure (median)")
    parser.add_argument("--out", default=str(REPO / "benchmarks" / "results" / "mrft_cost.json"))
    args = parser.parse_args()
    sys.path.insert(0, str(REPO / "src"))
    started = time.strftime("%Y-%m-%d %H:%M:%S")
    result = measure(args.env, args.calls, args.repeats)
    _print(result)
    report = {"what": "seconds per call of MRFT's parts and PPO's actor-critic, one thread",
              "command": command_line("benchmarks/mrft_cost.py", vars(args), skip=("out",)),
              **provenance(), "time": started, "machine": machine(), **result}
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    Path(args.out).write_text(json.dumps(report, indent=2) + "\n")
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
