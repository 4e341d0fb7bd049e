"""The ``shift`` family: MuJoCo bodies whose hidden masses and damping are redrawn per reset."""

import json
import subprocess
import sys

import numpy as np
import pytest

from mrft import envs
from mrft.envs import shift
from mrft.errors import MrftError

REACHER = envs.parse_env("shift:reacher")
REACHER_HORIZON = 50


def _make(env_seeds, split="train"):
    return shift.make(REACHER.split(split)[0], len(env_seeds), 0, env_seeds=env_seeds)


def _actions(rng, env, steps):
    return rng.uniform(-1.0, 1.0, (steps, env.num_envs, *env.action_space.shape)).astype(np.float32)


def test_parse_env_gives_a_continuous_train_and_test_suite():
    assert REACHER.name == "shift:reacher"
    assert REACHER.train[0].family == "shift"
    assert REACHER.test[0].option("split_seed_offset") == shift.TEST_SEED_OFFSET
    assert envs.action_is_continuous(REACHER.train[0])
    assert "shift" in envs.REGISTRY


def test_unknown_name_is_a_one_line_error_listing_the_choices():
    with pytest.raises(MrftError, match=r"reacher.*hopper") as info:
        envs.parse_env("shift:ant")
    assert "\n" not in str(info.value)


def test_equal_seeds_share_dynamics_and_trajectories():
    env = _make([5, 5])
    obs = [env.reset()]
    masses, damping = env.dynamics()
    np.testing.assert_array_equal(masses[0], masses[1])
    np.testing.assert_array_equal(damping[0], damping[1])
    actions = _actions(np.random.default_rng(0), env, 1)[0]
    for _ in range(REACHER_HORIZON + 5):  # across one auto-reset
        obs.append(env.step(np.repeat(actions[:1], 2, axis=0)).obs)
    obs = np.stack(obs)
    np.testing.assert_array_equal(obs[:, 0], obs[:, 1])
    env.close()


def test_different_seeds_draw_different_dynamics_within_the_range():
    env = _make([5, 6])
    env.reset()
    masses, damping = env.dynamics()
    assert not np.allclose(masses[0], masses[1])
    assert not np.allclose(damping[0], damping[1])
    nominal = env._bodies[0].nominal_mass
    assert masses[0, 0] == 0.0  # the world body keeps its mass
    ratio = masses[:, 1:] / nominal[1:]
    assert np.all((ratio >= shift.SCALE_RANGE[0]) & (ratio <= shift.SCALE_RANGE[1]))
    env.close()


def test_every_reset_draws_new_dynamics_with_next_step_auto_reset():
    env = _make([3])
    env.reset()
    first, _ = env.dynamics()
    rng = np.random.default_rng(1)
    for action in _actions(rng, env, REACHER_HORIZON):
        result = env.step(action)
    assert result.truncated[0] and not result.terminated[0]
    np.testing.assert_array_equal(env.dynamics()[0], first)  # still the finished episode
    result = env.step(_actions(rng, env, 1)[0])
    assert result.reward[0] == 0.0 and not result.truncated[0] and result.success is None
    assert not np.allclose(env.dynamics()[0], first)
    env.reset()
    assert not np.allclose(env.dynamics()[0], first)
    env.close()


def test_test_split_draws_other_dynamics_than_train():
    train, test = _make([7]), _make([7], split="test")
    train.reset()
    test.reset()
    assert not np.allclose(train.dynamics()[0], test.dynamics()[0])
    train.close()
    test.close()


def test_make_task_instances_replays_the_same_instance():
    def first_instance():
        env = envs.make_task_instances(REACHER.train * 2, [11, 12], seed=0)
        obs = env.reset()
        masses, _ = env.dynamics()
        env.close()
        return obs, masses

    (obs_a, masses_a), (obs_b, masses_b) = first_instance(), first_instance()
    np.testing.assert_array_equal(obs_a, obs_b)
    np.testing.assert_array_equal(masses_a, masses_b)
    assert not np.allclose(masses_a[0], masses_a[1])


def test_make_without_env_seeds_gives_each_env_its_own_dynamics():
    env = envs.make_vec_env(REACHER.train, 3, seed=0)
    obs = env.reset()
    assert obs.shape == (3, *env.observation_space.shape) and obs.dtype == np.float32
    masses, _ = env.dynamics()
    assert len({tuple(m) for m in masses}) == 3
    env.close()


