"""Transition features of the belief encoder: one-hot discrete actions, shape checks."""

from __future__ import annotations

import pytest
import torch

from mrft.algos.mrft.encoder import context_dim, context_features


def test_context_features_discrete_one_hot():
    obs = torch.randn(2, 5, 6)
    actions = torch.tensor([[0, 1, 2, 3, 1], [3, 3, 0, 0, 2]])
    rewards = torch.randn(2, 5)
    dones = torch.zeros(2, 5, dtype=torch.bool)
    dones[0, 2] = True
    feats = context_features(obs, actions, rewards, dones, num_actions=4)
    assert feats.shape == (2, 5, context_dim(6, 4)) == (2, 5, 12)
    assert feats.dtype == obs.dtype
    assert torch.equal(feats[..., :6], obs)
    assert torch.equal(feats[..., 6:10].argmax(-1), actions)
    assert torch.equal(feats[..., 6:10].sum(-1), torch.ones(2, 5))
    assert torch.equal(feats[..., 10], rewards)
    assert feats[0, 2, 11] == 1.0 and feats[..., 11].sum() == 1.0


def test_context_features_continuous_and_errors():
    obs = torch.randn(4, 3)
    actions = torch.randn(4, 2)
    feats = context_features(obs, actions, torch.ones(4), torch.zeros(4))
    assert feats.shape == (4, context_dim(3, 2))
    assert torch.equal(feats[:, 3:5], actions)
    with pytest.raises(ValueError, match="integer indices"):
        context_features(obs, actions, torch.ones(4), torch.zeros(4), num_actions=2)
    with pytest.raises(ValueError, match="continuous actions"):
        context_features(obs, torch.tensor([0, 1, 0, 1]), torch.ones(4), torch.zeros(4))
    with pytest.raises(ValueError, match="rewards"):
        context_features(obs, actions, torch.ones(3), torch.zeros(4))
