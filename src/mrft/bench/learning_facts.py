"""The report's "How each method learned" section: what every method actually got, where the
protocol's equal budgets leave room for difference.

Every method gets the same pre-training and adaptation budgets in env steps, but not the
same use of them, and a reader comparing scores should see how they differ. Per family and
method, means over its runs:

- env steps spent, in pre-training and in adaptation: a collector of whole episodes stops
  when what is left of the budget cannot pay for a batch of the longest episodes, so it may
  spend less than the budget;
- optimiser steps per 1,000 env steps, in each phase: the update rate each method's own
  settings give (a trust region's undone steps included);
- the parameters the optimiser trains (the whole network a method acts with, besides
  reference rows that never update);
- the adaptation step of the first evaluation after step 0: a curve is scored at the first
  update past each ``eval_every``, so a method whose batches are larger is scored later.

Records written before a figure was kept show ``—`` for it.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from mrft.bench.loading import BenchData
from mrft.bench.methods import reference_rows
from mrft.bench.text import MISSING

CAPTION = (
    "Every method gets the same budgets in env steps; this is how each used them (means over its "
    "runs). Collectors of whole episodes stop when the budget left cannot pay for a batch of the "
    "longest episodes, so they may spend less. Optimiser steps per 1,000 env steps are each "
    "method's own update rate (MRFT's adaptation under a KL bound counts the steps it undid). Parameters: "
    "what the optimiser trains. First adapted point: the adaptation step of the first evaluation "
    "after step 0 (a curve is scored at the first update past each multiple of the evaluation "
    "interval, so larger batches are scored later). PPO's per-kind presets (CleanRL's) also set "
    "MRFT's update rate; RL2 and GRPO keep their own settings on every family, untuned per kind."
)

RATE_RATIO = 4.0
"""Update rates further apart than this factor in one phase of one family are named below
the table: there the method that updates more often gets more learning per env step."""


def learning_facts(data: BenchData, methods: list[str]) -> list[dict[str, Any]]:
    """Per family and method with runs, the section's row (see the module docstring)."""
    rows = []
    for family in data.families:
        for method in methods:
            pre = [r for (env, m, _), r in data.pretrain.items() if env == family.env and m == method]
            adapt = [r for (env, m, _, _), r in data.adapt.items() if env == family.env and m == method]
            if not adapt:
                continue
            firsts = [r["curve"][1]["step"] for r in adapt if len(r["curve"]) > 1]
            rows.append({
                "env": family.env, "method": method,
                "pretrain_steps": _mean(pre, "steps"),
                "pretrain_rate": _rate(pre, "steps"),
                "adapt_steps": _mean(adapt, "adapt_env_steps"),
                "adapt_rate": _rate(adapt, "adapt_env_steps"),
                "parameters": _mean(adapt, "parameters") or _mean(pre, "parameters"),
                "first_point": float(np.median(firsts)) if firsts else None,
            })
    return rows


def _mean(records: list[dict[str, Any]], key: str) -> float | None:
    values = [r[key] for r in records if r.get(key) is not None]
    return float(np.mean(values)) if values else None


def _rate(records: list[dict[str, Any]], steps_key: str) -> float | None:
    """Optimiser steps per 1,000 env steps over the records that kept both figures."""
    kept = [r for r in records if r.get("optimizer_steps") is not None and r.get(steps_key)]
    if not kept:
        return None
    return 1000.0 * sum(r["optimizer_steps"] for r in kept) / sum(r[steps_key] for r in kept)


def table_rows(rows: list[dict[str, Any]], label) -> list[list[str]]:
    """The section's table cells; ``label`` names a method."""
    def number(value: float | None, pattern: str = "{:,.0f}") -> str:
        return MISSING if value is None else pattern.format(value)

    return [[r["env"], label(r["method"]), number(r["pretrain_steps"]), number(r["pretrain_rate"], "{:.3g}"),
             number(r["adapt_steps"]), number(r["adapt_rate"], "{:.3g}"), number(r["parameters"]),
             number(r["first_point"])] for r in rows]


def rate_notes(rows: list[dict[str, Any]], label) -> list[str]:
    """One sentence per family and phase where the adapting methods' update rates differ by
    more than :data:`RATE_RATIO` times: which method updated most and which least, so a reader
    knows which side the equal env-step budget favours in learning per env step."""
    notes = []
    adapting = [r for r in rows if r["method"] not in reference_rows()]
    for env in dict.fromkeys(r["env"] for r in adapting):
        for phase, key in (("pre-training", "pretrain_rate"), ("adaptation", "adapt_rate")):
            rated = [r for r in adapting if r["env"] == env and r[key]]
            if len(rated) < 2:
                continue
            most = max(rated, key=lambda r: r[key])
            least = min(rated, key=lambda r: r[key])
            if most[key] > RATE_RATIO * least[key]:
                notes.append(f"{env}, {phase}: {label(most['method'])} took {most[key]:.3g} optimiser "
                             f"steps per 1,000 env steps and {label(least['method'])} "
                             f"{least[key]:.3g}; the equal budget gives {label(most['method'])} "
                             f"{most[key] / least[key]:.0f} times the updates.")
    return notes


HEADER = ["family", "method", "pre-training env steps", "optimiser steps / 1k (pre-training)",
          "adaptation env steps", "optimiser steps / 1k (adaptation)", "parameters trained",
          "first adapted point (step)"]