def test_cli_grpo_run_on_shift_reacher(tmp_path):
    proc = subprocess.run(
        [sys.executable, "-m", "mrft", "train", "--env", "shift:reacher", "--algo", "grpo",
         "--num-envs", "8", "--group-size", "4", "--max-episode-steps", str(REACHER_HORIZON),
         "--total-steps", "2000", "--update-epochs", "1", "--num-minibatches", "1",
         "--eval-episodes", "2", "--threads", "1", "--runs-dir", str(tmp_path), "--run-name", "s",
         "--no-progress"],
        capture_output=True, text=True, timeout=300,
    )
    assert proc.returncode == 0, proc.stderr
    run = tmp_path / "s"
    records = [json.loads(line) for line in (run / "metrics.jsonl").read_text().splitlines()]
    assert records[-1]["step"] >= 2000
    assert json.loads((run / "config.json").read_text())["env"]["env"] == "shift:reacher"
    assert (run / "checkpoint.pt").exists()


def test_signed_bodies_reverse_some_motors_and_hide_it_until_they_move():
    suite = envs.parse_env("shift:reacher-signed")
    env = envs.make_vec_env(suite.train, 64, seed=3)
    env.reset()
    gears = np.stack([b.model.actuator_gear[:, 0].copy() for b in env._bodies])
    nominal = env._bodies[0].nominal_gear
    factors = np.abs(gears) / nominal
    assert (factors >= 0.5 - 1e-9).all() and (factors <= 2.0 + 1e-9).all()
    assert 0.25 < (gears < 0).mean() < 0.75  # both signs, about half each
    assert np.allclose(env.task_parameters()[:, -2:], gears)  # what the oracle is shown
    env.close()
    # the same body with one motor reversed: the same first observation, the opposite response
    bodies = [shift.ShiftedBody("Reacher-v5", 0) for _ in range(2)]
    bodies[1].model.actuator_gear[0, 0] *= -1
    first = [b.env.reset(seed=7)[0] for b in bodies]
    assert np.array_equal(first[0], first[1])
    after = [b.step(np.array([1.0, 0.0]))[0] for b in bodies]
    assert np.sign(after[0][6] - first[0][6]) == -np.sign(after[1][6] - first[1][6])  # qvel of joint 0
    model = bodies[0].model
    plain = envs.make_vec_env(envs.parse_env("shift:reacher").train, 2, seed=3)
    assert plain.task_parameters().shape[1] == model.nbody + model.nv  # masses and damping only
    plain.close()


@pytest.mark.parametrize("split", ["train", "test"])
def test_resetting_one_env_alone_replays_a_fresh_env_and_leaves_the_others_playing(split):
    """``reset_envs`` re-seeds env 1 while envs 0 and 2 are mid-episode: env 1 then plays as a
    freshly built env with that seed, and the others as if nothing had happened."""
    rng = np.random.default_rng(0)
    pool, untouched, fresh = _make([5, 6, 7], split), _make([5, 6, 7], split), _make([42], split)
    pool.reset(), untouched.reset()
    for action in _actions(rng, pool, 7):
        pool.step(action), untouched.step(action)
    first = pool.reset_envs(np.array([False, True, False]), [42])
    assert first.shape == (1, *pool.observation_space.shape)
    np.testing.assert_array_equal(first[0], fresh.reset()[0])
    np.testing.assert_array_equal(pool.dynamics()[0][1], fresh.dynamics()[0][0])
    for action in _actions(rng, pool, 60):  # through the auto-resets of all three
        got, solo, others = pool.step(action), fresh.step(action[1:2]), untouched.step(action)
        np.testing.assert_array_equal(got.obs[1], solo.obs[0])
        np.testing.assert_array_equal(got.obs[[0, 2]], others.obs[[0, 2]])
        np.testing.assert_array_equal(got.reward[[0, 2]], others.reward[[0, 2]])


def test_the_oracle_resets_one_env_alone_with_that_envs_new_parameters():
    task = REACHER.train[0].with_options(oracle=True)
    pool = envs.make_task_instances([task] * 3, [5, 6, 7], 0)
    assert envs.vector.resets_one_env(pool)
    pool.reset()
    first = pool.reset_envs(np.array([True, False, True]), [8, 9])
    fresh = envs.make_task_instances([task] * 2, [8, 9], 0)
    np.testing.assert_array_equal(first, fresh.reset())
