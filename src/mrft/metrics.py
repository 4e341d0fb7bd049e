"""Monitoring metrics computed during training (names as in DESIGN.md)."""

from __future__ import annotations

import torch


class EntropyChangeRate:
    """``monitor/entropy_change_rate``: d(mean policy entropy)/d(env steps) per 1e4 steps, EMA.

    A strongly negative rate flags a policy collapsing early; near zero late in training
    means the policy has settled.
    """

    def __init__(self, ema: float = 0.9, per_steps: float = 1e4):
        self.ema = ema
        self.per_steps = per_steps
        self.last_entropy: float | None = None
        self.last_step: int | None = None
        self.value: float | None = None

    def update(self, entropy: float, step: int) -> float | None:
        if self.last_entropy is not None and step > self.last_step:
            rate = (entropy - self.last_entropy) / (step - self.last_step) * self.per_steps
            self.value = rate if self.value is None else self.ema * self.value + (1 - self.ema) * rate
        self.last_entropy, self.last_step = entropy, step
        return self.value

    def state_dict(self) -> dict[str, torch.Tensor]:
        if self.last_entropy is None:
            return {}
        state = {"last_entropy": torch.tensor(self.last_entropy, dtype=torch.float64),
                 "last_step": torch.tensor(self.last_step)}
        if self.value is not None:
            state["value"] = torch.tensor(self.value, dtype=torch.float64)
        return state

    def load_state_dict(self, state: dict[str, torch.Tensor]) -> None:
        if "last_entropy" in state:
            self.last_entropy = float(state["last_entropy"])
            self.last_step = int(state["last_step"])
        self.value = float(state["value"]) if "value" in state else None
