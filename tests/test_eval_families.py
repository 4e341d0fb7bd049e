"""The evaluation families ``current:drift``, ``recsys:users`` and ``vehicle:speed``: one step
by hand, seeded instances, reseed, split, oracle and spaces, and a tiny training run each."""

import json
import math

import gymnasium as gym
import numpy as np
import pytest

from mrft import cli, envs
from mrft.envs import current, recsys, vehicle
from mrft.envs.spaces import task_spaces

FAMILIES = {"current:drift": current, "recsys:users": recsys, "vehicle:speed": vehicle}
PARAMETERS = {"current:drift": 2, "recsys:users": 4, "vehicle:speed": 3}
GROUP_SEEDS = [5, 5, 9, 9]


def _task(env: str, split: str = "train"):
    return getattr(envs.parse_env(env), split)[0]


def _random_actions(env, rng):
    if isinstance(env.action_space, gym.spaces.Discrete):
        return rng.integers(0, env.action_space.n, env.num_envs)
    return rng.uniform(-1.0, 1.0, (env.num_envs, *env.action_space.shape)).astype(np.float32)


class _Uniforms:
    """A click stream that returns chosen uniforms."""

    def __init__(self, *values):
        self.values = list(values)

    def random(self, n):
        return np.full(n, self.values.pop(0))


def test_current_one_step_by_hand():
    env = current.make(_task("current:drift"), 1, 0)
    env.reset()
    env.goals[:] = [[0.5, 0.0]]
    env.currents[:] = [[0.0, 0.05]]
    env.noise = 0.0
    result = env.step(np.array([[1.0, 0.5]], dtype=np.float32))
    # thrust (0.1, 0.05) plus current (0, 0.05): the boat is at (0.1, 0.1), 0.4 short and 0.1 off
    np.testing.assert_allclose(result.obs[0], [0.4, -0.1, 0.1, 0.1], atol=1e-6)
    assert result.reward[0] == pytest.approx(-math.hypot(0.4, 0.1), rel=1e-5)
    assert result.success[0] == 0.0
    result = env.step(np.array([[5.0, -5.0]], dtype=np.float32))  # clipped to (1, -1)
    np.testing.assert_allclose(result.obs[0, 2:], [0.2, 0.05], atol=1e-6)
    env.goals[:] = [[0.24, 0.05]]
    assert env.step(np.array([[0.0, -0.5]], dtype=np.float32)).success[0] == 1.0  # at (0.2, 0.05)
    np.testing.assert_allclose(env.task_parameters(), [[0.0, 0.05 / current.CURRENT_STRENGTH[1]]])


def test_current_noise_is_exogenous_and_rewound():
    env = current.make(_task("current:drift"), 2, 3, env_seeds=[4, 4])
    first = np.stack([env.reset()] + [env.step(np.zeros((2, 2))).obs for _ in range(3)])
    np.testing.assert_array_equal(env.goals[0], env.goals[1])  # a group shares the instance...
    assert not np.allclose(first[-1, 0], first[-1, 1])  # ...not the noise
    env.reseed([4, 4])
    env.rewind()
    again = np.stack([env.reset()] + [env.step(np.zeros((2, 2))).obs for _ in range(3)])
    np.testing.assert_array_equal(again, first)


def test_recsys_one_step_by_hand():
    env = recsys.make(_task("recsys:users"), 1, 0)
    env.reset()
    env.taste[:] = [[1.0, 0.0, 0.0]]
    env.fatigue_cost[:] = 1.0
    env._click_rng = _Uniforms(0.7, 0.7)
    # item 0 is the corner (1, 1, 1) / sqrt 3 with quality 0.5: logit 3 / sqrt 3 + 0.5 - 1
    logit = 3.0 / math.sqrt(3.0) - 0.5
    assert 1.0 / (1.0 + math.exp(-logit)) == pytest.approx(0.7742, abs=1e-4)
    result = env.step(np.array([0]))
    assert result.reward[0] == 1.0  # 0.7 < 0.774: a click
    assert result.obs[0, 0] == 1.0 and result.obs[0, -1] == pytest.approx(1 / recsys.HORIZON)
    # shown again, the item is stale: logit - 1 x fatigue 1 gives p = 0.558 < 0.7, no click
    result = env.step(np.array([0]))
    assert result.reward[0] == 0.0
    assert result.obs[0, 0] == pytest.approx(0.5 * 1.0 + 1.0)
    np.testing.assert_allclose(env.task_parameters(), [[1.0, 0.0, 0.0, 2.0 / 3.0 - 1.0]], atol=1e-6)


def test_recsys_users_have_favourites_a_context_free_rule_cannot_know():
    env = recsys.make(_task("recsys:users", "test"), 64, 0)
    env.reset()
    favourites = np.argmax(env.click_logits(), axis=1)
    assert len(set(favourites.tolist())) >= 6
    assert np.allclose(np.linalg.norm(env.taste, axis=1), 1.0)
    assert ((env.fatigue_cost >= 0) & (env.fatigue_cost <= recsys.FATIGUE_MAX)).all()


