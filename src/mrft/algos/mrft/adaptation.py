"""MRFT's own adaptation to one held-out instance, run by the same engine as training.

The meta-trained teacher adapts by context: before each batch its parameters are
recomputed from the instance's last ``trial_episodes - 1`` episodes (per env) plus the
inner loop. With distillation on (the default), a plain student policy is distilled from
the teacher (stages 1-2, teacher acting: feature alignment, then KL) and then fine-tuned
under a KL bound to its previous self (stage 3, student acting); the scored policy is the
teacher until the student reaches stage 3, then the student. With ``--no-distill`` the
teacher itself (base policy and meta-learner) is fine-tuned with the clipped surrogate on
group-relative outcomes, its context kept.
"""

from __future__ import annotations

import copy

import torch
from torch import nn

from mrft.algos.base import AlgoContext, Algorithm
from mrft.algos.grpo import group_advantages, grpo_loss
from mrft.algos.mrft.algorithm import build_agent, build_meta_learner
from mrft.algos.mrft.distill import DistillConfig, ProgressiveDistiller
from mrft.algos.mrft.meta_policy import AdaptedParams, actor_forward, log_prob
from mrft.checkpoint import load_module_state
from mrft.config import TrainConfig
from mrft.episodes import Actor, EpisodeBatch, EpisodeRun
from mrft.errors import MrftError
from mrft.nets import ActorCritic
from mrft.trials import TrialRecord


