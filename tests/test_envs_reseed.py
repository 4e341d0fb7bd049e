"""Explicit resets depend only on (env seed, reset count), and ``reseed`` replays a fresh env.

GRPO groups are envs built with one env seed; they must start every explicit reset from
the same instance and state even when one member auto-reset more often than the others.
"""

import numpy as np
import pytest

from mrft import envs
from mrft.envs import bandit, nav, shift
from mrft.envs import gym as gym_family

GROUP_SEEDS = [5, 5, 9, 9]
PENDULUM = envs.parse_env("shift:inverted-pendulum")
NAV = envs.parse_env("nav:point")
BANDIT = envs.parse_env("bandit:arms5")
CARTPOLE = envs.parse_env("gym:CartPole-v1")


def _assert_groups(values: np.ndarray, differ: bool = True) -> None:
    """Envs 0,1 (seed 5) equal, envs 2,3 (seed 9) equal, the two groups different."""
    np.testing.assert_array_equal(values[0], values[1])
    np.testing.assert_array_equal(values[2], values[3])
    if differ:
        assert not np.array_equal(values[0], values[2])


def test_shift_groups_share_dynamics_and_start_at_every_explicit_reset():
    env = shift.make(PENDULUM.train[0], 4, 0, env_seeds=GROUP_SEEDS)
    push = np.array([[0.0], [3.0], [0.0], [3.0]], dtype=np.float32)  # member 1 falls early
    uneven = False
    for _ in range(4):
        obs = env.reset()
        masses, damping = env.dynamics()
        _assert_groups(obs)
        _assert_groups(masses)
        _assert_groups(damping)
        ends = np.zeros(4, dtype=np.int64)
        for _ in range(25):
            result = env.step(push)
            ends += result.terminated | result.truncated
        uneven |= bool(ends[0] != ends[1] or ends[2] != ends[3])
    assert uneven  # the pushed members did auto-reset more often than their mates
    env.close()


def test_shift_auto_resets_still_draw_new_dynamics():
    env = shift.make(PENDULUM.train[0], 1, 0, env_seeds=[5])
    env.reset()
    first, _ = env.dynamics()
    while not env.step(np.array([[3.0]], dtype=np.float32)).terminated[0]:
        pass
    env.step(np.zeros((1, 1), dtype=np.float32))  # the auto-reset step
    assert not np.allclose(env.dynamics()[0], first)
    env.close()


@pytest.mark.parametrize("family, suite", [(nav, NAV), (bandit, BANDIT)])
def test_numpy_families_keep_groups_whatever_the_auto_resets(family, suite):
    """A group inside one env, and two envs with the same seeds that step for different
    lengths (so auto-reset different numbers of times), agree at every explicit reset."""
    task = suite.train[0]
    long, short = (family.make(task, 4, 0, env_seeds=GROUP_SEEDS) for _ in range(2))
    hidden = (lambda e: e.goals.copy()) if family is nav else (lambda e: e.best.copy())
    rng = np.random.default_rng(0)
    seen = []
    for _ in range(4):
        obs_long, obs_short = long.reset(), short.reset()
        np.testing.assert_array_equal(obs_long, obs_short)
        np.testing.assert_array_equal(hidden(long), hidden(short))
        _assert_groups(obs_long, differ=False)  # both start at the origin / time 0
        _assert_groups(hidden(long), differ=family is nav)  # 5 arms: groups may share one
        seen.append(tuple(hidden(long)[::2].ravel()))
        for env, steps in ((long, 3 * nav.HORIZON + 7), (short, 2)):
            for _ in range(steps):
                env.step(np.stack([env.action_space.sample() for _ in range(4)])
                         if family is bandit else rng.uniform(-1, 1, (4, 2)).astype(np.float32))
    assert len(set(seen)) > 1  # explicit resets draw new instances
    half = len(seen[0]) // 2
    assert any(s[:half] != s[half:] for s in seen)  # and the two groups differ


def test_nav_auto_resets_still_draw_new_goals():
    env = nav.make(NAV.train[0], 1, 0, env_seeds=[5])
    env.reset()
    first = env.goals.copy()
    for _ in range(nav.HORIZON + 1):
        env.step(np.zeros((1, 2), dtype=np.float32))
    assert not np.array_equal(env.goals, first)


