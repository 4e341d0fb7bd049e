"""The interface every algorithm implements, so one engine trains and adapts them all.

An algorithm is the math of one method plus how it wants its data: the trainer
(:mod:`mrft.trainer`) owns seeding, the optimiser step, gradient clipping, non-finite
guards, autocast, logging, checkpoints, resume, Ctrl-C and the budget, and never names an
algorithm. Per update it calls::

    batch = collector.collect(max_env_steps=budget_left)     # None: budget spent
    data = algo.prepare(batch)
    for epoch in range(algo.update_epochs):
        for mb in algo.minibatches(data, generator):
            out = algo.loss(mb)                               # {"loss": ..., diagnostics}
            extra = algo.backward(out)                        # default: out["loss"].backward()
            clip, optimiser step
        if algo.stop_early(epoch means): break
    algo.after_update(update, batch, diagnostics)

Adding an algorithm means one module with a subclass of :class:`Algorithm` and one line in
:data:`mrft.algos.REGISTRY`; nothing else changes.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterator
from typing import Any, ClassVar

import torch
from torch import nn

from mrft import envs
from mrft.config import TrainConfig
from mrft.episodes import Actor, EpisodeCollector
from mrft.nets import ActorCritic, build_actor_critic


@dataclasses.dataclass
class AlgoContext:
    """Where an algorithm runs: what it plays, with which seed, on which device."""

    tasks: tuple[envs.Task, ...]
    """Tasks the collector plays: the train split, or the one held-out task when adapting."""
    num_envs: int
    env_seed: int
    device: torch.device
    num_train_tasks: int
    instance: int | None = None
    """Adaptation: the instance seed every env plays (None in pre-training)."""
    action_log_limit: int = 0
    """Env steps of actions a fixed-horizon collector may log for exact resume."""

    @property
    def adapting(self) -> bool:
        return self.instance is not None


class Algorithm:
    """Base class: defaults that fit most algorithms; subclasses override what differs."""

    name: ClassVar[str] = ""
    update_epochs: int = 1
    """Passes over each batch. 0 means the algorithm learns nothing from its batches: they are
    played, counted and logged, and no parameter changes (an in-context learner adapting)."""

    def __init__(self, cfg: TrainConfig, policy: ActorCritic, ctx: AlgoContext):
        self.cfg = cfg
        self.policy = policy
        self.ctx = ctx
        self.batch_stats: dict[str, float] = {}
        """Scalars about the last batch, logged under their own names."""

    # -- configuration --------------------------------------------------------------------
    @classmethod
    def build_policy(cls, cfg: TrainConfig, observation_space, action_space) -> nn.Module:
        """The network this algorithm trains: built by the trainer (and by ``mrft eval``),
        saved as the checkpoint's ``model`` and handed to :meth:`create`. Default: the
        feed-forward :class:`ActorCritic`."""
        run = cfg.run
        return build_actor_critic(observation_space, action_space, run.torso, run.hidden_sizes,
                                  bool(run.normalize_obs))

    @classmethod
    def create(cls, cfg: TrainConfig, policy: ActorCritic, ctx: AlgoContext) -> Algorithm:
        """Build the algorithm for ``ctx`` (an algorithm may return a different object for
        adaptation than for pre-training)."""
        return cls(cfg, policy, ctx)

    @classmethod
    def resolve(cls, cfg: TrainConfig, num_train_tasks: int, default_envs: int) -> TrainConfig:
        """Fill ``env.num_envs`` (and anything else this algorithm derives) and check it."""
        num_envs = cfg.env.num_envs if cfg.env.num_envs is not None else default_envs
        return dataclasses.replace(cfg, env=dataclasses.replace(
            cfg.env, num_envs=max(num_envs, num_train_tasks)))

    # -- acting ---------------------------------------------------------------------------
    def make_collector(self):
        """The collector this algorithm learns from. By default whole episodes in groups of
        one (K = 1); adaptation always plays the held-out instance."""
        return self.episode_collector(group_size=1, trial_episodes=1)

    def episode_collector(self, group_size: int, trial_episodes: int,
                          actor: Actor | None = None) -> EpisodeCollector:
        ctx = self.ctx
        # adaptation keeps the pre-trained observation statistics: they are part of the network
        return EpisodeCollector(ctx.tasks, actor or Actor(self.policy), ctx.num_envs, group_size,
                                trial_episodes, self.cfg.env.max_episode_steps, ctx.env_seed,
                                ctx.device, instance=ctx.instance,
                                update_normalizer=not ctx.adapting)

    def evaluation_actor(self, deterministic: bool) -> Actor:
        """What acts when the current policy is scored (the adapted policy)."""
        return Actor(self.policy, deterministic)

    @classmethod
    def checkpoint_evaluation(cls, cfg: TrainConfig, policy: nn.Module, algo_state: dict,
                              source: str, deterministic: bool) -> tuple[Actor, int]:
        """How ``mrft eval`` plays a saved policy on fresh task instances: the actor (built
        from the checkpoint's ``algo`` state ``algo_state`` read from ``source`` where it
        needs more than the policy) and the episodes per trial K (each trial starts afresh;
        its last episode is scored). Default: the plain policy, one episode per trial."""
        return Actor(policy, deterministic), 1

    def scored_policies(self) -> dict[str, Actor]:
        """Other policies scored (stochastic) at each evaluation point of an adaptation curve,
        beside the adapted one, as ``NAME/return`` (and ``NAME/success``)."""
        return {}

    def evaluation_stats(self) -> dict[str, float]:
        """Scalars recorded with each evaluation point of an adaptation curve."""
        return {}

    def modules(self) -> list[nn.Module]:
        """Modules whose parameters the optimiser trains."""
        return [self.policy]

    # -- learning -------------------------------------------------------------------------
    def prepare(self, batch: Any) -> dict[str, torch.Tensor]:
        raise NotImplementedError

    def minibatches(self, data: dict[str, torch.Tensor],
                    generator: torch.Generator) -> Iterator[dict[str, torch.Tensor]]:
        yield data

    def loss(self, mb: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
        """``{"loss": scalar to minimise, name: detached diagnostic, ...}``."""
        raise NotImplementedError

    def backward(self, out: dict[str, torch.Tensor]) -> dict[str, float]:
        """Fill ``.grad`` from the loss; algorithms that combine gradients themselves override it
        and may return extra scalars to log."""
        out["loss"].backward()
        return {}

    def stop_early(self, diagnostics: dict[str, float]) -> bool:
        """Stop this update's remaining epochs (default: approx KL above ``--target-kl``)."""
        target = self.cfg.optim.target_kl
        return target is not None and diagnostics.get("approx_kl", 0.0) > target

    def after_update(self, update: int, batch: Any, diagnostics: dict[str, float]) -> None:
        """Called once per update after the optimiser steps."""

    # -- checkpoints ----------------------------------------------------------------------
    def state_dict(self) -> dict:
        """Algorithm state a checkpoint must carry besides the policy and optimiser."""
        return {}

    def load_state_dict(self, state: dict) -> None:
        """Restore :meth:`state_dict`."""

    def load_pretrained(self, state: dict, source: str) -> None:
        """Adaptation: take what pre-training saved in ``state`` (the checkpoint's ``algo``)."""
