"""Per-family probability that the focus method beats each other method, by hand."""

from types import SimpleNamespace

import numpy as np

from mrft.bench.family_comparisons import (
    family_comparison_blocks,
    family_comparisons,
    seed_bootstrap_improvement,
)
from mrft.bench.render import Table
from mrft.bench.statistics import probability_of_improvement


class _Data:
    """What family_comparisons reads of a bench: families, tasks and per-method run matrices.
    ``scores[method][seed][task]`` is ``(in context, final)``."""

    def __init__(self, scores):
        self.families = [SimpleNamespace(env="a"), SimpleNamespace(env="b")]
        self.tasks = [("a", 0), ("a", 1), ("b", 0)]
        self.scores = scores

    def matrix(self, method, value):
        if not self.scores.get(method):
            return None
        return np.array([[value({"curve": [{"score": first}, {"score": last}]})
                          for first, last in seed] for seed in self.scores[method]], dtype=float)


SCORES = {
    # three seeds; family a has two instances, family b one
    "mrft": [[(0, 3), (0, 1), (1, 10)], [(0, 5), (0, 1), (1, 10)], [(0, 5), (0, 1), (1, 10)]],
    "ppo": [[(0, 2), (0, 1), (2, 0)], [(0, 4), (0, 2), (2, 0)], [(0, 6), (0, 2), (2, 0)]],
    "oracle": [[(9, 9), (9, 9), (9, 9)]] * 3,
    "rl2": [[(0, 0), (0, 0), (0, 0)]] * 2,  # two seeds: too few for an interval
}


def test_each_family_is_compared_on_its_own_instances_and_reference_rows_are_left_out():
    rows = family_comparisons(_Data(SCORES), ["mrft", "ppo", "oracle", "rl2"], "mrft")
    assert [(r["env"], r["method"]) for r in rows] == [("a", "ppo"), ("a", "rl2"), ("b", "ppo"),
                                                        ("b", "rl2")]
    a, a_rl2, b, _ = rows
    # family a, instance 0: MRFT {3, 5, 5} against PPO {2, 4, 6} wins 5 of the 9 pairs;
    # instance 1: {1, 1, 1} against {1, 2, 2} ties 3 pairs (a half each) and loses 6: 1.5/9
    assert a["final"][0] == (5 / 9 + 1.5 / 9) / 2
    assert a["in_context"][0] == 0.5  # every pair ties
    # family b: MRFT wins every pair after adaptation, whatever the resample; loses in context
    assert b["final"] == [1.0, 1.0, 1.0]
    assert b["in_context"] == [0.0, 0.0, 0.0]
    low, high = a["final"][1:]
    assert 0.0 <= low <= a["final"][0] <= high <= 1.0
    assert a_rl2["final"] is None and a_rl2["in_context"] is None


def test_no_rows_when_the_focus_is_a_reference_row_or_has_no_complete_seed():
    assert family_comparisons(_Data(SCORES), ["mrft", "ppo", "oracle"], "oracle") == []
    assert family_comparisons(_Data({**SCORES, "mrft": []}), ["mrft", "ppo"], "mrft") == []


def test_the_bootstrap_resamples_whole_seeds():
    rng = np.random.default_rng(3)
    x, y = rng.normal(size=(5, 4)), rng.normal(size=(4, 4))
    point, low, high = seed_bootstrap_improvement(x, y, reps=300, seed=7)
    # the same draws, one resample at a time, through the statistic the headline uses
    draws = np.random.default_rng(7)
    rows_x = draws.integers(0, 5, size=(300, 5))
    rows_y = draws.integers(0, 4, size=(300, 4))
    naive = [probability_of_improvement(x[rx], y[ry]) for rx, ry in zip(rows_x, rows_y, strict=True)]
    assert point == probability_of_improvement(x, y)
    assert np.allclose([low, high], np.quantile(naive, [0.025, 0.975]), atol=1e-12)
    # a seed that wins on every instance or on none: resampling instances one at a time
    # would pretend its instances were independent, and give a narrower interval
    seeds = np.array([[1.0] * 5, [0.0] * 5, [1.0] * 5, [0.0] * 5, [1.0] * 5])
    point, low, high = seed_bootstrap_improvement(seeds, np.full((5, 5), 0.5))
    assert point == 0.6 and low <= 0.2 and high >= 1.0


def test_the_report_table_names_the_focus_and_formats_each_interval():
    rows = family_comparisons(_Data(SCORES), ["mrft", "ppo", "rl2"], "mrft")
    heading, table, caption = family_comparison_blocks({"focus": "mrft", "family_comparisons": rows})
    assert isinstance(table, Table)
    assert "MRFT" in heading.text and "MRFT" in caption.text and "whole seeds" in caption.text
    assert table.rows[2] == ["b", "PPO", "0.00 [0.00, 0.00]", "1.00 [1.00, 1.00]"]
    assert table.rows[1] == ["a", "RL2", "—", "—"]
    assert family_comparison_blocks({"focus": "mrft", "family_comparisons": []}) == []
