"""process:changeover: seeding, hidden plants, exact dynamics and reward, the PID reference.

Hand-computed cases overwrite the drawn plant after ``reset()``: ``gain``, ``tau1``,
``tau2``, ``order``, ``dead_time`` and ``setpoints`` are plain arrays the env reads at
every step (see :class:`mrft.envs.process.ProcessLineVecEnv`).
"""

import math

import numpy as np
import pytest

from mrft.envs import process
from mrft.errors import MrftError

SUITE = process.suite("changeover")
TRAIN, TEST = SUITE.train[0], SUITE.test[0]
A_HALF = 1.0 / math.log(2.0)  # a time constant whose one-step decay exp(-1/tau) is 1/2
A_QUARTER = 1.0 / math.log(4.0)  # decay 1/4


def _plant(env, gain, tau1, order, dead_time, tau2=A_HALF, setpoint=0.8):
    env.gain[:] = gain
    env.tau1[:] = tau1
    env.tau2[:] = tau2
    env.order[:] = order
    env.dead_time[:] = dead_time
    env.setpoints[:] = setpoint


def _run(env, actions):
    results = [env.step(a) for a in actions]
    return (np.stack([r.obs for r in results]), np.stack([r.reward for r in results]),
            np.stack([r.truncated for r in results]))


def test_suite_names_and_unknown_tasks():
    assert SUITE.name == "process:changeover" and TRAIN.family == "process"
    assert TEST.option("split_seed_offset") == process.TEST_SEED_OFFSET
    with pytest.raises(MrftError) as info:
        process.suite("batch")
    assert "\n" not in str(info.value) and "changeover" in str(info.value)


def test_same_seeds_replay_and_different_seeds_differ():
    actions = np.random.default_rng(0).uniform(-1.5, 1.5, (260, 3, 1)).astype(np.float32)
    a, b = (process.make(TRAIN, 3, 0, env_seeds=[4, 5, 6]) for _ in range(2))
    other = process.make(TRAIN, 3, 0, env_seeds=[7, 8, 9])
    first = [env.reset() for env in (a, b, other)]
    np.testing.assert_array_equal(first[0], first[1])
    runs = [_run(env, actions) for env in (a, b, other)]
    np.testing.assert_array_equal(runs[0][0], runs[1][0])
    np.testing.assert_array_equal(runs[0][1], runs[1][1])
    assert not np.array_equal(runs[0][1], runs[2][1])
    assert not np.array_equal(a.task_parameters(), other.task_parameters())


def test_first_observation_shows_the_setpoint_and_nothing_of_the_plant():
    env = process.make(TRAIN, 400, 0)
    obs = env.reset()
    assert obs.shape == (400, 5) and obs.dtype == np.float32
    np.testing.assert_array_equal(obs[:, 0], env.setpoints[:, 0].astype(np.float32))
    np.testing.assert_array_equal(obs[:, 2], obs[:, 0])  # error = setpoint - 0
    assert not obs[:, [1, 3, 4]].any()  # output, previous action and its change all 0
    params = env.task_parameters()
    # the setpoint's sign says nothing about the gain's sign: a first observation cannot
    # tell a direct-acting plant from a reverse-acting one
    agree = np.mean(np.sign(obs[:, 0]) == np.sign(params[:, 0]))
    assert 0.42 < agree < 0.58
    # nor anything about the speed, the dead time or the order
    for column in (1, 3, 4):
        assert abs(np.corrcoef(np.abs(obs[:, 0]), params[:, column])[0, 1]) < 0.15


def test_instances_are_distinct_and_cover_both_signs_and_orders():
    env = process.make(TEST, 20, 0, env_seeds=list(range(20)))
    env.reset()
    params = env.task_parameters()
    assert len({tuple(row) for row in params.tolist()}) == 20
    gain = params[:, 0]
    assert (gain > 0).any() and (gain < 0).any()
    assert set(params[:, 4].tolist()) == {0.0, 1.0}
    low, high = process.GAIN_RANGE
    assert np.all((np.abs(gain) >= low - 1e-6) & (np.abs(gain) <= high + 1e-6))
    assert np.all((params[:, 1] >= math.log(2.0) - 1e-6) & (params[:, 1] <= math.log(20.0) + 1e-6))
    np.testing.assert_array_equal(params[:, 2] == 0.0, params[:, 4] == 0.0)  # no second lag
    assert set((params[:, 3] * process.MAX_DEAD_TIME).round().tolist()) <= set(range(6))
    # every setpoint can be held at steady state with |u| <= REACH, whatever the gain
    assert np.all(np.abs(env.setpoints) <= process.REACH * np.abs(env.gain)[:, None] + 1e-12)


