"""One engine for training and adaptation: the algorithm interface, exact budgets, fair
evaluation, groups that stay groups, and adaptation with each method's own algorithm."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch

from mrft import algos, envs
from mrft.adapt import adapt
from mrft.algos.base import Algorithm, UpdatePlan
from mrft.algos.grpo import GRPOConfig
from mrft.algos.mrft.options import MRFTConfig
from mrft.algos.ppo import PPOConfig
from mrft.config import AdaptSettings, EnvConfig, OptimConfig, RunConfig, TrainConfig
from mrft.envs import held_out_instance
from mrft.envs.spaces import task_spaces
from mrft.episodes import Actor, EpisodeCollector
from mrft.errors import MrftError
from mrft.evaluate import evaluate_instance
from mrft.nets import ActorCritic
from mrft.trainer import Trainer

SMALL_MRFT = {"tcn_channels": 8, "tcn_levels": 2, "meta_d_model": 16, "meta_layers": 1, "embed_dim": 8}
"""Belief and meta-policy sizes that keep an MRFT test run fast."""


def _run(tmp_path, name, total_steps, **kw):
    return RunConfig(total_steps=total_steps, seed=3, runs_dir=str(tmp_path), run_name=name,
                     progress=False, hidden_sizes=(16, 16), **kw)


class ReinforceToZero(Algorithm):
    """A made-up algorithm: REINFORCE on whole episodes with rewards as they come."""

    name = "reinforce-test"

    def prepare(self, batch):
        return UpdatePlan({"obs": batch.flat("obs"), "actions": batch.flat("actions"),
                           "mask": batch.flat("mask"), "returns": batch.flat("returns")}, epochs=1)

    def loss(self, mb):
        logp, _, _ = self.policy.evaluate(mb["obs"][mb["mask"]], mb["actions"][mb["mask"]])
        weight = mb["returns"][:, None].expand_as(mb["mask"])[mb["mask"]]
        loss = -(logp * (weight - weight.mean())).mean()
        return {"loss": loss, "policy_loss": loss.detach()}


def test_a_registered_algorithm_trains_with_no_trainer_change(tmp_path):
    algos.register(ReinforceToZero)
    try:
        cfg = TrainConfig(env=EnvConfig(env="nav:point", num_envs=4), algo="reinforce-test",
                          run=_run(tmp_path, "fake", 400))
        trainer = Trainer(cfg)
        before = [p.clone() for p in trainer.policy.parameters()]
        result = trainer.train()
        assert result.global_step == 400 and result.updates == 5  # 4 envs x 20 steps each
        assert any(not torch.equal(a, b) for a, b in zip(before, trainer.policy.parameters(), strict=True))
        assert "losses/policy_loss" in json.loads((result.run_dir / "metrics.jsonl")
                                                  .read_text().splitlines()[-1])
    finally:
        del algos.REGISTRY["reinforce-test"]


def test_unknown_algorithm_is_one_clear_error(tmp_path):
    cfg = TrainConfig(env=EnvConfig(env="nav:point"), algo="sac", run=_run(tmp_path, "x", 100))
    try:
        Trainer(cfg)
    except MrftError as exc:
        assert "unknown algorithm 'sac'" in str(exc)
    else:
        raise AssertionError("no error")


def test_fixed_horizon_collector_never_exceeds_the_budget(tmp_path):
    # 4 envs x 32 steps per rollout; 300 steps = 2 whole rollouts + a partial one of 11 steps
    cfg = TrainConfig(env=EnvConfig(env="gym:CartPole-v1", num_envs=4),
                      ppo=PPOConfig(num_steps=32, num_minibatches=2, update_epochs=1),
                      run=_run(tmp_path, "ppo", 300))
    result = Trainer(cfg).train()
    assert result.global_step == 300 and result.updates == 3


def _pretrain(tmp_path, algo, env="nav:point", total=640, **sections):
    cfg = TrainConfig(env=EnvConfig(env=env, num_envs=8), algo=algo,
                      optim=OptimConfig(learning_rate=1e-3), run=_run(tmp_path, algo, total),
                      **sections)
    return str(Trainer(cfg).train().checkpoint)


def _settings(checkpoint, steps, **kw):
    return AdaptSettings(checkpoint, task=1, steps=steps, eval_every=80, eval_episodes=6,
                         num_envs=4, **kw)


def test_adaptation_stops_exactly_at_its_budget_for_every_method(tmp_path):
    small = MRFTConfig(**SMALL_MRFT, trial_episodes=1)
    for algo in ("ppo", "grpo", "mrft"):
        checkpoint = _pretrain(tmp_path / algo, algo, grpo=GRPOConfig(group_size=4), mrft=small)
        # nav episodes are 20 steps: 4 envs pay 80 per batch; 250 -> 3 batches (240), and the
        # 10 steps left cannot pay for a whole episode of the group; MRFT's stream also plays
        # the 2 steps of every env that 10 can pay for
        record = adapt(checkpoint, _settings(checkpoint, 250), run_dir=tmp_path / algo / "a")
        last = 248 if algo == "mrft" else 240
        assert record["adapt_env_steps"] == last, algo
        steps = [p["step"] for p in record["curve"]]
        assert steps == [0, 80, 160, 240, last][:5 if algo == "mrft" else 4], (algo, steps)
        assert {"return", "deterministic/return", "success"} <= set(record["curve"][-1])
        # the first evaluation also says how its episodes unfolded, step by step (20 steps)
        profile = record["curve"][0]["reward_by_step"]
        assert profile["step"] == list(range(20))
        assert all(isinstance(r, float) for r in profile["reward"])
        assert "reward_by_step" not in record["curve"][1]


def test_adaptation_batches_shrink_to_spend_the_budget_when_episodes_end_early(tmp_path):
    """Whole-episode batches (GRPO's); MRFT's fixed-length chunks spend a budget to the last
    step by construction (tests/test_trial_stream.py)."""
    for algo in ("grpo",):
        # CartPole: a 500-step horizon, but untrained episodes last about 20 steps. A batch of
        # 4 envs reserves 2,000 steps; without shrinking, the run would stop near 1,000 of 3,000
        checkpoint = _pretrain(tmp_path / algo, algo, env="gym:CartPole-v1", total=4000,
                               grpo=GRPOConfig(group_size=4))
        record = adapt(checkpoint, _settings(checkpoint, 3000),
                       run_dir=tmp_path / algo / "a")
        assert 2000 <= record["adapt_env_steps"] <= 3000, (algo, record["adapt_env_steps"])


def test_ppo_adapts_with_ppo_and_trains_its_critic(tmp_path):
    checkpoint = _pretrain(tmp_path, "ppo", ppo=PPOConfig(num_steps=20, num_minibatches=2))
    trainer = Trainer(adaptation=_settings(checkpoint, 160), run_dir=tmp_path / "a")
    assert type(trainer.algo).__name__ == "PPO"
    critic = trainer.policy.critic_head.weight.clone()
    trainer.train()
    assert not torch.equal(critic, trainer.policy.critic_head.weight)
    records = [json.loads(line) for line in (tmp_path / "a" / "metrics.jsonl").read_text().splitlines()]
    assert any("losses/value_loss" in r for r in records)


def test_grpo_adaptation_keeps_the_pretrained_policy_as_kl_reference(tmp_path):
    checkpoint = _pretrain(tmp_path, "grpo", grpo=GRPOConfig(group_size=4, beta=0.1))
    pretrained = torch.load(checkpoint, weights_only=True)["model"]
    trainer = Trainer(adaptation=_settings(checkpoint, 160), run_dir=tmp_path / "a")
    assert trainer.algo.ref_policy is not None
    trainer.train()
    ref = trainer.algo.ref_policy.state_dict()
    assert all(torch.equal(ref[k], pretrained[k]) for k in pretrained)
    lines = (tmp_path / "a" / "metrics.jsonl").read_text().splitlines()
    kls = [json.loads(line).get("losses/kl") for line in lines]
    assert any(k is not None and k > 0 for k in kls)


def test_mrft_adapts_without_its_kl_bound_or_with_another_only_when_asked(tmp_path):
    small = MRFTConfig(**SMALL_MRFT, trial_episodes=1, adapt_kl=1e-9)
    checkpoint = _pretrain(tmp_path / "mrft", "mrft", mrft=small)

    def halted(run_dir, key="mrft/adapt_halted"):
        lines = (run_dir / "metrics.jsonl").read_text().splitlines()
        return [json.loads(line).get(key) for line in lines]

    bounded = adapt(checkpoint, _settings(checkpoint, 160), run_dir=tmp_path / "bounded")
    free = adapt(checkpoint, _settings(checkpoint, 160, options={"kl_bound": False}),
                 run_dir=tmp_path / "free")
    assert bounded["mrft"]["adapt_kl"] == 1e-9 and free["mrft"]["adapt_kl"] is None
    # a bound no step can stay within halts every update; no bound halts none
    assert 1.0 in halted(tmp_path / "bounded") and 1.0 not in halted(tmp_path / "free")
    # the first check (the collecting policy itself) passes, the second halts: one step, and
    # no step after the halt
    steps = [s for s in halted(tmp_path / "bounded", "mrft/adapt_steps") if s is not None]
    assert steps and all(s == 1.0 for s in steps), steps
    # and the optimiser took exactly those steps: one per update, none after a halt
    adam = torch.load(tmp_path / "bounded" / "checkpoint.pt", weights_only=True)["optimizer"]
    assert {float(state["step"]) for state in adam["state"].values()} == {float(len(steps))}
    ppo = _pretrain(tmp_path / "ppo", "ppo", ppo=PPOConfig(num_steps=20, num_minibatches=2))
    # another bound for this adaptation only: a loose one halts nothing here
    loose = adapt(checkpoint, _settings(checkpoint, 160, options={"adapt_kl": 10.0}), run_dir=tmp_path / "loose")
    assert loose["mrft"]["adapt_kl"] == 10.0 and 1.0 not in halted(tmp_path / "loose")
    with pytest.raises(MrftError, match="--adapt-kl must be > 0"):
        adapt(checkpoint, _settings(checkpoint, 160, options={"adapt_kl": 0.0}), run_dir=tmp_path / "zero")
    with pytest.raises(MrftError, match="give one of them"):
        adapt(checkpoint, _settings(checkpoint, 160, options={"adapt_kl": 0.1, "kl_bound": False}),
              run_dir=tmp_path / "both")
    with pytest.raises(MrftError, match="no-kl-bound"):
        adapt(ppo, _settings(ppo, 160, options={"kl_bound": False}), run_dir=tmp_path / "ppo-free")


def test_mrft_adapts_the_base_actor_critic_alone_when_asked(tmp_path):
    small = MRFTConfig(**SMALL_MRFT, trial_episodes=1)
    checkpoint = _pretrain(tmp_path / "mrft", "mrft", mrft=small)
    before = torch.load(checkpoint, weights_only=True)
    record = adapt(checkpoint, _settings(checkpoint, 160, options={"meta_policy_updates": False}),
                   run_dir=tmp_path / "frozen")
    after = torch.load(tmp_path / "frozen" / "checkpoint.pt", weights_only=True)
    assert record["mrft"]["adapt_meta_policy"] is False and record["optimizer_steps"] > 0
    agent = before["algo"]["agent"]
    assert agent.keys() == after["algo"]["agent"].keys()
    assert all(torch.equal(agent[k], after["algo"]["agent"][k]) for k in agent)  # as pre-trained
    assert any(not torch.equal(before["model"][k], after["model"][k]) for k in before["model"])
    # the optimiser trained the base actor-critic only: fewer parameters than the default's
    tuned = adapt(checkpoint, _settings(checkpoint, 160), run_dir=tmp_path / "tuned")
    assert tuned["mrft"]["adapt_meta_policy"] is True
    assert record["parameters"] <= sum(v.numel() for v in before["model"].values()) < tuned["parameters"]


def test_mrft_normalises_its_adaptation_advantages_only_when_asked(tmp_path, monkeypatch):
    from mrft.algos.mrft import algorithm

    small = MRFTConfig(**SMALL_MRFT, trial_episodes=1)
    checkpoint = _pretrain(tmp_path / "mrft", "mrft", mrft=small)
    seen = []
    surrogate = algorithm.clipped_surrogate_per_step

    def spy(logp, old, adv, clip):
        seen.append((adv.numel(), float(adv.mean()), float(adv.std()) if adv.numel() > 1 else 1.0))
        return surrogate(logp, old, adv, clip)

    monkeypatch.setattr(algorithm, "clipped_surrogate_per_step", spy)
    plain = adapt(checkpoint, _settings(checkpoint, 160), run_dir=tmp_path / "plain")
    raw, seen[:] = list(seen), []
    normalised = adapt(checkpoint, _settings(checkpoint, 160, options={"normalise_advantages": True}),
                       run_dir=tmp_path / "normalised")
    assert plain["mrft"]["adapt_norm_adv"] is False and normalised["mrft"]["adapt_norm_adv"] is True
    many = [s for s in seen if s[0] > 2]
    assert many and all(abs(mean) < 1e-5 and abs(std - 1.0) < 1e-3 for _, mean, std in many)
    # by default the adaptation's advantages are as the critic gives them, not standardised
    assert any(abs(std - 1.0) > 1e-2 for n, _, std in raw if n > 2)


def test_mrft_scales_its_adaptation_learning_rate_when_asked(tmp_path):
    # the checkpoint asks for half the rate in its adaptations (mrft train --adapt-lr-scale)
    small = MRFTConfig(**SMALL_MRFT, trial_episodes=1, adapt_lr_scale=0.5)
    checkpoint = _pretrain(tmp_path / "mrft", "mrft", mrft=small)
    pretrained_lr = torch.load(checkpoint, weights_only=True)["config"]["optim"]["learning_rate"]

    def first_lr(run_dir):
        lines = (run_dir / "metrics.jsonl").read_text().splitlines()
        return next(r["charts/learning_rate"] for r in map(json.loads, lines) if "charts/learning_rate" in r)

    # pre-training runs at the run's rate
    assert first_lr(Path(checkpoint).parent) == pytest.approx(pretrained_lr)
    half = adapt(checkpoint, _settings(checkpoint, 160), run_dir=tmp_path / "half")
    tenth = adapt(checkpoint, _settings(checkpoint, 160, options={"adapt_lr_scale": 0.1}),
                  run_dir=tmp_path / "tenth")
    assert half["mrft"]["adapt_lr_scale"] == 0.5 and tenth["mrft"]["adapt_lr_scale"] == 0.1
    assert half["learning_rate"] == pytest.approx(0.5 * pretrained_lr)
    assert tenth["learning_rate"] == pytest.approx(0.1 * pretrained_lr)  # in place of the checkpoint's
    # the optimiser stepped at the scaled rate (the same annealing, each step scaled)
    assert first_lr(tmp_path / "tenth") == pytest.approx(0.2 * first_lr(tmp_path / "half"))
    # it scales an explicit --learning-rate too
    given = adapt(checkpoint, _settings(checkpoint, 160, learning_rate=2e-3, options={"adapt_lr_scale": 0.5}),
                  run_dir=tmp_path / "given")
    assert given["learning_rate"] == pytest.approx(1e-3) and pretrained_lr != 2e-3
    # the distillation of the adapted policy runs at the run's rate, not the updates' scaled one
    from mrft.algos.mrft.export import distill_config
    from mrft.config import train_config_from_dict

    adapted = train_config_from_dict(torch.load(tmp_path / "tenth" / "checkpoint.pt", weights_only=True)["config"])
    assert distill_config(adapted, 100, ("kl",)).learning_rate == pretrained_lr
    # adapting an adapted checkpoint again takes its factor, not the product of both
    again = adapt(tmp_path / "tenth" / "checkpoint.pt",
                  _settings(tmp_path / "tenth" / "checkpoint.pt", 160), run_dir=tmp_path / "again")
    assert again["learning_rate"] == pytest.approx(0.1 * pretrained_lr)
    for bad in (0.0, -1.0, float("nan")):
        with pytest.raises(MrftError, match=r"--adapt-lr-scale must be (> 0|a finite number)"):
            adapt(checkpoint, _settings(checkpoint, 160, options={"adapt_lr_scale": bad}),
                  run_dir=tmp_path / "bad")


def test_an_adaptation_saved_before_a_setting_existed_still_resumes():
    from mrft.adapt import _with_defaults
    from mrft.config import to_dict

    settings = to_dict(AdaptSettings("x.pt", task=2, steps=100))
    older = {k: v for k, v in settings.items() if k != "options"}
    assert _with_defaults(older) == settings
    assert _with_defaults({**settings, "from_a_newer_version": 1}) is None
    # an algorithm's option saved beside the settings, as older versions did, moves into options
    assert _with_defaults({**older, "kl_bound": True}) == settings
    assert _with_defaults({**older, "kl_bound": False})["options"] == {"kl_bound": False}


def test_adaptation_resume_equals_an_uninterrupted_run(tmp_path):
    checkpoint = _pretrain(tmp_path, "grpo", grpo=GRPOConfig(group_size=4))
    full = Trainer(adaptation=_settings(checkpoint, 320), run_dir=tmp_path / "full").train()
    first = Trainer(adaptation=_settings(checkpoint, 320), run_dir=tmp_path / "split")
    first.train(max_updates=2)
    second = Trainer(resume_from=str(tmp_path / "split" / "checkpoint.pt")).train()
    assert second.global_step == full.global_step == 320
    assert second.curve == full.curve
    a = torch.load(full.checkpoint, weights_only=True)["model"]
    b = torch.load(second.checkpoint, weights_only=True)["model"]
    assert all(torch.equal(a[k], b[k]) for k in a)


def test_grpo_groups_share_body_and_first_observation_in_every_batch(tmp_path):
    suite = envs.parse_env("shift:inverted-pendulum")
    spaces = task_spaces(suite.train[0])
    policy = ActorCritic(spaces.observation_space, spaces.action_space, "mlp", (8,))

    class BodyRecorder(Actor):
        """Reads each env's body at the first step of the episode."""

        def begin_episode(self):
            self.masses = None

        def act(self, obs):
            if self.masses is None:
                self.masses = collector.env.dynamics()[0]
            return super().act(obs)

    actor = BodyRecorder(policy)
    collector = EpisodeCollector(suite.train, actor, 8, group_size=4, trial_episodes=1,
                                 max_episode_steps=60, seed=2, device=torch.device("cpu"))
    lengths_differ = False
    for _ in range(4):
        batch = collector.collect()
        masses = actor.masses
        first = batch.obs[:, 0, 0]
        for g in (0, 4):
            assert torch.equal(first[g], first[g + 3]) and torch.equal(first[g], first[g + 1])
        assert np.array_equal(masses[0], masses[3]) and np.array_equal(masses[4], masses[7])
        assert not np.array_equal(masses[0], masses[4])
        lengths = batch.mask[:, 0].sum(1)
        lengths_differ |= bool((lengths[:4] != lengths[0]).any())
    assert lengths_differ, "random actions should end some episodes early (auto-resets)"
    collector.close()


def test_evaluation_changes_no_statistics_and_cycles_over_envs():
    suite = envs.parse_env("nav:point")
    spaces = task_spaces(suite.test[0])
    policy = ActorCritic(spaces.observation_space, spaces.action_space, "mlp", (8,),
                         normalize_obs=True)
    before = {k: v.clone() for k, v in policy.state_dict().items()}

    widths: list[int] = []

    class Recording(Actor):
        def act(self, obs):
            widths.append(obs.shape[0])
            return super().act(obs)

    torch.manual_seed(0)
    state = torch.random.get_rng_state()
    result = evaluate_instance(Recording(policy), suite.test[0], 3, episodes=10, num_envs=4,
                               max_episode_steps=50, seed=1)
    assert len(result.returns) == 10
    assert set(widths) == {4, 2}  # rounds of 4, 4, then 2 envs
    assert all(torch.equal(before[k], v) for k, v in policy.state_dict().items())
    assert torch.equal(state, torch.random.get_rng_state())


def test_held_out_instances_of_a_finite_family_are_distinct():
    suite = envs.parse_env("bandit:arms3")
    arms = []
    for index in range(3):
        task, seed = held_out_instance(suite, index)
        env = envs.make_task_instances([task], [seed], 0)
        env.reset()
        arms.append(int(env.best[0]))
    assert sorted(arms) == [0, 1, 2]
    try:
        held_out_instance(suite, 3)
    except MrftError as exc:
        assert "only 3 distinct" in str(exc)
    else:
        raise AssertionError("a fourth instance of a three-arm bandit was accepted")


def test_the_policy_gradient_reaches_the_belief_scaled_by_belief_policy_scale(tmp_path):
    def encoder_moves(scale: float) -> bool:
        # no belief loss: whatever moves the encoder is the policy gradient
        small = MRFTConfig(**SMALL_MRFT, belief_gradient="both", belief_coef=0.0,
                           belief_policy_scale=scale)
        cfg = TrainConfig(env=EnvConfig(env="nav:point", num_envs=8), algo="mrft", mrft=small,
                          optim=OptimConfig(learning_rate=1e-3),
                          run=_run(tmp_path, f"scale{scale}", 640))
        trainer = Trainer(cfg)
        before = [p.detach().clone() for p in trainer.algo.agent.encoder.parameters()]
        trainer.train(max_updates=1)
        after = list(trainer.algo.agent.encoder.parameters())
        return any(not torch.equal(b, a) for b, a in zip(before, after, strict=True))

    assert encoder_moves(1.0) and encoder_moves(0.1) and not encoder_moves(0.0)
