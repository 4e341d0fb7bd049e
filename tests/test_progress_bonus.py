"""The progress bonus as potential-based shaping, on hand-computed values."""

import pytest
import torch

from mrft.algos.mrft.progress_bonus import potential_bonus


def test_potential_bonus_telescopes_over_an_episode():
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


def test_a_terminal_state_has_zero_potential():
    """A row that ends in a terminal state: the bonus at its last step reads J = 0 after it,
    so the discounted bonuses sum to -alpha J(z_0), whenever the row ends; a truncated row
    keeps the potential of the belief after its last step."""
    potentials = torch.tensor([[1.0, 2.0, 4.0, 5.0], [1.0, 2.0, 4.0, 5.0]])
    mask = torch.tensor([[True, True, True], [True, True, True]])
    gamma, alpha = 0.9, 2.0
    bonus = potential_bonus(potentials, mask, gamma, alpha, terminated=torch.tensor([True, False]))
    assert torch.allclose(bonus[0], torch.tensor([2.0 * (0.9 * 2.0 - 1.0), 2.0 * (0.9 * 4.0 - 2.0), -2.0 * 4.0]))
    assert torch.allclose(bonus[1, 2], torch.tensor(2.0 * (0.9 * 5.0 - 4.0)))
    discounted = sum(gamma**t * bonus[0, t] for t in range(3))
    assert torch.isclose(discounted, torch.tensor(-alpha * 1.0))


def test_potential_bonus_shape_error():
    with pytest.raises(ValueError, match=r"\[n, L \+ 1\]"):
        potential_bonus(torch.zeros(2, 3), torch.ones(2, 3, dtype=torch.bool), 0.9, 1.0)
