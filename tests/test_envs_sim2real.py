"""``sim2real:reacher``: randomised sims for training, wider "real" bodies with delay, bias and noise."""

import numpy as np
import pytest

from mrft import envs
from mrft.envs import shift, sim2real
from mrft.errors import MrftError

SUITE = envs.parse_env("sim2real:reacher")


def _body(real: bool, seed: int = 3) -> sim2real.TransferBody:
    body = sim2real.TransferBody(shift.ENV_IDS["reacher"], seed, real)
    body.reset()
    return body


def _factors(bodies):
    """Per body, the drawn factors of masses, damping and gears relative to nominal."""
    rows = []
    for b in bodies:
        m = b.model
        rows.append(np.concatenate([m.body_mass[1:] / b.nominal_mass[1:],
                                    m.dof_damping[:2] / b.nominal_damping[:2],
                                    m.actuator_gear[:, 0] / b.nominal_gear]))
    return np.stack(rows)


def test_the_sim_stays_in_its_range_and_the_real_bodies_leave_it():
    sim = _factors(_body(False, s) for s in range(40))
    real = _factors(_body(True, s) for s in range(40))
    low, high = sim2real.SIM_RANGE
    assert ((sim >= low - 1e-9) & (sim <= high + 1e-9)).all()
    outside = np.mean((real < low) | (real > high))
    assert 0.2 < outside < 0.45, outside  # about a third of the draws, by construction
    friction_sim = np.stack([_body(False, s).model.dof_frictionloss for s in range(20)])
    assert friction_sim.max() <= sim2real.SIM_FRICTION and friction_sim.std() > 0


def test_a_sim_body_applies_the_action_at_once_and_observes_exactly():
    body = _body(False)
    action = np.array([0.3, -0.2])
    obs, *_ = body.step(action)
    np.testing.assert_allclose(body.env.unwrapped.data.ctrl, action)
    np.testing.assert_allclose(obs, body.env.unwrapped._get_obs())
    assert not body.bias.any()


def test_a_real_body_acts_one_step_late_with_a_bias_and_observes_with_noise():
    body = _body(True)
    assert body.bias.any() and (np.abs(body.bias) <= sim2real.BIAS).all()
    first, second = np.array([0.3, -0.2]), np.array([-0.5, 0.4])
    body.step(first)
    np.testing.assert_allclose(body.env.unwrapped.data.ctrl, body.bias)  # nothing pending yet
    obs, *_ = body.step(second)
    np.testing.assert_allclose(body.env.unwrapped.data.ctrl, first + body.bias)
    noise = obs - body.env.unwrapped._get_obs()
    assert 0.3 * sim2real.OBS_NOISE < noise.std() < 3 * sim2real.OBS_NOISE
    body.auto_reset()  # a new episode forgets the pending action
    body.step(second)
    np.testing.assert_allclose(body.env.unwrapped.data.ctrl, body.bias)


def test_seeded_bodies_replay_and_the_splits_differ():
    def run(task, seeds):
        env = envs.make_task_instances([task] * len(seeds), seeds, 0)
        out = [env.reset()]
        for _ in range(5):
            out.append(env.step(np.full((len(seeds), 2), 0.2, np.float32)).obs)
        return np.stack(out), env.task_parameters()

    (a, pa), (b, pb) = run(SUITE.test[0], [4, 4]), run(SUITE.test[0], [4, 4])
    np.testing.assert_array_equal(a, b)
    np.testing.assert_array_equal(pa, pb)
    np.testing.assert_array_equal(a[:, 0], a[:, 1])  # equal seeds, one instance
    _, sim_params = run(SUITE.train[0], [4, 4])
    assert not np.allclose(sim_params, pa)
    assert SUITE.test[0].option("real") and not SUITE.train[0].option("real")


def test_unknown_body():
    with pytest.raises(MrftError, match="unknown sim2real body"):
        envs.parse_env("sim2real:octopus")


def test_the_oracle_trains_on_real_bodies_of_the_train_seeds():
    oracle = envs.parse_env("sim2real:reacher", oracle=True)
    assert oracle.train[0].option("real") and oracle.train[0].option("oracle")
    assert not oracle.train[0].option("split_seed_offset")  # train seeds, not the held-out ones
    assert oracle.test[0].option("real") and oracle.test[0].option("split_seed_offset")
