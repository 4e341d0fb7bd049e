"""Progressive policy distillation: a policy adapted to one task instance, as a context-free
actor-critic trained on env steps of its own on that instance.

The **teacher** is the adapted policy with its context in the loop (MRFT: the belief, which
goes on adapting within every episode, each episode starting from the adapted context as
the scored policy's does). The **student** is the base network with that context folded
into its weights: exact for a frozen context, so the stages below start from the fold and
only have to learn what a frozen context cannot hold. Three stages, in this order, each of
which can be left out (:attr:`~mrft.algos.base.DistillConfig.stages`):

1. ``align`` (feature alignment): the teacher plays episodes of the instance; on the states
   it visits, the student's hidden activations regress onto the teacher's
   context-conditioned ones, ``L = mean_l mean_s (h_l^S(s) - h_l^T(s))^2``.
2. ``kl`` (KL distillation): ``L = mean_s KL(pi_T(.|s) || pi_S(.|s))`` on every state
   labelled so far. It collects on the student's own states (DAgger, Ross et al. 2011): the
   student acts while the teacher's context follows the student's transitions and labels
   each state; the first collection is the teacher's when ``align`` did not run.
3. ``search`` (constrained policy search): the student plays the instance and is updated
   by the clipped surrogate with GAE from the critic it inherits (rewards on that critic's
   scale, :attr:`DistillSource.reward_scale`), plus the critic loss. An optimiser step after
   which ``KL(pi_S2 || pi_S)`` on the batch, with ``pi_S2`` the student as ``kl`` left it,
   exceeds ``search_kl`` is undone, and ends that batch's update.

The budget, :attr:`~mrft.algos.base.DistillConfig.steps` env steps, is split over the
stages that run by their ``fractions`` and spent exactly: a stage plays whole episodes
while its share pays for one, then the rest as one episode cut short (a truncation the
search bootstraps). Only this module drives envs, through the whole-episode collector;
an algorithm's part (:class:`DistillSource`) computes and never steps an env.
"""

from __future__ import annotations

import copy
import dataclasses
import math
from collections.abc import Callable, Iterator
from typing import Protocol

import torch
from torch import nn
from torch.distributions import Categorical, Distribution, Normal, kl_divergence

from mrft.algos.base import DISTILL_STAGES, Distillation, DistillConfig
from mrft.algos.objectives import clipped_surrogate_per_step, gae
from mrft.batches import Actor, EpisodeBatch
from mrft.envs import Task
from mrft.episodes import EpisodeCollector
from mrft.errors import MrftError
from mrft.nets import ActorCritic


class DistillSource(Protocol):
    """What an algorithm provides for distilling its adapted policy."""

    reward_scale: float
    """Rewards are divided by this for the critic the student inherits."""

    def student(self) -> ActorCritic:
        """A fresh student: the base network with the adapted context folded in."""

    def teacher_actor(self) -> Actor:
        """The adapted policy, each episode starting from the adapted context."""

    def student_actor(self, student: ActorCritic) -> Actor:
        """``student`` acting, the teacher's context following its transitions."""

    def teacher_targets(self, batch: EpisodeBatch) -> tuple[Distribution, list[torch.Tensor]]:
        """The teacher's action distribution (batch ``[B]``) and hidden activations
        (``[B, width]`` per layer) at the real steps ``batch.obs[batch.mask]`` of a batch
        played by :meth:`teacher_actor` or :meth:`student_actor`."""

    def student_forward(self, student: ActorCritic,
                        obs: torch.Tensor) -> tuple[Distribution, list[torch.Tensor]]:
        """The same for ``student`` on ``obs [B, ...]``, hidden layers as the teacher's."""


@dataclasses.dataclass
class DistillResult:
    student: ActorCritic
    env_steps: int
    stats: dict[str, float]
    """Per stage that ran: ``STAGE/env_steps``, ``STAGE/loss_before`` and
    ``STAGE/loss_after`` (its own loss, on its data, for the student as the stage found it
    and as it left it); ``search/kl`` and ``search/undone_steps``."""


