"""RL2: a GRU memory kept across a trial's episodes, the trial recomputed exactly in the loss,
GAE through the episode boundaries inside a trial, in-context learning on a hidden-arm
bandit, and the command line from training to adaptation (which changes no weight)."""

from __future__ import annotations

import json

import gymnasium as gym
import numpy as np
import pytest
import torch
from conftest import CountdownVecEnv

from mrft import envs
from mrft.algos.grpo import GRPOConfig
from mrft.algos.rl2 import RecurrentActor, RL2Config
from mrft.algos.sequences import gather_steps, trial_gae, trial_sequences
from mrft.checkpoint import load_checkpoint
from mrft.cli import main
from mrft.config import AdaptSettings, EnvConfig, OptimConfig, RunConfig, TrainConfig
from mrft.episodes import play_episode
from mrft.evaluate import evaluate
from mrft.nets import RecurrentActorCritic
from mrft.trainer import Trainer

CPU = torch.device("cpu")


def test_memory_is_kept_across_a_trials_episodes_and_reset_between_trials():
    env = CountdownVecEnv([2, 4])  # env 0 idles for two steps while env 1 finishes
    policy = RecurrentActorCritic(env.observation_space, env.action_space, "mlp", (8,), 8)
    actor = RecurrentActor(policy, deterministic=True)
    rows = torch.arange(2)

    actor.begin_trial(rows, rows)
    assert torch.equal(actor.memory.hidden, torch.zeros(2, 8))
    actor.begin_episode()
    first = play_episode(env, actor, 100, CPU, update_normalizer=False)
    after_first = actor.memory.hidden.clone()
    # env 0's memory is its state after its own 2 real steps: padding steps did not advance it
    steps = first.mask[0]
    x = policy.inputs(first.obs[0, steps][None],
                      torch.stack([torch.zeros(2), policy.action_features(first.actions[0, 0])])[None],
                      torch.tensor([[0.0, first.rewards[0, 0].item()]]), torch.zeros(1, 2))
    with torch.no_grad():
        assert torch.allclose(policy.unroll(x)[0, -1], after_first[0], atol=1e-6)
    assert after_first.abs().sum() > 0

    actor.begin_episode()  # the trial's second episode: the memory is kept
    assert torch.equal(actor.memory.hidden, after_first)
    assert actor.memory.prev_done.tolist() == [1.0, 1.0]
    second = play_episode(env, actor, 100, CPU, update_normalizer=False)
    # the same first observation is valued differently with the first episode in memory
    assert torch.equal(first.obs[:, 0], second.obs[:, 0])
    assert not torch.allclose(first.values[:, 0], second.values[:, 0])

    actor.begin_trial(rows, rows)  # a new trial starts from an empty memory
    assert torch.equal(actor.memory.hidden, torch.zeros(2, 8))
    actor.begin_episode()
    third = play_episode(env, actor, 100, CPU, update_normalizer=False)
    assert torch.equal(third.values, first.values) and torch.equal(third.actions, first.actions)


@pytest.mark.parametrize("env", ["gym:CartPole-v1", "nav:point"])
def test_the_loss_recomputes_what_was_collected_step_by_step(tmp_path, env):
    # CartPole: episodes of different lengths (padding inside trials); nav: continuous actions
    cfg = TrainConfig(env=EnvConfig(env=env, num_envs=4, max_episode_steps=30), algo="rl2",
                      rl2=RL2Config(rl2_hidden_size=16, rl2_trial_episodes=3, rl2_num_minibatches=2),
                      run=RunConfig(total_steps=10_000, runs_dir=str(tmp_path), run_name="r",
                                    hidden_sizes=(16,), progress=False))
    trainer = Trainer(cfg)
    batch = trainer.collector.collect()
    plan = trainer.algo.prepare(batch)
    data = plan.data
    assert plan.epochs == 4 and "rl2/return_episode_0" in plan.stats
    valid = data["mask"]
    assert valid.sum(1).tolist() == batch.mask.sum((1, 2)).tolist()
    with torch.no_grad():
        logp, _, values = trainer.algo.evaluate_trials(data)
        assert torch.allclose(logp[valid], data["logprobs"][valid], atol=1e-5)
        assert torch.allclose(values[valid], data["values"][valid], atol=1e-5)
        for mb in trainer.algo.minibatches(data, torch.Generator().manual_seed(0)):
            out = trainer.algo.loss(mb)
            assert abs(out["approx_kl"].item()) < 1e-6 and out["clipfrac"].item() == 0.0
    trainer.collector.close()


