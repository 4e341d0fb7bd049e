"""The TCN task encoder is causal, has the stated receptive field, and embeds prefixes."""

from __future__ import annotations

import pytest
import torch

from mrft.algos.mrft.encoder import TemporalConvNet, context_dim, context_features

IN_DIM = 3


def _net(**kwargs) -> TemporalConvNet:
    """A small float64 encoder: float64 avoids fast-path kernels so equality can be exact."""
    defaults = {"channels": 8, "levels": 3, "kernel_size": 3, "embed_dim": 4}
    defaults.update(kwargs)
    return TemporalConvNet(IN_DIM, **defaults).double()


def test_forward_shape_and_empty_sequence():
    net = _net()
    assert net(torch.randn(2, 7, IN_DIM, dtype=torch.float64)).shape == (2, 7, 4)
    assert net(torch.randn(2, 0, IN_DIM, dtype=torch.float64)).shape == (2, 0, 4)
    with pytest.raises(ValueError, match="expected x"):
        net(torch.randn(2, 7, IN_DIM + 1, dtype=torch.float64))


def test_future_inputs_do_not_change_past_outputs():
    net = _net()
    x = torch.randn(2, 12, IN_DIM, dtype=torch.float64)
    t = 5
    perturbed = x.clone()
    perturbed[:, t + 1 :] += torch.randn_like(perturbed[:, t + 1 :])
    with torch.no_grad():
        out, out_perturbed = net(x), net(perturbed)
    assert torch.equal(out[:, : t + 1], out_perturbed[:, : t + 1])
    assert not torch.allclose(out[:, t + 1 :], out_perturbed[:, t + 1 :])


def test_receptive_field_boundary():
    net = _net(channels=4, levels=5, kernel_size=3, embed_dim=2)
    assert net.receptive_field == 125
    steps = net.receptive_field + 1
    x = torch.rand(1, steps, IN_DIM, dtype=torch.float64)
    with torch.no_grad():
        # The oldest visible step reaches the output through a single chain of edge taps;
        # positive weights, biases and inputs keep every ReLU on it active, so a change
        # there must show up instead of being cut off by a dead unit.
        for param in net.parameters():
            param.abs_()
        base = net(x)[0, -1]
        outside, inside = x.clone(), x.clone()
        outside[0, 0] += 10.0  # exactly receptive_field steps before the last one
        inside[0, 1] += 10.0  # the oldest step still inside the window
        assert torch.equal(net(outside)[0, -1], base)
        assert not torch.allclose(net(inside)[0, -1], base)


def test_embed_picks_last_valid_step_and_ignores_padding():
    net = _net()
    x = torch.randn(3, 6, IN_DIM, dtype=torch.float64)
    lengths = torch.tensor([6, 2, 4])
    with torch.no_grad():
        z = net.embed(x, lengths)
        out = net(x)
        padded = x.clone()
        padded[1, 2:] = 99.0
        z_padded = net.embed(padded, lengths)
    assert z.shape == (3, 4)
    for b, length in enumerate(lengths.tolist()):
        assert torch.equal(z[b], out[b, length - 1])
    assert torch.equal(z_padded[1], z[1])


def test_empty_context_uses_learned_embedding_with_gradient():
    net = _net()
    with torch.no_grad():
        net.empty_embedding.copy_(torch.arange(4, dtype=torch.float64))
    x = torch.randn(2, 5, IN_DIM, dtype=torch.float64)
    z = net.embed(x, torch.tensor([0, 3]))
    assert torch.equal(z[0], net.empty_embedding.detach())
    z.sum().backward()
    assert torch.equal(net.empty_embedding.grad, torch.ones(4, dtype=torch.float64))
    assert net.proj.weight.grad is not None and net.proj.weight.grad.abs().sum() > 0


def test_embed_handles_zero_length_input():
    net = _net()
    z = net.embed(torch.zeros(3, 0, IN_DIM, dtype=torch.float64), torch.zeros(3, dtype=torch.long))
    assert z.shape == (3, 4)
    assert torch.equal(z, net.empty_embedding.detach().expand(3, 4))
    z.sum().backward()
    assert torch.equal(net.empty_embedding.grad, torch.full((4,), 3.0, dtype=torch.float64))


def test_embed_rejects_bad_lengths():
    net = _net()
    x = torch.zeros(2, 4, IN_DIM, dtype=torch.float64)
    with pytest.raises(ValueError, match="lengths"):
        net.embed(x, torch.tensor([5, 1]))
    with pytest.raises(ValueError, match="lengths"):
        net.embed(x, torch.tensor([1, 1, 1]))


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