def parse_stages(text: str) -> tuple[str, ...]:
    """``"align,kl,search"`` (any subset, any order) as the stages in running order."""
    named = {part.strip() for part in text.split(",") if part.strip()}
    unknown = sorted(named - set(DISTILL_STAGES))
    if unknown or not named:
        raise MrftError(f"--distill-stages takes a comma-separated subset of "
                        f"{','.join(DISTILL_STAGES)}, got {text!r}")
    return tuple(stage for stage in DISTILL_STAGES if stage in named)


def stage_budgets(cfg: DistillConfig) -> dict[str, int]:
    """Env steps per stage that runs: ``cfg.steps`` split by ``cfg.fractions`` over the stages
    named, the rounding remainder to the last; a stage whose share is 0 does not run."""
    if cfg.steps < 0 or any(stage not in DISTILL_STAGES for stage in cfg.stages):
        raise MrftError(f"a distillation needs steps >= 0 and stages of {DISTILL_STAGES}, got "
                        f"{cfg.steps} and {cfg.stages}")
    share = dict(zip(DISTILL_STAGES, cfg.fractions, strict=True))
    running = [stage for stage in DISTILL_STAGES if stage in cfg.stages and share[stage] > 0]
    if not running or cfg.steps == 0:
        return {}
    total = sum(share[stage] for stage in running)
    budgets = {stage: int(cfg.steps * share[stage] / total) for stage in running}
    budgets[running[-1]] += cfg.steps - sum(budgets.values())
    return {stage: steps for stage, steps in budgets.items() if steps > 0}


# -- the losses (pure) ---------------------------------------------------------------------
def alignment_loss(student_hidden: list[torch.Tensor], teacher_hidden: list[torch.Tensor]) -> torch.Tensor:
    """Mean over layers of the mean squared difference of hidden activations."""
    return torch.stack([(s - t).pow(2).mean()
                        for s, t in zip(student_hidden, teacher_hidden, strict=True)]).mean()


def policy_kl(teacher: Distribution, student: Distribution) -> torch.Tensor:
    """Mean over states of ``KL(teacher || student)`` (summed over action dimensions)."""
    kl = kl_divergence(teacher, student)
    return (kl.sum(-1) if kl.dim() > 1 else kl).mean()


def search_loss(student: ActorCritic, data: dict[str, torch.Tensor], clip: float,
                vf_coef: float) -> torch.Tensor:
    """The clipped surrogate (advantages normalised over ``data``, a minibatch, as PPO
    normalises them) plus the critic loss."""
    logp, _, value = student.evaluate(data["obs"], data["actions"])
    adv = data["advantages"]
    if adv.numel() > 1:
        adv = (adv - adv.mean()) / (adv.std() + 1e-8)
    surrogate, _, _ = clipped_surrogate_per_step(logp, data["logprobs"], adv, clip)
    return surrogate.mean() + vf_coef * 0.5 * (value - data["returns"]).pow(2).mean()


def episode_advantages(batch: EpisodeBatch, reward_scale: float, gamma: float,
                       lam: float) -> tuple[torch.Tensor, torch.Tensor]:
    """GAE ``(advantages, returns)`` ``[n, T]`` of one-episode trials: an episode ends at its
    last real step, terminal or (a truncation, or the cut of a budget) bootstrapped from the
    value of the observation after it, which ``batch.values`` holds from there on."""
    mask, values = batch.mask[:, 0], batch.values[:, 0]
    horizon = mask.shape[1]
    last = torch.arange(horizon, device=mask.device)[None, :] == mask.sum(1, keepdim=True) - 1
    terminated = last & batch.terminated[:, :1]
    adv, ret = gae((batch.rewards[:, 0] / reward_scale).T, values[:, :horizon].T, values[:, horizon],
                   terminated.T, (last & ~terminated).T, mask.T, gamma, lam)
    return adv.T, ret.T


# -- collection ----------------------------------------------------------------------------
def _episodes(collector: EpisodeCollector, actor: Callable[[], Actor],
              budget: int) -> Iterator[EpisodeBatch]:
    """Batches of whole episodes of the instance until exactly ``budget`` env steps are spent,
    the last episode cut at what is left; ``actor()`` acts in each batch."""
    left = budget
    while left > 0:
        collector.actor = actor()
        if left >= collector.horizon:
            batch = collector.collect(max_env_steps=left)
        else:
            full = collector.max_episode_steps, collector.horizon
            collector.max_episode_steps = collector.horizon = left
            try:
                batch = collector.collect(max_env_steps=left)
            finally:
                collector.max_episode_steps, collector.horizon = full
        left -= batch.env_steps
        yield batch


