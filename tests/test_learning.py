"""PPO learns within a fixed budget (thresholds stated in each test)."""

import pytest

from mrft.algos.ppo import PPOConfig
from mrft.config import EnvConfig, OptimConfig, RunConfig, TrainConfig
from mrft.evaluate import evaluate, load_policy
from mrft.trainer import Trainer


def _train_and_eval(tmp_path, env, ppo, total_steps, num_envs, hidden=(64, 64), episodes=16,
                    optim=None):
    cfg = TrainConfig(
        env=EnvConfig(env=env, num_envs=num_envs), ppo=ppo, optim=optim or OptimConfig(),
        run=RunConfig(total_steps=total_steps, seed=1, runs_dir=str(tmp_path), run_name="learn",
                      hidden_sizes=hidden, progress=False),
    )
    result = Trainer(cfg).train()
    policy, _, suite = load_policy(str(result.checkpoint))
    return evaluate(policy, suite.test, episodes, num_envs=8, seed=123)


def test_ppo_solves_cartpole_in_100k_steps(tmp_path):
    # CleanRL ppo.py settings (the "classic" preset); CartPole counts as solved above 195.
    result = _train_and_eval(tmp_path, "gym:CartPole-v1", PPOConfig(), 100_000, 8)
    assert result.return_ci.mean > 195, result.return_ci


@pytest.mark.long
def test_ppo_learns_pendulum_in_100k_steps(tmp_path):
    # Continuous control: random actions score about -1200; a swung-up pendulum about -150.
    ppo = PPOConfig(gamma=0.9, update_epochs=10, num_steps=512, num_minibatches=8)
    result = _train_and_eval(tmp_path, "gym:Pendulum-v1", ppo, 100_000, 4,
                             optim=OptimConfig(learning_rate=1e-3))
    assert result.return_ci.mean > -500, result.return_ci


@pytest.mark.slow
def test_ppo_learns_metaworld_reach_in_300k_steps(tmp_path):
    # Continuous preset, goal visible; the untrained policy had 0.0 success in our runs.
    cfg = TrainConfig(
        env=EnvConfig(env="metaworld:reach"),
        run=RunConfig(total_steps=300_000, seed=1, runs_dir=str(tmp_path), run_name="reach",
                      progress=False),
    )
    result = Trainer(cfg).train()
    policy, _, suite = load_policy(str(result.checkpoint))
    evaluation = evaluate(policy, suite.test, 20, num_envs=10, seed=123)
    assert evaluation.success_ci.mean >= 0.5, evaluation.success_ci
