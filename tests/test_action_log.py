"""The exact-resume action log: compact, bounded, and lossless."""

import numpy as np
import torch

from mrft.action_log import CHUNK_ROWS, ActionLog, compact_dtype


def test_compact_dtype_is_the_smallest_exact_one():
    assert compact_dtype(np.array([0, 1, 14], dtype=np.int32)) == np.uint8
    assert compact_dtype(np.array([0, 300], dtype=np.int64)) == np.uint16
    assert compact_dtype(np.array([-3, 300], dtype=np.int64)) == np.int16
    assert compact_dtype(np.array([0.5, -1.0], dtype=np.float32)) == np.float32


def test_discrete_actions_cost_one_byte_per_env_step_and_replay_in_their_dtype():
    log = ActionLog(num_envs=8, limit_steps=10**9)
    rows = [np.arange(8, dtype=np.int32) % 2 for _ in range(CHUNK_ROWS + 5)]
    for row in rows:
        log.append(row)
    assert log.rows == CHUNK_ROWS + 5
    assert log.nbytes == 2 * CHUNK_ROWS * 8  # two blocks of uint8 rows
    replayed = list(log)
    assert all(r.dtype == np.int32 and np.array_equal(r, e) for r, e in zip(replayed, rows, strict=True))


def test_an_action_outside_the_first_range_widens_storage_without_loss():
    log = ActionLog(num_envs=2, limit_steps=100)
    log.append(np.array([1, 2], dtype=np.int64))
    log.append(np.array([1000, -5], dtype=np.int64))
    assert [r.tolist() for r in log] == [[1, 2], [1000, -5]]


def test_the_bound_abandons_the_log_and_frees_it():
    log = ActionLog(num_envs=4, limit_steps=10)
    log.append(np.zeros(4, dtype=np.int32))
    log.append(np.zeros(4, dtype=np.int32))
    assert log.complete and log.rows == 2
    log.append(np.zeros(4, dtype=np.int32))  # 12 env steps > 10
    assert not log.complete and log.rows == 0 and log.nbytes == 0
    log.append(np.zeros(4, dtype=np.int32))
    assert log.rows == 0
    assert log.state_dict() == {"complete": False}


def test_state_round_trip_keeps_continuous_actions_bit_exact():
    rng = np.random.default_rng(0)
    rows = [rng.standard_normal((3, 4)).astype(np.float32) for _ in range(7)]
    log = ActionLog(num_envs=3, limit_steps=1000)
    for row in rows:
        log.append(row)
    state = log.state_dict()
    assert isinstance(state["actions"], torch.Tensor) and state["actions"].shape == (7, 3, 4)
    other = ActionLog(num_envs=3, limit_steps=1000)
    other.load_rows(state["actions"].numpy(), state["env_dtype"])
    other.append(rows[0])
    assert other.rows == 8
    assert all(np.array_equal(a, b) for a, b in zip(other, rows + rows[:1], strict=True))
