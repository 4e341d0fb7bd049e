"""Per family, the focus method against every other adapting method.

A comparison pooled over families can hide one that the focus method loses, and a claim
such as "not below PPO on any family" is a claim per family. So for each family and each
other adapting method: the probability that a run of the focus method scores higher than a
run of the other on the same held-out instance (ties counting one half, averaged over the
family's instances), in context (the first evaluation, before any update) and after
adaptation, each with a 95% stratified bootstrap interval over seeds. Reference rows
(oracle, context-free) are the scale, not rivals, and are left out.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from mrft.bench import statistics
from mrft.bench.loading import BenchData, final_score
from mrft.bench.methods import reference_rows
from mrft.bench.render import Block, Heading, Paragraph, Table
from mrft.bench.statistics import REPS
from mrft.bench.text import interval_text, method_label

MEASURES = {
    "in_context": lambda record: float(record["curve"][0]["score"]),
    "final": lambda record: final_score(record, "score"),
}
"""What is compared: the score of the instance's first evaluation, and the final score."""


def family_comparisons(data: BenchData, methods: list[str], focus: str) -> list[dict[str, Any]]:
    """One row per family and adapting method other than ``focus``: ``in_context`` and
    ``final``, each ``[point, low, high]`` of P(a run of ``focus`` beats a run of the method).
    Empty when ``focus`` is a reference row or has no complete seed."""
    adapting = [m for m in methods if m not in reference_rows()]
    if focus not in adapting:
        return []
    matrices = {m: {key: data.matrix(m, value) for key, value in MEASURES.items()} for m in adapting}
    rows = []
    for family in data.families:
        columns = [t for t, (env, _) in enumerate(data.tasks) if env == family.env]
        for other in adapting:
            if other == focus:
                continue
            row: dict[str, Any] = {"env": family.env, "method": other}
            for key in MEASURES:
                row[key] = list(statistics.stratified_bootstrap(
                    [matrices[focus][key][:, columns], matrices[other][key][:, columns]],
                    statistics.probability_of_improvement, REPS))
            rows.append(row)
    return rows


def family_comparison_blocks(analysis: Mapping[str, Any]) -> list[Block]:
    """The report's table of :func:`family_comparisons`, with what its figures mean."""
    rows = analysis.get("family_comparisons") or []
    if not rows:
        return []
    focus = method_label(str(analysis.get("focus")))
    table = [[row["env"], method_label(row["method"]), interval_text(*row["in_context"], "{:.2f}"),
              interval_text(*row["final"], "{:.2f}")] for row in rows]
    caption = (f"The probability that a run of {focus} scores higher than a run of the method on "
               "the same held-out instance of the family (ties count one half), with a 95% "
               "stratified bootstrap interval over seeds. Whole interval above 0.5: "
               f"{focus} is better on that family; below 0.5: worse; an interval that contains "
               "0.5 does not tell them apart.")
    return [Heading(2, f"Per family: {focus} against each method"),
            Table(["family", "method", f"P({focus} better), in context", f"P({focus} better), final"],
                  table),
            Paragraph(caption)]
