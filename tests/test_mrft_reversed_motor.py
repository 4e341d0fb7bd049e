"""Adaptation recovers an instance on which the pre-trained policy fails: ``nav:point-reversed``
holds out goals behind a reversed motor, so a policy that acts as it was trained walks away
from the goal (worse than standing still). MRFT, adapting in context and with its own
updates, must end every such instance better than standing still, and recover at least as
many of them as PPO fine-tuning does with the same budgets."""

import pytest

from mrft.adapt import adapt
from mrft.config import AdaptSettings, EnvConfig, RunConfig, TrainConfig
from mrft.trainer import Trainer

ENV = "nav:point-reversed"
PRETRAIN_STEPS = 40_000
ADAPT_STEPS = 8_000
INSTANCES = (0, 1)
STANDING_STILL = -20.0
"""The return of not moving: distance 1 to a goal on the unit circle for 20 steps."""


def _curves(tmp_path, algo: str) -> list[list[float]]:
    cfg = TrainConfig(env=EnvConfig(env=ENV, num_envs=8), algo=algo,
                      run=RunConfig(total_steps=PRETRAIN_STEPS, seed=1, runs_dir=str(tmp_path),
                                    run_name=algo, progress=False, threads=1))
    checkpoint = str(Trainer(cfg).train().checkpoint)
    curves = []
    for task in INSTANCES:
        settings = AdaptSettings(checkpoint, task=task, steps=ADAPT_STEPS, eval_every=ADAPT_STEPS,
                                 eval_episodes=8, num_envs=8, seed=1)
        record = adapt(checkpoint, settings, run_dir=tmp_path / f"{algo}-adapt{task}")
        curves.append([point["return"] for point in record["curve"]])
    return curves


@pytest.mark.long
def test_mrft_recovers_a_reversed_motor_as_often_as_ppo(tmp_path):
    ppo = _curves(tmp_path, "ppo")
    mrft = _curves(tmp_path, "mrft")
    print(f"returns per instance, in context -> adapted: PPO {ppo}, MRFT {mrft}")
    # the instances are ones the pre-trained (context-free) policy fails on
    assert all(curve[0] < STANDING_STILL for curve in ppo), ppo
    recovered = {name: sum(curve[-1] > STANDING_STILL for curve in curves)
                 for name, curves in (("ppo", ppo), ("mrft", mrft))}
    assert recovered["mrft"] == len(INSTANCES), (mrft, ppo)
    assert recovered["mrft"] >= recovered["ppo"], (mrft, ppo)