def test_gae_runs_through_the_episode_boundary_inside_a_trial():
    # trial 0: episode A of 2 steps, then B of 3; trial 1: two 1-step episodes, then padding
    mask = torch.tensor([[[1, 1, 0], [1, 1, 1]], [[1, 0, 0], [1, 0, 0]]], dtype=torch.bool)
    rewards = torch.tensor([[[1.0, 2.0, 0.0], [3.0, 4.0, 5.0]], [[1.0, 0.0, 0.0], [1.0, 0.0, 0.0]]])
    values = torch.tensor([[[0.5, 0.6, 0.0], [0.7, 0.8, 0.9]], [[0.5, 0.0, 0.0], [0.5, 0.0, 0.0]]])
    index, valid = trial_sequences(mask)
    assert valid.tolist() == [[True] * 5, [True, True, False, False, False]]
    final_value = torch.tensor([2.0, 7.0])
    terminated = torch.tensor([False, True])
    adv, ret = trial_gae(gather_steps(rewards, index), gather_steps(values, index), valid,
                         final_value, terminated, gamma=0.9, lam=0.8)
    # deltas r + 0.9 V(next) - V; the step ending A looks at B's first value (0.7), and only
    # the trial's end bootstraps (trial 0: from 2.0) or terminates (trial 1)
    deltas = [1 + 0.9 * 0.6 - 0.5, 2 + 0.9 * 0.7 - 0.6, 3 + 0.9 * 0.8 - 0.7, 4 + 0.9 * 0.9 - 0.8,
              5 + 0.9 * 2.0 - 0.9]
    assert deltas == pytest.approx([1.04, 2.03, 3.02, 4.01, 5.9])
    expected = [7.149449984, 8.4853472, 8.96576, 8.258, 5.9]  # A_t = delta_t + 0.72 A_(t+1)
    assert adv[0].tolist() == pytest.approx(expected)
    assert ret[0].tolist() == pytest.approx([a + v for a, v in zip(expected, [0.5, 0.6, 0.7, 0.8, 0.9],
                                                                   strict=True)])
    # trial 1: 1 + 0.9 * 0.5 - 0.5 = 0.95, then 1 - 0.5 (terminal; 7.0 unused); padding gets 0
    assert adv[1].tolist() == pytest.approx([0.95 + 0.72 * 0.5, 0.5, 0.0, 0.0, 0.0])


def _pretrain(tmp_path, algo: str, **sections) -> Trainer:
    cfg = TrainConfig(
        env=EnvConfig(env="bandit:arms3", num_envs=32), algo=algo,
        optim=OptimConfig(learning_rate=5e-3, anneal_lr=False),
        run=RunConfig(total_steps=20_000, seed=2, runs_dir=str(tmp_path), run_name=algo,
                      hidden_sizes=(32,), progress=False, threads=1), **sections)
    trainer = Trainer(cfg)
    trainer.train()
    return trainer


def _trial_return(policy, trial_episodes: int, episodes: int = 96) -> float:
    """Mean return of the last episode of trials on held-out arms (the same instances for any
    number of episodes per trial)."""
    tasks = envs.parse_env("bandit:arms3").test
    result = evaluate(policy, tasks, episodes, num_envs=episodes, seed=11,
                      actor=RecurrentActor(policy), trial_episodes=trial_episodes)
    return float(np.mean(result.returns))


def test_rl2_learns_in_context_on_a_hidden_arm_bandit(tmp_path):
    # three arms, one pays 1 per pull, five pulls an episode; the observation is only the
    # time. Without memory a policy earns 5/3 in expectation; with memory inside an episode
    # only, at best 4 (try arms until one pays); 5 needs the previous episode remembered.
    rl2 = _pretrain(tmp_path, "rl2", rl2=RL2Config(rl2_hidden_size=64))
    untrained = RecurrentActorCritic(gym.spaces.Box(0.0, 1.0, (1,)), gym.spaces.Discrete(3), "mlp",
                                     (32,), 64)
    grpo = _pretrain(tmp_path, "grpo", grpo=GRPOConfig(group_size=8, num_iterations=4,
                                                       episode_minibatches=4))
    tasks = envs.parse_env("bandit:arms3").test
    grpo_return = float(np.mean(evaluate(grpo.policy, tasks, 96, num_envs=96, seed=11).returns))
    first, second = _trial_return(rl2.policy, 1), _trial_return(rl2.policy, 2)
    fixed = _trial_return(untrained, 2)
    print(f"RL2 episode 1 {first:.2f}, episode 2 {second:.2f}; fixed weights, episode 2 "
          f"{fixed:.2f}; GRPO {grpo_return:.2f}")
    assert second > 4.2, (first, second)
    assert second > first + 0.5, (first, second)
    assert second > fixed + 2.0, (second, fixed)
    assert second > grpo_return + 2.0, (second, grpo_return)


