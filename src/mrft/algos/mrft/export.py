"""What ``mrft export`` needs from MRFT: the belief model of a checkpoint, an actor that
adapts in context, the fold of a belief into the base network's weights
(:mod:`mrft.algos.mrft.fold`, exact), and the MRFT side of progressive distillation
(:class:`BeliefDistillSource`: teacher, teacher targets, student)."""

from __future__ import annotations

import torch
from torch import nn
from torch.distributions import Categorical, Distribution, Normal

from mrft.algos.base import DISTILL_STAGES, Distillation, DistillConfig
from mrft.algos.mrft.belief import BeliefState
from mrft.algos.mrft.belief_actor import BeliefActor, cycled_rows
from mrft.algos.mrft.belief_agent import BeliefAgent, build_agent, load_agent, observation_features
from mrft.algos.mrft.fold import fold_belief
from mrft.algos.mrft.meta_policy import actor_forward
from mrft.batches import Actor, EpisodeBatch
from mrft.errors import MrftError
from mrft.nets import ActorCritic


class BeliefExporter:
    """Folds the belief an adapted MRFT policy acts from into a context-free network, or
    distils the policy acting from it into one."""

    def __init__(self, cfg, policy: nn.Module, algo_state: dict, source: str):
        self.cfg = cfg
        self.policy = policy
        self.source = source
        self.algo_state = algo_state
        self.agent = build_agent(cfg.mrft, policy)
        load_agent(self.agent, algo_state, source)
        self.trial_episodes = cfg.mrft.trial_episodes

    def in_context_actor(self) -> BeliefActor:
        """Plays one trial of K episodes; its ``context`` is the belief as the last one starts."""
        return BeliefActor(self.agent, self.policy, keep_at=self.trial_episodes - 1)

    def adapted_context(self) -> BeliefState:
        """The belief an adaptation checkpoint's scored policy starts from."""
        if "context" not in self.algo_state:
            raise MrftError(f"{self.source} holds no adapted belief yet; let the adaptation run "
                            "at least one batch")
        return BeliefState(**self.algo_state["context"])

    def fold(self, context: BeliefState) -> nn.Module:
        return fold_context(self.agent, self.policy, context)

    def distillation(self, context: BeliefState, steps: int,
                     stages: tuple[str, ...] = DISTILL_STAGES) -> Distillation | None:
        """None without a conditioner (``--no-meta-learner``): the belief changes nothing the
        policy does, so the fold is the adapted policy, as the adaptation's own distillation
        also finds."""
        if self.agent.conditioner is None:
            return None
        saved = self.algo_state.get("reward_normalizer")
        scale = 1.0 if saved is None else float(torch.sqrt(saved["rms.var"] + 1e-8))
        source = BeliefDistillSource(self.agent, self.policy, context, scale)
        return Distillation(source, distill_config(self.cfg, steps, stages))


def fold_context(agent: BeliefAgent, policy: ActorCritic, context: BeliefState | None) -> ActorCritic:
    """The base network with the belief of ``context``'s first row (the first adapting env's,
    one network for every env; the prior when None) folded in. The adapted policy starts env
    ``i`` of an evaluation from row ``i``, so the fold's gap to it holds both what the belief
    learns within an episode and the choice of one row."""
    if context is None:
        context = agent.encoder.initial_state(1, next(policy.parameters()).device)
    with torch.no_grad():
        params = agent.params(agent.belief(cycled_rows(context, 1)))
    return fold_belief(policy, params)


def distill_config(cfg, steps: int, stages: tuple[str, ...]) -> DistillConfig:
    """Distillation settings from MRFT's own: its discount, GAE lambda, clip range and
    critic weight for the search, the run's learning rate, gradient clip and envs."""
    m = cfg.mrft
    return DistillConfig(steps=steps, stages=tuple(stages), learning_rate=cfg.optim.learning_rate,
                         max_grad_norm=cfg.optim.max_grad_norm, num_envs=cfg.env.num_envs,
                         gamma=m.meta_gamma, gae_lambda=m.meta_gae_lambda, clip=m.meta_clip,
                         vf_coef=m.meta_vf_coef)


def _steps(dist: Distribution) -> Distribution:
    """A ``[B, 1]`` distribution of :func:`actor_forward` as one over ``[B]``."""
    if isinstance(dist, Normal):
        return Normal(dist.loc[:, 0], dist.scale[:, 0], validate_args=False)
    return Categorical(logits=dist.logits[:, 0], validate_args=False)


class StudentActor(BeliefActor):
    """The student acts; the teacher's belief follows the student's own transitions, so the
    teacher can label the states the student visits (DAgger)."""

    def __init__(self, agent: BeliefAgent, policy: ActorCritic, student: ActorCritic,
                 start: BeliefState | None):
        super().__init__(agent, policy, start=start)
        self.student = student

    @torch.no_grad()
    def act(self, obs: torch.Tensor):
        self._episode.append(self.agent.belief(self.state))
        self._obs_features = observation_features(self.policy, obs)
        return self.student.act(obs)

    @torch.no_grad()
    def value(self, obs: torch.Tensor) -> torch.Tensor:
        return self.student.value(obs)


class BeliefDistillSource:
    """MRFT's side of progressive distillation (:class:`mrft.distillation.DistillSource`).

    The teacher is the adapted policy with its belief in the loop, every episode starting
    from ``context`` (the belief the scored policy starts from; the prior when None); the
    student is the base network with ``context`` folded in. Nothing here steps an env or
    changes the teacher."""

    def __init__(self, agent: BeliefAgent, policy: ActorCritic, context: BeliefState | None,
                 reward_scale: float = 1.0):
        self.agent = agent
        self.policy = policy
        self.context = context
        self.reward_scale = reward_scale
        """What rewards are divided by for the critic the student inherits (MRFT's running
        std of the discounted return)."""

    def student(self) -> ActorCritic:
        return fold_context(self.agent, self.policy, self.context)

    def teacher_actor(self) -> Actor:
        return BeliefActor(self.agent, self.policy, start=self.context)

    def student_actor(self, student: ActorCritic) -> Actor:
        return StudentActor(self.agent, self.policy, student, self.context)

    @torch.no_grad()
    def teacher_targets(self, batch: EpisodeBatch) -> tuple[Distribution, list[torch.Tensor]]:
        """The teacher's action distribution and FiLM-conditioned hidden activations at every
        real step of ``batch`` (in ``batch.obs[batch.mask]`` order), each under the belief
        the teacher held there (collected by :meth:`teacher_actor` or :meth:`student_actor`)."""
        mask = batch.mask
        obs = batch.obs[mask]
        beliefs = batch.extras["beliefs"][:, :, : mask.shape[2]][mask]
        dist, hidden = actor_forward(self.policy, obs[:, None], self.agent.params(beliefs))
        return _steps(dist), [h[:, 0] for h in hidden]

    def student_forward(self, student: ActorCritic,
                        obs: torch.Tensor) -> tuple[Distribution, list[torch.Tensor]]:
        """The student's action distribution and hidden activations on ``obs [B, ...]``."""
        dist, hidden = actor_forward(student, obs[:, None])
        return _steps(dist), [h[:, 0] for h in hidden]
