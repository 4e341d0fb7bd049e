"""MRFT's adaptation trust region: every update bounded in KL to the policy before it (0.2
by default, ``--adapt-kl``; with ``--no-kl-bound`` the guard only counts steps).

A fresh optimiser's first steps move every parameter by about the learning rate whatever
its gradient, and on a nearly deterministic policy that can flip an action the belief had
right. A bound makes adaptation unable to do that, while the steps taken before it is
reached are kept (a pass of many minibatches can cross it long before its end). At the
streaming update a bound of 0.02 also ended nearly every update after a few steps; without
one, fresh Adam's first steps through the meta-policy's read-outs collapsed some nav
adaptations; the `cpu` suite's adaptation ablation chose 0.2 (docs/mrft.md, "What the KL
bound costs").

One :class:`KLTrustRegion` lives for one update: MRFT's ``prepare`` makes it (the batch's
KL data and the parameters before the update are its state) and hands it to the engine as
the update's guard, which consults it around every optimiser step.
"""

from __future__ import annotations

from collections.abc import Callable

import torch

from mrft.algos.base import UpdateGuard


class KLTrustRegion(UpdateGuard):
    """The adaptation's constrained policy search.

    Before every optimiser step, ``batch_kl()`` is the current policy's KL to the one that
    collected the batch, on the whole batch (an adaptation batch is small: one forward pass).
    Within ``bound`` the current parameters become the accepted ones; once it is crossed the
    guard halts (the engine takes no further step), the parameters go back to the last
    accepted ones and the update ends, so every update ends within the bound on the batch
    it learnt from. ``bound=None``: no bound, every step stands, ``target_kl`` ends the
    epochs as in PPO's adaptation, and the batch KL, for the log only, is measured once, when
    the update has ended (:meth:`stats`), not after every pass.
    """

    def __init__(self, params: list[torch.nn.Parameter], bound: float | None,
                 batch_kl: Callable[[], float], target_kl: float | None = None):
        super().__init__(target_kl)
        self.params = params
        self.bound = bound
        self.batch_kl = batch_kl
        self.accepted = self._snapshot() if bound is not None else []
        """The parameters to go back to (none to keep without a bound)."""
        self.halted = False
        self.steps = 0
        """Optimiser steps of this update so far (each follows one check that passed)."""
        self.accepted_steps = 0
        self._stats: dict[str, float] = {}
        self._log_kl = False
        """Without a bound: a pass has ended, so :meth:`stats` measures the update's KL."""

    def share(self, ranks) -> None:
        """Every rank measures the mean of the ranks' batch KLs (the KL on their batches
        together), so every rank accepts, halts and restores the same parameters."""
        local = self.batch_kl
        self.batch_kl = lambda: ranks.total(local()) / ranks.world

    def before_step(self, out: dict[str, torch.Tensor]) -> None:
        if self.halted:
            return
        if self.bound is not None:  # no bound: every step stands (after_epoch counts them)
            kl = self.batch_kl()
            self._stats["mrft/adapt_kl"] = kl
            if kl > self.bound:
                self.halted = True
                return
            self.accepted = self._snapshot()
            self.accepted_steps = self.steps
        self.steps += 1

    def after_epoch(self, diagnostics: dict[str, float]) -> bool:
        self._stats["mrft/adapt_steps"] = float(self.steps)
        if self.bound is None:
            self.accepted_steps = self.steps
            self._stats["mrft/adapt_accepted_steps"] = float(self.accepted_steps)
            self._log_kl = True
            return super().after_epoch(diagnostics)
        kl = self.batch_kl()
        self._stats["mrft/adapt_kl"] = kl
        if self.halted or kl > self.bound:
            self._restore(self.accepted)
            self._stats["mrft/adapt_halted"] = 1.0
            self._stats["mrft/adapt_accepted_steps"] = float(self.accepted_steps)
            return True
        self.accepted = self._snapshot()
        self.accepted_steps = self.steps
        self._stats["mrft/adapt_accepted_steps"] = float(self.accepted_steps)
        return False

    def stats(self) -> dict[str, float]:
        if self._log_kl:  # the KL where the update ended, once
            self._stats["mrft/adapt_kl"] = self.batch_kl()
            self._log_kl = False
        return dict(self._stats)

    def _snapshot(self) -> list[torch.Tensor]:
        return [p.detach().clone() for p in self.params]

    @torch.no_grad()
    def _restore(self, values: list[torch.Tensor]) -> None:
        for param, value in zip(self.params, values, strict=True):
            param.copy_(value)
