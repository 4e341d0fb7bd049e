"""The methods a benchmark compares: how each one pre-trains and how it adapts.

A method is an algorithm plus the MRFT options that make an ablation, so a suite run and
an ablation study share one table and every method gets the same budgets and seeds.
"""

from __future__ import annotations

import dataclasses
from typing import Any

from mrft.errors import MrftError


@dataclasses.dataclass(frozen=True)
class Method:
    name: str
    algo: str
    """``mrft train --algo`` of the pre-training run."""
    mrft_options: tuple[tuple[str, Any], ...] = ()
    """MRFT options that define an ablation (``MRFTConfig`` field names)."""
    adapt_updates: bool = True
    """False: the adaptation plays the instance without changing a weight (in context only)."""
    kl_bound: bool = True
    """MRFT: False adapts without the ``--adapt-kl`` bound (an adaptation-only ablation)."""
    pretrain_as: str | None = None
    """Name of a method whose pre-trained checkpoint this one reuses (an adaptation-only ablation)."""
    oracle: bool = False
    """The policy sees each instance's hidden parameters (``--oracle``): a reference row."""


BASELINE = "grpo"
FOCUS = "mrft"
REFERENCE_ROWS = ("oracle", "context-free")
"""Rows that never adapt (scored as pre-trained): they bound a family's range, they do not
compete, so the report compares the focus method with the learning methods only."""

METHODS: dict[str, Method] = {m.name: m for m in (
    Method("grpo", "grpo"),
    Method("ppo", "ppo"),
    Method("mrft", "mrft"),
    Method("rl2", "rl2"),
    Method("mrft-no-meta-learner", "mrft", (("meta_learner", False),)),
    Method("mrft-no-belief-loss", "mrft", (("belief_coef", 0.0),)),
    Method("mrft-no-progress-bonus", "mrft", (("progress_bonus", False),)),
    Method("mrft-concat", "mrft", (("conditioning", "concat"),)),
    Method("mrft-set-encoder", "mrft", (("belief_encoder", "set"),)),
    Method("mrft-no-grad-mod", "mrft", (("grad_mod", False),)),
    Method("mrft-inner-loop", "mrft", (("inner_steps", 1),)),
    Method("mrft-in-context", "mrft", adapt_updates=False, pretrain_as="mrft"),
    Method("mrft-no-kl-bound", "mrft", pretrain_as="mrft", kl_bound=False),
    # reference rows: how much a family rewards knowing the instance, and how far a policy
    # gets without adapting at all (PPO's pre-trained policy, scored without an update)
    Method("oracle", "ppo", adapt_updates=False, oracle=True),
    Method("context-free", "ppo", adapt_updates=False, pretrain_as="ppo"),
)}


def parse_methods(text: str) -> list[str]:
    """``"grpo,ppo,mrft"`` -> names, checked, duplicates dropped, order kept."""
    names = [n.strip() for n in text.split(",") if n.strip()]
    if not names:
        raise MrftError("--methods is empty; give e.g. grpo,ppo,mrft")
    for name in names:
        if name not in METHODS:
            raise MrftError(f"unknown method {name!r}; choose from: {', '.join(METHODS)}")
    return list(dict.fromkeys(names))


def report_order(names: list[str]) -> list[str]:
    """Baseline first, the focus method second, the rest as given: the report's column order."""
    first = [n for n in (BASELINE, FOCUS) if n in names]
    return first + [n for n in names if n not in first]
