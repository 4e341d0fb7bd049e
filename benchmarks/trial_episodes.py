"""Return of each episode of MRFT trials longer than the pre-training's: how far a belief
carried over more episodes than a trial stays useful.

    python benchmarks/trial_episodes.py CHECKPOINT --episodes 6 --out FILE.json

Plays one trial of ``--episodes`` episodes from the prior belief in each of ``--envs`` envs on
held-out instances ``0 .. --instances - 1`` (and on as many train instances), no update, and
writes the mean return of every episode index per instance.
"""

from __future__ import annotations

import argparse
import json

import numpy as np
import torch

from mrft import algos
from mrft.episodes import EpisodeCollector
from mrft.evaluate import load_policy_and_state


def episode_returns(checkpoint: str, episodes: int, instances: int, envs: int, seed: int) -> dict:
    policy, cfg, suite, state = load_policy_and_state(checkpoint)
    actor, _ = algos.get(cfg.algo).checkpoint_evaluation(cfg, policy.eval(), state.get("algo", {}),
                                                         checkpoint, False)
    torch.manual_seed(seed)
    out: dict = {"checkpoint": checkpoint, "episodes": episodes, "envs": envs, "seed": seed}
    for split, tasks in (("train", suite.train), ("test", suite.test)):
        rows = []
        for instance in range(instances):
            collector = EpisodeCollector(tuple(tasks[:1]), actor, envs, 1, episodes,
                                         cfg.env.max_episode_steps, seed,
                                         torch.device("cpu"), instance=instance,
                                         update_normalizer=False)
            with torch.no_grad():
                batch = collector.collect()
            collector.close()
            returns = np.array([e.ret for e in batch.episodes]).reshape(episodes, envs)
            rows.append([round(float(r), 3) for r in returns.mean(1)])
        out[split] = rows
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("checkpoint")
    parser.add_argument("--episodes", type=int, default=6)
    parser.add_argument("--instances", type=int, default=5)
    parser.add_argument("--envs", type=int, default=8)
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--out", required=True)
    args = parser.parse_args()
    record = episode_returns(args.checkpoint, args.episodes, args.instances, args.envs, args.seed)
    with open(args.out, "w", encoding="utf-8") as f:
        json.dump(record, f, indent=1)
    for split in ("train", "test"):
        for instance, row in enumerate(record[split]):
            print(split, instance, row)


if __name__ == "__main__":
    main()
