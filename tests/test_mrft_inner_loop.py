"""MRFT's optional gradient inner loop: CAVIA-style steps on a belief offset with learned
per-dimension step sizes (Meta-SGD)."""

import torch
from torch import nn

from mrft import envs
from mrft.algos.mrft.belief import belief_loss
from mrft.algos.mrft.belief_actor import BeliefActor
from mrft.algos.mrft.belief_agent import BeliefAgent, observation_features
from mrft.algos.mrft.trial_sequences import TrialSequences
from mrft.envs.spaces import task_spaces
from mrft.episodes import EpisodeCollector
from mrft.nets import ActorCritic
from mrft.normalize import symlog


def _agent(inner_steps, inner_lr=0.5, spec="nav:point"):
    torch.manual_seed(0)
    tasks = envs.parse_env(spec).train
    spaces = task_spaces(tasks[0])
    policy = ActorCritic(spaces.observation_space, spaces.action_space, "auto", (8,))
    agent = BeliefAgent(policy, embed_dim=4, channels=8, levels=2, head_rank=2, d_model=8,
                        num_layers=1, inner_steps=inner_steps, inner_lr=inner_lr)
    with torch.no_grad():  # a belief that actually moves the policy
        for p in agent.conditioner.parameters():
            p.normal_(0, 0.3)
    return tasks, policy, agent


class LinearDecoder(nn.Module):
    """``D(z, o, a) = u . z``: the inner step has a closed form."""

    def __init__(self, u):
        super().__init__()
        self.u = u

    def forward(self, z, obs, action):
        return z @ self.u


def test_one_inner_step_is_the_hand_computed_meta_sgd_step():
    _, _, agent = _agent(inner_steps=1)
    u = torch.tensor([1.0, -2.0, 0.5, 0.0])
    agent.decoder = LinearDecoder(u)
    with torch.no_grad():
        agent.inner_lr.copy_(torch.tensor([0.1, 0.2, 0.3, 0.4]))
    z = torch.tensor([[0.5, 0.0, 1.0, 2.0]])  # u . z = 1.0
    rewards = torch.tensor([[3.0, 1.0, 99.0]])
    mask = torch.tensor([[True, True, False]])  # the third transition is padding
    obs, actions = torch.zeros(1, 3, 2), torch.zeros(1, 3, 2)
    delta = agent.refine(z, obs, actions, rewards, mask)
    # L(d) = mean_t (u.(z + d) - r_t)^2 -> grad = 2 * mean_t(1.0 - r_t) * u = 2 * (-1) * u
    expected = -torch.tensor([0.1, 0.2, 0.3, 0.4]) * (-2.0 * u)
    assert torch.allclose(delta, expected[None], atol=1e-6)


def test_no_inner_steps_means_no_offset_and_no_step_size_parameter():
    _, _, agent = _agent(inner_steps=0)
    assert agent.inner_lr is None
    z = torch.randn(2, 4)
    beliefs = torch.randn(2, 6, 4)
    out = agent.refine_trials(beliefs, torch.randn(2, 5, 2), torch.randn(2, 5, 2), torch.randn(2, 5),
                              torch.zeros(2, 5, dtype=torch.long), torch.tensor([5, 3]), 2)
    assert out is beliefs
    assert torch.equal(agent.refine(z, torch.randn(2, 5, 2), torch.randn(2, 5, 2), torch.randn(2, 5),
                                    torch.ones(2, 5, dtype=torch.bool)), torch.zeros(2, 4))


def _collect(agent, policy, tasks, keep_at=None):
    actor = BeliefActor(agent, policy, keep_at=keep_at)
    collector = EpisodeCollector(tasks, actor, 3, group_size=1, trial_episodes=3,
                                 max_episode_steps=15, seed=3, device=torch.device("cpu"))
    batch = collector.collect()
    collector.close()
    return actor, batch


def _trial_beliefs(agent, policy, batch):
    """The update's view of a batch: trials, decoder inputs, encoder beliefs before the inner loop."""
    seq = TrialSequences.from_batch(batch)
    obs_features = observation_features(policy, seq.obs)
    x = agent.transitions(obs_features, seq.actions, seq.rewards, seq.episode_end)
    return seq, obs_features, agent.action_encoding(seq.actions), symlog(seq.rewards), agent.sequence(x)


