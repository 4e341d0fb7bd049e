"""Per family, the focus method against every other adapting method.

A comparison pooled over families can hide one that the focus method loses, and a claim
such as "not below PPO on any family" is a claim per family. So for each family and each
other adapting method: the probability that a run of the focus method scores higher than a
run of the other on the same held-out instance (ties counting one half, averaged over the
family's instances), in context (the first evaluation, before any update) and after
adaptation, each with a 95% percentile bootstrap interval that resamples whole seeds: a
seed's instances share one pre-training, so they are not independent draws, and
resampling them one instance at a time would give intervals narrower than the seeds allow.
With fewer than :data:`MIN_SEEDS` seeds on either side there is no interval worth reading,
and the row says so. Reference rows (oracle, context-free) are the scale, not rivals, and
are left out.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np

from mrft.bench.loading import BenchData, final_score
from mrft.bench.methods import reference_rows
from mrft.bench.render import Block, Heading, Paragraph, Table
from mrft.bench.statistics import REPS
from mrft.bench.text import MISSING, interval_text, method_label

MIN_SEEDS = 3
"""Seeds each side needs before its interval is given (two seeds resample to three values)."""

MEASURES = {
    "in_context": lambda record: float(record["curve"][0]["score"]),
    "final": lambda record: final_score(record, "score"),
}
"""What is compared: the score of the instance's first evaluation, and the final score."""


def seed_bootstrap_improvement(x: np.ndarray, y: np.ndarray, reps: int = REPS,
                               seed: int = 0) -> tuple[float, float, float]:
    """``(point, low, high)``: P(a run of ``x`` beats a run of ``y`` on the same task), ties
    one half, averaged over tasks (``[seeds, tasks]`` matrices), with a 95% percentile
    interval from ``reps`` resamples of whole rows (seeds) of each. The statistic is linear
    in how often each seed is drawn, so every resample is one product with the pairwise
    comparisons (:func:`mrft.bench.statistics.probability_of_improvement` on the resampled
    rows, tested)."""
    x, y = np.asarray(x, dtype=np.float64), np.asarray(y, dtype=np.float64)
    wins = ((x[:, None, :] > y[None, :, :]) + 0.5 * (x[:, None, :] == y[None, :, :])).mean(axis=2)
    rng = np.random.default_rng(seed)
    draws_x = rng.integers(0, len(x), size=(reps, len(x)))
    draws_y = rng.integers(0, len(y), size=(reps, len(y)))
    counts_x = (draws_x[:, :, None] == np.arange(len(x))).sum(axis=1, dtype=np.float64)
    counts_y = (draws_y[:, :, None] == np.arange(len(y))).sum(axis=1, dtype=np.float64)
    resampled = np.einsum("rn,nm,rm->r", counts_x, wins, counts_y) / (len(x) * len(y))
    low, high = np.quantile(resampled, [0.025, 0.975])
    return float(wins.mean()), float(low), float(high)


def family_comparisons(data: BenchData, methods: list[str], focus: str) -> list[dict[str, Any]]:
    """One row per family and adapting method other than ``focus``: ``in_context`` and
    ``final``, each ``[point, low, high]`` of P(a run of ``focus`` beats a run of the method),
    or None where either has fewer than :data:`MIN_SEEDS` complete seeds. Empty when
    ``focus`` is a reference row or has no complete seed."""
    adapting = [m for m in methods if m not in reference_rows()]
    matrices = {m: {key: data.matrix(m, value) for key, value in MEASURES.items()} for m in adapting}
    if focus not in adapting or matrices[focus]["final"] is None:
        return []
    rows = []
    for family in data.families:
        columns = [t for t, (env, _) in enumerate(data.tasks) if env == family.env]
        for other in adapting:
            if other == focus or matrices[other]["final"] is None:
                continue
            row: dict[str, Any] = {"env": family.env, "method": other}
            for key in MEASURES:
                mine, theirs = matrices[focus][key][:, columns], matrices[other][key][:, columns]
                enough = min(len(mine), len(theirs)) >= MIN_SEEDS
                row[key] = list(seed_bootstrap_improvement(mine, theirs)) if enough else None
            rows.append(row)
    return rows


def family_comparison_blocks(analysis: Mapping[str, Any]) -> list[Block]:
    """The report's table of :func:`family_comparisons`, with what its figures mean."""
    rows = analysis.get("family_comparisons") or []
    if not rows:
        return []
    focus = method_label(str(analysis.get("focus")))

    def cell(triple: list[float] | None) -> str:
        return MISSING if triple is None else interval_text(*triple, "{:.2f}")

    table = [[row["env"], method_label(row["method"]), cell(row["in_context"]), cell(row["final"])]
             for row in rows]
    caption = (f"The probability that a run of {focus} scores higher than a run of the method on "
               "the same held-out instance of the family (ties count one half), with a 95% "
               "bootstrap interval that resamples whole seeds (a seed's instances share its "
               f"pre-training). Whole interval above 0.5: {focus} is better on that family; "
               "below 0.5: worse; an interval that contains 0.5 does not tell them apart. "
               f"{MISSING}: fewer than {MIN_SEEDS} seeds on one side.")
    return [Heading(2, f"Per family: {focus} against each method"),
            Table(["family", "method", f"P({focus} better), in context", f"P({focus} better), final"],
                  table),
            Paragraph(caption)]
