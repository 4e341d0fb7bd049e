"""PPO with GAE, value clipping and advantage normalisation (CleanRL ``ppo_procgen.py`` parity).

The math is in pure functions (:func:`mrft.algos.objectives.gae`, :func:`clipped_surrogate`,
:func:`clipped_value_loss`) that tests call on hand-made tensors; :class:`PPO` only
wires them to batches. Pre-training collects fixed-horizon rollouts (auto-reset, exact-resume
action log); adaptation to a held-out instance plays whole episodes of that instance and
keeps learning the critic (the batch becomes a rollout with one column per episode).
"""

from __future__ import annotations

from collections.abc import Iterator

import torch
from torch import nn

from mrft.algos.base import AlgoContext, Algorithm
from mrft.algos.batching import shuffled_minibatches
from mrft.algos.objectives import approx_kl, clipped_surrogate_per_step, gae
from mrft.config import TrainConfig
from mrft.episodes import EpisodeBatch
from mrft.nets import ActorCritic
from mrft.normalize import RewardNormalizer
from mrft.rollout import RolloutBatch, RolloutCollector


def clipped_surrogate(
    logp: torch.Tensor, old_logp: torch.Tensor, advantages: torch.Tensor, clip: float
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """PPO's clipped objective as a loss; returns ``(loss, clipfrac, approx_kl)``.

    ``approx_kl`` is the low-variance estimator ``E[(r - 1) - log r]`` (Schulman 2020).
    """
    per_step, ratio, log_ratio = clipped_surrogate_per_step(logp, old_logp, advantages, clip)
    with torch.no_grad():
        clipfrac = ((ratio - 1.0).abs() > clip).float().mean()
        kl = approx_kl(ratio, log_ratio).mean()
    return per_step.mean(), clipfrac, kl


def clipped_value_loss(
    new_values: torch.Tensor, old_values: torch.Tensor, returns: torch.Tensor, clip: float | None
) -> torch.Tensor:
    """``0.5 * E[max((v - R)^2, (v_old + clip(v - v_old) - R)^2)]``; plain MSE when ``clip`` is None."""
    unclipped = (new_values - returns).pow(2)
    if clip is None:
        return 0.5 * unclipped.mean()
    clipped_v = old_values + (new_values - old_values).clamp(-clip, clip)
    return 0.5 * torch.max(unclipped, (clipped_v - returns).pow(2)).mean()


def ppo_loss(logp: torch.Tensor, old_logp: torch.Tensor, entropy: torch.Tensor,
             values: torch.Tensor, old_values: torch.Tensor, returns: torch.Tensor,
             advantages: torch.Tensor, *, clip: float, value_clip: float | None,
             ent_coef: float, vf_coef: float, norm_adv: bool) -> dict[str, torch.Tensor]:
    """PPO's loss on flat per-step tensors (advantages normalised here when ``norm_adv``),
    with the diagnostics every actor-critic logs; shared by PPO and RL2."""
    if norm_adv and advantages.numel() > 1:
        advantages = (advantages - advantages.mean()) / (advantages.std() + 1e-8)
    pg_loss, clipfrac, kl = clipped_surrogate(logp, old_logp, advantages, clip)
    v_loss = clipped_value_loss(values, old_values, returns, value_clip)
    ent = entropy.mean()
    return {
        "loss": pg_loss - ent_coef * ent + vf_coef * v_loss,
        "policy_loss": pg_loss.detach(),
        "value_loss": v_loss.detach(),
        "entropy": ent.detach(),
        "approx_kl": kl,
        "clipfrac": clipfrac,
        "explained_variance": explained_variance(old_values, returns),
    }


def explained_variance(pred: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    """1 - Var(target - pred) / Var(target); NaN where the target has no variance (a batch
    cut to one step at the end of a budget included)."""
    if target.numel() < 2:
        return torch.full((), float("nan"), dtype=target.dtype)
    var = target.var()
    return torch.where(var > 0, 1.0 - (target - pred).var() / var, torch.full_like(var, float("nan")))


class PPO(Algorithm):
    name = "ppo"

    def __init__(self, cfg: TrainConfig, policy: ActorCritic, ctx: AlgoContext):
        super().__init__(cfg, policy, ctx)
        self.ppo = cfg.ppo
        self.update_epochs = int(cfg.ppo.update_epochs)
        self.reward_normalizer = (RewardNormalizer(ctx.num_envs, cfg.ppo.gamma).to(ctx.device)
                                  if cfg.ppo.normalize_reward else None)
        self._backward_done = False
        """Set by a micro-batched loss, which fills ``.grad`` itself (:meth:`backward`)."""

    @classmethod
    def resolve(cls, cfg: TrainConfig, num_train_tasks: int, default_envs: int) -> TrainConfig:
        from mrft.errors import MrftError

        cfg = super().resolve(cfg, num_train_tasks, default_envs)
        rollout = cfg.env.num_envs * cfg.ppo.num_steps
        if cfg.ppo.num_minibatches > rollout:
            raise MrftError(f"--num-minibatches {cfg.ppo.num_minibatches} exceeds the rollout size "
                            f"{rollout} (num_envs x num_steps)")
        return cfg

    def make_collector(self):
        if self.ctx.adapting:
            return super().make_collector()
        from mrft import envs

        env = envs.make_vec_env(self.ctx.tasks, self.ctx.num_envs, self.ctx.env_seed)
        return RolloutCollector(env, self.policy, self.ppo.num_steps, self.ctx.device,
                                action_log_limit=self.ctx.action_log_limit)

    def modules(self) -> list[nn.Module]:
        return [self.policy]

    @torch.no_grad()
    def _normalized_rewards(self, batch: RolloutBatch) -> torch.Tensor:
        """Rewards scaled by the running std of the discounted return, in time order."""
        norm = self.reward_normalizer
        if norm is None:
            return batch.rewards
        if norm.returns.shape[0] != batch.rewards.shape[1]:
            # episode batches start every column at a fresh episode: no return carries over
            norm.returns = torch.zeros(batch.rewards.shape[1], dtype=norm.returns.dtype,
                                       device=norm.returns.device)
        done = (batch.terminated | batch.truncated) & batch.valid
        out = torch.stack([norm(batch.rewards[t], batch.valid[t], done[t])
                           for t in range(batch.rewards.shape[0])])
        return torch.where(batch.valid, out, 0.0)

    def prepare(self, batch: RolloutBatch | EpisodeBatch) -> dict[str, torch.Tensor]:
        if isinstance(batch, EpisodeBatch):
            batch = batch.as_rollout()
        adv, ret = gae(
            self._normalized_rewards(batch), batch.values, batch.next_value, batch.terminated,
            batch.truncated, batch.valid, self.ppo.gamma, self.ppo.gae_lambda,
        )
        keep = batch.valid.reshape(-1)
        flat = {
            "obs": batch.obs.reshape(-1, *batch.obs.shape[2:]),
            "actions": batch.actions.reshape(-1, *batch.actions.shape[2:]),
            "logprobs": batch.logprobs.reshape(-1),
            "values": batch.values.reshape(-1),
            "advantages": adv.reshape(-1),
            "returns": ret.reshape(-1),
        }
        return {k: v[keep] for k, v in flat.items()}

    def minibatches(
        self, data: dict[str, torch.Tensor], generator: torch.Generator
    ) -> Iterator[dict[str, torch.Tensor]]:
        return shuffled_minibatches(data, self.ppo.num_minibatches, generator)

    def loss(self, mb: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
        size = self.ppo.microbatch_size
        if size is not None and mb["advantages"].numel() > size and torch.is_grad_enabled():
            return self._accumulated_loss(mb, size)
        return self._loss(mb, norm_adv=self.ppo.norm_adv)

    def _loss(self, mb: dict[str, torch.Tensor], norm_adv: bool) -> dict[str, torch.Tensor]:
        ppo = self.ppo
        logp, entropy, values = self.policy.evaluate(mb["obs"], mb["actions"])
        return ppo_loss(logp, mb["logprobs"], entropy, values, mb["values"], mb["returns"],
                        mb["advantages"], clip=ppo.clip_coef,
                        value_clip=ppo.clip_coef if ppo.clip_vloss else None,
                        ent_coef=ppo.ent_coef, vf_coef=ppo.vf_coef, norm_adv=norm_adv)

    def _accumulated_loss(self, mb: dict[str, torch.Tensor], size: int) -> dict[str, torch.Tensor]:
        """The minibatch's loss and gradient, computed ``size`` steps at a time: the advantages
        are normalised over the whole minibatch first, then each micro-batch's mean loss,
        weighted by its share of the minibatch, is back-propagated at once (its activations
        freed before the next). The sum is the minibatch's mean loss and its gradient the
        minibatch's gradient; :meth:`backward` then has nothing left to do."""
        mb = dict(mb)
        if self.ppo.norm_adv:
            adv = mb["advantages"]
            mb["advantages"] = (adv - adv.mean()) / (adv.std() + 1e-8)
        total = mb["advantages"].shape[0]
        sums: dict[str, torch.Tensor] = {}
        for start in range(0, total, size):
            chunk = {k: v[start:start + size] for k, v in mb.items()}
            share = chunk["advantages"].shape[0] / total
            out = self._loss(chunk, norm_adv=False)
            (out["loss"] * share).backward()
            for key, value in out.items():
                if key != "explained_variance":
                    sums[key] = sums.get(key, 0.0) + value.detach() * share
        sums["explained_variance"] = explained_variance(mb["values"], mb["returns"])
        self._backward_done = True
        return sums

    def backward(self, out: dict[str, torch.Tensor]) -> dict[str, float]:
        if self._backward_done:
            self._backward_done = False  # the micro-batches already filled .grad
            return {}
        return super().backward(out)

    def state_dict(self) -> dict:
        if self.reward_normalizer is None:
            return {}
        return {"reward_normalizer": self.reward_normalizer.state_dict()}

    def load_state_dict(self, state: dict) -> None:
        if self.reward_normalizer is not None and "reward_normalizer" in state:
            saved = state["reward_normalizer"]
            self.reward_normalizer.returns = torch.zeros_like(saved["returns"])
            self.reward_normalizer.load_state_dict(saved)

    def load_pretrained(self, state: dict, source: str) -> None:
        """Adaptation keeps the reward scale the critic was trained on."""
        self.load_state_dict(state)
