"""MRFT learns from an env step as often as PPO: the same updates and optimiser steps per env
step, counted in short runs, in pre-training and in adaptation."""

from __future__ import annotations

import math

import pytest
import torch

from mrft.adapt import adapt
from mrft.algos.mrft.options import MRFTConfig
from mrft.config import AdaptSettings, EnvConfig, OptimConfig, RunConfig, TrainConfig
from mrft.trainer import Trainer

SMALL = MRFTConfig(tcn_channels=8, tcn_levels=2, meta_d_model=16, meta_layers=1, embed_dim=8)


def _counting(monkeypatch) -> dict[str, int]:
    """Counts every optimiser step any trainer takes."""
    counts = {"steps": 0}
    original = torch.optim.Adam.step

    def step(self, *args, **kwargs):
        counts["steps"] += 1
        return original(self, *args, **kwargs)

    monkeypatch.setattr(torch.optim.Adam, "step", step)
    return counts


def _pretrain(tmp_path, algo: str, env: str, total: int):
    run = RunConfig(total_steps=total, seed=3, runs_dir=str(tmp_path), run_name=algo,
                    progress=False, hidden_sizes=(16, 16))
    cfg = TrainConfig(env=EnvConfig(env=env, num_envs=8), algo=algo, run=run,
                      optim=OptimConfig(learning_rate=1e-3), mrft=SMALL)
    return Trainer(cfg).train()


@pytest.mark.parametrize(("env", "num_steps", "minibatches", "epochs"), [
    ("nav:point", 256, 8, 5),  # the continuous-control preset
    ("bandit:arms3", 128, 4, 4),  # the classic-control preset
])
def test_pre_training_updates_and_optimiser_steps_per_env_step_equal_ppos(
        tmp_path, monkeypatch, env, num_steps, minibatches, epochs):
    counts = _counting(monkeypatch)
    seen = {}
    for algo in ("ppo", "mrft"):
        counts["steps"] = 0
        result = _pretrain(tmp_path, algo, env, 3 * 8 * num_steps)  # three rollouts of 8 envs
        seen[algo] = (result.global_step, result.updates, counts["steps"])
    assert seen["mrft"] == seen["ppo"] == (3 * 8 * num_steps, 3, 3 * minibatches * epochs)


def test_adaptation_updates_and_optimiser_steps_per_env_step_equal_ppos(tmp_path, monkeypatch):
    counts = _counting(monkeypatch)
    seen = {}
    for algo in ("ppo", "mrft"):
        checkpoint = str(_pretrain(tmp_path / algo, algo, "nav:point", 1024).checkpoint)
        counts["steps"] = 0
        # at the defaults: MRFT's KL bound (0.2) ends an update early only once its policy has
        # moved past it, which these updates do not
        settings = AdaptSettings(checkpoint, task=1, steps=480, eval_every=480, eval_episodes=2,
                                 num_envs=4)
        record = adapt(checkpoint, settings, run_dir=tmp_path / algo / "a")
        seen[algo] = (record["adapt_env_steps"], counts["steps"])
    # 6 batches of 4 nav episodes (20 steps), each 8 minibatches x 5 epochs
    assert seen["mrft"] == seen["ppo"] == (480, 6 * 8 * 5)


@pytest.mark.parametrize(("passes", "expected"), [(None, [2, 2, 2]), (1, [2, 0, 0]), (2, [2, 2, 0])])
def test_the_belief_trains_in_the_first_belief_passes_of_an_update(tmp_path, monkeypatch, passes,
                                                                    expected):
    """``--belief-passes k``: the belief loss is in every minibatch of the update's first ``k``
    passes and in none after them, while the policy still takes every pass."""
    import dataclasses

    from mrft.algos.mrft import belief

    calls = []
    original = belief.belief_loss

    def counted(*args, **kwargs):
        calls.append(1)
        return original(*args, **kwargs)

    monkeypatch.setattr("mrft.algos.mrft.algorithm.belief_loss", counted)
    counts = _counting(monkeypatch)
    run = RunConfig(total_steps=8 * 64, seed=3, runs_dir=str(tmp_path), run_name="m",
                    progress=False, hidden_sizes=(16, 16))
    m = dataclasses.replace(SMALL, meta_num_steps=64, meta_iterations=3, meta_minibatches=2,
                            belief_passes=passes)
    cfg = TrainConfig(env=EnvConfig(env="nav:point", num_envs=8), algo="mrft", run=run, mrft=m)
    trainer = Trainer(cfg)
    per_pass = []
    steps_before = 0
    original_minibatches = trainer.algo.minibatches

    def minibatches(data, generator):
        nonlocal steps_before
        steps_before = len(calls)
        yield from original_minibatches(data, generator)
        per_pass.append(len(calls) - steps_before)

    trainer.algo.minibatches = minibatches
    trainer.train()
    assert per_pass == expected and counts["steps"] == 3 * 2


@pytest.mark.parametrize("lockstep", [True, False])
def test_where_envs_wait_for_their_neighbours_mrft_keeps_ppos_optimiser_steps_per_env_step(
        tmp_path, monkeypatch, lockstep):
    """On a family whose episodes end at different ticks (a pendulum that falls), lockstep
    envs wait (as they do where the pool cannot reset one env alone), so a chunk holds fewer
    steps than ticks; MRFT then takes fewer minibatches, as many optimiser steps per env
    step as PPO's update (up to rounding each count up), not as many per chunk. Where each
    env resets alone, no env waits and every chunk is PPO's rollout."""
    if lockstep:
        monkeypatch.setattr("mrft.trial_stream.resets_one_env", lambda env: False)
    counts = _counting(monkeypatch)
    run = RunConfig(total_steps=3 * 8 * 128, seed=3, runs_dir=str(tmp_path), run_name="m",
                    progress=False, hidden_sizes=(16, 16))
    cfg = TrainConfig(env=EnvConfig(env="shift:inverted-pendulum-signed", num_envs=8), algo="mrft",
                      run=run, optim=OptimConfig(learning_rate=1e-3), mrft=SMALL)
    trainer = Trainer(cfg)
    chunks = []  # (steps, ticks, optimiser steps before its update)
    prepare = trainer.algo.prepare

    def recording(batch):
        chunks.append((int(batch.valid.sum()), batch.valid.shape[1], counts["steps"]))
        return prepare(batch)

    trainer.algo.prepare = recording
    trainer.train()
    marks = [c[2] for c in chunks[1:]] + [counts["steps"]]
    if not lockstep:
        taken = [after - before for (_, _, before), after in zip(chunks, marks, strict=True)]
        assert [c[0] for c in chunks] == [8 * 128] * 3 and taken == [32 * 10] * 3
        return
    preset = 32 * 10 / (8 * 128)  # the MuJoCo preset's update: 32 minibatches, 10 passes
    waited = False
    for (steps, ticks, before), after in zip(chunks, marks, strict=True):
        taken = after - before
        assert taken == 10 * min(math.ceil(32 * steps / (8 * ticks)), steps)  # (a minibatch holds a step)
        if ticks == 128:
            assert preset <= taken / steps <= preset + 10 / steps
            waited |= steps < 8 * 128
    assert waited and len(chunks) > 3  # updates more often than PPO's 3: a chunk is ticks
