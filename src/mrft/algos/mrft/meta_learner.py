"""The bi-level meta-learner: context -> task embedding -> adapted parameters -> inner loop.

``MetaLearner.forward(contexts, lengths)`` is the fast, gradient-free half of adaptation:
the TCN encoder summarises what a trial has seen into ``z`` and the meta-policy turns ``z``
into FiLM / low-rank parameters. :func:`inner_adapt` is the slow half: ``k`` gradient
steps on those parameters with the trial's own support episodes,

    phi_{i+1} = phi_i - lr * grad_phi L_support(phi_i),

first-order by default (the step is treated as a constant, as in FOMAML), or with full
second-order terms through :func:`torch.func.grad` when ``second_order`` is set. The outer
update (in :mod:`mrft.algos.mrft.algorithm`) differentiates the query loss under the
adapted parameters with respect to the base policy, the encoder and the meta-policy.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import torch
from torch import nn

from mrft.algos.grpo import group_advantages
from mrft.algos.mrft.encoder import TemporalConvNet, context_dim, context_features
from mrft.algos.mrft.meta_policy import AdaptedParams, actor_forward, build_meta_policy, log_prob
from mrft.algos.mrft.progress_bonus import ProgressEstimator
from mrft.algos.objectives import clipped_surrogate_per_step, gae
from mrft.episodes import EpisodeRun
from mrft.nets import ActorCritic
from mrft.nets.torsos import MLP
from mrft.normalize import RunningMeanStd
from mrft.trials import TrialRecord, symlog

INNER_MAX_NORM = 1.0


def observation_feature_dim(policy: ActorCritic) -> int:
    torso = policy.actor_torso
    return torso.net[0].in_features if isinstance(torso, MLP) else torso.out_dim


@torch.no_grad()
def observation_features(policy: ActorCritic, obs: torch.Tensor) -> torch.Tensor:
    """What the encoder sees of an observation ``[..., *obs_shape]``: the normalised vector
    itself, or the base CNN's features for images (a frame is too large to feed raw)."""
    lead = obs.shape[: obs.dim() - len(policy.obs_shape)]
    if isinstance(policy.actor_torso, MLP):
        return obs.float().reshape(*lead, -1)
    flat = obs.reshape(-1, *obs.shape[len(lead):])
    return policy.actor_torso(flat).reshape(*lead, -1)


class MetaLearner(nn.Module):
    """Task encoder, meta-policy and the progress estimator J(z) of the progress bonus."""

    def __init__(self, policy: ActorCritic, embed_dim: int = 32, tcn_channels: int = 64,
                 tcn_levels: int = 5, head_rank: int = 4, d_model: int = 64, num_layers: int = 2):
        super().__init__()
        self.discrete_actions = None if policy.continuous else policy.action_dim
        in_dim = context_dim(observation_feature_dim(policy), policy.action_dim)
        self.encoder = TemporalConvNet(in_dim, tcn_channels, tcn_levels, 3, embed_dim)
        self.meta_policy = build_meta_policy(policy, embed_dim, head_rank, d_model, 4, num_layers)
        self.progress = ProgressEstimator(embed_dim)
        self.outcome_stats = RunningMeanStd(())
        """Running mean/std of episode outcomes: J is learnt on the standardised scale."""

    def embed(self, contexts: torch.Tensor, lengths: torch.Tensor) -> torch.Tensor:
        """``z``, layer-normalised: an unbounded embedding lets the outer loop inflate it until
        the adapted parameters saturate; a fixed scale keeps tasks comparable too."""
        z = self.encoder.embed(contexts, lengths)
        return nn.functional.layer_norm(z, z.shape[-1:])

    def forward(self, contexts: torch.Tensor, lengths: torch.Tensor) -> AdaptedParams:
        """Task samples (context windows ``[n, C, D]`` and valid lengths ``[n]``) -> adapted params."""
        return self.meta_policy(self.embed(contexts, lengths))

    def shared_parameters(self) -> list[nn.Parameter]:
        """Parameters the per-task gradients are taken over (J has its own loss)."""
        return [*self.encoder.parameters(), *self.meta_policy.parameters()]

    def _outcome_scale(self) -> tuple[torch.Tensor, torch.Tensor]:
        return self.outcome_stats.mean.float(), self.outcome_stats.var.float().sqrt().clamp_min(1e-6)

    def estimated_outcome(self, z: torch.Tensor) -> torch.Tensor:
        """J(z) on the outcome's own scale."""
        mean, std = self._outcome_scale()
        return self.progress(z) * std + mean

    def progress_loss(self, z: torch.Tensor, outcomes: torch.Tensor) -> torch.Tensor:
        mean, std = self._outcome_scale()
        return self.progress.loss(z.detach(), (outcomes - mean) / std)


