"""Trainer: same seed -> same numbers; resume equals an uninterrupted run; NaN guards."""

import json

import pytest
import torch

from mrft.algos.ppo import PPOConfig
from mrft.config import EnvConfig, RunConfig, TrainConfig
from mrft.errors import MrftError
from mrft.trainer import Trainer


def _cfg(tmp_path, name, total_steps=4 * 8 * 32, **run):
    return TrainConfig(
        env=EnvConfig(env="gym:CartPole-v1", num_envs=4),
        ppo=PPOConfig(num_steps=32, num_minibatches=2, update_epochs=2, normalize_reward=True),
        run=RunConfig(total_steps=total_steps, seed=7, runs_dir=str(tmp_path), run_name=name,
                      progress=False, checkpoint_every=100, **run),
    )


def _losses(run_dir):
    keys = ("losses/policy_loss", "losses/value_loss", "losses/entropy", "losses/approx_kl")
    lines = (run_dir / "metrics.jsonl").read_text().splitlines()
    return [(r["step"], *(r[k] for k in keys)) for r in map(json.loads, lines)]


def test_same_seed_same_losses(tmp_path):
    a = Trainer(_cfg(tmp_path, "a")).train()
    b = Trainer(_cfg(tmp_path, "b")).train()
    assert _losses(a.run_dir) == _losses(b.run_dir)
    assert len(_losses(a.run_dir)) == 8


def test_different_seed_differs(tmp_path):
    a = Trainer(_cfg(tmp_path, "a")).train()
    cfg = _cfg(tmp_path, "b")
    cfg.run.seed = 8
    b = Trainer(cfg).train()
    assert _losses(a.run_dir) != _losses(b.run_dir)


def test_resume_equals_uninterrupted_run(tmp_path):
    full = Trainer(_cfg(tmp_path, "full")).train()
    first = Trainer(_cfg(tmp_path, "split")).train(max_updates=4)
    assert first.updates == 4
    resumed = Trainer(_cfg(tmp_path, "ignored"), resume_from=str(first.checkpoint))
    assert resumed.resumed_exactly is True
    second = resumed.train()
    assert second.updates == 8 and second.run_dir == first.run_dir
    assert _losses(full.run_dir) == _losses(second.run_dir)
    a = torch.load(full.checkpoint, weights_only=True)["model"]
    b = torch.load(second.checkpoint, weights_only=True)["model"]
    assert all(torch.equal(a[k], b[k]) for k in a)


def test_resume_can_extend_total_steps(tmp_path):
    first = Trainer(_cfg(tmp_path, "r")).train()
    longer = _cfg(tmp_path, "r", total_steps=12 * 4 * 32)
    result = Trainer(longer, resume_from=str(first.checkpoint)).train()
    assert result.updates == 12


def test_nonfinite_losses_are_skipped_then_the_run_stops(tmp_path, monkeypatch):
    trainer = Trainer(_cfg(tmp_path, "nan", max_nonfinite_updates=3))
    real_loss = trainer.algo.loss
    calls = {"n": 0}

    def poisoned(mb):
        out = real_loss(mb)
        calls["n"] += 1
        out["loss"] = out["loss"] * float("nan")
        return out

    before = {k: v.clone() for k, v in trainer.policy.state_dict().items()}
    monkeypatch.setattr(trainer.algo, "loss", poisoned)
    with pytest.raises(MrftError) as info:
        trainer.train()
    assert "diverged" in str(info.value) and info.value.exit_code == 1
    assert calls["n"] == 3 * 2 * 2  # 3 updates x 2 epochs x 2 minibatches, none applied
    after = trainer.policy.state_dict()
    assert all(torch.equal(before[k], after[k]) for k in before if "obs_normalizer" not in k)
    records = [json.loads(line) for line in (trainer.run_dir / "metrics.jsonl").read_text().splitlines()]
    assert [r["losses/nonfinite_skips"] for r in records] == [4.0, 4.0, 4.0]
    assert trainer.checkpoint_path.exists()


def test_one_bad_update_is_skipped_and_training_continues(tmp_path, monkeypatch):
    trainer = Trainer(_cfg(tmp_path, "one-nan"))
    real_loss = trainer.algo.loss
    calls = {"n": 0}

    def sometimes(mb):
        out = real_loss(mb)
        calls["n"] += 1
        if calls["n"] == 1:
            out["loss"] = out["loss"] + float("inf")
        return out

    monkeypatch.setattr(trainer.algo, "loss", sometimes)
    result = trainer.train()
    assert result.updates == 8


def test_new_run_refuses_a_folder_that_holds_a_run(tmp_path):
    Trainer(_cfg(tmp_path, "taken", total_steps=4 * 32)).train()
    with pytest.raises(MrftError) as info:
        Trainer(_cfg(tmp_path, "taken"))
    assert "--resume" in str(info.value)


NAN_ENV_MODULE = """
import gymnasium
import numpy as np


class NanAfterFive(gymnasium.Env):
    observation_space = gymnasium.spaces.Box(-1.0, 1.0, (2,), np.float32)
    action_space = gymnasium.spaces.Discrete(2)

    def reset(self, seed=None, options=None):
        super().reset(seed=seed)
        self.t = 0
        return np.zeros(2, np.float32), {}

    def step(self, action):
        self.t += 1
        obs = np.full(2, np.nan if self.t >= 5 else 0.0, np.float32)
        return obs, 1.0, False, self.t >= 50, {}


gymnasium.register("NanAfterFive-v0", entry_point=NanAfterFive)
"""


@pytest.mark.parametrize("algo", ["ppo", "grpo"])
def test_nan_observations_stop_the_run_in_one_line_with_a_checkpoint(tmp_path, monkeypatch, algo):
    (tmp_path / "nan_env_for_test.py").write_text(NAN_ENV_MODULE)
    monkeypatch.syspath_prepend(str(tmp_path))
    cfg = _cfg(tmp_path, f"nan-{algo}")
    cfg.env.env = "gym:nan_env_for_test:NanAfterFive-v0"
    cfg.algo = algo
    cfg.grpo.group_size = 2
    cfg.env.max_episode_steps = 50
    with pytest.raises(MrftError) as info:
        Trainer(cfg).train()
    text = str(info.value)
    assert info.value.exit_code == 1 and "\n" not in text
    assert "non-finite observation" in text and "step 5 of" in text
    assert (tmp_path / f"nan-{algo}" / "checkpoint.pt").exists()
