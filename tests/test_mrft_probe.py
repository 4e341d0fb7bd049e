"""Belief diagnostics: the held-out R^2 of a linear probe, on hand-made data."""

import numpy as np
import pytest

from mrft.algos.mrft.probe import ridge_r2


def test_ridge_r2_is_one_for_a_linear_map_and_about_zero_for_noise():
    rng = np.random.default_rng(0)
    features = rng.standard_normal((200, 5))
    targets = features @ rng.standard_normal((5, 2)) + 3.0
    assert ridge_r2(features, targets) == pytest.approx(1.0, abs=1e-3)  # a little shrinkage
    noise = rng.standard_normal((200, 2))
    assert abs(ridge_r2(features, noise)) < 0.1
    # the penalty does not depend on the features' scale (a Meta-World goal spans centimetres)
    assert ridge_r2(0.01 * features, targets) == pytest.approx(1.0, abs=1e-3)


def test_ridge_r2_on_hand_values():
    # fit on rows 0-1 (y = 2x exactly), test on rows 2-3: residual 0, so R^2 = 1
    features = np.array([[1.0], [2.0], [3.0], [5.0]])
    targets = 2 * features
    assert ridge_r2(features, targets, l2=0.0) == pytest.approx(1.0)
    # a constant test target has no variance to explain
    assert np.isnan(ridge_r2(features, np.array([[0.0], [1.0], [4.0], [4.0]])))
    with pytest.raises(ValueError):
        ridge_r2(features[:3], targets[:3])