def trial_surrogate(policy: ActorCritic, params: AdaptedParams | None, obs: torch.Tensor,
                    actions: torch.Tensor, old_logp: torch.Tensor, advantages: torch.Tensor,
                    mask: torch.Tensor, clip: float) -> torch.Tensor:
    """Per-trial clipped surrogate ``[n]``: the mean over each trial's valid steps."""
    dist, _ = actor_forward(policy, obs, params)
    logp = log_prob(policy, dist, actions)
    per_step, _, _ = clipped_surrogate_per_step(torch.where(mask, logp, 0.0),
                                                torch.where(mask, old_logp, 0.0),
                                                torch.where(mask, advantages, 0.0), clip)
    return per_step.sum(-1) / mask.sum(-1).clamp_min(1)


def clip_per_trial(grads: AdaptedParams, max_norm: float) -> AdaptedParams:
    """Scale each trial's gradient (row ``i`` of every tensor) to norm <= ``max_norm``."""
    sq = sum(g.pow(2).reshape(g.shape[0], -1).sum(1) for g in grads.values())
    scale = (max_norm / (sq.sqrt() + 1e-12)).clamp(max=1.0)
    return {k: g * scale.reshape(-1, *([1] * (g.dim() - 1))) for k, g in grads.items()}


def inner_adapt(params: AdaptedParams, support_loss: Callable[[AdaptedParams], torch.Tensor],
                steps: int, lr: float, second_order: bool = False,
                max_norm: float = INNER_MAX_NORM) -> AdaptedParams:
    """``steps`` gradient steps on ``params`` for ``support_loss`` (a scalar).

    ``support_loss`` must sum per-trial losses so each trial's parameters get their own
    trial's gradient at full scale. First-order steps detach the gradient; second-order
    steps keep it differentiable, so the outer gradient includes the Hessian terms. Each
    trial's step is clipped to norm ``max_norm`` (as the outer update is), so one odd
    support episode cannot throw the adapted parameters far off.
    """
    grad_fn = torch.func.grad(support_loss)
    for _ in range(steps):
        grads = clip_per_trial(grad_fn(params), max_norm)
        if not second_order:
            grads = {k: g.detach() for k, g in grads.items()}
        params = {k: params[k] - lr * grads[k] for k in params}
    return params


def episode_gae(rewards: torch.Tensor, values: torch.Tensor, mask: torch.Tensor, gamma: float,
                lam: float) -> torch.Tensor:
    """GAE over padded episodes ``[n, T]`` that end (value 0) after their last valid step:
    :func:`mrft.algos.objectives.gae` with a termination at each episode's last step."""
    n, _t_max = rewards.shape
    lengths = mask.sum(1)
    last = torch.zeros_like(mask)
    last[torch.arange(n, device=mask.device), (lengths - 1).clamp_min(0)] = lengths > 0
    adv, _ = gae(rewards.T, values.T, torch.zeros(n, dtype=rewards.dtype, device=rewards.device),
                 last.T, torch.zeros_like(last.T), mask.T, gamma, lam)
    return adv.T