def _cli(capsys, *args) -> str:
    with pytest.raises(SystemExit) as exit_info:
        main([str(a) for a in args])
    out = capsys.readouterr()
    assert exit_info.value.code == 0, out.err
    return out.out


def test_cli_trains_adapts_without_changing_weights_and_evaluates_trials(tmp_path, capsys):
    _cli(capsys, "train", "--algo", "rl2", "--env", "nav:point", "--total-steps", 320,
         "--num-envs", 4, "--rl2-hidden-size", 16, "--hidden-sizes", 16, "--rl2-num-minibatches", 2,
         "--runs-dir", tmp_path, "--run-name", "r", "--no-progress")
    checkpoint = tmp_path / "r" / "checkpoint.pt"
    records = [json.loads(line) for line in (tmp_path / "r" / "metrics.jsonl").read_text().splitlines()]
    assert records[-1]["step"] == 320  # 4 envs x 2 episodes x 20 steps per update
    for key in ("losses/policy_loss", "losses/value_loss", "losses/approx_kl",
                "rl2/return_episode_0", "rl2/return_episode_1"):
        assert key in records[-1], key
    pretrained = load_checkpoint(checkpoint)  # weights_only
    assert pretrained["config"]["rl2"]["rl2_hidden_size"] == 16

    out = tmp_path / "adapt.json"
    _cli(capsys, "adapt", checkpoint, "--task", 1, "--steps", 200, "--eval-every", 80,
         "--eval-episodes", 4, "--num-envs", 2, "--out", out)
    record = json.loads(out.read_text())
    # 2 envs x 2 episodes x 20 steps = 80 per batch; 200 -> 160, and 40 more for one env
    assert [p["step"] for p in record["curve"]] == [0, 80, 160, 200]
    adapted = load_checkpoint(tmp_path / "adapt" / "checkpoint.pt")
    assert adapted["model"].keys() == pretrained["model"].keys()
    assert all(torch.equal(adapted["model"][k], pretrained["model"][k]) for k in pretrained["model"])

    text = _cli(capsys, "eval", checkpoint, "--episodes", 3, "--num-envs", 3)
    assert "last episode of trials of 2 episodes" in text and "return:" in text


def test_adapted_policy_continues_the_memory_of_the_latest_adaptation_trial(tmp_path):
    cfg = TrainConfig(env=EnvConfig(env="nav:point", num_envs=4), algo="rl2",
                      rl2=RL2Config(rl2_hidden_size=16, rl2_num_minibatches=2),
                      run=RunConfig(total_steps=160, runs_dir=str(tmp_path), run_name="r",
                                    hidden_sizes=(16,), progress=False))
    checkpoint = str(Trainer(cfg).train().checkpoint)

    def settings():
        return AdaptSettings(checkpoint, task=0, steps=240, eval_every=80, eval_episodes=3,
                             num_envs=2)

    trainer = Trainer(adaptation=settings(), run_dir=tmp_path / "full")
    fresh = trainer.algo.evaluation_actor(False)
    fresh.begin_trial(torch.zeros(3), torch.arange(3))
    assert torch.equal(fresh.memory.hidden, torch.zeros(3, 16))
    full = trainer.train()
    context = trainer.algo.actor.context  # as the adaptation trial's 2nd episode started
    assert context is not None and context.hidden.abs().sum() > 0
    assert context.prev_done.tolist() == [1.0, 1.0]
    adapted = trainer.algo.evaluation_actor(False)
    adapted.begin_trial(torch.zeros(3), torch.arange(3))  # env i continues adapting env i mod 2
    assert torch.equal(adapted.memory.hidden, context.hidden[[0, 1, 0]])
    assert len(trainer.optimizer.state) == 0
    # an interrupted adaptation resumes with its memory: the same curve
    split = Trainer(adaptation=settings(), run_dir=tmp_path / "split")
    split.train(max_updates=2)
    resumed = Trainer(resume_from=str(tmp_path / "split" / "checkpoint.pt"))
    assert torch.equal(resumed.algo.actor.context.hidden, split.algo.actor.context.hidden)
    assert resumed.train().curve == full.curve and len(full.curve) == 4
