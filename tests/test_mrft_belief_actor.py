"""MRFT acting: the belief each action was taken with is the one the update recomputes."""

import torch

from mrft import envs
from mrft.algos.mrft.belief_actor import BeliefActor
from mrft.algos.mrft.belief_agent import BeliefAgent, observation_features
from mrft.algos.mrft.trial_sequences import TrialSequences
from mrft.envs.spaces import task_spaces
from mrft.episodes import EpisodeCollector
from mrft.nets import ActorCritic


def small_agent(spec, encoder="tcn"):
    """The train tasks of ``spec``, a tiny policy and a belief model (``encoder``) whose
    belief actually moves it (seeded)."""
    torch.manual_seed(0)
    tasks = envs.parse_env(spec).train
    spaces = task_spaces(tasks[0])
    policy = ActorCritic(spaces.observation_space, spaces.action_space, "auto", (8,))
    agent = BeliefAgent(policy, embed_dim=4, encoder=encoder, channels=8, levels=2, head_rank=2,
                        d_model=8, num_layers=1)
    with torch.no_grad():
        for p in agent.conditioner.parameters():
            p.normal_(0, 0.3)
    return tasks, policy, agent


def _collect(spec, trial_episodes=2, num_envs=3, keep_at=None, calls=1, start=None):
    tasks, policy, agent = small_agent(spec)
    actor = BeliefActor(agent, policy, keep_at=keep_at, start=start)
    collector = EpisodeCollector(tasks, actor, num_envs, group_size=1,
                                 trial_episodes=trial_episodes, max_episode_steps=15, seed=3,
                                 device=torch.device("cpu"))
    batches = [collector.collect() for _ in range(calls)]
    collector.close()
    return policy, agent, actor, batches


def test_recorded_beliefs_equal_the_whole_trial_recompute_across_episodes():
    policy, agent, _, (batch,) = _collect("nav:point")
    seq = TrialSequences.from_batch(batch)
    assert seq.mask.sum() == batch.env_steps and seq.episode_end.sum() == 3 * 2
    x = agent.transitions(observation_features(policy, seq.obs), seq.actions, seq.rewards,
                          seq.episode_end)
    recomputed = agent.sequence(x)
    for row, n in enumerate(seq.lengths.tolist()):
        assert torch.allclose(recomputed[row, : n + 1], seq.beliefs[row, : n + 1], atol=1e-5)
    # the second episode starts from the belief the first one ended with, not the prior
    first_len = int(batch.mask[0, 0].sum())
    assert not torch.allclose(seq.beliefs[0, first_len], seq.beliefs[0, 0])


def test_logprobs_of_the_update_equal_those_of_acting():
    policy, agent, _, (batch,) = _collect("bandit:arms3")
    seq = TrialSequences.from_batch(batch)
    obs, z = seq.obs[seq.mask], seq.beliefs[:, :-1][seq.mask]
    dist, values = agent.forward_policy(policy, obs, z)
    logp = dist.log_prob(seq.actions[seq.mask][:, None]).squeeze(1)
    assert torch.allclose(logp, seq.logprobs[seq.mask], atol=1e-5)
    assert torch.allclose(values, seq.values[seq.mask], atol=1e-5)


def test_the_adapted_belief_is_kept_where_the_last_episode_of_a_trial_starts():
    _, agent, actor, (batch,) = _collect("nav:point", trial_episodes=2, keep_at=1)
    seq = TrialSequences.from_batch(batch)
    first_lengths = batch.mask[:, 0].sum(1)
    kept = agent.belief(actor.context)
    assert torch.allclose(kept, seq.beliefs[torch.arange(3), first_lengths], atol=1e-6)
    # an evaluation actor starting from it: env i continues adapting env i mod 3
    follower = BeliefActor(agent, actor.policy, start=actor.context)
    follower.begin_trial(torch.zeros(5), torch.arange(5))
    assert torch.allclose(agent.belief(follower.state), kept[torch.arange(5) % 3], atol=1e-6)
    # without a start, every trial begins at the prior
    fresh = BeliefActor(agent, actor.policy)
    fresh.begin_trial(torch.zeros(2), torch.arange(2))
    prior = agent.belief(agent.encoder.initial_state(2))
    assert torch.allclose(agent.belief(fresh.state), prior)