def test_horizon_truncates_then_the_next_step_starts_a_new_instance():
    env = process.make(TRAIN, 2, 0, env_seeds=[3, 3])
    obs = env.reset()
    params = env.task_parameters()
    levels = env.setpoints.copy()
    for t in range(process.HORIZON):
        np.testing.assert_array_equal(obs[:, 0],
                                      levels[:, t // process.SETPOINT_PERIOD].astype(np.float32))
        result = env.step(np.full((2, 1), 0.3 if t % 2 else -0.3, np.float32))
        obs = result.obs
        assert result.truncated.all() == (t == process.HORIZON - 1)
        assert not result.terminated.any() and result.success is None
    after = env.step(np.ones((2, 1), np.float32))  # ignored: the auto-reset step
    assert not after.reward.any() and not after.truncated.any()
    np.testing.assert_array_equal(after.obs[:, 0], env.setpoints[:, 0].astype(np.float32))
    assert not after.obs[:, [1, 3, 4]].any()
    assert not np.array_equal(env.task_parameters(), params)  # a new plant
    np.testing.assert_array_equal(env.task_parameters()[0], env.task_parameters()[1])


def test_reseed_replays_a_fresh_env():
    fresh = process.make(TEST, 3, 0, env_seeds=[21, 21, 34])
    want_obs, want_params = fresh.reset(), fresh.task_parameters()
    env = process.make(TEST, 3, 0, env_seeds=[1, 2, 3])
    env.reset()
    _run(env, np.full((230, 3, 1), 0.5, np.float32))
    env.reset()
    env.reseed([21, 21, 34])
    np.testing.assert_array_equal(env.reset(), want_obs)
    np.testing.assert_array_equal(env.task_parameters(), want_params)


def test_first_order_plant_with_dead_time_by_hand():
    """K = 2, decay 1/2 per step, dead time 1, u = 0.5 from rest: the command reaches the
    plant one step late, then y(t+1) = y(t)/2 + (1 - 1/2) * 2 * 0.5."""
    env = process.make(TRAIN, 1, 0)
    env.reset()
    _plant(env, gain=2.0, tau1=A_HALF, order=1, dead_time=1)
    obs, _, _ = _run(env, np.full((4, 1, 1), 0.5, np.float32))
    np.testing.assert_allclose(obs[:, 0, 1], [0.0, 0.5, 0.75, 0.875], atol=1e-6)
    np.testing.assert_allclose(obs[:, 0, 4], [0.0, 0.5, 0.25, 0.125], atol=1e-6)


def test_second_order_plant_is_solved_exactly_by_hand():
    """K = 1, lags with decays 1/2 and 1/4, u = 1 from rest: the continuous step response
    y(t) = 1 - 2 * 2**-t + 4**-t at whole steps; with two equal lags (decay 1/2 each)
    y(t) = 1 - (1 + t ln 2) 2**-t."""
    env = process.make(TRAIN, 2, 0)
    env.reset()
    _plant(env, gain=1.0, tau1=A_HALF, tau2=np.array([A_QUARTER, A_HALF]), order=2, dead_time=0)
    obs, _, _ = _run(env, np.ones((4, 2, 1), np.float32))
    t = np.arange(1, 5)
    np.testing.assert_allclose(obs[:, 0, 1], 1 - 2 * 0.5**t + 0.25**t, atol=1e-6)
    np.testing.assert_allclose(obs[:, 1, 1], 1 - (1 + t * math.log(2.0)) * 0.5**t, atol=1e-6)


def test_reward_by_hand():
    env = process.make(TRAIN, 1, 0)
    env.reset()
    _plant(env, gain=2.0, tau1=A_HALF, order=1, dead_time=0, setpoint=0.8)
    first = env.step(np.array([[0.5]], np.float32))  # y = (1 - 1/2) * 2 * 0.5 = 0.5
    np.testing.assert_allclose(first.obs[0], [0.8, 0.5, 0.3, 0.5, 0.5], atol=1e-6)
    np.testing.assert_allclose(first.reward, [-0.3 - 0.01 * 0.25 - 0.05 * 0.5], atol=1e-6)
    second = env.step(np.array([[-2.0]], np.float32))  # clipped to -1: y = 0.25 - 1 = -0.75
    np.testing.assert_allclose(second.reward, [-1.55 - 0.01 - 0.05 * 1.5], atol=1e-6)
    env.gain[:] = 3.0
    third = env.step(np.array([[1.0]], np.float32))  # y = -0.375 + 1.5 = 1.125: inside the band
    np.testing.assert_allclose(third.reward, [-0.325 - 0.01 - 0.05 * 2.0], atol=1e-6)
    fourth = env.step(np.array([[1.0]], np.float32))  # y = 0.5625 + 1.5 = 2.0625 > 1.5
    np.testing.assert_allclose(fourth.reward, [-1.2625 - 0.01 - 1.0], atol=1e-6)


def test_each_step_is_scored_against_the_setpoint_it_was_chosen_for():
    env = process.make(TRAIN, 1, 0)
    env.reset()
    _plant(env, gain=0.0, tau1=A_HALF, order=1, dead_time=0)  # y stays 0: reward = -|setpoint|
    env.setpoints[0] = [0.8, -0.4, 0.2, 0.1]
    obs, reward, _ = _run(env, np.zeros((process.HORIZON, 1, 1), np.float32))
    want = np.repeat([-0.8, -0.4, -0.2, -0.1], process.SETPOINT_PERIOD)
    np.testing.assert_allclose(reward[:, 0], want, atol=1e-6)
    np.testing.assert_allclose(obs[48:51, 0, 0], [0.8, -0.4, -0.4], atol=1e-6)  # shown at t = 50


def test_tuned_pid_beats_doing_nothing_and_a_pid_tuned_for_another_product():
    probe = process.make(TRAIN, 30, 0, env_seeds=list(range(30)))
    probe.reset()
    near_one = int(np.argmin(np.abs(probe.gain - 1.0)))  # a direct-acting product, K ~ +1
    fixed = process.tuned_pid(TRAIN, near_one)
    test = process.make(TEST, 30, 0, env_seeds=list(range(30)))
    test.reset()
    reverse = int(np.flatnonzero(test.gain < 0)[0])  # a reverse-acting product
    tuned = process.tuned_pid(TEST, reverse)
    assert np.sign(tuned.kp) == np.sign(test.gain[reverse]) == -np.sign(fixed.kp)
    zero, transplanted, again = process.pid_returns(
        TEST, reverse, [0.0, fixed.kp, tuned.kp], [0.0, fixed.ki, tuned.ki],
        [0.0, fixed.kd, tuned.kd])
    assert again == pytest.approx(tuned.episode_return)
    assert tuned.episode_return == process.reference_return(TEST, reverse)
    assert tuned.episode_return > 0.5 * zero  # at least halves the tracking cost
    assert tuned.episode_return > transplanted + 50.0
    assert fixed.episode_return > transplanted + 50.0


def test_test_split_plays_other_instances_than_train():
    seeds = list(range(10))
    train, test = (process.make(task, 10, 0, env_seeds=seeds) for task in (TRAIN, TEST))
    train.reset()
    test.reset()
    assert not np.isclose(train.task_parameters(), test.task_parameters()).all(axis=1).any()


def test_the_setpoints_are_drawn_independently_of_the_gain():
    env = process.make(TRAIN, 2000, 0, env_seeds=list(range(2000)))
    env.reset()
    levels = np.abs(env.setpoints)
    for statistic in (levels.max(1), levels.min(1), levels.mean(1)):
        assert abs(np.corrcoef(statistic, np.abs(env.gain))[0, 1]) < 0.08