class _Labels:
    """Teacher-labelled states gathered so far: observations, the teacher's action
    distribution (its parameters) and hidden activations."""

    def __init__(self):
        self.obs: torch.Tensor | None = None
        self.dist: list[torch.Tensor] = []
        self.hidden: list[torch.Tensor] = []

    def __len__(self) -> int:
        return 0 if self.obs is None else self.obs.shape[0]

    def add(self, obs: torch.Tensor, dist: Distribution, hidden: list[torch.Tensor]) -> None:
        parts = [dist.loc, dist.scale] if isinstance(dist, Normal) else [dist.logits]
        if self.obs is None:
            self.obs, self.dist, self.hidden = obs, parts, list(hidden)
            return
        self.obs = torch.cat([self.obs, obs])
        self.dist = [torch.cat(pair) for pair in zip(self.dist, parts, strict=True)]
        self.hidden = [torch.cat(pair) for pair in zip(self.hidden, hidden, strict=True)]

    def take(self, index: torch.Tensor) -> tuple[torch.Tensor, Distribution, list[torch.Tensor]]:
        parts = [p[index] for p in self.dist]
        dist = (Normal(*parts, validate_args=False) if len(parts) == 2
                else Categorical(logits=parts[0], validate_args=False))
        return self.obs[index], dist, [h[index] for h in self.hidden]


# -- the stages ----------------------------------------------------------------------------
def _step(optimizer: torch.optim.Optimizer, loss: torch.Tensor, student: nn.Module,
          max_grad_norm: float) -> None:
    optimizer.zero_grad(set_to_none=True)
    loss.backward()
    nn.utils.clip_grad_norm_(student.parameters(), max_grad_norm)
    optimizer.step()


def _labelled_loss(stage: str, source: DistillSource, student: ActorCritic, labels: _Labels,
                   index: torch.Tensor) -> torch.Tensor:
    obs, teacher, teacher_hidden = labels.take(index)
    dist, hidden = source.student_forward(student, obs)
    return alignment_loss(hidden, teacher_hidden) if stage == "align" else policy_kl(teacher, dist)


@torch.no_grad()
def _mean_labelled_loss(stage: str, source: DistillSource, student: ActorCritic,
                        labels: _Labels) -> float:
    chunks = torch.arange(len(labels)).split(4096)
    total = sum(float(_labelled_loss(stage, source, student, labels, c)) * len(c) for c in chunks)
    return total / len(labels)


def _supervised(stage: str, student: ActorCritic, source: DistillSource, labels: _Labels,
                batches: Iterator[EpisodeBatch], cfg: DistillConfig,
                generator: torch.Generator) -> dict[str, float]:
    """``align`` or ``kl``: after each collection, ``epochs x ceil(new states / minibatch)``
    optimiser steps on minibatches drawn from every state labelled so far."""
    start = copy.deepcopy(student)
    optimizer = torch.optim.Adam(student.parameters(), lr=cfg.learning_rate, eps=1e-5)
    steps = 0
    for batch in batches:
        labels.add(batch.obs[batch.mask], *source.teacher_targets(batch))
        steps += batch.env_steps
        for _ in range(cfg.epochs * math.ceil(batch.env_steps / cfg.minibatch_size)):
            index = torch.randperm(len(labels), generator=generator)[: cfg.minibatch_size]
            _step(optimizer, _labelled_loss(stage, source, student, labels, index), student,
                  cfg.max_grad_norm)
    return {f"{stage}/env_steps": float(steps),
            f"{stage}/loss_before": _mean_labelled_loss(stage, source, start, labels),
            f"{stage}/loss_after": _mean_labelled_loss(stage, source, student, labels)}


