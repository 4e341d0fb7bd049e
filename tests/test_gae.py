"""GAE on hand-computed values, including truncation bootstrap and the auto-reset step."""

import torch

from mrft.algos.objectives import gae


def _tensors(rows):
    return torch.tensor(rows, dtype=torch.float32).reshape(-1, 1)


def _flags(rows):
    return torch.tensor(rows, dtype=torch.bool).reshape(-1, 1)


REWARDS = _tensors([1.0, 2.0, 0.0, 3.0])
VALUES = _tensors([0.5, 1.0, 4.0, 2.0])  # values[2] is V(final observation of episode 1)
NEXT = torch.tensor([1.0])
VALID = _flags([True, True, False, True])  # step 2 is the auto-reset transition


def test_truncation_bootstraps_from_final_observation_and_cuts_the_chain():
    adv, ret = gae(REWARDS, VALUES, NEXT, _flags([0, 0, 0, 0]), _flags([0, 1, 0, 0]), VALID, 0.5, 0.5)
    # t=3: 3 + 0.5*1 - 2 = 1.5
    # t=2: auto-reset step -> 0
    # t=1: truncated: 2 + 0.5*V(final)=0.5*4 - 1 = 3.0, no chain from t=2
    # t=0: delta = 1 + 0.5*1 - 0.5 = 1.0; A = 1.0 + 0.25*3.0 = 1.75
    assert torch.allclose(adv.squeeze(1), torch.tensor([1.75, 3.0, 0.0, 1.5]))
    assert torch.allclose(ret.squeeze(1), torch.tensor([2.25, 4.0, 4.0, 3.5]))


def test_termination_has_no_bootstrap():
    adv, _ = gae(REWARDS, VALUES, NEXT, _flags([0, 1, 0, 0]), _flags([0, 0, 0, 0]), VALID, 0.5, 0.5)
    # t=1: 2 - 1 = 1.0; t=0: 1.0 + 0.25*1.0 = 1.25
    assert torch.allclose(adv.squeeze(1), torch.tensor([1.25, 1.0, 0.0, 1.5]))


def test_reset_step_value_and_reward_do_not_leak_into_previous_episode():
    changed_reward = REWARDS.clone()
    changed_reward[2] = 100.0
    a1, _ = gae(REWARDS, VALUES, NEXT, _flags([0, 1, 0, 0]), _flags([0, 0, 0, 0]), VALID, 0.5, 0.5)
    a2, _ = gae(changed_reward, VALUES, NEXT, _flags([0, 1, 0, 0]), _flags([0, 0, 0, 0]), VALID, 0.5, 0.5)
    assert torch.equal(a1, a2)


def test_no_episode_end_matches_textbook_recursion():
    torch.manual_seed(3)
    T, N, gamma, lam = 6, 3, 0.9, 0.8
    r, v, nv = torch.randn(T, N), torch.randn(T, N), torch.randn(N)
    no = torch.zeros(T, N, dtype=torch.bool)
    adv, ret = gae(r, v, nv, no, no, ~no, gamma, lam)
    expected = torch.zeros(T, N)
    for n in range(N):
        for t in range(T):
            total = 0.0
            for k in range(t, T):
                v_next = nv[n] if k == T - 1 else v[k + 1, n]
                delta = r[k, n] + gamma * v_next - v[k, n]
                total += (gamma * lam) ** (k - t) * delta
            expected[t, n] = total
    assert torch.allclose(adv, expected, atol=1e-5)
    assert torch.allclose(ret, expected + v, atol=1e-5)