class TeacherActor(Actor):
    """Acts with fixed adapted parameters; env ``i`` uses row ``i mod rows`` of them, so
    evaluation episodes cycle over the adapting envs' contexts."""

    def __init__(self, adaptation: MRFTAdaptation, deterministic: bool = False):
        super().__init__(adaptation.policy, deterministic)
        self.adaptation = adaptation

    @torch.no_grad()
    def act(self, obs: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        params = self.adaptation.teacher_params
        rows = next(iter(params.values())).shape[0] if params else 1
        index = torch.arange(obs.shape[0], device=obs.device) % rows
        action, logprob = self.adaptation.agent.act(
            obs, {k: v[index] for k, v in params.items()} if params else None, self.deterministic)
        return action, logprob, self.policy.value(obs)


class MRFTAdaptation(Algorithm):
    name = "mrft"

    def __init__(self, cfg: TrainConfig, policy: ActorCritic, ctx: AlgoContext):
        super().__init__(cfg, policy, ctx)
        m = self.m = cfg.mrft
        self.learner = build_meta_learner(m, policy)
        if self.learner is None:
            raise MrftError("MRFT adaptation needs the meta-learner (use the grpo method for "
                            "--no-meta-learner checkpoints)")
        self.learner.to(ctx.device)
        self.agent = build_agent(m, policy, self.learner)
        self.memory = max(1, m.trial_episodes - 1)
        self.history: list[EpisodeRun] = []
        self.rows = ctx.num_envs
        self.group = torch.zeros(self.rows, dtype=torch.long, device=ctx.device)
        self.distiller = None
        self.student = None
        if m.distill:
            self.student = copy.deepcopy(policy)
            self.distiller = ProgressiveDistiller(DistillConfig(
                stage_steps=tuple(m.distill_stage_steps), delta=m.distill_delta))
        self.teacher_params: AdaptedParams = {}

    def load_pretrained(self, state: dict, source: str) -> None:
        if "meta_learner" not in state:
            raise MrftError(f"checkpoint {source} has no meta-learner weights")
        load_module_state(self.learner, state["meta_learner"], source)
        if self.student is not None:
            self.student.load_state_dict(self.policy.state_dict())
        self.teacher_params = self._teacher_now()

    # -- acting ---------------------------------------------------------------------------
    @property
    def student_acts(self) -> bool:
        return self.distiller is not None and self.distiller.stage == 3

    def make_collector(self):
        collector = self.episode_collector(group_size=self.rows, trial_episodes=1,
                                           actor=_SwitchingActor(self))
        return collector

    def evaluation_stats(self) -> dict[str, float]:
        return self.distiller.stats() if self.distiller is not None else {}

    def evaluation_actor(self, deterministic: bool) -> Actor:
        if self.student_acts:
            return Actor(self.student, deterministic)
        return TeacherActor(self, deterministic)

    def modules(self) -> list[nn.Module]:
        return [self.student] if self.student is not None else [self.policy, self.learner]

    def _params_for(self, runs: list[EpisodeRun]) -> AdaptedParams:
        """Teacher parameters from the given episodes: context window, then the inner loop."""
        record = TrialRecord(self.rows, self.m.context_length, self.agent.context_dim,
                             self.ctx.device)
        for run in runs:
            record.add(run, self.agent.context_features(run))
        contexts, lengths = record.window()
        support = self.agent.support_from_runs(record.runs, self.group) if record.runs else None
        return self.agent.adapted_params(contexts, lengths, support)

    def _teacher_now(self) -> AdaptedParams:
        with torch.enable_grad():
            params = self._params_for(self.history[-self.memory:])
        return {k: v.detach() for k, v in params.items()}

    # -- learning -------------------------------------------------------------------------
    @property
    def update_epochs(self) -> int:  # type: ignore[override]
        if self.distiller is not None and not self.student_acts:
            return self.m.distill_epochs
        return self.m.meta_iterations

    def prepare(self, batch: EpisodeBatch) -> dict[str, torch.Tensor]:
        run = batch.runs[0]
        if run.obs.shape[0] != self.rows:
            # a partial last batch: fewer envs than the teacher has contexts for
            self.rows = run.obs.shape[0]
            self.group = self.group[: self.rows]
            self.history = [r.first_rows(self.rows) for r in self.history]
        obs, actions, mask = run.obs, run.actions, run.mask
        data = {"obs": obs, "actions": actions, "logprobs": run.logprobs, "mask": mask}
        adv = group_advantages(torch.as_tensor(run.returns, dtype=torch.float32),
                               torch.zeros(run.returns.shape[0], dtype=torch.long),
                               self.m.outcome_scale).to(obs.device)
        data["advantages"] = adv[:, None].expand_as(run.logprobs)
        with torch.no_grad():
            if self.student_acts:
                prev, _ = actor_forward(self.student, obs, None)
                data["prev_params"] = prev.logits if not self.student.continuous else \
                    torch.stack([prev.loc, prev.scale])
            elif self.distiller is not None:
                params = {k: v[: self.rows] for k, v in self.teacher_params.items()}
                t_dist, t_hidden = actor_forward(self.policy, obs, params)
                data["teacher_params"] = t_dist.logits if not self.policy.continuous else \
                    torch.stack([t_dist.loc, t_dist.scale])
                for i, h in enumerate(t_hidden):
                    data[f"teacher_hidden_{i}"] = h
        return data

    def _dist(self, packed: torch.Tensor, continuous: bool):
        if continuous:
            return torch.distributions.Normal(packed[0], packed[1], validate_args=False)
        return torch.distributions.Categorical(logits=packed, validate_args=False)

    def _surrogate(self, mb: dict[str, torch.Tensor], policy: ActorCritic, params):
        dist, _ = actor_forward(policy, mb["obs"], params)
        logp = log_prob(policy, dist, mb["actions"])
        loss, diagnostics = grpo_loss(logp, mb["logprobs"], None, mb["advantages"], mb["mask"],
                                      epsilon_low=self.m.meta_clip, beta=0.0,
                                      loss_type=self.m.meta_loss_type)
        return dist, loss, diagnostics

    def loss(self, mb: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
        if self.distiller is None:
            params = self._params_for(self.history[-self.memory:])
            _, loss, diagnostics = self._surrogate(mb, self.policy, params)
            return {"loss": loss, "policy_loss": loss.detach(), **diagnostics}
        mask = mb["mask"]
        if self.student_acts:
            dist, surrogate, diagnostics = self._surrogate(mb, self.student, None)
            prev = self._dist(mb["prev_params"], self.student.continuous)
            kl = torch.distributions.kl_divergence(prev, dist)
            kl = kl.sum(-1) if self.student.continuous else kl
            out = self.distiller.loss(surrogate=surrogate, kl_prev=kl, mask=mask)
            return {**out, "policy_loss": surrogate.detach(), **diagnostics}
        s_dist, s_hidden = actor_forward(self.student, mb["obs"], None)
        t_dist = self._dist(mb["teacher_params"], self.policy.continuous)
        t_hidden = [mb[f"teacher_hidden_{i}"] for i in range(len(s_hidden))]
        return self.distiller.loss(student_feats=s_hidden, teacher_feats=t_hidden,
                                   student_dist=s_dist, teacher_dist=t_dist, mask=mask)

    def stop_early(self, diagnostics: dict[str, float]) -> bool:
        return False

    def after_update(self, update: int, batch: EpisodeBatch, diagnostics: dict[str, float]) -> None:
        if self.distiller is not None:
            if self.student_acts:
                self.distiller.observe(batch.env_steps, 0.0,
                                       kl_prev=diagnostics.get("distill/kl_prev", 0.0))
            else:
                stage_loss = next((v for k, v in diagnostics.items()
                                   if k in ("distill/feature_loss", "distill/kl_teacher")), 0.0)
                self.distiller.observe(batch.env_steps, stage_loss)
            self.batch_stats = self.distiller.stats()
        if not self.student_acts:
            self.history = ([*self.history, batch.runs[0]])[-self.memory:]
            self.teacher_params = self._teacher_now()

    def state_dict(self) -> dict:
        state: dict = {"meta_learner": self.learner.state_dict()}
        if self.student is not None:
            state["student"] = self.student.state_dict()
            state["distiller"] = self.distiller.state_dict()
        return state

    def load_state_dict(self, state: dict) -> None:
        """Resume: weights and the distillation stage; the context history restarts empty."""
        self.learner.load_state_dict(state["meta_learner"])
        if self.student is not None and "student" in state:
            self.student.load_state_dict(state["student"])
            self.distiller.load_state_dict(state["distiller"])
        self.teacher_params = self._teacher_now()


class _SwitchingActor(Actor):
    """The adapting envs' actor: the teacher with its current context, or the student once
    distillation reached stage 3."""

    def __init__(self, adaptation: MRFTAdaptation):
        super().__init__(adaptation.policy)
        self.adaptation = adaptation
        self.teacher = TeacherActor(adaptation)

    @torch.no_grad()
    def act(self, obs: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        if self.adaptation.student_acts:
            return self.adaptation.student.act(obs)
        return self.teacher.act(obs)