def _search_update(student: ActorCritic, anchor: ActorCritic, data: dict[str, torch.Tensor],
                   cfg: DistillConfig, optimizer: torch.optim.Optimizer,
                   generator: torch.Generator) -> int:
    """``epochs`` passes of minibatches over ``data``; 1 when a step crossed the KL bound (its
    weights are undone and the update ends), else 0. Adam's moments keep the undone step: they
    are what shrinks a fresh optimiser's first steps (each about the learning rate, whatever
    the gradient), and undoing them too would make the next update's first step as large
    again, to cross the bound again (MRFT's adaptation trust region keeps them for the same
    reason: docs/mrft.md, section 6)."""
    for _ in range(cfg.epochs):
        for index in torch.randperm(len(data["obs"]), generator=generator).split(cfg.minibatch_size):
            saved = {k: v.clone() for k, v in student.state_dict().items()}
            mb = {k: v[index] for k, v in data.items()}
            _step(optimizer, search_loss(student, mb, cfg.clip, cfg.vf_coef), student,
                  cfg.max_grad_norm)
            if cfg.search_kl is not None and _kl_to(anchor, student, data["obs"]) > cfg.search_kl:
                student.load_state_dict(saved)
                return 1
    return 0


@torch.no_grad()
def _kl_to(anchor: ActorCritic, student: ActorCritic, obs: torch.Tensor) -> float:
    return float(policy_kl(anchor.distribution(obs), student.distribution(obs)))


def _search(student: ActorCritic, source: DistillSource, batches: Iterator[EpisodeBatch],
            cfg: DistillConfig, generator: torch.Generator) -> dict[str, float]:
    anchor = copy.deepcopy(student).requires_grad_(False)
    optimizer = torch.optim.Adam(student.parameters(), lr=cfg.learning_rate, eps=1e-5)
    before: list[float] = []
    after: list[float] = []
    undone = steps = 0
    obs = None
    for batch in batches:
        mask = batch.mask[:, 0]
        adv, ret = episode_advantages(batch, source.reward_scale, cfg.gamma, cfg.gae_lambda)
        data = {"obs": batch.obs[:, 0][mask], "actions": batch.actions[:, 0][mask],
                "logprobs": batch.logprobs[:, 0][mask], "advantages": adv[mask], "returns": ret[mask]}
        with torch.no_grad():
            before.append(float(search_loss(student, data, cfg.clip, cfg.vf_coef)))
        undone += _search_update(student, anchor, data, cfg, optimizer, generator)
        with torch.no_grad():
            after.append(float(search_loss(student, data, cfg.clip, cfg.vf_coef)))
        steps += batch.env_steps
        obs = data["obs"]
    return {"search/env_steps": float(steps), "search/loss_before": sum(before) / len(before),
            "search/loss_after": sum(after) / len(after), "search/kl": _kl_to(anchor, student, obs),
            "search/undone_steps": float(undone)}


def distill(request: Distillation, task: Task, instance: int, max_episode_steps: int, seed: int,
            device: torch.device | str = "cpu") -> DistillResult:
    """Run the stages of ``request`` on held-out ``instance`` of ``task``; returns the student.
    The teacher does not change, and the caller's random state is left as it was."""
    cfg, source = request.config, request.source
    budgets = stage_budgets(cfg)
    student = source.student()
    stats: dict[str, float] = {}
    if not budgets:
        return DistillResult(student, 0, stats)
    collector = EpisodeCollector((task,), source.teacher_actor(), cfg.num_envs, 1, 1,
                                 max_episode_steps, seed, torch.device(device), instance=instance,
                                 update_normalizer=False)
    generator = torch.Generator().manual_seed(seed)
    labels = _Labels()
    try:
        place = torch.device(device)
        with torch.random.fork_rng(devices=[place] if place.type == "cuda" else []):
            torch.manual_seed(seed)
            for stage, budget in budgets.items():
                if stage == "search":
                    batches = _episodes(collector, lambda: Actor(student), budget)
                    stats.update(_search(student, source, batches, cfg, generator))
                    continue
                actor = source.teacher_actor if stage == "align" else (
                    lambda: source.teacher_actor() if not len(labels) else source.student_actor(student))
                stats.update(_supervised(stage, student, source, labels,
                                         _episodes(collector, actor, budget), cfg, generator))
    finally:
        collector.close()
    steps = int(sum(stats[f"{stage}/env_steps"] for stage in budgets))
    return DistillResult(student.eval(), steps, stats)
