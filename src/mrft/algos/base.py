"""The interface every algorithm implements, so one engine trains and adapts them all.

An algorithm is the math of one method, the data it wants and the options it owns. The
engine (:mod:`mrft.trainer`) owns envs and collectors, seeding, the optimiser step, gradient
clipping, non-finite guards, autocast, logging, checkpoints, resume, Ctrl-C and the budget,
and never names an algorithm. Per update it calls::

    batch = collector.collect(max_env_steps=budget_left)     # built from algo.collection()
    plan = algo.prepare(batch)                                # UpdatePlan: data, epochs, stats, guard
    for epoch in range(plan.epochs):
        for mb in algo.minibatches(plan.data, generator):
            out = algo.loss(mb)                               # {"loss": ..., diagnostics}
            plan.guard.before_step(out)
            extra = algo.backward(out)                        # default: out["loss"].backward()
            clip, optimiser step
        if plan.guard.after_epoch(epoch means): break
    algo.after_update(update, batch, diagnostics)

Each hook returns what the next one needs: nothing is passed through attributes.

An algorithm also owns its options: :attr:`Algorithm.Config` is its section of the train
config (``mrft train --FIELD``), :attr:`presets` its defaults per kind of family,
:meth:`validate_options` its checks, :attr:`AdaptOptions` the flags of ``mrft adapt`` that
only it understands, and :attr:`variants` its bench ablations. Adding an algorithm is one
module with a subclass of :class:`Algorithm` and one :func:`mrft.algos.register` call.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterator
from typing import TYPE_CHECKING, Any, ClassVar

import torch
from torch import nn

from mrft.batches import Actor
from mrft.nets import build_actor_critic

if TYPE_CHECKING:
    from mrft.config import TrainConfigBase


@dataclasses.dataclass
class AlgoContext:
    """Where an algorithm runs: how many envs feed it, on which device, in which phase."""

    num_envs: int
    device: torch.device
    num_train_tasks: int
    adapting: bool = False
    """True when adapting a pre-trained policy to one held-out instance."""
    seed: int = 1


@dataclasses.dataclass(frozen=True)
class Rollouts:
    """Fixed-length rollouts: ``num_steps`` steps per env, envs reset as episodes end."""

    num_steps: int


@dataclasses.dataclass(frozen=True)
class Episodes:
    """Whole episodes: groups of ``group_size`` envs started identically, each env playing a
    trial of ``trial_episodes`` episodes on one task instance, acted by ``actor`` (default:
    the policy alone). Adapting, every env plays the held-out instance."""

    group_size: int = 1
    trial_episodes: int = 1
    actor: Actor | None = None


@dataclasses.dataclass(frozen=True)
class TrialStream:
    """Fixed-length chunks of ``num_steps`` steps per env of trials of ``trial_episodes``
    episodes (None: one endless trial on the held-out instance), acted by ``actor``, whose
    state carries over from chunk to chunk (:mod:`mrft.trial_stream`). ``episode_chunks``
    also ends a chunk where an episode ends. ``credit_episodes`` (None: ``trial_episodes``)
    marks where credit ends: with episode ``credit_episodes - 1`` of a trial and every later
    one, so an endless trial whose actor holds its context to that span (every later episode
    played as a trial's last) keeps the returns they were learnt with. ``whole_trials``
    makes a chunk go on past ``num_steps`` to the end of the trials it holds, so that no
    trial is split between chunks (for state an update cannot rebuild from a chunk's start)."""

    num_steps: int
    trial_episodes: int | None
    actor: Actor
    episode_chunks: bool = False
    credit_episodes: int | None = None
    whole_trials: bool = False


class UpdateGuard:
    """Watches an update's optimiser steps. The default ends the epochs early once the
    approximate KL of an epoch passes ``--target-kl``; an algorithm with a trust region of
    its own returns another guard from :meth:`Algorithm.prepare`."""

    halted = False
    """True once the guard allows no more optimiser steps in this update: the engine takes
    none after :meth:`before_step` sets it, calls :meth:`after_epoch` once more and ends the
    update."""

    def __init__(self, target_kl: float | None = None):
        self.target_kl = target_kl

    def share(self, ranks) -> None:
        """In a torchrun job, before the update: make whatever the guard measures the same on
        every rank (a :class:`mrft.distributed.Ranks`), so that every rank halts and stops
        at the same step. The default measures nothing of its own."""

    def before_step(self, out: dict[str, torch.Tensor]) -> None:
        """Called with each minibatch's loss output before its optimiser step (``{}`` for a
        torchrun rank's padding step: every rank is asked at every step)."""

    def after_epoch(self, diagnostics: dict[str, float]) -> bool:
        """True ends the update's remaining epochs."""
        return self.target_kl is not None and diagnostics.get("approx_kl", 0.0) > self.target_kl

    def stats(self) -> dict[str, float]:
        """Scalars about what the guard did in this update, logged under their own names."""
        return {}


DISTILL_STAGES = ("align", "kl", "search")
"""The stages of progressive distillation, in the order they run (:mod:`mrft.distillation`)."""


@dataclasses.dataclass(frozen=True)
class DistillConfig:
    """The budget and settings of progressive distillation (:mod:`mrft.distillation`)."""

    steps: int
    """Env steps on the instance for the whole distillation, spent exactly."""
    stages: tuple[str, ...] = DISTILL_STAGES
    """The stages that run (of :data:`DISTILL_STAGES`; a stage left out is skipped)."""
    fractions: tuple[float, float, float] = (0.25, 0.25, 0.5)
    """Shares of ``steps`` for align, kl and search; the shares of skipped stages go to the
    stages that run, in proportion."""
    epochs: int = 4
    """Passes: align and kl take ``epochs x ceil(new states / minibatch_size)`` optimiser
    steps on everything gathered so far after each collection; search takes ``epochs``
    passes over each batch, as PPO does."""
    minibatch_size: int = 64
    """States per optimiser step."""
    learning_rate: float = 3e-4
    """Adam's learning rate, every stage."""
    max_grad_norm: float = 0.5
    """Gradient clipping, as the engine's."""
    num_envs: int = 8
    """Envs per collection, all on the instance."""
    gamma: float = 0.99
    """Search: discount of GAE."""
    gae_lambda: float = 0.95
    """Search: lambda of GAE."""
    clip: float = 0.2
    """Search: clip range of the surrogate."""
    vf_coef: float = 0.5
    """Search: weight of the critic loss."""
    search_kl: float | None = 0.05
    """Search: bound on KL(student after kl || student); an optimiser step that crosses it is
    undone and ends the update of that batch. None: no bound."""


@dataclasses.dataclass(frozen=True)
class Distillation:
    """A request to distil an adapted policy into a context-free network on env steps of its
    own (:func:`mrft.distillation.distill` runs it). ``source`` holds what is specific to the
    algorithm (:class:`mrft.distillation.DistillSource`)."""

    source: Any
    config: DistillConfig


@dataclasses.dataclass
class UpdatePlan:
    """What :meth:`Algorithm.prepare` hands the engine for one update."""

    data: dict[str, torch.Tensor]
    epochs: int
    """Passes over ``data``; 0 learns nothing (the batch is played, counted and logged)."""
    stats: dict[str, float] = dataclasses.field(default_factory=dict)
    """Scalars about the batch, logged under their own names."""
    guard: UpdateGuard | None = None
    """None: the default guard (``--target-kl``)."""


@dataclasses.dataclass(frozen=True)
class Variant:
    """A bench method built on an algorithm: an ablation, or a reference row."""

    name: str
    options: tuple[tuple[str, Any], ...] = ()
    """Fields of the algorithm's config section that define the variant."""
    adapt_options: tuple[tuple[str, Any], ...] = ()
    """Adaptation options (fields of :attr:`Algorithm.AdaptOptions`) of every adaptation."""
    adapt_updates: bool = True
    """False: adaptation plays the instance without changing a weight (in context only)."""
    pretrain_as: str | None = None
    """A method whose pre-trained checkpoint this one reuses (an adaptation-only ablation)."""
    oracle: bool = False
    """The policy sees each instance's hidden parameters (``--oracle``)."""
    reference: bool = False
    """A reference row: it bounds a family's range (never adapts) and does not compete."""
    adapts_by: str = ""
    """How it adapts, in words (empty: the algorithm's :attr:`Algorithm.adapts_by`)."""


class Algorithm:
    """Base class: defaults that fit most algorithms; subclasses override what differs."""

    name: ClassVar[str] = ""
    Config: ClassVar[type | None] = None
    """Dataclass of the algorithm's options: its section of the train config, named
    :attr:`name`; every field is a flag of ``mrft train``."""
    presets: ClassVar[dict[str, dict[str, Any]]] = {}
    """Per preset kind (:data:`mrft.presets.KINDS`), values for the fields of :attr:`Config`
    that are ``None`` until a family's preset fills them."""
    AdaptOptions: ClassVar[type | None] = None
    """Dataclass of options of this algorithm's adaptation (flags of ``mrft adapt``)."""
    variants: ClassVar[tuple[Variant, ...]] = ()
    """Bench methods built on this algorithm besides the plain one."""
    adapts_by: ClassVar[str] = ""
    """How the algorithm adapts to a held-out instance, as a phrase that names it ("PPO with
    PPO"): the report's notes list one per method."""
    summary: ClassVar[str] = ""
    """One line for ``mrft list`` and ``--algo``'s help."""
    supports_export: ClassVar[bool] = False
    """``mrft export`` can fold an adapted policy into a context-free network."""
    supports_probe: ClassVar[bool] = False
    """``mrft eval --probe`` can measure a task belief."""
    adapts_in_groups: ClassVar[bool] = False
    """Its adaptation learns from a group of episodes started alike (GRPO), so a budget of N
    episodes on a test task is played as one group of N envs (:mod:`mrft.metatest`); otherwise
    one after another in one env."""

    def __init__(self, cfg: TrainConfigBase, policy: nn.Module, ctx: AlgoContext):
        self.cfg = cfg
        self.policy = policy
        self.ctx = ctx

    @classmethod
    def options(cls, cfg: TrainConfigBase) -> Any:
        """This algorithm's section of ``cfg`` (None when it has no options)."""
        return getattr(cfg, cls.name) if cls.Config is not None else None

    @classmethod
    def adaptation_episodes_per_trial(cls, cfg: TrainConfigBase) -> int:
        """How many whole episodes its adaptation plays as one unit (RL2: a trial of K), so
        a budget of N adaptation episodes must be a multiple of it to be played whole."""
        return 1

    # -- configuration --------------------------------------------------------------------
    @classmethod
    def validate_options(cls, options: Any) -> None:
        """Reject option values that cannot work, with the flag name in the message."""

    @classmethod
    def build_policy(cls, cfg: TrainConfigBase, observation_space, action_space) -> nn.Module:
        """The network this algorithm trains: built by the engine (and by ``mrft eval``),
        saved as the checkpoint's ``model`` and handed to :meth:`create`. Default: the
        feed-forward :class:`ActorCritic`."""
        run = cfg.run
        return build_actor_critic(observation_space, action_space, run.torso, run.hidden_sizes,
                                  bool(run.normalize_obs))

    @classmethod
    def create(cls, cfg: TrainConfigBase, policy: nn.Module, ctx: AlgoContext) -> Algorithm:
        return cls(cfg, policy, ctx)

    @classmethod
    def resolve(cls, cfg: TrainConfigBase, num_train_tasks: int, default_envs: int) -> TrainConfigBase:
        """Fill ``env.num_envs`` (and anything else this algorithm derives) and check it."""
        num_envs = cfg.env.num_envs if cfg.env.num_envs is not None else default_envs
        return dataclasses.replace(cfg, env=dataclasses.replace(
            cfg.env, num_envs=max(num_envs, num_train_tasks)))

    @classmethod
    def adaptation_config(cls, cfg: TrainConfigBase, adapt_options: Any) -> TrainConfigBase:
        """The train config of an adaptation run under ``adapt_options`` (an
        :attr:`AdaptOptions` instance); default: unchanged."""
        return cfg

    # -- acting ---------------------------------------------------------------------------
    def collection(self) -> Rollouts | Episodes:
        """The data this algorithm learns from. Default: whole episodes, one per env."""
        return Episodes()

    def evaluation_actor(self, deterministic: bool) -> Actor:
        """What acts when the current policy is scored (the adapted policy)."""
        return Actor(self.policy, deterministic)

    @classmethod
    def checkpoint_evaluation(cls, cfg: TrainConfigBase, policy: nn.Module, algo_state: dict,
                              source: str, deterministic: bool) -> tuple[Actor, int]:
        """How ``mrft eval`` plays a saved policy on fresh task instances: the actor (built
        from the checkpoint's ``algo`` state ``algo_state`` read from ``source`` where it
        needs more than the policy) and the episodes per trial K (each trial starts afresh;
        its last episode is scored). Default: the plain policy, one episode per trial."""
        return Actor(policy, deterministic), 1

    @classmethod
    def exporter(cls, cfg: TrainConfigBase, policy: nn.Module, algo_state: dict, source: str) -> Any:
        """Where :attr:`supports_export`: an object with ``trial_episodes``,
        ``in_context_actor()`` (an actor whose ``context`` after one trial is the adapted
        state), ``adapted_context()`` (that state in an adaptation checkpoint),
        ``fold(context) -> nn.Module`` (a network that needs no context) and
        ``distillation(context, steps, stages) -> Distillation | None`` (progressive
        distillation of the policy acting from ``context`` with ``steps`` env steps over
        ``stages``; None where the fold already is that policy)."""
        raise NotImplementedError(f"{cls.name} has no export")

    @classmethod
    def probe(cls, actor: Actor, play, trials: int, trial_episodes: int, seed: int) -> dict:
        """Where :attr:`supports_probe`: measures of the context ``actor`` infers, from trials
        that ``play(actor, trials, episodes, sample_seed) -> (batch, hidden parameters)``
        plays on the same held-out instances at every call."""
        raise NotImplementedError(f"{cls.name} has no probe")

    def scored_policies(self) -> dict[str, Actor]:
        """Other policies scored (stochastic) at each evaluation point of an adaptation curve,
        beside the adapted one, as ``NAME/return`` (and ``NAME/success``)."""
        return {}

    def final_distillation(self, adapt_options: Any) -> Distillation | None:
        """At the final evaluation point of an adaptation only: a :class:`Distillation` of the
        adapted policy under ``adapt_options`` (an :attr:`AdaptOptions` instance, or None).
        The engine runs it on env steps that the adaptation's budget does not count, scores
        the student beside the adapted policy as ``distilled/return`` (and
        ``distilled/success``) and records ``distilled/env_steps``. Default: None (nothing)."""
        return None

    def evaluation_stats(self) -> dict[str, float]:
        """Scalars recorded with each evaluation point of an adaptation curve."""
        return {}

    @property
    def learning_rate_scale(self) -> float:
        """A factor on the run's learning rate (``optim.learning_rate``) for this run's
        optimiser; 1 unless the algorithm adapts at another rate (MRFT's ``--adapt-lr-scale``)."""
        return 1.0

    @property
    def learning_rate(self) -> float:
        """The rate this run's updates start at (annealed from it where ``anneal_lr``): the
        run's ``optim.learning_rate`` times :attr:`learning_rate_scale`. The trainer sets it
        and an adaptation record reports it, so both read it here."""
        return self.cfg.optim.learning_rate * self.learning_rate_scale

    def modules(self) -> list[nn.Module]:
        """Modules whose parameters the optimiser trains."""
        return [self.policy]

    def state_modules(self) -> list[nn.Module]:
        """Modules whose state (parameters and running statistics) every rank of a torchrun
        job shares: the trained modules, plus normalisers an algorithm keeps."""
        return self.modules()

    # -- learning -------------------------------------------------------------------------
    def prepare(self, batch: Any) -> UpdatePlan:
        raise NotImplementedError

    def minibatches(self, data: dict[str, torch.Tensor],
                    generator: torch.Generator) -> Iterator[dict[str, torch.Tensor]]:
        yield data

    def loss(self, mb: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
        """``{"loss": scalar to minimise, name: detached diagnostic, ...}``."""
        raise NotImplementedError

    def backward(self, out: dict[str, torch.Tensor]) -> dict[str, float]:
        """Fill ``.grad`` from the loss; algorithms that combine gradients themselves (or fill
        them in :meth:`loss`) override it and may return extra scalars to log."""
        out["loss"].backward()
        return {}

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


def check(cond: bool, message: str) -> None:
    """An option check: ``message`` as one error line when ``cond`` fails."""
    if not cond:
        from mrft.errors import MrftError

        raise MrftError(message)
