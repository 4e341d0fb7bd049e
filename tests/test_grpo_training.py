"""GRPO in the trainer: grouped episodes from identical starts, logging, learning."""

import json

import numpy as np
import pytest
import torch
from conftest import CountdownVecEnv

from mrft import envs
from mrft.algos.grpo import GRPOConfig
from mrft.config import EnvConfig, OptimConfig, RunConfig, TrainConfig
from mrft.episodes import Actor, EpisodeCollector, play_episode
from mrft.evaluate import evaluate, load_policy
from mrft.nets import ActorCritic
from mrft.trainer import Trainer


@pytest.mark.parametrize("spec", ["procgen:coinrun", "metaworld:reach", "gym:CartPole-v1"])
def test_first_observations_are_equal_inside_each_group(spec):
    from mrft.envs.spaces import task_spaces

    tasks = envs.parse_env(spec).train
    spaces = task_spaces(tasks[0])
    policy = ActorCritic(spaces.observation_space, spaces.action_space, "auto", (8,))
    collector = EpisodeCollector(tasks, Actor(policy), 8, group_size=4, trial_episodes=1,
                                 max_episode_steps=3, seed=5, device=torch.device("cpu"))
    for _ in range(2):
        first = collector.collect().obs[:, 0, 0]
        assert torch.equal(first[0], first[1]) and torch.equal(first[0], first[3])
        assert torch.equal(first[4], first[7])
        assert not torch.equal(first[0], first[4])
    collector.close()


def test_steps_after_an_episode_ends_are_not_recorded():
    env = CountdownVecEnv([2, 4])
    policy = ActorCritic(env.observation_space, env.action_space, "mlp", (8,))
    run = play_episode(env, Actor(policy), 100, torch.device("cpu"), update_normalizer=False)
    assert run.mask.tolist() == [[True, True, False, False], [True, True, True, True]]
    assert run.returns.tolist() == [3.0, 10.0]
    assert run.rewards[0].tolist() == [1.0, 2.0, 0.0, 0.0]
    # only real episode steps count: the two steps env 0 idles while env 1 finishes do not
    assert run.env_steps == 6
    assert run.lengths.tolist() == [2, 4]


def test_grpo_logs_its_diagnostics_and_keeps_the_reference(tmp_path):
    cfg = TrainConfig(
        env=EnvConfig(env="gym:CartPole-v1", num_envs=8), algo="grpo",
        grpo=GRPOConfig(group_size=4, beta=0.04, epsilon_high=0.28, num_iterations=2,
                        ref_reset_every=2),
        # a batch reserves 8 envs x CartPole's 500-step horizon; two updates are run
        run=RunConfig(total_steps=20_000, seed=3, runs_dir=str(tmp_path), run_name="g", progress=False),
    )
    trainer = Trainer(cfg)
    ref_before = {k: v.clone() for k, v in trainer.algo.ref_policy.state_dict().items()}
    result = trainer.train(max_updates=1)
    ref_after_one = trainer.algo.ref_policy.state_dict()
    assert all(torch.equal(ref_before[k], ref_after_one[k]) for k in ref_before)
    trainer = Trainer(cfg, resume_from=str(result.checkpoint))
    trainer.train(max_updates=1)
    policy_state = trainer.policy.state_dict()
    assert all(torch.equal(trainer.algo.ref_policy.state_dict()[k], policy_state[k]) for k in policy_state)
    records = [json.loads(line) for line in (tmp_path / "g" / "metrics.jsonl").read_text().splitlines()]
    for key in ("grpo/frac_zero_std_groups", "grpo/group_return_std", "losses/kl",
                "losses/clipfrac", "losses/approx_kl", "losses/clipfrac_high", "charts/episodic_return"):
        assert key in records[-1], key
    assert np.isfinite(records[-1]["losses/kl"])


def test_grpo_learns_cartpole(tmp_path):
    # 32 envs = 4 groups of 8 identical starts; 4 passes of 4 minibatches per batch.
    cfg = TrainConfig(
        env=EnvConfig(env="gym:CartPole-v1", num_envs=32), algo="grpo",
        optim=OptimConfig(learning_rate=1e-3),
        grpo=GRPOConfig(group_size=8, num_iterations=4, episode_minibatches=4),
        run=RunConfig(total_steps=150_000, seed=1, runs_dir=str(tmp_path), run_name="learn",
                      hidden_sizes=(64, 64), progress=False),
    )
    result = Trainer(cfg).train()
    policy, _, suite = load_policy(str(result.checkpoint))
    evaluation = evaluate(policy, suite.test, 16, num_envs=8, seed=123)
    # an untrained policy scores about 22; the threshold asks for a clear, stable gain
    assert evaluation.return_ci.mean > 150, evaluation.return_ci
