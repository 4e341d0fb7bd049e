"""The engine's side of data collection: the collector an algorithm's
:meth:`~mrft.algos.base.Algorithm.collection` asks for, built over the run's tasks."""

from __future__ import annotations

import torch

from mrft import envs
from mrft.algos.base import Rollouts, TrialStream
from mrft.batches import Actor
from mrft.episodes import EpisodeCollector
from mrft.rollout import RolloutCollector
from mrft.trial_stream import TrialStreamCollector


def build_collector(spec, tasks: tuple[envs.Task, ...], policy: torch.nn.Module, num_envs: int,
                    max_episode_steps: int, env_seed: int, device: torch.device,
                    instance: int | None, action_log_limit: int):
    """Fixed-length rollouts (auto-reset envs over the train tasks, with the action log exact
    resume replays), fixed-length chunks of trials, or whole episodes in groups and trials. Adapting (``instance`` set),
    every env plays that one instance and the observation statistics stay those of
    pre-training: they are part of the network."""
    if isinstance(spec, Rollouts):
        env = envs.make_vec_env(tasks, num_envs, env_seed)
        return RolloutCollector(env, policy, spec.num_steps, device, action_log_limit=action_log_limit)
    if isinstance(spec, TrialStream):
        return TrialStreamCollector(tasks, spec.actor, num_envs, spec.num_steps, spec.trial_episodes,
                                    max_episode_steps, env_seed, device, instance=instance,
                                    update_normalizer=instance is None,
                                    episode_chunks=spec.episode_chunks,
                                    credit_episodes=spec.credit_episodes,
                                    whole_trials=spec.whole_trials)
    return EpisodeCollector(tasks, spec.actor or Actor(policy), num_envs, spec.group_size,
                            spec.trial_episodes, max_episode_steps, env_seed, device,
                            instance=instance, update_normalizer=instance is None)
