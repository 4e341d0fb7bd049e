"""Meta-policy, inner loop, trials and task-feature monitor of MRFT."""

import gymnasium as gym
import numpy as np
import pytest
import torch

from mrft import envs
from mrft.algos.mrft.meta_learner import MetaAgent, MetaLearner, inner_adapt, trial_surrogate
from mrft.algos.mrft.meta_policy import actor_forward, build_meta_policy, log_prob
from mrft.algos.mrft.monitor import TaskFeatureMonitor
from mrft.episodes import EpisodeCollector
from mrft.nets import ActorCritic
from mrft.trials import TrialActor


def make_policy(continuous: bool, hidden=(16, 16), obs_dim=3) -> ActorCritic:
    obs = gym.spaces.Box(-1, 1, (obs_dim,), np.float32)
    act = gym.spaces.Box(-1, 1, (2,), np.float32) if continuous else gym.spaces.Discrete(3)
    return ActorCritic(obs, act, "mlp", hidden)


@pytest.mark.parametrize("continuous", [True, False])
def test_zero_initialised_meta_policy_leaves_base_policy_unchanged(continuous):
    torch.manual_seed(0)
    policy = make_policy(continuous)
    meta = build_meta_policy(policy, embed_dim=8, rank=2, d_model=16, num_heads=4, num_layers=2)
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


def test_adapted_parameters_change_the_policy_per_trial():
    torch.manual_seed(0)
    policy = make_policy(True)
    meta = build_meta_policy(policy, 8, 2, 16, 4, 1)
    params = {k: v.detach().clone() for k, v in meta(torch.randn(2, 8)).items()}
    params["beta.0"][1] += 1.0
    dist, _ = actor_forward(policy, torch.zeros(2, 1, 3), params)
    assert not torch.allclose(dist.mean[0], dist.mean[1])


def _tiny_problem(dtype=torch.float64):
    torch.manual_seed(3)
    policy = make_policy(True, hidden=(4,), obs_dim=2).to(dtype)
    meta = build_meta_policy(policy, 3, 1, 8, 4, 1).to(dtype)
    for p in meta.parameters():  # leave the zero init so every parameter matters
        torch.nn.init.normal_(p, std=0.3)
    z = torch.randn(2, 3, dtype=dtype)
    support = {
        "obs": torch.randn(2, 5, 2, dtype=dtype), "actions": torch.randn(2, 5, 2, dtype=dtype),
        "mask": torch.ones(2, 5, dtype=torch.bool),
        "advantages": torch.tensor([[1.0] * 5, [-1.0] * 5], dtype=dtype),
    }
    query = {k: torch.randn_like(v) if v.is_floating_point() else v for k, v in support.items()}
    query["advantages"] = torch.tensor([[0.5] * 5, [2.0] * 5], dtype=dtype)
    with torch.no_grad():
        support["logprobs"] = log_prob(policy, actor_forward(policy, support["obs"], meta(z))[0],
                                       support["actions"])
        query["logprobs"] = log_prob(policy, actor_forward(policy, query["obs"], meta(z))[0],
                                     query["actions"])
    return policy, meta, z, support, query


def _outer(policy, meta, z, support, query, second_order, lr=0.3, steps=2):
    def support_loss(p):
        return trial_surrogate(policy, p, support["obs"], support["actions"], support["logprobs"],
                               support["advantages"], support["mask"], clip=10.0).sum()

    adapted = inner_adapt(meta(z), support_loss, steps, lr, second_order)
    return trial_surrogate(policy, adapted, query["obs"], query["actions"], query["logprobs"],
                           query["advantages"], query["mask"], clip=10.0).sum()


def test_second_order_inner_loop_gradient_matches_finite_differences():
    policy, meta, z, support, query = _tiny_problem()
    weight = policy.actor_torso.net[0].weight
    meta_weight = meta.film_out[0].weight
    loss = _outer(policy, meta, z, support, query, second_order=True)
    grad_w, grad_m = torch.autograd.grad(loss, [weight, meta_weight])
    eps = 1e-6
    for tensor, grad in ((weight, grad_w), (meta_weight, grad_m)):
        for index in [(0, 0), (1, 1), (2, 0)]:
            with torch.no_grad():
                tensor[index] += eps
                up = _outer(policy, meta, z, support, query, True)
                tensor[index] -= 2 * eps
                down = _outer(policy, meta, z, support, query, True)
                tensor[index] += eps
            numeric = (up - down) / (2 * eps)
            assert torch.isclose(grad[index], numeric, rtol=1e-4, atol=1e-8), (index, grad[index], numeric)
    first = torch.autograd.grad(_outer(policy, meta, z, support, query, False), weight)[0]
    assert not torch.allclose(first, grad_w)  # the Hessian terms are really there


def test_inner_loop_lowers_the_support_loss_and_zero_steps_is_identity():
    policy, meta, z, support, _ = _tiny_problem()

    def support_loss(p):
        return trial_surrogate(policy, p, support["obs"], support["actions"], support["logprobs"],
                               support["advantages"], support["mask"], clip=10.0).sum()

    params = meta(z)
    assert inner_adapt(params, support_loss, 0, 0.1) is params
    adapted = inner_adapt(params, support_loss, 3, 0.05)
    assert support_loss(adapted) < support_loss(params)


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


def test_trial_collector_keeps_one_instance_per_trial_and_builds_contexts():
    torch.manual_seed(0)
    suite = envs.parse_env("nav:point")
    policy = make_policy(True, obs_dim=2)
    learner = MetaLearner(policy, embed_dim=8, tcn_channels=8, tcn_levels=2, head_rank=2,
                          d_model=16, num_layers=1)
    agent = MetaAgent(policy, learner, inner_steps=1, inner_lr=0.1, clip=0.2, scale_rewards="group")
    actor = TrialActor(agent, context_length=16, device=torch.device("cpu"))
    collector = EpisodeCollector(suite.train, actor, num_envs=4, group_size=2, trial_episodes=3,
                                 max_episode_steps=100, seed=0, device=torch.device("cpu"))
    batch = collector.collect()
    assert batch.obs.shape == (4, 3, 20, 2) and batch.returns.shape == (4, 3)
    contexts, lengths = batch.extras["contexts"], batch.extras["context_lengths"]
    assert contexts.shape == (4, 4, 16, agent.context_dim)
    assert lengths[:, 0].eq(0).all()
    assert lengths[:, 1:].eq(16).all()  # 20, 40, 60 steps thinned to 16
    assert batch.env_steps == 4 * 3 * 20
    assert batch.group_ids.tolist() == [0, 0, 1, 1]
    # the first action of every episode of a trial starts from the same place: the origin,
    # and the reward of the first step depends only on the (hidden) goal and that action
    assert torch.equal(batch.obs[:, :, 0], torch.zeros(4, 3, 2))
    # fresh instances on the next call
    seeds_a = collector.next_instances(2)[1]
    collector.calls += 1
    seeds_b = collector.next_instances(2)[1]
    assert seeds_a != seeds_b and seeds_a[0] == seeds_a[1]
