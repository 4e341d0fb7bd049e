"""MRFT meta-training as a trainer algorithm: a loss over a batch of trials (:class:`mrft.episodes.EpisodeBatch`)
plus a hook on how per-task gradients are combined.

Per update, for every episode index ``j`` of the batch's trials:

1. ``z_j`` = encoder(context before episode j); ``phi_j`` = meta-policy(``z_j``);
2. inner loop: ``k`` steps on ``phi_j`` with the trial's episodes ``< j`` (support);
3. query loss: the GRPO surrogate of episode ``j`` under ``phi_j``, advantages from the
   episode's outcome plus the progress bonus, normalised within (task instance, j).

The outer gradient of each task instance's query loss is taken separately over the base
actor, encoder and meta-policy, and the :class:`GradientModulator` combines them.
``--no-meta-learner`` drops steps 1-2 (the base policy acts alone: multi-task GRPO over
the same trials); ``--no-grad-mod`` backpropagates the plain mean of the task losses.
"""

from __future__ import annotations

import dataclasses

import torch
from torch import nn

from mrft.algos.base import AlgoContext, Algorithm
from mrft.algos.batching import shuffled_minibatches
from mrft.algos.grpo import group_statistics, grpo_loss
from mrft.algos.mrft.grad_mod import (
    GradientModulator,
    GradModConfig,
    assign_flat_grad,
    flatten_grads,
)
from mrft.algos.mrft.meta_learner import (
    MetaAgent,
    MetaLearner,
    episode_gae,
    normalized,
    support_advantages,
)
from mrft.algos.mrft.meta_policy import actor_forward, entropy, log_prob
from mrft.algos.mrft.monitor import TaskFeatureMonitor
from mrft.algos.mrft.progress_bonus import shaped_returns
from mrft.config import TrainConfig
from mrft.episodes import EpisodeBatch
from mrft.errors import MrftError
from mrft.nets import ActorCritic
from mrft.trials import TrialActor


def build_meta_learner(cfg, policy: ActorCritic) -> MetaLearner | None:
    if not cfg.meta_learner:
        return None
    return MetaLearner(policy, cfg.embed_dim, cfg.tcn_channels, cfg.tcn_levels, cfg.head_rank,
                       cfg.meta_d_model, cfg.meta_layers)


def build_agent(m, policy: ActorCritic, learner: MetaLearner | None) -> MetaAgent:
    return MetaAgent(policy, learner, m.inner_steps, m.inner_lr, m.meta_clip, m.outcome_scale,
                     m.inner_objective, m.inner_gamma, m.inner_gae_lambda)


