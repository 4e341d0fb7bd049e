"""Per-family probability that the focus method beats each other method, by hand."""

from types import SimpleNamespace

import numpy as np

from mrft.bench.family_comparisons import family_comparison_blocks, family_comparisons
from mrft.bench.render import Table


class _Data:
    """What family_comparisons reads of a bench: families, tasks and per-method run matrices.
    ``scores[method][seed][task]`` is ``(in context, final)``."""

    def __init__(self, scores):
        self.families = [SimpleNamespace(env="a"), SimpleNamespace(env="b")]
        self.tasks = [("a", 0), ("a", 1), ("b", 0)]
        self.scores = scores

    def matrix(self, method, value):
        return np.array([[value({"curve": [{"score": first}, {"score": last}]})
                          for first, last in seed] for seed in self.scores[method]], dtype=float)


SCORES = {
    # two seeds; family a has two instances, family b one
    "mrft": [[(0, 3), (0, 1), (1, 10)], [(0, 5), (0, 1), (1, 10)]],
    "ppo": [[(0, 2), (0, 1), (2, 0)], [(0, 4), (0, 2), (2, 0)]],
    "oracle": [[(9, 9), (9, 9), (9, 9)], [(9, 9), (9, 9), (9, 9)]],
}


def test_each_family_is_compared_on_its_own_instances_and_reference_rows_are_left_out():
    rows = family_comparisons(_Data(SCORES), ["mrft", "ppo", "oracle"], "mrft")
    assert [(r["env"], r["method"]) for r in rows] == [("a", "ppo"), ("b", "ppo")]
    a, b = rows
    # family a, instance 0: MRFT {3, 5} against PPO {2, 4} wins 3 of the 4 pairs; instance 1:
    # {1, 1} against {1, 2} ties two pairs (a half each) and loses two: 1/4; mean 1/2
    assert a["final"][0] == 0.5
    assert a["in_context"][0] == 0.5  # every pair ties
    # family b: MRFT wins every pair after adaptation, whatever the resample; loses in context
    assert b["final"] == [1.0, 1.0, 1.0]
    assert b["in_context"] == [0.0, 0.0, 0.0]
    low, high = a["final"][1:]
    assert 0.0 <= low <= 0.5 <= high <= 1.0


def test_no_rows_when_the_focus_is_a_reference_row():
    assert family_comparisons(_Data(SCORES), ["mrft", "ppo", "oracle"], "oracle") == []


def test_the_report_table_names_the_focus_and_formats_each_interval():
    rows = family_comparisons(_Data(SCORES), ["mrft", "ppo"], "mrft")
    heading, table, caption = family_comparison_blocks({"focus": "mrft", "family_comparisons": rows})
    assert isinstance(table, Table)
    assert "MRFT" in heading.text and "MRFT" in caption.text
    assert table.rows[1] == ["b", "PPO", "0.00 [0.00, 0.00]", "1.00 [1.00, 1.00]"]
    assert family_comparison_blocks({"focus": "mrft", "family_comparisons": []}) == []
