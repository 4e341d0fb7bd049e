"""MRFT as an actor-critic meta-learner over trials, with a task belief updated every step.

Pre-training plays, in every env, a trial of ``K = --trial-episodes`` episodes on a fresh
task instance; the belief ``z_t`` (:mod:`mrft.algos.mrft.belief`) is updated after every
step and carried across the trial's episodes, and the base actor-critic acts under the
parameters the conditioner reads out of ``z_t``. The update is PPO's, per step, with credit
over the whole trial:

    A_t = GAE over the trial (its episodes back to back; only the trial's end is terminal)
          of r_t + alpha (gamma J(z_{t+1}) - J(z_t))          (the progress bonus)
    L   = clipped surrogate(A) - c_ent H + c_v (V(s_t, z_t) - R_t)^2     (policy, critic)
        + c_b  E[(D(z_t, o_j, a_j) - r_j)^2]                  (belief: predict the trial's rewards;
                                                                with --inner-steps, z_t of a later
                                                                episode includes the inner loop's
                                                                offset, which trains its step sizes)
        + (J(z_t) - mean reward of the episode)^2             (the potential J)

The policy reads the belief each action was taken with (detached, like the old
log-probabilities), so the policy gradient does not reach the encoder: the belief is
learnt from what it predicts. Minibatches are of steps, as in PPO, so an update takes as
many optimiser steps per env step as PPO does; each minibatch also carries whole trials
for the belief loss.

Adaptation to a held-out instance runs the same algorithm: the belief adapts in context
from the first step of every trial, and every update is bounded in KL to the policy before
it (``--adapt-kl``), a constrained policy search with the belief in the loop. The scored
policy continues the belief of the latest adaptation trial (see
:class:`~mrft.algos.mrft.belief_actor.BeliefActor`).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterator

import torch
from torch import nn

from mrft.algos.base import AlgoContext, Algorithm, Episodes, UpdatePlan
from mrft.algos.mrft.belief import BeliefState, belief_loss
from mrft.algos.mrft.belief_actor import BeliefActor, cycled_rows
from mrft.algos.mrft.belief_agent import build_agent, load_agent, observation_features
from mrft.algos.mrft.fold import fold_belief
from mrft.algos.mrft.grad_mod import (
    GradientModulator,
    GradModConfig,
    assign_flat_grad,
    flatten_grads,
)
from mrft.algos.mrft.meta_policy import entropy as policy_entropy
from mrft.algos.mrft.meta_policy import log_prob
from mrft.algos.mrft.monitor import TaskFeatureMonitor
from mrft.algos.mrft.options import PRESETS, VARIANTS, MRFTAdaptOptions, MRFTConfig, validate
from mrft.algos.mrft.progress_bonus import potential_bonus
from mrft.algos.mrft.trial_sequences import TrialSequences
from mrft.algos.mrft.trust_region import KLTrustRegion
from mrft.algos.objectives import approx_kl, clipped_surrogate_per_step
from mrft.algos.sequences import scaled_trial_rewards, trial_gae
from mrft.batches import Actor, EpisodeBatch
from mrft.nets import ActorCritic
from mrft.normalize import RewardNormalizer, symlog

STEP_KEYS = ("obs", "actions", "logprobs", "values", "advantages", "returns", "beliefs",
             "potential_targets", "task_ids")


def episode_means(x: torch.Tensor, episode_index: torch.Tensor, mask: torch.Tensor,
                  episodes: int) -> torch.Tensor:
    """``[n, L]``: at every real step, the mean of ``x`` over the steps of its episode."""
    n = x.shape[0]
    index = episode_index.long().clamp_max(episodes - 1)
    weights = mask.to(x.dtype)
    sums = torch.zeros(n, episodes, dtype=x.dtype, device=x.device).scatter_add_(1, index, x * weights)
    counts = torch.zeros_like(sums).scatter_add_(1, index, weights)
    means = sums / counts.clamp_min(1)
    return torch.where(mask, means.gather(1, index), 0.0)


class MRFT(Algorithm):
    name = "mrft"
    Config = MRFTConfig
    AdaptOptions = MRFTAdaptOptions
    presets = PRESETS
    variants = VARIANTS
    summary = "meta-training over trials with a task belief that conditions the actor-critic"
    adapts_by = "MRFT in context and with its own bounded updates"
    supports_export = True
    supports_probe = True

    def __init__(self, cfg, policy: ActorCritic, ctx: AlgoContext):
        super().__init__(cfg, policy, ctx)
        m = self.m = cfg.mrft
        self.agent = build_agent(m, policy).to(ctx.device)
        self.reward_normalizer = RewardNormalizer(1, m.meta_gamma).to(ctx.device)
        self.actor = BeliefActor(self.agent, policy,
                                 keep_at=m.trial_episodes - 1 if ctx.adapting else None)
        self.use_bonus = m.meta_learner and m.progress_bonus and m.progress_alpha > 0
        self.belief_coef = m.belief_coef if m.meta_learner else 0.0
        self.generator = torch.Generator().manual_seed(cfg.run.seed)
        conditioner = self.agent.conditioner
        self.shared = [*policy.parameters(), *(conditioner.parameters() if conditioner else ())]
        self.features = TaskFeatureMonitor(ctx.num_train_tasks, m.embed_dim)
        self.modulator = None
        if m.grad_mod and ctx.num_train_tasks > 1 and not ctx.adapting:
            mod_cfg = GradModConfig(mode=m.grad_mod_mode, meta_ema=m.meta_grad_ema,
                                    noise_eta=m.grad_noise_eta, noise_gamma=m.grad_noise_gamma)
            self.modulator = GradientModulator(sum(p.numel() for p in self.shared), mod_cfg,
                                               seed=cfg.run.seed, device=ctx.device)

    @classmethod
    def validate_options(cls, options: MRFTConfig) -> None:
        validate(options)

    @classmethod
    def adaptation_config(cls, cfg, adapt_options: MRFTAdaptOptions):
        """--no-kl-bound lifts the adaptation's KL bound (``--adapt-kl``)."""
        if adapt_options.kl_bound:
            return cfg
        return dataclasses.replace(cfg, mrft=dataclasses.replace(cfg.mrft, adapt_kl=None))

    @classmethod
    def exporter(cls, cfg, policy: ActorCritic, algo_state: dict, source: str):
        from mrft.algos.mrft.export import BeliefExporter

        return BeliefExporter(cfg, policy, algo_state, source)

    @classmethod
    def probe(cls, actor: Actor, play, trials: int, trial_episodes: int, seed: int) -> dict:
        """``mrft eval --probe``: :func:`mrft.algos.mrft.probe.belief_probe`."""
        from mrft.algos.mrft.probe import belief_probe

        return belief_probe(actor, play, trials, trial_episodes, seed)

    def scored_policies(self) -> dict[str, Actor]:
        """``export``: the context-free network with the adapted belief folded into its weights
        (:mod:`mrft.algos.mrft.fold`): what deploys without a belief model. The belief is
        the one the adapted policy starts its scored episodes from (the prior before any
        adaptation), so the two scores differ only by what the belief learns within an
        episode."""
        if not self.ctx.adapting or self.agent.conditioner is None:
            return {}
        state = self.actor.context
        if state is None:
            state = self.agent.encoder.initial_state(1, self.ctx.device)
        with torch.no_grad():
            params = self.agent.params(self.agent.belief(cycled_rows(state, 1)))
        return {"export": Actor(fold_belief(self.policy, params))}

    @classmethod
    def checkpoint_evaluation(cls, cfg, policy: ActorCritic, algo_state: dict,
                              source: str, deterministic: bool) -> tuple[Actor, int]:
        """Trials of K episodes from the prior belief, as in pre-training; an exported policy
        (``mrft export``: the belief folded into the weights) plays alone, one episode."""
        if "folded" in algo_state:
            return Actor(policy, deterministic), 1
        m = cfg.mrft
        agent = build_agent(m, policy)
        load_agent(agent, algo_state, source)
        return BeliefActor(agent.eval(), policy, deterministic), m.trial_episodes

    def modules(self) -> list[nn.Module]:
        return [self.policy, self.agent]

    def collection(self) -> Episodes:
        return Episodes(trial_episodes=self.m.trial_episodes, actor=self.actor)

    def state_modules(self) -> list[nn.Module]:
        return [*self.modules(), self.reward_normalizer]

    def evaluation_actor(self, deterministic: bool) -> Actor:
        """The adapted policy: each evaluation episode continues the belief of the latest
        adaptation trial as it was when that trial's last episode started (env ``i`` takes
        adapting env ``i mod n``'s); before any adaptation, the prior."""
        return BeliefActor(self.agent, self.policy, deterministic, start=self.actor.context)

    # -- data -----------------------------------------------------------------------------
    @torch.no_grad()
    def prepare(self, batch: EpisodeBatch) -> UpdatePlan:
        m = self.m
        seq = TrialSequences.from_batch(batch)
        n, length = seq.mask.shape
        rewards = scaled_trial_rewards(self.reward_normalizer, seq.rewards, seq.mask)
        potentials = self.agent.value_of_belief(seq.beliefs)
        shaped = rewards
        stats: dict[str, float] = {}
        final = seq.beliefs[torch.arange(n), seq.lengths]
        distance = self.features.distance(final)
        if distance is not None:
            stats["monitor/task_feature_distance"] = distance
        self.features.update(final, batch.task_ids)
        if self.use_bonus:
            bonus = potential_bonus(potentials, seq.mask, m.meta_gamma, m.progress_alpha)
            shaped = rewards + bonus
            stats["mrft/progress_bonus"] = float(bonus[seq.mask].mean())
        adv, ret = trial_gae(shaped, seq.values, seq.mask, seq.final_value, seq.terminated,
                             m.meta_gamma, m.meta_gae_lambda)
        k = batch.trial_episodes
        targets = episode_means(rewards, seq.episode_index, seq.mask, k)
        obs_features = observation_features(self.policy, seq.obs)
        transitions = self.agent.transitions(obs_features, seq.actions, seq.rewards, seq.episode_end)
        task_ids = batch.task_ids[:, None].expand(n, length)
        steps = {"obs": seq.obs, "actions": seq.actions, "logprobs": seq.logprobs,
                 "values": seq.values, "advantages": adv, "returns": ret,
                 "beliefs": seq.beliefs[:, :length], "potential_targets": targets,
                 "task_ids": task_ids}
        data = {key: value[seq.mask] for key, value in steps.items()}
        guard = None
        if self.ctx.adapting:
            kl_data = {key: data[key] for key in ("obs", "actions", "logprobs", "beliefs")}
            guard = KLTrustRegion([p for module in self.modules() for p in module.parameters()],
                                  m.adapt_kl, lambda: self._batch_kl(kl_data),
                                  self.cfg.optim.target_kl)
        data.update({"trial_transitions": transitions, "trial_obs_features": obs_features,
                     "trial_actions": self.agent.action_encoding(seq.actions),
                     "trial_rewards": symlog(seq.rewards), "trial_lengths": seq.lengths,
                     "trial_episode_index": seq.episode_index})
        for j in range(k):
            stats[f"mrft/return_episode_{j}"] = float(batch.returns[:, j].mean())
            if batch.successes is not None:
                stats[f"mrft/success_episode_{j}"] = float(batch.successes[:, j].mean())
        return UpdatePlan(data, int(m.meta_iterations), stats, guard)

    def minibatches(self, data: dict[str, torch.Tensor],
                    generator: torch.Generator) -> Iterator[dict[str, torch.Tensor]]:
        """Shuffled minibatches of about ``--meta-minibatch-size`` steps; minibatch ``i`` of
        ``M`` also carries trials ``i, i + M, ...`` for the belief loss, so each pass sees
        every trial once (with fewer trials than minibatches, the last ones carry none)."""
        steps = data["obs"].shape[0]
        count = max(1, -(-steps // int(self.m.meta_minibatch_size)))
        order = torch.randperm(steps, generator=generator).to(data["obs"].device)
        trials = data["trial_lengths"].shape[0]
        for i, index in enumerate(order.tensor_split(count)):
            rows = torch.arange(trials, device=index.device)[i::count]
            mb = {key: data[key][index] for key in STEP_KEYS}
            mb.update({key: value[rows] for key, value in data.items() if key.startswith("trial_")})
            yield mb

    # -- loss -----------------------------------------------------------------------------
    def loss(self, mb: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
        m = self.m
        dist, values = self.agent.forward_policy(self.policy, mb["obs"], mb["beliefs"])
        logp = log_prob(self.policy, dist, mb["actions"][:, None]).squeeze(1)
        entropy = policy_entropy(self.policy, dist).squeeze(1)
        adv = mb["advantages"]
        if adv.numel() > 1:
            adv = (adv - adv.mean()) / (adv.std() + 1e-8)
        per_step, ratio, log_ratio = clipped_surrogate_per_step(logp, mb["logprobs"], adv, m.meta_clip)
        value_loss = 0.5 * (values - mb["returns"]).pow(2)
        per_step = per_step - m.meta_ent_coef * entropy + m.meta_vf_coef * value_loss
        out: dict[str, torch.Tensor] = {"policy_loss": per_step.mean().detach(),
                                        "value_loss": value_loss.mean().detach(),
                                        "entropy": entropy.mean().detach()}
        with torch.no_grad():
            out["approx_kl"] = approx_kl(ratio, log_ratio).mean()
            out["clipfrac"] = ((ratio - 1.0).abs() > m.meta_clip).float().mean()
        if self.modulator is not None:
            keys = mb["task_ids"].unique()
            out["task_losses"] = torch.stack([per_step[mb["task_ids"] == key].mean() for key in keys])
            out["task_keys"] = keys
        aux = (self.agent.value_of_belief(mb["beliefs"]) - mb["potential_targets"]).pow(2).mean()
        out["potential_loss"] = aux.detach()
        if not self.ctx.adapting and self.belief_coef > 0 and mb["trial_lengths"].numel():
            beliefs = self.agent.refine_trials(
                self.agent.sequence(mb["trial_transitions"]), mb["trial_obs_features"],
                mb["trial_actions"], mb["trial_rewards"], mb["trial_episode_index"],
                mb["trial_lengths"], m.trial_episodes)
            b_loss = belief_loss(self.agent.decoder, beliefs, mb["trial_obs_features"],
                                 mb["trial_actions"], mb["trial_rewards"], mb["trial_lengths"],
                                 self.generator)
            out["monitor/belief_loss"] = b_loss.detach()
            aux = aux + self.belief_coef * b_loss
        out["aux_loss"] = aux
        out["loss"] = per_step.mean() + aux
        return out

    def backward(self, out: dict[str, torch.Tensor]) -> dict[str, float]:
        """Per-task-class gradients through the modulator when a batch holds several classes;
        otherwise (one class: nothing to modulate) the plain gradient."""
        if self.modulator is None or out["task_losses"].numel() < 2:
            out["loss"].backward()
            return {}
        grads = torch.stack([
            flatten_grads(torch.autograd.grad(loss_g, self.shared, retain_graph=True, allow_unused=True),
                          self.shared)
            for loss_g in out["task_losses"]])
        combined, stats = self.modulator.combine(grads, out["task_keys"].tolist())
        assign_flat_grad(combined, self.shared)
        out["aux_loss"].backward()
        result = {"monitor/grad_similarity": stats["grad_similarity"]} if "grad_similarity" in stats else {}
        result["mrft/conflict_frac"] = stats["conflict_frac"]
        result["mrft/grad_noise_std"] = stats["noise_std"]
        return result

    @torch.no_grad()
    def _batch_kl(self, data: dict[str, torch.Tensor]) -> float:
        """The approximate KL of the current policy to the one that collected ``data``."""
        dist, _ = self.agent.forward_policy(self.policy, data["obs"], data["beliefs"])
        log_ratio = log_prob(self.policy, dist, data["actions"][:, None]).squeeze(1) - data["logprobs"]
        return float(approx_kl(log_ratio.exp(), log_ratio).mean())

    # -- checkpoints ----------------------------------------------------------------------
    def state_dict(self) -> dict:
        state: dict = {"agent": self.agent.state_dict(), "features": self.features.state_dict(),
                       "reward_normalizer": self.reward_normalizer.state_dict()}
        if self.actor.context is not None:
            state["context"] = dataclasses.asdict(self.actor.context)
        if self.modulator is not None:
            state["modulator"] = self.modulator.state_dict()
        return state

    def load_state_dict(self, state: dict) -> None:
        if "agent" in state:
            self.agent.load_state_dict(state["agent"])
        self.features.load_state_dict(state.get("features", {}))
        if "context" in state:
            self.actor.context = BeliefState(**state["context"])
        if "reward_normalizer" in state:
            saved = state["reward_normalizer"]
            self.reward_normalizer.returns = torch.zeros_like(saved["returns"])
            self.reward_normalizer.load_state_dict(saved)
        if self.modulator is not None and "modulator" in state:
            self.modulator.load_state_dict(state["modulator"])

    def load_pretrained(self, state: dict, source: str) -> None:
        """Adaptation starts from the pre-trained belief, conditioner and reward scale."""
        load_agent(self.agent, state, source)
        self.load_state_dict({"reward_normalizer": state["reward_normalizer"]}
                             if "reward_normalizer" in state else {})
