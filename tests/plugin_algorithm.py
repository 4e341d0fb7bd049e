"""An algorithm registered from outside mrft (``MRFT_PLUGINS=tests/plugin_algorithm.py``), with
options, presets, checks, an adaptation option and a bench variant of its own."""

from __future__ import annotations

import dataclasses
import math
from typing import ClassVar

from mrft import algos
from mrft.algos.base import Algorithm, Episodes, UpdatePlan, Variant, check


@dataclasses.dataclass
class ReinforceConfig:
    """REINFORCE options."""

    reinforce_epochs: int = 1
    """Passes over each batch of episodes."""
    reinforce_baseline: bool = True
    """Subtract the batch's mean return."""
    reinforce_entropy: float | None = None
    """Entropy bonus; when unset, the family preset."""


@dataclasses.dataclass
class ReinforceAdaptOptions:
    """Options of REINFORCE's adaptation."""

    adapt_epochs: int | None = None
    """Passes over each adaptation batch (unset: --reinforce-epochs)."""


@algos.register
class Reinforce(Algorithm):
    name = "reinforce"
    Config = ReinforceConfig
    AdaptOptions = ReinforceAdaptOptions
    presets: ClassVar[dict] = {"continuous": {"reinforce_entropy": 0.0},
                               "classic": {"reinforce_entropy": 0.01}}
    variants = (Variant("reinforce-no-baseline", (("reinforce_baseline", False),)),)
    summary = "REINFORCE on whole episodes"
    adapts_by = "REINFORCE with REINFORCE"

    @classmethod
    def validate_options(cls, options: ReinforceConfig) -> None:
        check(options.reinforce_epochs >= 1,
              f"--reinforce-epochs must be >= 1, got {options.reinforce_epochs}")

    @classmethod
    def adaptation_config(cls, cfg, adapt_options: ReinforceAdaptOptions):
        if adapt_options.adapt_epochs is None:
            return cfg
        return dataclasses.replace(cfg, reinforce=dataclasses.replace(
            cfg.reinforce, reinforce_epochs=adapt_options.adapt_epochs))

    def collection(self) -> Episodes:
        return Episodes()

    def prepare(self, batch) -> UpdatePlan:
        returns = batch.flat("returns")
        data = {"obs": batch.flat("obs"), "actions": batch.flat("actions"),
                "mask": batch.flat("mask"), "returns": returns}
        return UpdatePlan(data, self.cfg.reinforce.reinforce_epochs,
                          stats={"reinforce/mean_return": float(returns.mean())})

    def loss(self, mb):
        opts = self.cfg.reinforce
        logp, entropy, _ = self.policy.evaluate(mb["obs"][mb["mask"]], mb["actions"][mb["mask"]])
        weight = mb["returns"][:, None].expand_as(mb["mask"])[mb["mask"]]
        if opts.reinforce_baseline:
            weight = weight - weight.mean()
        loss = -(logp * weight).mean() - opts.reinforce_entropy * entropy.mean()
        assert math.isfinite(opts.reinforce_entropy)
        return {"loss": loss, "policy_loss": loss.detach(), "entropy": entropy.mean().detach()}
