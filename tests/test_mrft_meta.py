"""Meta-policy, inner loop, trials and task-feature monitor of MRFT."""

import gymnasium as gym
import numpy as np
import pytest
import torch

from mrft import envs
from mrft.algos.mrft.meta_policy import (
    ConcatConditioner,
    actor_forward,
    build_hyper_conditioner,
    build_meta_policy,
    critic_forward,
)
from mrft.algos.mrft.monitor import TaskFeatureMonitor
from mrft.nets import ActorCritic


def make_policy(continuous: bool, hidden=(16, 16), obs_dim=3) -> ActorCritic:
    obs = gym.spaces.Box(-1, 1, (obs_dim,), np.float32)
    act = gym.spaces.Box(-1, 1, (2,), np.float32) if continuous else gym.spaces.Discrete(3)
    return ActorCritic(obs, act, "mlp", hidden)


@pytest.mark.parametrize("kind", ["meta-policy", "hyper"])
@pytest.mark.parametrize("continuous", [True, False])
def test_zero_initialised_meta_policy_leaves_base_policy_unchanged(continuous, kind):
    torch.manual_seed(0)
    policy = make_policy(continuous)
    if kind == "hyper":  # the same adapted parameters from one small MLP
        meta = build_hyper_conditioner(policy, embed_dim=8, rank=2, d_model=16)
    else:
        meta = build_meta_policy(policy, embed_dim=8, rank=2, d_model=16, num_heads=4,
                                 num_layers=2, critic=True)
    z = torch.randn(5, 8) * 3
    params = meta(z)
    assert params["head_a"].abs().sum() > 0  # the random factor; B = 0 keeps the delta at zero
    obs = torch.randn(5, 7, 3)
    adapted, hidden = actor_forward(policy, obs, params)
    base = policy.distribution(obs.reshape(35, 3))
    if continuous:
        assert torch.allclose(adapted.mean.reshape(35, 2), base.mean, atol=1e-6)
        assert torch.allclose(adapted.stddev.reshape(35, 2), base.stddev, atol=1e-6)
    else:
        assert torch.allclose(adapted.logits.reshape(35, 3), base.logits, atol=1e-6)
    assert [h.shape for h in hidden] == [torch.Size([5, 7, 16])] * 2
    plain, _ = actor_forward(policy, obs, None)
    assert torch.allclose(plain.mean if continuous else plain.logits,
                          adapted.mean if continuous else adapted.logits, atol=1e-6)
    values = critic_forward(policy, obs, params, hidden)
    assert torch.allclose(values.reshape(35), policy.value(obs.reshape(35, 3)), atol=1e-6)


def test_adapted_parameters_change_the_policy_per_trial():
    torch.manual_seed(0)
    policy = make_policy(True)
    meta = build_meta_policy(policy, 8, 2, 16, 4, 1)
    hyper = build_hyper_conditioner(policy, 8, 2, 16)
    assert set(hyper(torch.randn(2, 8))) == set(build_meta_policy(policy, 8, 2, 16, 4, 1,
                                                                  critic=True)(torch.randn(2, 8)))
    params = {k: v.detach().clone() for k, v in meta(torch.randn(2, 8)).items()}
    params["beta.0"][1] += 1.0
    dist, _ = actor_forward(policy, torch.zeros(2, 1, 3), params)
    assert not torch.allclose(dist.mean[0], dist.mean[1])


def test_task_feature_monitor_distance_to_nearest_centroid():
    monitor = TaskFeatureMonitor(num_tasks=2, embed_dim=2, ema=0.5)
    assert monitor.distance(torch.zeros(1, 2)) is None
    monitor.update(torch.tensor([[0.0, 0.0], [2.0, 0.0], [10.0, 10.0]]), torch.tensor([0, 0, 1]))
    # centroids (1, 0) and (10, 10); distances of (1, 3) -> 3 and (10, 9) -> 1
    assert monitor.distance(torch.tensor([[1.0, 3.0], [10.0, 9.0]])) == pytest.approx(2.0)
    monitor.update(torch.tensor([[3.0, 0.0]]), torch.tensor([0]))  # EMA: 0.5 * 1 + 0.5 * 3 = 2
    assert torch.allclose(monitor.centroids[0], torch.tensor([2.0, 0.0]))
    state = monitor.state_dict()
    other = TaskFeatureMonitor(2, 2)
    other.load_state_dict(state)
    assert torch.equal(other.centroids, monitor.centroids)