def test_gym_groups_share_starts_at_every_explicit_reset():
    env = gym_family.make(CARTPOLE.train[0], 4, 0, env_seeds=GROUP_SEEDS)
    left = np.array([0, 1, 0, 1])  # members 0 and 2 always push left and fall first
    uneven = False
    for _ in range(3):
        _assert_groups(env.reset())
        ends = np.zeros(4, dtype=np.int64)
        for t in range(40):
            result = env.step(np.where(left == 0, 0, t % 2))
            ends += result.terminated | result.truncated
        uneven |= bool(ends[0] != ends[1])
    assert uneven
    env.close()


def _hidden(env, family):
    if family == "shift":
        return np.concatenate(env.dynamics(), axis=1)
    if family == "nav":
        return env.goals.copy()
    if family == "bandit":
        return env.best.copy()
    return None


@pytest.mark.parametrize("suite", [PENDULUM, NAV, BANDIT, CARTPOLE], ids=lambda s: s.name)
@pytest.mark.parametrize("split", ["train", "test"])
def test_reseed_replays_a_fresh_env(suite, split):
    task = suite.split(split)[0]
    seeds = [21, 21, 34]
    fresh = envs.make_task_instances([task] * 3, seeds, seed=3)
    want_obs, want_hidden = fresh.reset(), _hidden(fresh, task.family)
    fresh.close()

    env = envs.make_task_instances([task] * 3, [1, 2, 3], seed=0)
    env.reset()
    rng = np.random.default_rng(0)
    for _ in range(30):
        env.step(np.stack([env.action_space.sample() for _ in range(3)])
                 if task.family in ("bandit", "gym") else
                 rng.uniform(-1, 1, (3, *env.action_space.shape)).astype(np.float32))
    env.reset()
    env.reseed(seeds)
    obs = env.reset()
    np.testing.assert_array_equal(obs, want_obs)
    if want_hidden is not None:
        np.testing.assert_array_equal(_hidden(env, task.family), want_hidden)
    env.close()


def test_reseed_rejects_a_wrong_number_of_seeds():
    env = envs.make_task_instances([NAV.train[0]] * 2, [1, 2], seed=0)
    with pytest.raises(ValueError, match="one seed per env"):
        env.reseed([1, 2, 3])


def test_multitask_reseed_splits_seeds_in_order_and_reseed_or_build_reuses():
    tasks = (NAV.train[0], NAV.train[0], NAV.test[0])
    fresh = envs.make_task_instances(tasks, [7, 8, 9], seed=0)
    want = (fresh.reset(), np.concatenate([e.goals for e in fresh.envs]))

    env = envs.make_task_instances(tasks, [1, 2, 3], seed=0)
    assert env.instance_tasks == tasks
    env.reset()
    same = envs.reseed_or_build(env, list(tasks), [7, 8, 9], seed=0)
    assert same is env
    obs = same.reset()
    np.testing.assert_array_equal(obs, want[0])
    np.testing.assert_array_equal(np.concatenate([e.goals for e in same.envs]), want[1])

    other = envs.reseed_or_build(env, tasks[:2], [7, 8], seed=0)
    assert other is not env and other.instance_tasks == tasks[:2]
    np.testing.assert_array_equal(other.reset(), want[0][:2])
    built = envs.reseed_or_build(None, tasks, [7, 8, 9], seed=0)
    np.testing.assert_array_equal(built.reset(), want[0])
    vec = envs.make_vec_env(NAV.train, 2, seed=0)
    assert vec.instance_tasks == (NAV.train[0],) * 2


@pytest.mark.parametrize("spec", ["metaworld:ML1-reach", "procgen:bigfish"])
def test_envpool_reseed_rebuilds_the_pool_like_a_fresh_one(spec):
    task = envs.parse_env(spec).test[0]
    seeds = [40, 40, 41]
    fresh = envs.make_task_instances([task] * 3, seeds, seed=5)
    want = fresh.reset()
    fresh.close()
    assert not np.array_equal(want[0], want[2])

    env = envs.make_task_instances([task] * 3, [1, 2, 3], seed=0)
    env.reset()
    assert not np.array_equal(env.reset(), want)
    same = envs.reseed_or_build(env, [task] * 3, seeds, seed=0)
    assert same is env
    np.testing.assert_array_equal(env.reset(), want)
    env.close()
