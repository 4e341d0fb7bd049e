"""MRFT acting: the belief each action was taken with is the one the update recomputes."""

import torch

from mrft import envs
from mrft.algos.mrft.belief_actor import BeliefActor
from mrft.algos.mrft.belief_agent import BeliefAgent, observation_features
from mrft.algos.mrft.trial_sequences import TrialSequences
from mrft.envs.spaces import task_spaces
from mrft.episodes import EpisodeCollector
from mrft.nets import ActorCritic


def _collect(spec, trial_episodes=2, num_envs=3, memory=False, calls=1):
    torch.manual_seed(0)
    tasks = envs.parse_env(spec).train
    spaces = task_spaces(tasks[0])
    policy = ActorCritic(spaces.observation_space, spaces.action_space, "auto", (8,))
    agent = BeliefAgent(policy, embed_dim=4, channels=8, levels=2, head_rank=2, d_model=8,
                        num_layers=1)
    with torch.no_grad():  # a belief that actually moves the policy
        for p in agent.conditioner.parameters():
            p.normal_(0, 0.3)
    actor = BeliefActor(agent, policy, memory=memory)
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


def test_instance_memory_carries_the_belief_across_trials():
    _, agent, _, batches = _collect("nav:point", trial_episodes=1, memory=True, calls=2)
    first, second = (TrialSequences.from_batch(b) for b in batches)
    # the second trial's first belief is the first trial's last one, not the prior
    assert torch.allclose(second.beliefs[:, 0], first.beliefs[torch.arange(3), first.lengths])
    _, _, _, fresh = _collect("nav:point", trial_episodes=1, memory=False, calls=2)
    prior = agent.belief(agent.encoder.initial_state(3))
    assert torch.allclose(TrialSequences.from_batch(fresh[1]).beliefs[:, 0], prior, atol=1e-6)
