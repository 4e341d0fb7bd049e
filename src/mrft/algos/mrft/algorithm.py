"""MRFT as an actor-critic meta-learner over trials, with a task belief updated every step.

Every env plays trials of ``K = --trial-episodes`` episodes on fresh task instances; the
belief ``z_t`` (:mod:`mrft.algos.mrft.belief`) is updated after every step and carried
across the trial's episodes, and the base actor-critic acts under the parameters the
conditioner reads out of ``z_t``. Data comes as PPO's does, in chunks of ``--meta-num-steps``
steps per env that trials simply continue across (:mod:`mrft.trial_stream`); each chunk is
cut into rows at trial ends (:mod:`mrft.algos.mrft.stream_rows`), and each row's beliefs can
be recomputed from the state stored where it starts. The update is PPO's, per step, with
credit over the trial:

    A_t = GAE over the trial (its episodes back to back; only the trial's end is terminal)
          of r_t / sigma_R + alpha (gamma J(z_{t+1}) - J(z_t))  (reward scale; progress bonus)
    L   = clipped surrogate(A) - c_ent H + (c_v / 2) (V(s_t, z_t) - R_t)^2  (policy, critic)
        + c_b  E[(D(z_t, o_j, a_j) - symlog r_j)^2]           (belief: predict the trial's rewards,
                                                                and next observations with
                                                                --decode rewards+obs)
        + (J(z_t) - mean reward of the episode)^2             (the potential J)

What trains the belief is ``--belief-gradient``: its decoder alone (the policy reads the
belief each action was taken with, detached like the old log-probabilities), the policy
gradient alone (RL2, AMAGO) or both (the policy then reads beliefs recomputed with gradients
from each row's stored start). An update takes PPO's minibatches and passes for the family,
so MRFT learns as often per env step as PPO does.

Adaptation to a held-out instance runs the same algorithm: one endless trial on the
instance, the belief adapting in context from the first step and held to a pre-training
trial's span (it restarts from the latest episode's start once it would read more episodes
than a trial has), chunks ending where episodes end, and actor-critic updates with the belief
in the loop, each limited by the clipped surrogate as PPO's are and bounded in KL to the
policy before it (0.2 by default, ``--adapt-kl``).
The scored policy continues the belief as the latest adaptation episode started (see
:class:`~mrft.algos.mrft.belief_actor.BeliefActor`).
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Iterator

import numpy as np
import torch
from torch import nn

from mrft.algos.base import (
    DISTILL_STAGES,
    AlgoContext,
    Algorithm,
    Distillation,
    TrialStream,
    UpdatePlan,
)
from mrft.algos.mrft.belief import BeliefState, belief_loss
from mrft.algos.mrft.belief_actor import BeliefActor
from mrft.algos.mrft.belief_agent import (
    build_agent,
    load_agent,
    observation_features,
    upgraded_agent_state,
)
from mrft.algos.mrft.export import BeliefDistillSource, BeliefExporter, distill_config, fold_context
from mrft.algos.mrft.grad_mod import (
    GradientModulator,
    GradModConfig,
    assign_flat_grad,
    flatten_grads,
)
from mrft.algos.mrft.meta_policy import entropy as policy_entropy
from mrft.algos.mrft.meta_policy import log_prob
from mrft.algos.mrft.monitor import TaskFeatureMonitor
from mrft.algos.mrft.options import (
    PRESETS,
    VARIANTS,
    MRFTAdaptOptions,
    MRFTConfig,
    adapted_options,
    validate,
)
from mrft.algos.mrft.progress_bonus import potential_bonus
from mrft.algos.mrft.stream_rows import StreamRows, columns_state, row_start_states, state_columns
from mrft.algos.mrft.trust_region import KLTrustRegion
from mrft.algos.objectives import approx_kl, clipped_surrogate_per_step
from mrft.algos.sequences import scaled_trial_rewards, trial_gae
from mrft.batches import Actor, StreamBatch
from mrft.nets import ActorCritic
from mrft.normalize import RewardNormalizer, symlog


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


STEP_KEYS = ("obs", "actions", "logprobs", "advantages", "returns", "beliefs", "potential_targets",
             "task_ids")
"""Per-step data of an update (``[R, L, ...]`` by rows in :meth:`MRFT.prepare`)."""
ROW_KEYS = ("mask", "transitions", "obs_features", "encoded_actions", "symlog_rewards",
            "episode_index", "episode_end")
"""Per-row data the belief is recomputed and trained on."""


def scale_gradient(x: torch.Tensor, scale: float) -> torch.Tensor:
    """``x`` forward; backward, its gradient times ``scale`` (``--belief-policy-scale``)."""
    return x if scale == 1.0 else x.detach() + scale * (x - x.detach())


class MRFT(Algorithm):
    name = "mrft"
    Config = MRFTConfig
    AdaptOptions = MRFTAdaptOptions
    presets = PRESETS
    variants = VARIANTS
    summary = "meta-training over trials with a task belief that conditions the actor-critic"
    adapts_by = "MRFT in context and with its own actor-critic updates"
    supports_export = True
    supports_probe = True

    def __init__(self, cfg, policy: ActorCritic, ctx: AlgoContext):
        super().__init__(cfg, policy, ctx)
        m = self.m = cfg.mrft
        self.agent = build_agent(m, policy).to(ctx.device)
        self.tunes_agent = not ctx.adapting or m.adapt_meta_policy
        """False: adapting with the belief agent frozen (``--no-meta-policy-updates``); no
        gradient is computed for it, so the update skips the meta-policy's backward."""
        if not self.tunes_agent:
            self.agent.requires_grad_(False)
        self.reward_normalizer = RewardNormalizer(1, m.meta_gamma).to(ctx.device)
        self.actor = BeliefActor(self.agent, policy, keep_at=1 if ctx.adapting else None,
                                 span=m.trial_episodes if ctx.adapting else None)
        self.use_bonus = m.meta_learner and m.progress_bonus and m.progress_alpha > 0
        self.belief_coef = m.belief_coef if m.meta_learner else 0.0
        self.generator = torch.Generator().manual_seed(cfg.run.seed)
        conditioner = self.agent.conditioner
        self.shared = [*policy.parameters(), *(conditioner.parameters() if conditioner else ())]
        if m.belief_gradient != "decoder" and conditioner is not None:
            self.shared += list(self.agent.encoder.parameters())  # the policy gradient reaches it
        self.features = TaskFeatureMonitor(ctx.num_train_tasks, m.embed_dim)
        self._passes = 0
        """Passes begun over the current update's data (:meth:`minibatches` counts them)."""
        self._played_share = 1.0
        """The share of the current update's env ticks that were steps (not waits)."""
        self.modulator = None
        if m.grad_mod and ctx.num_train_tasks > 1 and not ctx.adapting:
            mod_cfg = GradModConfig(mode=m.grad_mod_mode, meta_ema=m.meta_grad_ema,
                                    noise_eta=m.grad_noise_eta, noise_gamma=m.grad_noise_gamma)
            self.modulator = GradientModulator(sum(p.numel() for p in self.shared), mod_cfg,
                                               seed=cfg.run.seed, device=ctx.device)

    @property
    def learning_rate_scale(self) -> float:
        """``--adapt-lr-scale`` while adapting; pre-training runs at the run's rate."""
        return self.m.adapt_lr_scale if self.ctx.adapting else 1.0

    @classmethod
    def validate_options(cls, options: MRFTConfig) -> None:
        validate(options)

    @classmethod
    def adaptation_config(cls, cfg, adapt_options: MRFTAdaptOptions):
        return dataclasses.replace(cfg, mrft=adapted_options(cfg.mrft, adapt_options))

    @classmethod
    def exporter(cls, cfg, policy: ActorCritic, algo_state: dict, source: str):
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
        return {"export": Actor(fold_context(self.agent, self.policy, self.actor.context))}

    def final_distillation(self, adapt_options: MRFTAdaptOptions | None) -> Distillation | None:
        """``--distill-steps N``: progressive distillation (:mod:`mrft.distillation`) of the
        adapted policy, teacher and student starting from the belief the scored policy starts
        from, into a context-free network, with N env steps outside the adaptation's budget."""
        steps = 0 if adapt_options is None else adapt_options.distill_steps
        if not self.ctx.adapting or steps <= 0 or self.agent.conditioner is None:
            return None
        scale = float(torch.sqrt(self.reward_normalizer.rms.var + 1e-8))
        source = BeliefDistillSource(self.agent, self.policy, self.actor.context, scale)
        return Distillation(source, distill_config(self.cfg, steps, DISTILL_STAGES))

    @classmethod
    def checkpoint_evaluation(cls, cfg, policy: ActorCritic, algo_state: dict,
                              source: str, deterministic: bool) -> tuple[Actor, int]:
        """Trials of K episodes from the prior belief, as in pre-training; an exported policy
        (``mrft export``: the fold or the distilled student, context-free) plays alone, one
        episode."""
        if "folded" in algo_state:
            return Actor(policy, deterministic), 1
        m = cfg.mrft
        agent = build_agent(m, policy)
        load_agent(agent, algo_state, source)
        return BeliefActor(agent.eval(), policy, deterministic), m.trial_episodes

    def modules(self) -> list[nn.Module]:
        return [self.policy, self.agent] if self.tunes_agent else [self.policy]

    def state_modules(self) -> list[nn.Module]:
        return [self.policy, self.agent, self.reward_normalizer]

    def evaluation_actor(self, deterministic: bool) -> Actor:
        """The adapted policy: each evaluation episode continues the belief as it was when
        the latest adaptation episode started (env ``i`` takes adapting env ``i mod n``'s);
        before any adaptation, the prior."""
        return BeliefActor(self.agent, self.policy, deterministic, start=self.actor.context)

    # -- data -----------------------------------------------------------------------------
    def collection(self) -> TrialStream:
        """Chunks of ``--meta-num-steps`` steps per env of trials that go on across chunks, so
        MRFT updates as often as PPO. Pre-training, each env plays trials of ``K`` episodes on
        fresh instances; adapting, one endless trial on the held-out instance, a chunk ending
        where an episode ends. A belief never spans more episodes than a pre-training trial:
        from episode ``K - 1`` on, every episode starts from the belief as that episode
        started, so each is played as a trial's last, and credit ends with each of them, as
        the critic learnt it at a trial's last episode."""
        if self.ctx.adapting:
            return TrialStream(int(self.m.meta_num_steps), None, self.actor, episode_chunks=True,
                               credit_episodes=self.m.trial_episodes)
        # the gradient inner loop refines each episode's offset on the trial so far, which a
        # row that continues a trial from an earlier chunk could not rebuild
        return TrialStream(int(self.m.meta_num_steps), self.m.trial_episodes, self.actor,
                           whole_trials=bool(self.m.inner_steps))

    @torch.no_grad()
    def prepare(self, batch: StreamBatch) -> UpdatePlan:
        m = self.m
        seq = StreamRows.from_batch(batch)
        n, length = seq.mask.shape
        rows = torch.arange(n, device=seq.mask.device)
        starts = row_start_states(batch.extras["start"], seq,
                                  self.agent.encoder.initial_state(n, seq.mask.device))
        obs_features = observation_features(self.policy, seq.obs)
        transitions = self.agent.transitions(obs_features, seq.actions, seq.rewards, seq.episode_end)
        # the belief after each row's last step, recomputed from the row's stored start
        final = self.agent.sequence(transitions, starts)[rows, seq.lengths]
        after = ~torch.cat([seq.mask, torch.zeros_like(seq.mask[:, :1])], dim=1)
        beliefs = torch.where(after[:, :, None], final[:, None, :],
                              torch.cat([seq.beliefs, final[:, None, :]], dim=1))
        rewards = scaled_trial_rewards(self.reward_normalizer, seq.rewards, seq.mask)
        stats: dict[str, float] = {}
        distance = self.features.distance(final)
        if distance is not None:
            stats["monitor/task_feature_distance"] = distance
        self.features.update(final, seq.task_ids)
        shaped = rewards
        if self.use_bonus:
            bonus = potential_bonus(self.agent.value_of_belief(beliefs), seq.mask, m.meta_gamma,
                                    m.progress_alpha, seq.terminated)
            shaped = rewards + bonus
            stats["mrft/progress_bonus"] = float(bonus[seq.mask].mean())
        adv, ret = trial_gae(shaped, seq.values, seq.mask, seq.final_value, seq.terminated,
                             m.meta_gamma, m.meta_gae_lambda)
        episodes = int(seq.episode_index.max()) + 1 if length else 1
        targets = episode_means(rewards, seq.episode_index, seq.mask, episodes)
        data = {"obs": seq.obs, "actions": seq.actions, "logprobs": seq.logprobs,
                "advantages": adv, "returns": ret, "beliefs": seq.beliefs,
                "potential_targets": targets, "mask": seq.mask,
                "task_ids": seq.task_ids[:, None].expand(n, length),
                "transitions": transitions, "obs_features": obs_features,
                "encoded_actions": self.agent.action_encoding(seq.actions),
                "symlog_rewards": symlog(seq.rewards), "lengths": seq.lengths,
                "episode_index": seq.episode_index, "episode_end": seq.episode_end,
                **state_columns(starts)}
        guard = None
        if self.ctx.adapting:
            kl_data = {key: data[key][seq.mask] for key in ("obs", "actions", "logprobs", "beliefs")}
            guard = KLTrustRegion([p for module in self.modules() for p in module.parameters()],
                                  m.adapt_kl, lambda: self._batch_kl(kl_data),
                                  self.cfg.optim.target_kl)
        # adapting, every episode from K - 1 on is played as a trial's last: one key for them
        last = m.trial_episodes - 1
        slots = [min(i, last) for i in batch.episode_index]
        for j in sorted(set(slots)):
            picked = [e for e, i in zip(batch.episodes, slots, strict=True) if i == j]
            stats[f"mrft/return_episode_{j}"] = float(np.mean([e.ret for e in picked]))
            successes = [e.success for e in picked if e.success is not None]
            if successes:
                stats[f"mrft/success_episode_{j}"] = float(np.mean(successes))
        self._passes = 0
        self._played_share = float(batch.valid.float().mean())
        return UpdatePlan(data, int(m.meta_iterations), stats, guard)

    def minibatches(self, data: dict[str, torch.Tensor],
                    generator: torch.Generator) -> Iterator[dict[str, torch.Tensor]]:
        """``--meta-minibatches`` minibatches per pass (or of about ``--meta-minibatch-size``
        steps), as PPO's. Where the policy gradient reaches the belief (``--belief-gradient``
        policy or both, pre-training), a minibatch is whole rows, as recurrent PPO forms them,
        and the rows' beliefs are recomputed from their stored starts. Otherwise the policy
        reads the stored beliefs: a minibatch is shuffled steps, and minibatch ``i`` of ``M``
        also carries rows ``i, i + M, ...`` for the belief loss, so each pass sees every row
        once (with fewer rows than minibatches, the last ones carry none). Where envs play in
        lockstep and episodes end at different ticks, some of a chunk's ticks are waits,
        not steps; the count shrinks with them (``M`` times the share of ticks that were
        steps, rounded up), keeping PPO's minibatch size and so its optimiser steps per env
        step."""
        self._passes += 1
        lengths = data["lengths"]
        steps = int(lengths.sum())
        if self.m.meta_minibatch_size:
            count = -(-steps // int(self.m.meta_minibatch_size))
        else:  # PPO's minibatch size: fewer minibatches where envs waited for their neighbours
            count = math.ceil(int(self.m.meta_minibatches) * self._played_share)
        rows = lengths.shape[0]
        if self._policy_reads_recomputed_beliefs():
            order = torch.randperm(rows, generator=generator).to(lengths.device)
            for index in order.tensor_split(max(1, min(count, rows))):
                yield self._minibatch(data, index, index, None)
            return
        count = max(1, min(count, steps))
        order = torch.randperm(steps, generator=generator).to(lengths.device)
        real = {key: data[key][data["mask"]] for key in STEP_KEYS}  # once per pass, not per minibatch
        for i, index in enumerate(order.tensor_split(count)):
            yield self._minibatch(data, torch.arange(rows, device=lengths.device)[i::count], index, real)

    def _belief_learns(self) -> bool:
        """Whether this pass trains the belief on its loss (``--belief-passes``)."""
        passes = self.m.belief_passes
        return self.belief_coef > 0 and self.m.belief_gradient != "policy" and (
            passes is None or self._passes <= passes)

    def _policy_reads_recomputed_beliefs(self) -> bool:
        return (not self.ctx.adapting and self.agent.conditioner is not None
                and self.m.belief_gradient != "decoder")

    @staticmethod
    def _minibatch(data: dict[str, torch.Tensor], rows: torch.Tensor, steps: torch.Tensor,
                   real: dict[str, torch.Tensor] | None) -> dict[str, torch.Tensor]:
        """Steps (``steps`` indexes the batch's real steps, row after row, which ``real``
        holds per step key; with whole rows, ``steps`` is ``rows``, the minibatch's steps are
        theirs and ``real`` is None) and rows (``row_*``, ``start_*``) of an update's data,
        each row cut to the longest one picked."""
        length = max(int(data["lengths"][rows].max()), 1) if len(rows) else 1
        mb = {f"row_{key}": data[key][rows, :length] for key in ROW_KEYS}
        mb["row_lengths"] = data["lengths"][rows]
        mb.update({key: value[rows] for key, value in data.items() if key.startswith("start_")})
        if steps is rows:
            mb.update({key: data[key][rows, :length][mb["row_mask"]] for key in STEP_KEYS})
        else:
            mb.update({key: real[key][steps] for key in STEP_KEYS})
        return mb

    # -- loss -----------------------------------------------------------------------------
    def _step_beliefs(self, mb: dict[str, torch.Tensor]) -> tuple[torch.Tensor, torch.Tensor | None]:
        """The belief each step of the minibatch acts on (``[B, E]``) and, when the belief
        learns in this update, the beliefs of the minibatch's rows (``[r, L + 1, E]``)
        recomputed from their stored starts, which its losses reach; where
        ``--belief-gradient`` lets the policy gradient in, the steps read them too (equal to
        what acting held, tested)."""
        m = self.m
        learns = not self.ctx.adapting and self.agent.conditioner is not None and (
            m.belief_gradient != "decoder" or self._belief_learns())
        if not learns or not mb["row_lengths"].numel():
            return mb["beliefs"], None
        beliefs = self.agent.refine_trials(
            self.agent.sequence(mb["row_transitions"], columns_state(mb)), mb["row_obs_features"],
            mb["row_encoded_actions"], mb["row_symlog_rewards"], mb["row_episode_index"],
            mb["row_lengths"], m.trial_episodes)
        if self._policy_reads_recomputed_beliefs():
            z = beliefs[:, :-1][mb["row_mask"]]
            return scale_gradient(z, m.belief_policy_scale), beliefs
        return mb["beliefs"], beliefs

    def loss(self, mb: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
        m = self.m
        z, trial_beliefs = self._step_beliefs(mb)
        dist, values = self.agent.forward_policy(self.policy, mb["obs"], z)
        logp = log_prob(self.policy, dist, mb["actions"][:, None]).squeeze(1)
        entropy = policy_entropy(self.policy, dist).squeeze(1)
        adv = mb["advantages"]
        if adv.numel() > 1 and (not self.ctx.adapting or m.adapt_norm_adv):
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
            task_ids = mb["task_ids"]
            keys = task_ids.unique()
            out["task_losses"] = torch.stack([per_step[task_ids == key].mean() for key in keys])
            out["task_keys"] = keys
        aux = (self.agent.value_of_belief(z.detach()) - mb["potential_targets"]).pow(2).mean()
        out["potential_loss"] = aux.detach()
        if trial_beliefs is not None and self._belief_learns():
            b_loss = belief_loss(self.agent.decoder, trial_beliefs, mb["row_obs_features"],
                                 mb["row_encoded_actions"], mb["row_symlog_rewards"], mb["row_lengths"],
                                 self.generator, obs_decoder=self.agent.obs_decoder,
                                 next_obs=self._next_obs_targets(mb))
            out["monitor/belief_loss"] = b_loss.detach()
            aux = aux + self.belief_coef * b_loss
        out["aux_loss"] = aux
        out["loss"] = per_step.mean() + aux
        return out

    def _next_obs_targets(self, mb: dict[str, torch.Tensor]) -> tuple[torch.Tensor, torch.Tensor] | None:
        """With ``--decode rewards+obs``: each step's next observation features and where one
        exists (a step inside the row that does not end an episode)."""
        if self.m.decode != "rewards+obs":
            return None
        features = mb["row_obs_features"]
        following = torch.cat([features[:, 1:], torch.zeros_like(features[:, :1])], dim=1)
        within = torch.arange(features.shape[1], device=features.device)[None, :] < mb["row_lengths"][:, None] - 1
        return following, within & ~mb["row_episode_end"]

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
                       "reward_normalizer": self.reward_normalizer.state_dict(),
                       "generator": self.generator.get_state()}
        if self.actor.context is not None:
            state["context"] = dataclasses.asdict(self.actor.context)
        stream = self.actor.stream_state()
        if stream:
            state["stream"] = stream
        if self.modulator is not None:
            state["modulator"] = self.modulator.state_dict()
        return state

    def load_state_dict(self, state: dict) -> None:
        if "agent" in state:
            self.agent.load_state_dict(upgraded_agent_state(state["agent"]))
        self.features.load_state_dict(state.get("features", {}))
        if "context" in state:
            self.actor.context = BeliefState(**state["context"])
        if "stream" in state:
            self.actor.load_stream_state(state["stream"])
        if "generator" in state:  # the belief loss's draws of target transitions
            self.generator.set_state(state["generator"])
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