def test_acting_beliefs_equal_the_refined_whole_trial_recompute():
    tasks, policy, agent = _agent(inner_steps=2)
    _, batch = _collect(agent, policy, tasks)
    seq, obs_features, actions, rewards, plain = _trial_beliefs(agent, policy, batch)
    refined = agent.refine_trials(plain, obs_features, actions, rewards, seq.episode_index,
                                  seq.lengths, 3)
    for row, n in enumerate(seq.lengths.tolist()):
        assert torch.allclose(refined[row, :n], seq.beliefs[row, :n], atol=1e-5)
    # the first episode acts on the encoder's belief alone; later ones carry an offset
    first = seq.episode_index[0] == 0
    later = (seq.episode_index[0] > 0) & seq.mask[0]
    assert torch.allclose(plain[0, :-1][first], seq.beliefs[0, :-1][first], atol=1e-5)
    assert not torch.allclose(plain[0, :-1][later], seq.beliefs[0, :-1][later], atol=1e-3)


def test_the_kept_context_carries_the_offset_of_the_last_episode():
    tasks, policy, agent = _agent(inner_steps=1)
    actor, batch = _collect(agent, policy, tasks, keep_at=2)
    seq = TrialSequences.from_batch(batch)
    start = int((seq.episode_index[0][seq.mask[0]] < 2).sum())
    assert actor.context.offset is not None
    assert torch.allclose(agent.belief(actor.context)[0], seq.beliefs[0, start], atol=1e-5)


def test_the_belief_loss_trains_the_step_sizes_through_the_inner_loop():
    tasks, policy, agent = _agent(inner_steps=1)
    _, batch = _collect(agent, policy, tasks)
    seq, obs_features, actions, rewards, plain = _trial_beliefs(agent, policy, batch)
    beliefs = agent.refine_trials(plain, obs_features, actions, rewards, seq.episode_index,
                                  seq.lengths, 3)
    belief_loss(agent.decoder, beliefs, obs_features, actions, rewards, seq.lengths).backward()
    assert agent.inner_lr.grad is not None and agent.inner_lr.grad.abs().sum() > 0
    assert all(p.grad is not None for p in agent.encoder.blocks.parameters())


def test_streamed_chunks_hold_whole_trials_so_the_update_rebuilds_the_offsets_acting_used(tmp_path):
    """An offset is refined on the whole trial so far; with chunks of 20 steps and trials of
    two 15-step episodes, a chunk cut at 20 steps would start a row inside a trial, whose
    offsets the update could not rebuild. With the inner loop a chunk goes on to the end of
    its trials, and the update's beliefs equal those acting used."""
    from mrft.algos.mrft.options import MRFTConfig
    from mrft.config import EnvConfig, RunConfig, TrainConfig
    from mrft.trainer import Trainer

    torch.manual_seed(0)
    cfg = TrainConfig(env=EnvConfig(env="nav:point", num_envs=4, max_episode_steps=15), algo="mrft",
                      run=RunConfig(total_steps=10_000, runs_dir=str(tmp_path), progress=False,
                                    hidden_sizes=(16, 16), threads=1),
                      mrft=MRFTConfig(tcn_channels=8, tcn_levels=2, meta_d_model=16, meta_layers=1,
                                      embed_dim=8, meta_num_steps=20, meta_minibatches=4,
                                      belief_gradient="both", inner_steps=1))
    trainer = Trainer(cfg)
    algo = trainer.algo
    for _ in range(3):
        batch = trainer.collector.collect()
        assert batch.valid.shape[1] == 30  # one whole trial of 2 x 15 steps, past the 20
        assert batch.trial_start[:, 0].all() and batch.trial_end[:, -1].all()
        plan = algo.prepare(batch)
        for mb in algo.minibatches(plan.data, torch.Generator().manual_seed(0)):
            z, _ = algo._step_beliefs(mb)
            assert torch.allclose(z, mb["beliefs"], atol=1e-5)
    trainer.collector.close()