def test_vehicle_one_step_by_hand():
    env = vehicle.make(_task("vehicle:speed"), 1, 0)
    env.reset()
    env.gain[:], env.grip[:], env.grade[:], env.speed[:] = 4.0, 0.5, 0.5, 10.0
    env.targets[0, 1] = 10.2
    result = env.step(np.array([[0.5]], dtype=np.float32))
    # a = 4 x 0.5 (under the grip limit 4.905) - grade 0.5 - drag 0.01 x 10 = 1.4 m/s^2
    assert env.speed[0] == pytest.approx(10.14)
    assert result.reward[0] == pytest.approx(-0.06 / vehicle.SPEED_SCALE - 0.02 * 0.25, rel=1e-5)
    assert result.obs[0, 0] == pytest.approx(1.014)
    env.grip[:] = 0.2  # full throttle demands 4 m/s^2; the tyres transmit 1.962
    env.step(np.array([[1.0]], dtype=np.float32))
    assert env.speed[0] == pytest.approx(10.14 + 0.1 * (1.962 - 0.5 - 0.01 * 10.14))
    np.testing.assert_allclose(vehicle.profile(np.array([10.0, 20.0]), 30)[[0, 14, 15, 20, 25, 29]],
                               [10, 10, 10, 15, 20, 20])


def test_vehicle_roads_are_never_flat_and_every_level_can_be_held():
    env = vehicle.make(_task("vehicle:speed", "test"), 200, 0)
    env.reset()
    assert (np.abs(env.grade) >= vehicle.GRADE_RANGE[0]).all()
    assert (env.grade > 0).any() and (env.grade < 0).any()
    hold = np.abs(env.grade) + vehicle.DRAG * vehicle.SPEED_RANGE[1]
    assert (hold < env.gain).all() and (hold < env.grip * vehicle.G).all()
    assert ((env.targets >= vehicle.SPEED_RANGE[0]) & (env.targets <= vehicle.SPEED_RANGE[1])).all()


def test_vehicle_preview_shows_the_profile_ahead():
    env = vehicle.make(_task("vehicle:speed"), 2, 0)
    obs = env.reset()
    targets, speed = env.targets, env.speed
    np.testing.assert_allclose(obs[:, 0] * vehicle.SPEED_SCALE, speed, rtol=1e-5)
    np.testing.assert_allclose(obs[:, 1] * vehicle.SPEED_SCALE, targets[:, 1] - speed, atol=1e-4)
    for column, ahead in zip((2, 3, 4), vehicle.PREVIEW, strict=True):
        np.testing.assert_allclose(obs[:, column] * vehicle.SPEED_SCALE,
                                   targets[:, ahead] - targets[:, 1], atol=1e-4)


@pytest.mark.parametrize("env_id", FAMILIES)
def test_equal_seeds_replay_the_instance_and_reseed_replays_a_fresh_env(env_id):
    family, task = FAMILIES[env_id], _task(env_id)
    long, short = (family.make(task, 4, 0, env_seeds=GROUP_SEEDS) for _ in range(2))
    rng = np.random.default_rng(0)
    firsts = []
    for _ in range(3):  # explicit resets agree however often the envs auto-reset in between
        obs_long, obs_short = long.reset(), short.reset()
        np.testing.assert_array_equal(obs_long, obs_short)
        params = long.task_parameters()
        np.testing.assert_array_equal(params, short.task_parameters())
        np.testing.assert_array_equal(params[0], params[1])
        assert not np.allclose(params[0], params[2])
        firsts.append(params)
        for env, steps in ((long, 2 * long.horizon + 3), (short, 1)):
            for _ in range(steps):
                env.step(_random_actions(env, rng))
    assert not np.allclose(firsts[0], firsts[1])  # explicit resets draw new instances
    long.reseed(GROUP_SEEDS)
    long.reset()
    np.testing.assert_array_equal(long.task_parameters(), firsts[0])
    fresh = family.make(task, 4, 0, env_seeds=GROUP_SEEDS)
    fresh.reset()
    np.testing.assert_array_equal(fresh.task_parameters(), firsts[0])


@pytest.mark.parametrize("env_id", FAMILIES)
def test_train_and_test_instances_differ(env_id):
    family, suite = FAMILIES[env_id], envs.parse_env(env_id)
    assert suite.train[0] != suite.test[0]
    train = family.make(suite.train[0], 3, 0, env_seeds=[0, 1, 2])
    test = family.make(suite.test[0], 3, 0, env_seeds=[0, 1, 2])
    train.reset()
    test.reset()
    assert not np.isclose(train.task_parameters(), test.task_parameters()).all(axis=1).any()
    test.reseed([0, 1, 2])
    test.reset()
    again = family.make(suite.test[0], 3, 7, env_seeds=[0, 1, 2])
    again.reset()
    np.testing.assert_array_equal(test.task_parameters(), again.task_parameters())


