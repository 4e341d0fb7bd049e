"""PPO surrogate, value loss and presets on hand-computed values."""

import math

import torch

from mrft.algos.ppo import clipped_surrogate, clipped_value_loss


def test_clipped_surrogate_hand_values():
    ratios = torch.tensor([1.5, 0.5, 1.1])
    old = torch.zeros(3)
    logp = ratios.log()
    adv = torch.tensor([1.0, 1.0, -2.0])
    loss, clipfrac, approx_kl = clipped_surrogate(logp, old, adv, clip=0.2)
    # per element: max(-A r, -A clip(r)):
    #   r=1.5, A=1: max(-1.5, -1.2) = -1.2
    #   r=0.5, A=1: max(-0.5, -0.8) = -0.5
    #   r=1.1, A=-2: max(2.2, 2.2) = 2.2
    assert math.isclose(loss.item(), (-1.2 - 0.5 + 2.2) / 3, rel_tol=1e-6)
    assert math.isclose(clipfrac.item(), 2 / 3, rel_tol=1e-6)
    expected_kl = sum((r - 1) - math.log(r) for r in [1.5, 0.5, 1.1]) / 3
    assert math.isclose(approx_kl.item(), expected_kl, rel_tol=1e-5)


def test_surrogate_gradient_at_ratio_one_is_policy_gradient():
    logp = torch.tensor([-0.3, -1.2], requires_grad=True)
    adv = torch.tensor([2.0, -1.0])
    loss, _, _ = clipped_surrogate(logp, logp.detach(), adv, 0.2)
    loss.backward()
    assert torch.allclose(logp.grad, -adv / 2)


def test_value_loss_clipped_and_unclipped():
    new = torch.tensor([2.0, 0.0])
    old = torch.tensor([1.0, 0.0])
    ret = torch.tensor([3.0, 1.0])
    # unclipped: 0.5 * mean((2-3)^2, (0-1)^2) = 0.5
    assert math.isclose(clipped_value_loss(new, old, ret, None).item(), 0.5)
    # clipped value for elem 0: 1 + clip(1, -0.2, 0.2) = 1.2 -> (1.2-3)^2 = 3.24; max(1, 3.24)
    assert math.isclose(clipped_value_loss(new, old, ret, 0.2).item(), 0.5 * (3.24 + 1.0) / 2, rel_tol=1e-6)


def test_presets_fill_only_unset_fields():
    from mrft.algos.ppo import PRESETS
    from mrft.config import OptimConfig, TrainConfig
    from mrft.presets import resolve_presets

    cfg = resolve_presets(TrainConfig(optim=OptimConfig(learning_rate=1e-3)), "images")
    assert cfg.optim.learning_rate == 1e-3
    assert cfg.ppo.gamma == PRESETS["images"]["gamma"] == 0.999
    assert cfg.ppo.num_minibatches == 8 and cfg.ppo.update_epochs == 3 and cfg.ppo.ent_coef == 0.01
    assert cfg.run.normalize_obs is False and cfg.mrft.meta_ent_coef == 0.01


def test_mujoco_bodies_get_cleanrl_s_continuous_action_update():
    from mrft import envs
    from mrft.config import TrainConfig
    from mrft.presets import resolve_presets

    def kind(spec):
        task = envs.parse_env(spec).train[0]
        return envs.family_of(task).preset_kind(task, envs.action_is_continuous(task))

    assert kind("shift:reacher") == kind("sim2real:reacher") == "mujoco"
    assert kind("metaworld:reach") == "continuous" and kind("gym:Pendulum-v1") == "continuous"
    assert kind("gym:CartPole-v1") == "classic" and kind("procgen:bigfish") == "images"
    mujoco = resolve_presets(TrainConfig(), "mujoco")
    # 16 envs x 128 steps = 2,048 env steps per update, 32 minibatches of 64, 10 epochs
    assert 16 * mujoco.ppo.num_steps == 2048 and 2048 // mujoco.ppo.num_minibatches == 64
    assert mujoco.ppo.update_epochs == 10
    # MRFT takes PPO's update: rollout length, minibatches and passes
    assert (mujoco.mrft.meta_num_steps, mujoco.mrft.meta_minibatches, mujoco.mrft.meta_iterations) \
        == (128, 32, 10)
    # what mujoco does not set it takes from continuous: learning rate, MRFT's and RL2's values
    assert mujoco.optim.learning_rate == 3e-4 and mujoco.run.normalize_obs is True
    assert mujoco.mrft.meta_ent_coef == 0.0 and mujoco.rl2.rl2_ent_coef == 0.005


def test_micro_batches_give_the_minibatch_s_loss_and_gradient():
    import torch

    from mrft.algos.base import AlgoContext
    from mrft.algos.ppo import PPO, PPOConfig
    from mrft.config import RunConfig, TrainConfig
    from mrft.resolve import resolve_config

    cfg, suite = resolve_config(TrainConfig(ppo=PPOConfig(num_steps=16),
                                            run=RunConfig(hidden_sizes=(8,))))
    from mrft.envs.spaces import task_spaces

    spaces = task_spaces(suite.train[0])
    grads = []
    for size in (None, 7):
        torch.manual_seed(0)
        cfg.ppo.microbatch_size = size
        policy = PPO.build_policy(cfg, spaces.observation_space, spaces.action_space)
        algo = PPO(cfg, policy, AlgoContext(num_envs=2, device=torch.device("cpu"),
                                           num_train_tasks=1))
        g = torch.Generator().manual_seed(1)
        n = 20
        mb = {"obs": torch.randn(n, *spaces.observation_space.shape, generator=g),
              "actions": torch.randint(0, 2, (n,), generator=g), "logprobs": -torch.rand(n, generator=g),
              "values": torch.randn(n, generator=g), "advantages": torch.randn(n, generator=g),
              "returns": torch.randn(n, generator=g)}
        policy.zero_grad()
        out = algo.loss(mb)
        # the micro-batched loss filled .grad itself and hands back a loss without a graph
        assert out["loss"].requires_grad == (size is None)
        algo.backward(out)
        grads.append((out, [p.grad.clone() for p in policy.parameters()]))
    (whole, whole_grads), (micro, micro_grads) = grads
    for key in ("loss", "policy_loss", "value_loss", "entropy", "approx_kl", "clipfrac",
                "explained_variance"):
        torch.testing.assert_close(micro[key], whole[key].detach(), rtol=1e-5, atol=1e-6)
    for a, b in zip(micro_grads, whole_grads, strict=True):
        torch.testing.assert_close(a, b, rtol=1e-4, atol=1e-6)


def test_explained_variance_by_hand_and_of_a_single_step():
    import warnings

    import pytest

    from mrft.algos.ppo import explained_variance

    target, pred = torch.tensor([1.0, 3.0]), torch.tensor([1.0, 2.0])
    # Var(target) = 2, Var(target - pred) = Var([0, 1]) = 0.5 -> 1 - 0.25
    assert explained_variance(pred, target).item() == pytest.approx(0.75)
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # no "degrees of freedom" warning either
        assert torch.isnan(explained_variance(torch.ones(1), torch.ones(1)))