def test_fresh_nav_envs_with_equal_seeds_replay_the_instance():
    suite = envs.parse_env("nav:point")
    task = suite.train[0]
    a = envs.make_task_instances([task] * 3, [5, 5, 9], seed=0)
    b = envs.make_task_instances([task] * 3, [5, 5, 9], seed=1)
    a.reset()
    b.reset()
    assert np.array_equal(a.goals, b.goals)
    assert np.array_equal(a.goals[0], a.goals[1]) and not np.array_equal(a.goals[0], a.goals[2])
    test = envs.make_task_instances([suite.test[0]], [5], seed=0)
    test.reset()
    assert not np.array_equal(test.goals[0], a.goals[0])


def test_the_critic_is_conditioned_too():
    torch.manual_seed(0)
    policy = make_policy(False)
    meta = build_meta_policy(policy, 8, 2, 16, 4, 1, critic=True)
    params = {k: v.detach().clone() for k, v in meta(torch.randn(2, 8)).items()}
    params["critic_beta.1"][1] += 1.0
    obs = torch.zeros(2, 1, 3)
    _, hidden = actor_forward(policy, obs, params)
    values = critic_forward(policy, obs, params, hidden)
    assert values[0] != values[1]


def test_concatenation_is_a_first_layer_shift_by_the_belief():
    """``W [o, z] = W_o o + W_z z``: the ablation's parameters shift layer 0 only."""
    torch.manual_seed(0)
    policy = make_policy(True)
    concat = ConcatConditioner(embed_dim=4, policy=policy)
    z = torch.randn(3, 4)
    assert set(concat(z)) == {"beta.0", "critic_beta.0"}
    assert all(v.abs().sum() == 0 for v in concat(z).values())  # zero-init: the base network
    with torch.no_grad():
        concat.actor_in.weight.normal_()
    obs = torch.randn(3, 1, 3)
    first = policy.actor_torso.net[0]
    joined = torch.nn.Linear(7, first.out_features)
    with torch.no_grad():
        joined.weight.copy_(torch.cat([first.weight, concat.actor_in.weight], dim=1))
        joined.bias.copy_(first.bias + concat.actor_in.bias)
    _, hidden = actor_forward(policy, obs, concat(z))
    expected = torch.tanh(joined(torch.cat([obs[:, 0], z], dim=1)))
    assert torch.allclose(hidden[0][:, 0], expected, atol=1e-6)


@pytest.mark.parametrize("continuous", [True, False])
def test_a_folded_belief_reproduces_the_conditioned_actor_and_critic(continuous):
    from mrft.algos.mrft.fold import fold_belief

    torch.manual_seed(0)
    policy = make_policy(continuous)
    meta = build_meta_policy(policy, 8, 2, 16, 4, 1, critic=True)
    with torch.no_grad():  # read-outs away from their zero init, so every part matters
        for p in meta.parameters():
            p.normal_(0, 0.2)
    params = {k: v.detach() for k, v in meta(torch.randn(1, 8)).items()}
    obs = torch.randn(1, 9, 3)
    dist, hidden = actor_forward(policy, obs, params)
    values = critic_forward(policy, obs, params, hidden)
    folded = fold_belief(policy, params)
    plain = folded.distribution(obs[0])
    if continuous:
        assert torch.allclose(plain.mean, dist.mean[0], atol=1e-5)
        assert torch.allclose(plain.stddev, dist.stddev[0], atol=1e-5)
    else:
        assert torch.allclose(plain.logits, dist.logits[0], atol=1e-5)
    assert torch.allclose(folded.value(obs[0]), values[0], atol=1e-5)
    # the original network is untouched
    assert not torch.allclose(policy.value(obs[0]), values[0], atol=1e-3)


