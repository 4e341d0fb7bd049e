"""The task belief: streaming equals the whole-trial pass, and the reward decoder's loss."""

import pytest
import torch

from mrft.algos.mrft.belief import BeliefEncoder, RewardDecoder, belief_loss


@pytest.mark.parametrize("kind", ["tcn", "gru", "set"])
def test_streaming_belief_equals_the_whole_trial_pass(kind):
    torch.manual_seed(0)
    encoder = BeliefEncoder(in_dim=5, embed_dim=6, kind=kind, channels=8, levels=3)
    with torch.no_grad():
        encoder.prior.normal_()
    x = torch.randn(3, 20, 5)
    lengths = torch.tensor([20, 13, 1])
    full = encoder.sequence(x)
    state = encoder.initial_state(3)
    streamed = [encoder.belief(state)]
    for t in range(20):
        state = encoder.step(state, x[:, t], stepped=t < lengths)
        streamed.append(encoder.belief(state))
    streamed = torch.stack(streamed, dim=1)
    for row, n in enumerate(lengths.tolist()):
        assert torch.allclose(streamed[row, : n + 1], full[row, : n + 1], atol=1e-5)
        # a finished row keeps its last belief
        assert torch.allclose(streamed[row, n:], streamed[row, n:n + 1].expand_as(streamed[row, n:]))
    assert torch.equal(full[:, 0], encoder.prior.expand(3, -1))


def test_the_belief_is_causal_and_remembers_beyond_the_receptive_field():
    torch.manual_seed(1)
    encoder = BeliefEncoder(in_dim=3, embed_dim=4, channels=8, levels=2)  # receptive field 13
    x = torch.randn(1, 60, 3)
    changed = x.clone()
    changed[0, 30] += 1.0
    a, b = encoder.sequence(x), encoder.sequence(changed)
    assert torch.equal(a[:, :31], b[:, :31])  # beliefs before transition 30 never see it
    assert not torch.allclose(a[:, 60], b[:, 60])  # 30 steps later it still counts (the mean)


def test_belief_loss_is_the_masked_mean_squared_reward_error():
    decoder = RewardDecoder(embed_dim=2, obs_dim=1, action_dim=1, hidden=4)
    for p in decoder.parameters():
        torch.nn.init.zeros_(p)
    with torch.no_grad():
        decoder.net[-1].bias.fill_(1.0)  # predicts 1 for everything
    rewards = torch.tensor([[0.0, 3.0, 9.0], [2.0, 0.0, 0.0]])
    lengths = torch.tensor([2, 1])  # row 0: rewards {0, 3}; row 1: {2}
    beliefs = torch.zeros(2, 4, 2)
    loss = belief_loss(decoder, beliefs, torch.zeros(2, 3, 1), torch.zeros(2, 3, 1), rewards,
                       lengths, torch.Generator().manual_seed(0), targets_per_belief=4000)
    # row 0: 2 beliefs x E[(1 - r)^2] = (1 + 4) / 2; row 1: 1 belief x 1; weighted by beliefs
    expected = (2 * 2.5 + 1 * 1.0) / 3
    assert abs(loss.item() - expected) < 0.05


def test_the_belief_learns_a_hidden_reward_scale():
    """Trials whose rewards are r = k * obs with a hidden k per trial: after training on the
    decoder loss, the belief predicts held-out trials' rewards far better than the prior."""
    torch.manual_seed(0)
    encoder = BeliefEncoder(in_dim=2, embed_dim=4, channels=16, levels=2)
    decoder = RewardDecoder(embed_dim=4, obs_dim=1, action_dim=1, hidden=32)
    params = [*encoder.parameters(), *decoder.parameters()]
    optimizer = torch.optim.Adam(params, lr=3e-3)
    generator = torch.Generator().manual_seed(0)

    def trials(n):
        k = torch.rand(n, 1) * 4 - 2
        obs = torch.randn(n, 16, 1)
        rewards = (k[:, None] * obs)[..., 0]
        return obs, rewards, torch.cat([obs, rewards[..., None]], dim=-1)

    def loss_of(obs, rewards, x):
        beliefs = encoder.sequence(x)
        return belief_loss(decoder, beliefs, obs, torch.zeros_like(obs), rewards,
                           torch.full((len(obs),), 16), generator)

    test = trials(256)
    before = loss_of(*test).item()
    for _ in range(300):
        loss = loss_of(*trials(64))
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
    after = loss_of(*test).item()
    assert after < 0.3 * before, (before, after)
