"""PPO with GAE, value clipping and advantage normalisation (CleanRL ``ppo_procgen.py`` parity).

The math is in pure functions (:func:`mrft.algos.objectives.gae`, :func:`clipped_surrogate`,
:func:`clipped_value_loss`) that tests call on hand-made tensors; :class:`PPO` only
wires them to batches. Pre-training collects fixed-horizon rollouts (auto-reset, exact-resume
action log); adaptation to a held-out instance plays whole episodes of that instance and
keeps learning the critic (the batch becomes a rollout with one column per episode).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterator

import torch
from torch import nn

from mrft.algos.base import (
    AlgoContext,
    Algorithm,
    Episodes,
    Rollouts,
    UpdatePlan,
    Variant,
    check,
)
from mrft.algos.batching import shuffled_minibatches
from mrft.algos.objectives import approx_kl, clipped_surrogate_per_step, gae
from mrft.batches import EpisodeBatch, RolloutBatch
from mrft.nets import ActorCritic
from mrft.normalize import RewardNormalizer


@dataclasses.dataclass
class PPOConfig:
    """PPO options (CleanRL names; presets per env family)."""

    num_steps: int | None = None
    """Steps per env per rollout; when unset, the family preset: 256 Procgen and continuous, 128 classic."""
    gamma: float | None = None
    """Discount factor; when unset, the family preset: 0.999 Procgen, 0.99 otherwise."""
    gae_lambda: float = 0.95
    """GAE lambda."""
    num_minibatches: int | None = None
    """Minibatches per epoch; when unset, the family preset: 8 Procgen and continuous, 4 classic."""
    update_epochs: int | None = None
    """Passes over each rollout; when unset, the family preset: 3 Procgen, 5 continuous, 4 classic."""
    norm_adv: bool = True
    """Normalise advantages inside each minibatch."""
    clip_coef: float = 0.2
    """Surrogate clipping range epsilon."""
    clip_vloss: bool = True
    """Clip the value update around the old value estimate."""
    ent_coef: float | None = None
    """Entropy bonus coefficient; when unset, the family preset: 0.01 discrete, 0.0 continuous."""
    vf_coef: float = 0.5
    """Value loss coefficient."""
    normalize_reward: bool | None = None
    """Scale rewards by the running std of the discounted return; when unset, the family preset: off
    for classic control, on otherwise."""
    microbatch_size: int | None = None
    """Run each minibatch's forward and backward passes in micro-batches of at most this many
    steps, adding up their gradients: the same update with a fraction of the activation memory
    (Procgen preset: 256 of a 2,048-frame minibatch); unset: the whole minibatch at once."""


_CONTINUOUS = {"num_steps": 256, "gamma": 0.99, "num_minibatches": 8, "update_epochs": 5,
               "ent_coef": 0.0, "normalize_reward": True}
PRESETS = {
    # CleanRL ppo_procgen.py
    "images": {"num_steps": 256, "gamma": 0.999, "num_minibatches": 8, "update_epochs": 3,
                "ent_coef": 0.01, "normalize_reward": True, "microbatch_size": 256},
    # CleanRL ppo_continuous_action.py's settings scaled to larger vectorised batches
    "continuous": _CONTINUOUS,
    # MuJoCo bodies: CleanRL ppo_continuous_action.py's update, 2,048 env steps (16 envs x
    # 128) in 32 minibatches of 64 for 10 epochs; the "continuous" update (40 optimiser
    # steps per 4,096 env steps) left PPO near a motionless policy on Reacher after 150k
    # steps (-43 against -8.2 with this one) and its oracle unable to balance a pendulum
    # whose motor may be reversed (benchmarks/results/mujoco_preset/)
    "mujoco": {**_CONTINUOUS, "num_steps": 128, "num_minibatches": 32, "update_epochs": 10},
    # CleanRL ppo.py
    "classic": {"num_steps": 128, "gamma": 0.99, "num_minibatches": 4, "update_epochs": 4,
                "ent_coef": 0.01, "normalize_reward": False},
}


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
    Config = PPOConfig
    presets = PRESETS
    summary = "actor-critic with GAE and a clipped surrogate (CleanRL parity)"
    adapts_by = "PPO with PPO"
    variants = (
        # reference rows: how much a family rewards knowing the instance, and how far a policy
        # gets without adapting at all (PPO's pre-trained policy, scored without an update)
        Variant("oracle", adapt_updates=False, oracle=True, reference=True,
                adapts_by="the oracle not at all (it sees the hidden parameters)"),
        Variant("context-free", adapt_updates=False, pretrain_as="ppo", reference=True,
                adapts_by="context-free not at all (PPO's pre-trained policy as it is)"),
    )

    def __init__(self, cfg, policy: ActorCritic, ctx: AlgoContext):
        super().__init__(cfg, policy, ctx)
        self.ppo = cfg.ppo
        self.reward_normalizer = (RewardNormalizer(ctx.num_envs, cfg.ppo.gamma).to(ctx.device)
                                  if cfg.ppo.normalize_reward else None)

    @classmethod
    def validate_options(cls, ppo: PPOConfig) -> None:
        check(ppo.num_steps is None or ppo.num_steps > 0, f"--num-steps must be > 0, got {ppo.num_steps}")
        check(ppo.gamma is None or 0.0 < ppo.gamma <= 1.0, f"--gamma must be in (0, 1], got {ppo.gamma}")
        check(0.0 <= ppo.gae_lambda <= 1.0, f"--gae-lambda must be in [0, 1], got {ppo.gae_lambda}")
        check(ppo.num_minibatches is None or ppo.num_minibatches > 0,
              f"--num-minibatches must be > 0, got {ppo.num_minibatches}")
        check(ppo.update_epochs is None or ppo.update_epochs > 0,
              f"--update-epochs must be > 0, got {ppo.update_epochs}")
        check(ppo.clip_coef > 0, f"--clip-coef must be > 0, got {ppo.clip_coef}")
        check(ppo.ent_coef is None or ppo.ent_coef >= 0, f"--ent-coef must be >= 0, got {ppo.ent_coef}")
        check(ppo.vf_coef >= 0, f"--vf-coef must be >= 0, got {ppo.vf_coef}")

    @classmethod
    def resolve(cls, cfg, num_train_tasks: int, default_envs: int):
        cfg = super().resolve(cfg, num_train_tasks, default_envs)
        rollout = cfg.env.num_envs * cfg.ppo.num_steps
        check(cfg.ppo.num_minibatches <= rollout,
              f"--num-minibatches {cfg.ppo.num_minibatches} exceeds the rollout size "
              f"{rollout} (num_envs x num_steps)")
        return cfg

    def collection(self) -> Rollouts | Episodes:
        """Pre-training: fixed-horizon rollouts; adaptation: whole episodes of the instance."""
        return Episodes() if self.ctx.adapting else Rollouts(self.ppo.num_steps)

    def state_modules(self) -> list[nn.Module]:
        extra = [self.reward_normalizer] if self.reward_normalizer is not None else []
        return [*self.modules(), *extra]

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

    def prepare(self, batch: RolloutBatch | EpisodeBatch) -> UpdatePlan:
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
        return UpdatePlan({k: v[keep] for k, v in flat.items()}, int(self.ppo.update_epochs))

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
        minibatch's gradient; the loss returned is detached, so :meth:`backward` has nothing
        left to do."""
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
        return sums

    def backward(self, out: dict[str, torch.Tensor]) -> dict[str, float]:
        """A micro-batched loss (:meth:`_accumulated_loss`) has filled ``.grad`` already and
        hands back a loss without a graph: nothing is left to do for it."""
        if out["loss"].requires_grad:
            out["loss"].backward()
        return {}

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