@pytest.mark.parametrize("env_id", FAMILIES)
def test_spaces_parameters_oracle_and_auto_reset(env_id):
    family, task = FAMILIES[env_id], _task(env_id)
    env = family.make(task, 3, 0)
    spaces = task_spaces(task)
    assert spaces.observation_space == env.observation_space
    assert spaces.action_space == env.action_space and spaces.horizon == env.horizon
    obs = env.reset()
    params = env.task_parameters()
    assert obs.shape == (3, *env.observation_space.shape) and obs.dtype == np.float32
    assert params.shape == (3, PARAMETERS[env_id]) and params.dtype == np.float32
    assert np.abs(params).max() <= 1.0 + 1e-6
    oracle_task = envs.parse_env(env_id, oracle=True).train[0]
    wrapped = envs.make_vec_env([oracle_task], 3, 0)
    width = env.observation_space.shape[0] + PARAMETERS[env_id]
    assert wrapped.reset().shape == (3, width)
    assert task_spaces(oracle_task).observation_space.shape == (width,)
    rng = np.random.default_rng(1)
    for t in range(env.horizon):
        result = env.step(_random_actions(env, rng))
        assert result.truncated.all() == (t == env.horizon - 1) and not result.terminated.any()
    result = env.step(_random_actions(env, rng))  # the auto-reset step
    assert (result.reward == 0.0).all() and not result.truncated.any()
    assert not np.allclose(env.task_parameters(), params)


@pytest.mark.parametrize("env_id", FAMILIES)
def test_a_tiny_training_run(tmp_path, env_id):
    args = ["train", "--env", env_id, "--total-steps", "256", "--num-envs", "4", "--num-steps", "16",
            "--num-minibatches", "2", "--update-epochs", "1", "--no-progress", "--runs-dir",
            str(tmp_path), "--run-name", "r", "--eval-episodes", "2", "--threads", "1"]
    with pytest.raises(SystemExit) as exit_info:
        cli.main([*args, "--oracle"] if env_id == "recsys:users" else args)
    assert exit_info.value.code == 0
    records = [json.loads(line) for line in (tmp_path / "r" / "metrics.jsonl").read_text().splitlines()]
    assert records[-1]["step"] == 256 and math.isfinite(records[-1]["losses/policy_loss"])
    assert json.loads((tmp_path / "r" / "eval.json").read_text())["episodes"] == 2


@pytest.mark.parametrize("spec", ["recsys:users", "current:drift", "market:regimes"])
def test_episode_batches_resumed_draw_the_clicks_and_noise_the_uninterrupted_run_draws(spec):
    """Whole-episode batches (GRPO) restart from seeded resets at every call, but the clicks,
    the noise and the market paths run on across calls: a resume must put them back."""
    import torch

    from mrft import envs
    from mrft.batches import Actor
    from mrft.episodes import EpisodeCollector
    from mrft.nets import build_actor_critic

    tasks = envs.parse_env(spec).train
    spaces = envs.task_spaces(tasks[0])
    torch.manual_seed(0)
    policy = build_actor_critic(spaces.observation_space, spaces.action_space, "auto", (8,), False)

    def collector():
        return EpisodeCollector(tasks, Actor(policy), 4, 2, 1, 20, 3, torch.device("cpu"))

    first = collector()
    first.collect()
    saved, rng = first.state_dict(), torch.get_rng_state()
    expected = first.collect()
    resumed = collector()
    assert resumed.load_state_dict(saved)
    torch.set_rng_state(rng)
    got = resumed.collect()
    assert torch.equal(got.rewards, expected.rewards) and torch.equal(got.obs, expected.obs)


def test_no_pre_training_draw_is_a_held_out_instance():
    """Every built-in family with a seeded held-out split starts it at the same offset, and a
    pre-training draw that would replay one of its instances moves past the range."""
    import numpy as np

    from mrft import envs
    from mrft.envs.instances import HELD_OUT_SPAN, TEST_SEED_OFFSET, training_seeds

    for spec in ("nav:point", "market:regimes", "current:drift", "recsys:users", "vehicle:speed",
                 "process:changeover", "bandit:arms3", "shift:inverted-pendulum-signed",
                 "metaworld:ML1-reach"):
        offsets = {t.option("split_seed_offset", 0) for t in envs.parse_env(spec).test}
        assert offsets == {TEST_SEED_OFFSET}, (spec, offsets)
    draws = np.array([0, TEST_SEED_OFFSET - 1, TEST_SEED_OFFSET, TEST_SEED_OFFSET + 4,
                      TEST_SEED_OFFSET + HELD_OUT_SPAN, 2**31 - 2])
    assert training_seeds(draws).tolist() == [
        0, TEST_SEED_OFFSET - 1, TEST_SEED_OFFSET + HELD_OUT_SPAN, TEST_SEED_OFFSET + HELD_OUT_SPAN + 4,
        TEST_SEED_OFFSET + HELD_OUT_SPAN, 2**31 - 2]
