"""PPO with GAE, value clipping and advantage normalisation (CleanRL ``ppo_procgen.py`` parity).

The math is in pure functions (:func:`gae`, :func:`clipped_surrogate`,
:func:`clipped_value_loss`) that tests call on hand-made tensors; :class:`PPO` only
wires them to rollout batches.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterator

import torch

from mrft.algos.batching import shuffled_minibatches
from mrft.config import PPOConfig
from mrft.nets import ActorCritic
from mrft.rollout import RolloutBatch

# Defaults per kind of task. Procgen = CleanRL ppo_procgen.py; continuous = CleanRL
# ppo_continuous_action.py scaled to vectorised envs; classic = CleanRL ppo.py.
PRESETS: dict[str, dict] = {
    "procgen": dict(learning_rate=5e-4, num_steps=256, gamma=0.999, num_minibatches=8,
                    update_epochs=3, ent_coef=0.01, normalize_reward=True, normalize_obs=False),
    "continuous": dict(learning_rate=3e-4, num_steps=256, gamma=0.99, num_minibatches=8,
                       update_epochs=5, ent_coef=0.0, normalize_reward=True, normalize_obs=True),
    "classic": dict(learning_rate=2.5e-4, num_steps=128, gamma=0.99, num_minibatches=4,
                    update_epochs=4, ent_coef=0.01, normalize_reward=False, normalize_obs=False),
}


def preset_name(family: str, continuous: bool) -> str:
    if family == "procgen":
        return "procgen"
    return "continuous" if continuous else "classic"


def resolve_ppo(cfg: PPOConfig, preset: str) -> PPOConfig:
    """Fill every ``None`` field from the preset; explicit values always win."""
    values = {k: v for k, v in PRESETS[preset].items() if getattr(cfg, k) is None}
    return dataclasses.replace(cfg, **values)


def gae(
    rewards: torch.Tensor,
    values: torch.Tensor,
    next_value: torch.Tensor,
    terminated: torch.Tensor,
    truncated: torch.Tensor,
    valid: torch.Tensor,
    gamma: float,
    lam: float,
) -> tuple[torch.Tensor, torch.Tensor]:
    """Generalised advantage estimation over ``[T, N]`` tensors; returns ``(advantages, returns)``.

    - ``terminated[t]``: no bootstrap after step t, and the advantage chain is cut.
    - ``truncated[t]``: bootstrap from ``values[t + 1]`` (the value of the true final
      observation, which next-step auto-reset envs return at that step) but cut the chain.
    - ``valid[t] == False`` marks the auto-reset transition: its advantage is 0.
    ``next_value`` is the value of the observation after the last step.
    """
    T = rewards.shape[0]
    advantages = torch.zeros_like(rewards)
    last = torch.zeros_like(next_value)
    term = terminated.to(rewards.dtype)
    cont = 1.0 - (terminated | truncated).to(rewards.dtype)
    mask = valid.to(rewards.dtype)
    for t in reversed(range(T)):
        v_next = next_value if t == T - 1 else values[t + 1]
        delta = rewards[t] + gamma * v_next * (1.0 - term[t]) - values[t]
        last = (delta + gamma * lam * cont[t] * last) * mask[t]
        advantages[t] = last
    return advantages, advantages + values


def clipped_surrogate(
    logp: torch.Tensor, old_logp: torch.Tensor, advantages: torch.Tensor, clip: float
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """PPO's clipped objective as a loss; returns ``(loss, clipfrac, approx_kl)``.

    ``approx_kl`` is the low-variance estimator ``E[(r - 1) - log r]`` (Schulman 2020).
    """
    log_ratio = logp - old_logp
    ratio = log_ratio.exp()
    unclipped = -advantages * ratio
    clipped = -advantages * ratio.clamp(1.0 - clip, 1.0 + clip)
    loss = torch.max(unclipped, clipped).mean()
    with torch.no_grad():
        clipfrac = ((ratio - 1.0).abs() > clip).float().mean()
        approx_kl = ((ratio - 1.0) - log_ratio).mean()
    return loss, clipfrac, approx_kl


def clipped_value_loss(
    new_values: torch.Tensor, old_values: torch.Tensor, returns: torch.Tensor, clip: float | None
) -> torch.Tensor:
    """``0.5 * E[max((v - R)^2, (v_old + clip(v - v_old) - R)^2)]``; plain MSE when ``clip`` is None."""
    unclipped = (new_values - returns).pow(2)
    if clip is None:
        return 0.5 * unclipped.mean()
    clipped_v = old_values + (new_values - old_values).clamp(-clip, clip)
    return 0.5 * torch.max(unclipped, (clipped_v - returns).pow(2)).mean()


def explained_variance(pred: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    var = target.var()
    return torch.where(var > 0, 1.0 - (target - pred).var() / var, torch.full_like(var, float("nan")))


class PPO:
    name = "ppo"

    def __init__(self, cfg: PPOConfig, policy: ActorCritic):
        self.cfg = cfg
        self.policy = policy
        self.update_epochs = int(cfg.update_epochs)
        self.batch_stats: dict[str, float] = {}

    def prepare(self, batch: RolloutBatch) -> dict[str, torch.Tensor]:
        adv, ret = gae(
            batch.rewards, batch.values, batch.next_value, batch.terminated, batch.truncated,
            batch.valid, self.cfg.gamma, self.cfg.gae_lambda,
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
        return shuffled_minibatches(data, self.cfg.num_minibatches, generator)

    def loss(self, mb: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
        logp, entropy, values = self.policy.evaluate(mb["obs"], mb["actions"])
        adv = mb["advantages"]
        if self.cfg.norm_adv and adv.numel() > 1:
            adv = (adv - adv.mean()) / (adv.std() + 1e-8)
        pg_loss, clipfrac, approx_kl = clipped_surrogate(logp, mb["logprobs"], adv, self.cfg.clip_coef)
        v_loss = clipped_value_loss(
            values, mb["values"], mb["returns"], self.cfg.clip_coef if self.cfg.clip_vloss else None
        )
        ent = entropy.mean()
        loss = pg_loss - self.cfg.ent_coef * ent + self.cfg.vf_coef * v_loss
        return {
            "loss": loss,
            "policy_loss": pg_loss.detach(),
            "value_loss": v_loss.detach(),
            "entropy": ent.detach(),
            "approx_kl": approx_kl,
            "clipfrac": clipfrac,
            "explained_variance": explained_variance(mb["values"], mb["returns"]),
        }

    def stop_early(self, diagnostics: dict[str, float]) -> bool:
        target = self.cfg.target_kl
        return target is not None and diagnostics.get("approx_kl", 0.0) > target

    def after_update(self, update: int) -> None:
        """PPO keeps no state between updates."""

    def state_dict(self) -> dict:
        return {}

    def load_state_dict(self, state: dict) -> None:
        """Nothing to restore: all PPO state lives in the policy and optimiser."""
