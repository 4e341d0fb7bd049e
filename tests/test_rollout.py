"""Rollout buffer: auto-reset steps are masked, episode statistics use raw rewards."""

import torch
from conftest import CountdownVecEnv

from mrft.action_log import ActionLog
from mrft.algos.objectives import gae
from mrft.nets import ActorCritic
from mrft.rollout import RolloutCollector


def _collector(env, steps):
    policy = ActorCritic(env.observation_space, env.action_space, "mlp", (8,))
    return RolloutCollector(env, policy, steps, torch.device("cpu"))


def test_reset_transition_is_invalid_and_episodes_are_counted():
    env = CountdownVecEnv([2, 3], truncate=False)
    batch = _collector(env, 7).collect()
    # env 0: steps 1,2 (end) | reset | 1,2 (end) | reset | 1
    assert batch.valid[:, 0].tolist() == [True, True, False, True, True, False, True]
    assert batch.terminated[:, 0].tolist() == [False, True, False, False, True, False, False]
    assert batch.rewards[:, 0].tolist() == [1, 2, 0, 1, 2, 0, 1]
    # env 1: 1,2,3 (end) | reset | 1,2,3 (end)
    assert batch.valid[:, 1].tolist() == [True, True, True, False, True, True, True]
    rets = sorted((e.env_index, e.ret, e.length) for e in batch.episodes)
    assert rets == [(0, 3.0, 2), (0, 3.0, 2), (1, 6.0, 3), (1, 6.0, 3)]


def test_truncated_step_stores_final_observation_for_bootstrap():
    env = CountdownVecEnv([2], truncate=True)
    batch = _collector(env, 4).collect()
    assert batch.truncated[:, 0].tolist() == [False, True, False, False]
    assert not batch.terminated.any()
    # obs stored at t=2 (the auto-reset step's input) is the final observation [0, 2]
    assert batch.obs[2, 0].tolist() == [0.0, 2.0]
    adv, _ = gae(batch.rewards, batch.values, batch.next_value, batch.terminated,
                 batch.truncated, batch.valid, 0.9, 1.0)
    delta1 = batch.rewards[1, 0] + 0.9 * batch.values[2, 0] - batch.values[1, 0]
    assert torch.isclose(adv[1, 0], delta1)
    assert adv[2, 0] == 0


def test_action_log_replays_env_to_exact_state():
    env = CountdownVecEnv([3, 5])
    collector = _collector(env, 6)
    collector.action_log = ActionLog(env.num_envs, 10_000)
    collector.collect()
    state = collector.state_dict()
    fresh_env = CountdownVecEnv([3, 5])
    fresh = _collector(fresh_env, 6)
    assert fresh.load_state_dict(state) is True
    assert torch.equal(fresh.next_obs, collector.next_obs)
    assert fresh.prev_done.tolist() == collector.prev_done.tolist()