def test_a_checkpoint_written_before_the_readout_module_still_loads():
    """Older checkpoints hold the meta-policy's read-outs under ``conditioner.`` itself
    (``conditioner.film_out.0.weight``); they load into ``conditioner.readout.`` unchanged."""
    from mrft.algos.mrft.belief_agent import BeliefAgent, load_agent

    torch.manual_seed(0)
    policy = make_policy(True)
    saved = BeliefAgent(policy, embed_dim=4, channels=8, levels=2, head_rank=2, d_model=8,
                        num_layers=1)
    with torch.no_grad():
        for p in saved.parameters():
            p.normal_()
    old = {key.replace("conditioner.readout.", "conditioner."): value
           for key, value in saved.state_dict().items()}
    assert "conditioner.film_out.0.weight" in old
    fresh = BeliefAgent(policy, embed_dim=4, channels=8, levels=2, head_rank=2, d_model=8,
                        num_layers=1)
    load_agent(fresh, {"agent": old}, "old.pt")
    z = torch.randn(3, 4)
    assert all(torch.equal(a, b) for a, b in zip(fresh.params(z).values(), saved.params(z).values(),
                                                 strict=True))


def test_attention_over_more_rows_than_one_fused_call_takes_matches_one_call(monkeypatch):
    from mrft.algos.mrft import meta_policy

    torch.manual_seed(0)
    block = meta_policy.TokenBlock(16, 4)
    x = torch.randn(7, 5, 16, requires_grad=True)
    whole = block(x)
    (grad_whole,) = torch.autograd.grad(whole.square().sum(), x)
    monkeypatch.setattr(meta_policy, "ATTENTION_ROWS", 3)  # 7 rows: calls of 3, 3 and 1
    split = block(x)
    (grad_split,) = torch.autograd.grad(split.square().sum(), x)
    assert torch.allclose(whole, split, atol=1e-6) and torch.allclose(grad_whole, grad_split, atol=1e-5)


def test_a_log_std_pushed_past_its_bound_can_come_back():
    from mrft.algos.mrft.meta_policy import LOG_STD_MAX, LOG_STD_MIN, ReturningClamp

    x = torch.tensor([-7.0, -1.0, 0.5, 3.0, 4.0], requires_grad=True)
    y = ReturningClamp.apply(x, LOG_STD_MIN, LOG_STD_MAX)
    assert torch.equal(y, x.detach().clamp(LOG_STD_MIN, LOG_STD_MAX))
    # loss gradients: a descent step x - g moves x[0] up (back in), x[3] down (back in),
    # x[4] up (further out): the last is dropped, the others pass as inside the bounds
    (grad,) = torch.autograd.grad(y, x, torch.tensor([-1.0, 2.0, -3.0, 4.0, -5.0]))
    assert grad.tolist() == [-1.0, 2.0, -3.0, 4.0, 0.0]
    (grad,) = torch.autograd.grad(ReturningClamp.apply(x, LOG_STD_MIN, LOG_STD_MAX), x,
                                  torch.tensor([1.0, 1.0, 1.0, -1.0, 1.0]))
    assert grad.tolist() == [0.0, 1.0, 1.0, 0.0, 1.0]  # x[0] further down, x[3] further up: dropped
    # within the bounds it is the clamp's gradient exactly
    inside = torch.tensor([-4.0, 0.0, 1.5], requires_grad=True)
    g = torch.tensor([0.3, -0.7, 1.1])
    (mine,) = torch.autograd.grad(ReturningClamp.apply(inside, LOG_STD_MIN, LOG_STD_MAX), inside, g)
    (plain,) = torch.autograd.grad(inside.clamp(LOG_STD_MIN, LOG_STD_MAX), inside, g)
    assert torch.equal(mine, plain)