class MRFT(Algorithm):
    name = "mrft"

    @classmethod
    def create(cls, cfg: TrainConfig, policy: ActorCritic, ctx: AlgoContext) -> Algorithm:
        """Meta-training, or MRFT's own adaptation when ``ctx`` holds a held-out instance."""
        if ctx.adapting:
            from mrft.algos.mrft.adaptation import MRFTAdaptation

            return MRFTAdaptation(cfg, policy, ctx)
        return cls(cfg, policy, ctx)

    @classmethod
    def resolve(cls, cfg: TrainConfig, num_train_tasks: int, default_envs: int) -> TrainConfig:
        m = cfg.mrft
        if cfg.env.num_envs is None:
            num_envs = m.tasks_per_batch * m.trials_per_task
        elif cfg.env.num_envs % m.trials_per_task:
            raise MrftError(f"--num-envs {cfg.env.num_envs} must be a multiple of --trials-per-task "
                            f"{m.trials_per_task} (MRFT plays each task instance in a group)")
        else:
            num_envs = cfg.env.num_envs
        return dataclasses.replace(cfg, env=dataclasses.replace(cfg.env, num_envs=num_envs))

    def __init__(self, cfg: TrainConfig, policy: ActorCritic, ctx: AlgoContext):
        super().__init__(cfg, policy, ctx)
        self.m = cfg.mrft
        self.learner = build_meta_learner(cfg.mrft, policy)
        if self.learner is not None:
            self.learner.to(ctx.device)
        self.agent = build_agent(cfg.mrft, policy, self.learner)
        self.update_epochs = int(cfg.mrft.meta_iterations)
        self.shared = [p for p in policy.parameters()]
        if self.learner is not None:
            self.shared += self.learner.shared_parameters()
        self.modulator = None
        m = cfg.mrft
        if m.grad_mod:
            mod_cfg = GradModConfig(mode=m.grad_mod_mode, meta_ema=m.meta_grad_ema,
                                    noise_eta=m.grad_noise_eta, noise_gamma=m.grad_noise_gamma)
            self.modulator = GradientModulator(sum(p.numel() for p in self.shared), mod_cfg,
                                               seed=cfg.run.seed, device=ctx.device)
        self.features = TaskFeatureMonitor(ctx.num_train_tasks, m.embed_dim)
        self.use_bonus = m.progress_bonus and self.learner is not None and m.progress_alpha > 0

    def modules(self) -> list[nn.Module]:
        return [self.policy] + ([self.learner] if self.learner is not None else [])

    def make_collector(self):
        actor = TrialActor(self.agent, self.m.context_length, self.ctx.device)
        return self.episode_collector(self.m.trials_per_task, self.m.trial_episodes, actor)

    # -- data ---------------------------------------------------------------------------
    @torch.no_grad()
    def prepare(self, batch: EpisodeBatch) -> dict[str, torch.Tensor]:
        n, k = batch.returns.shape
        contexts, lengths = batch.extras["contexts"], batch.extras["context_lengths"]
        outcomes = batch.successes if batch.successes is not None else batch.returns
        stats: dict[str, float] = {}
        shaped = batch.returns
        if self.learner is not None:
            z = self.learner.embed(contexts.flatten(0, 1), lengths.flatten(0, 1))
            z = z.reshape(n, k + 1, -1)
            distance = self.features.distance(z[:, -1])
            if distance is not None:
                stats["monitor/task_feature_distance"] = distance
            self.features.update(z[:, -1], batch.task_ids)
            if self.use_bonus:
                values = self.learner.estimated_outcome(z)
                if batch.successes is not None:
                    # J estimates success; one unit of success is worth one return std here
                    values = values * batch.returns.std().clamp_min(1e-6)
                shaped = shaped_returns(batch.returns, values, self.m.progress_alpha)
                stats["mrft/progress_bonus"] = float((shaped - batch.returns).mean())
            self.learner.outcome_stats.update(outcomes.reshape(-1))
        advantages = support_advantages(shaped, batch.group_ids, self.m.outcome_scale)
        data = {
            "obs": batch.obs, "actions": batch.actions, "logprobs": batch.logprobs,
            "mask": batch.mask, "rewards": batch.rewards, "returns": batch.returns,
            "outcomes": outcomes, "advantages": advantages,
            "inner_advantages": self._inner_advantages(batch),
            "contexts": contexts, "context_lengths": lengths,
            "group_ids": batch.group_ids, "task_ids": batch.task_ids,
        }
        if self.m.inner_objective == "ppo":
            data["value_targets"] = self._value_targets
        group = group_statistics(batch.returns.reshape(-1),
                                 (batch.group_ids[:, None] * k + torch.arange(k, device=batch.returns.device)).reshape(-1))
        stats.update(group)
        for j in range(k):
            stats[f"mrft/return_episode_{j}"] = float(batch.returns[:, j].mean())
            if batch.successes is not None:
                stats[f"mrft/success_episode_{j}"] = float(batch.successes[:, j].mean())
        self.batch_stats = stats
        return data

    def _inner_advantages(self, batch: EpisodeBatch) -> torch.Tensor:
        """``[n, K, T]`` advantages the inner loop uses on support episodes."""
        n, k, t = batch.mask.shape
        if self.m.inner_objective == "grpo":
            adv = support_advantages(batch.returns, batch.group_ids, self.m.outcome_scale)
            return adv[:, :, None].expand(n, k, t)
        obs = batch.obs.flatten(0, 2)
        values = self.policy.value(obs).reshape(n * k, t)
        adv = episode_gae(batch.rewards.reshape(n * k, t), values, batch.mask.reshape(n * k, t),
                          self.m.inner_gamma, self.m.inner_gae_lambda)
        self._value_targets = (adv + values).reshape(n, k, t)
        return normalized(adv, batch.mask.reshape(n * k, t)).reshape(n, k, t)

    def minibatches(self, data, generator: torch.Generator):
        return shuffled_minibatches(data, self.m.meta_minibatches, generator)

    # -- loss ---------------------------------------------------------------------------
    def _support(self, mb: dict[str, torch.Tensor], j: int) -> dict[str, torch.Tensor]:
        n = mb["obs"].shape[0]

        def merge(x: torch.Tensor) -> torch.Tensor:
            return x[:, :j].reshape(n, -1, *x.shape[3:])

        return {"obs": merge(mb["obs"]), "actions": merge(mb["actions"]),
                "logprobs": merge(mb["logprobs"]), "mask": merge(mb["mask"]),
                "advantages": merge(mb["inner_advantages"])}

    def loss(self, mb: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
        n, k, t = mb["mask"].shape
        logps, entropies, aux = [], [], []
        for j in range(k):
            params = None
            if self.learner is not None:
                z = self.learner.embed(mb["contexts"][:, j], mb["context_lengths"][:, j])
                params = self.learner.meta_policy(z)
                if j > 0 and self.m.inner_steps > 0:
                    params = self.agent.adapted_params_from(params, self._support(mb, j),
                                                            self.m.second_order)
                if self.use_bonus:
                    aux.append(self.learner.progress_loss(z, mb["outcomes"][:, j]))
            dist, _ = actor_forward(self.policy, mb["obs"][:, j], params)
            logps.append(log_prob(self.policy, dist, mb["actions"][:, j]))
            entropies.append(entropy(self.policy, dist))
        logp = torch.stack(logps, dim=1)
        ent = torch.stack(entropies, dim=1)
        mask = mb["mask"]
        adv = mb["advantages"][:, :, None].expand(n, k, t)
        task_losses, diags = [], []
        groups = mb["group_ids"]
        group_list = groups.unique()
        for g in group_list:
            rows = groups == g
            loss_g, diag = grpo_loss(
                logp[rows].reshape(-1, t), mb["logprobs"][rows].reshape(-1, t), None,
                adv[rows].reshape(-1, t), mask[rows].reshape(-1, t),
                epsilon_low=self.m.meta_clip, beta=0.0, loss_type=self.m.meta_loss_type,
            )
            if self.m.meta_ent_coef:
                # the entropy bonus keeps trials in a group from collapsing onto one behaviour,
                # after which their advantages, and the learning signal, would all be zero
                loss_g = loss_g - self.m.meta_ent_coef * ent[rows][mask[rows]].mean()
            task_losses.append(loss_g)
            diags.append(diag)
        task_loss = torch.stack(task_losses)
        out: dict[str, torch.Tensor] = {
            "loss": task_loss.mean(), "task_losses": task_loss,
            "task_keys": torch.stack([mb["task_ids"][groups == g][0] for g in group_list]),
            "policy_loss": task_loss.mean().detach(),
            "entropy": ent[mask].mean().detach(),
        }
        for key in diags[0]:
            out[key] = torch.stack([d[key] for d in diags]).mean()
        if self.m.inner_objective == "ppo":
            values = self.policy.value(mb["obs"][mask])
            aux.append(self.m.inner_vf_coef * (values - mb["value_targets"][mask]).pow(2).mean())
        if aux:
            out["aux_loss"] = torch.stack(aux).sum()
            out["loss"] = out["loss"] + out["aux_loss"]
        return out

    def backward(self, out: dict[str, torch.Tensor]) -> dict[str, float]:
        """Per-task gradients -> modulator -> ``.grad``; auxiliary losses are added on top."""
        if self.modulator is None:
            out["loss"].backward()
            return {}
        # one backward per task: the per-task gradients are what the modulator compares
        grads = torch.stack([
            flatten_grads(torch.autograd.grad(loss_g, self.shared, retain_graph=True, allow_unused=True),
                          self.shared)
            for loss_g in out["task_losses"]])
        combined, stats = self.modulator.combine(grads, out["task_keys"].tolist())
        assign_flat_grad(combined, self.shared)
        if "aux_loss" in out:
            out["aux_loss"].backward()
        result = {"monitor/grad_similarity": stats["grad_similarity"]} if "grad_similarity" in stats else {}
        result["mrft/conflict_frac"] = stats["conflict_frac"]
        result["mrft/grad_noise_std"] = stats["noise_std"]
        return result

    def state_dict(self) -> dict:
        state: dict = {"features": self.features.state_dict()}
        if self.learner is not None:
            state["meta_learner"] = self.learner.state_dict()
        if self.modulator is not None:
            state["modulator"] = self.modulator.state_dict()
        return state

    def load_state_dict(self, state: dict) -> None:
        self.features.load_state_dict(state.get("features", {}))
        if self.learner is not None and "meta_learner" in state:
            self.learner.load_state_dict(state["meta_learner"])
        if self.modulator is not None and "modulator" in state:
            self.modulator.load_state_dict(state["modulator"])
