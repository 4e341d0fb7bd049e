"""MRT progress bonus on hand-made trials, and the learned outcome estimator."""

from __future__ import annotations

import pytest
import torch

from mrft.algos.mrft.progress_bonus import ProgressEstimator, progress_bonus, shaped_returns


def test_bonus_on_hand_made_trial():
    values = torch.tensor([[0.0, 0.2, 0.9, 1.0]])
    bonus = progress_bonus(values, alpha=0.5)
    assert torch.allclose(bonus, torch.tensor([[0.1, 0.35, 0.05]]))
    # The bonuses of a trial telescope to alpha * (J_K - J_0).
    assert torch.isclose(bonus.sum(), torch.tensor(0.5))


def test_regressing_episode_gets_negative_bonus():
    values = torch.tensor([[0.5, 0.8, 0.3], [0.1, 0.1, 0.4]])
    bonus = progress_bonus(values, alpha=1.0)
    assert torch.allclose(bonus, torch.tensor([[0.3, -0.5], [0.0, 0.3]]))
    assert bonus[0, 1] < 0


def test_shaped_returns_add_bonus():
    returns = torch.tensor([[0.0, 1.0, 1.0]])
    values = torch.tensor([[0.0, 0.2, 0.9, 1.0]])
    shaped = shaped_returns(returns, values, alpha=0.5)
    assert torch.allclose(shaped, torch.tensor([[0.1, 1.35, 1.05]]))


def test_alpha_zero_is_identity():
    returns = torch.tensor([[0.3, -1.0], [2.0, 0.0]])
    values = torch.randn(2, 3)
    assert shaped_returns(returns, values, alpha=0.0) is returns


@pytest.mark.parametrize(
    ("values", "match"),
    [(torch.zeros(3), "2-D"), (torch.zeros(2, 3, 4), "2-D"), (torch.zeros(2, 1), "2 columns")],
)
def test_progress_bonus_shape_errors(values, match):
    with pytest.raises(ValueError, match=match):
        progress_bonus(values, alpha=1.0)


def test_shaped_returns_shape_errors():
    with pytest.raises(ValueError, match=r"K \+ 1"):
        shaped_returns(torch.zeros(2, 3), torch.zeros(2, 3), alpha=1.0)
    with pytest.raises(ValueError, match="returns"):
        shaped_returns(torch.zeros(6), torch.zeros(2, 4), alpha=1.0)


def test_estimator_shapes_and_fits_constant():
    estimator = ProgressEstimator(embed_dim=5)
    z = torch.randn(16, 5)
    assert estimator(z).shape == (16,)
    assert estimator(torch.randn(2, 3, 5)).shape == (2, 3)
    target = torch.full((16,), 0.7)
    optimizer = torch.optim.Adam(estimator.parameters(), lr=0.02)
    for _ in range(60):
        optimizer.zero_grad()
        estimator.loss(z, target).backward()
        optimizer.step()
    assert estimator.loss(z, target).item() < 1e-3


def test_estimator_loss_reaches_caller_z_unless_detached():
    estimator = ProgressEstimator(embed_dim=3)
    z = torch.randn(4, 3, requires_grad=True)
    estimator.loss(z, torch.ones(4)).backward()
    assert z.grad is not None
    z.grad = None
    estimator.loss(z.detach(), torch.ones(4)).backward()
    assert z.grad is None
    with pytest.raises(ValueError, match="outcomes"):
        estimator.loss(z, torch.ones(4, 1))


def test_potential_bonus_telescopes_over_an_episode():
    from mrft.algos.mrft.progress_bonus import potential_bonus

    potentials = torch.tensor([[1.0, 2.0, 4.0, 3.0, 9.0], [0.5, 1.5, 7.0, 7.0, 7.0]])
    mask = torch.tensor([[True, True, True, True], [True, True, False, False]])
    gamma, alpha = 0.9, 2.0
    bonus = potential_bonus(potentials, mask, gamma, alpha)
    # row 1 ends after 2 steps: its last step reads J(z_2) = 7.0 (the belief after it)
    assert torch.allclose(bonus[1], torch.tensor([2.0 * (0.9 * 1.5 - 0.5), 2.0 * (0.9 * 7.0 - 1.5), 0, 0]))
    for row, length in ((0, 4), (1, 2)):
        discounted = sum(gamma**t * bonus[row, t] for t in range(length))
        expected = alpha * (gamma**length * potentials[row, length] - potentials[row, 0])
        assert torch.isclose(discounted, expected)