def normalized(adv: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    valid = adv[mask]
    if valid.numel() < 2:
        return torch.where(mask, adv, 0.0)
    return torch.where(mask, (adv - valid.mean()) / valid.std().clamp_min(1e-8), 0.0)


def support_advantages(returns: torch.Tensor, group_ids: torch.Tensor, scale: str) -> torch.Tensor:
    """``[n, S]`` returns -> group-relative advantages per (group, episode index)."""
    n, s = returns.shape
    ids = group_ids[:, None] * s + torch.arange(s, device=returns.device)
    return group_advantages(returns.reshape(-1), ids.reshape(-1), scale).reshape(n, s)


class MetaAgent:
    """The acting side of MRFT for :class:`mrft.trials.TrialActor` and adaptation."""

    def __init__(self, policy: ActorCritic, learner: MetaLearner | None, inner_steps: int,
                 inner_lr: float, clip: float, scale_rewards: str, inner_objective: str = "grpo",
                 gamma: float = 0.99, gae_lambda: float = 0.95):
        self.policy = policy
        self.inner_objective = inner_objective
        self.gamma = gamma
        self.gae_lambda = gae_lambda
        self.context_dim = context_dim(observation_feature_dim(policy), policy.action_dim)
        self.learner = learner
        self.inner_steps = inner_steps
        self.inner_lr = inner_lr
        self.clip = clip
        self.scale_rewards = scale_rewards

    def adapted_params(self, contexts: torch.Tensor, lengths: torch.Tensor,
                       support: dict[str, torch.Tensor] | None,
                       second_order: bool = False) -> AdaptedParams | None:
        """Context -> parameters, then the inner loop on ``support`` (``[n, T', ...]`` tensors)."""
        if self.learner is None:
            return None
        return self.adapted_params_from(self.learner(contexts, lengths), support, second_order)

    def adapted_params_from(self, params: AdaptedParams, support: dict[str, torch.Tensor] | None,
                            second_order: bool = False) -> AdaptedParams:
        """The inner loop from context-given ``params`` (no-op without support or steps)."""
        if support is None or self.inner_steps == 0:
            return params

        def loss(p: AdaptedParams) -> torch.Tensor:
            return trial_surrogate(self.policy, p, support["obs"], support["actions"],
                                   support["logprobs"], support["advantages"], support["mask"],
                                   self.clip).sum()

        return inner_adapt(params, loss, self.inner_steps, self.inner_lr, second_order)

    def support_from_runs(self, runs: list[EpisodeRun], group_ids: torch.Tensor) -> dict[str, torch.Tensor]:
        returns = torch.tensor(np.stack([r.returns for r in runs], axis=1), dtype=torch.float32,
                               device=group_ids.device)
        mask = torch.cat([r.mask for r in runs], dim=1)
        if self.inner_objective == "ppo":
            advantages = normalized(torch.cat([self.gae(r) for r in runs], dim=1), mask)
        else:
            adv = support_advantages(returns, group_ids, self.scale_rewards)
            advantages = torch.cat([adv[:, j:j + 1].expand(-1, r.mask.shape[1])
                                    for j, r in enumerate(runs)], dim=1)
        return {
            "obs": torch.cat([r.obs for r in runs], dim=1),
            "actions": torch.cat([r.actions for r in runs], dim=1),
            "logprobs": torch.cat([r.logprobs for r in runs], dim=1),
            "mask": mask,
            "advantages": advantages,
        }

    @torch.no_grad()
    def gae(self, run: EpisodeRun) -> torch.Tensor:
        """Per-step GAE advantages of one episode per trial from the (base) critic."""
        n, t = run.mask.shape
        values = self.policy.value(run.obs.flatten(0, 1)).reshape(n, t)
        return episode_gae(run.rewards, values, run.mask, self.gamma, self.gae_lambda)

    def episode_params(self, record: TrialRecord, group_ids: torch.Tensor) -> AdaptedParams | None:
        if self.learner is None:
            return None
        contexts, lengths = record.windows[-1]
        support = self.support_from_runs(record.runs, group_ids) if record.runs else None
        with torch.enable_grad():
            params = self.adapted_params(contexts, lengths, support)
        return {k: v.detach() for k, v in params.items()}

    @torch.no_grad()
    def act(self, obs: torch.Tensor, params: AdaptedParams | None,
            deterministic: bool = False) -> tuple[torch.Tensor, torch.Tensor]:
        if params is None:
            action, logprob, _ = self.policy.act(obs, deterministic)
            return action, logprob
        dist, _ = actor_forward(self.policy, obs.unsqueeze(1), params)
        if deterministic:
            action = dist.mean if self.policy.continuous else dist.probs.argmax(-1)
        else:
            action = dist.sample()
        return action.squeeze(1), log_prob(self.policy, dist, action).squeeze(1)

    @torch.no_grad()
    def context_features(self, run: EpisodeRun) -> torch.Tensor:
        done = torch.zeros_like(run.mask)
        last = run.mask.sum(1) - 1
        done[torch.arange(done.shape[0]), last.clamp_min(0)] = True
        num_actions = None if self.policy.continuous else self.policy.action_dim
        return context_features(observation_features(self.policy, run.obs), run.actions,
                                symlog(run.rewards), done, num_actions=num_actions)
