"""Cumulative regret over adaptation and the normalised in-context score: the math on hand
values, then a bench folder whose every figure is worked out by hand below, through to the
report, the terminal summary and the claims' figures."""

import json

import numpy as np
import pytest
from test_bench_analysis import CURVES, _bench_folder

from mrft.bench import regret
from mrft.bench.analysis import analyze
from mrft.bench.headline import IN_CONTEXT, REGRET
from mrft.bench.regret_section import needs_line
from mrft.bench.report import regret_markdown, write_report
from mrft.bench.statistics import probability_of_improvement
from mrft.bench.terminal import summary_text


def test_regret_is_the_trapezoid_area_of_the_shortfall_over_the_budget():
    # 1 - s = 1, .5, 0 at 0, 100, 300: (1 + .5) / 2 * 100 + (.5 + 0) / 2 * 200 = 125, over 300
    assert regret.cumulative_regret([0, 100, 300], [0.0, 0.5, 1.0], 300) == pytest.approx(125 / 300)
    assert regret.cumulative_regret([0, 150, 300], [1.0, 1.0, 1.0], 300) == 0.0  # the oracle
    assert regret.cumulative_regret([0, 150, 300], [0.0, 0.0, 0.0], 300) == 1.0  # context-free
    # above the oracle is negative regret, below the context-free policy more than 1
    assert regret.cumulative_regret([0, 300], [2.0, 2.0], 300) == pytest.approx(-1.0)
    assert regret.cumulative_regret([0, 300], [-1.0, -1.0], 300) == pytest.approx(2.0)


def test_a_curve_that_stops_short_keeps_its_last_value_and_one_past_the_budget_is_cut():
    # ends at 100 of 200: 1 - s = 1 -> 0 over [0, 100] (area 50), then 0 to 200
    assert regret.cumulative_regret([0, 100], [0.0, 1.0], 200) == pytest.approx(50 / 200)
    # runs to 200 of a budget of 100: s read at 100 is .5, area (1 + .5) / 2 * 100
    assert regret.cumulative_regret([0, 200], [0.0, 1.0], 100) == pytest.approx(0.75)
    assert regret.cumulative_regret([0], [0.25], 100) == pytest.approx(0.75)  # one point
    with pytest.raises(ValueError, match="from 0"):
        regret.cumulative_regret([50, 100], [0.0, 1.0], 100)
    with pytest.raises(ValueError, match="budget"):
        regret.cumulative_regret([0, 100], [0.0, 1.0], 0)


def test_normalisation_maps_the_context_free_policy_to_0_and_the_oracle_to_1():
    assert regret.normalise([2.0, 5.0, 8.0, 11.0], 2.0, 8.0).tolist() == [0.0, 0.5, 1.0, 1.5]
    # costs (negative returns): the oracle's -4 is still the top of the scale
    assert regret.normalise(-7.0, -10.0, -4.0) == pytest.approx(0.5)
    assert regret.gap_is_positive(0.2, 0.3) and not regret.gap_is_positive(0.3, 0.3)
    assert not regret.gap_is_positive(0.5, 0.2)
    for oracle in (0.3, 0.1):  # no gap, or the oracle below the context-free policy
        with pytest.raises(ValueError, match="above the context-free"):
            regret.normalise([0.2], 0.3, oracle)


def test_a_seed_without_a_reference_run_takes_the_mean_over_the_seeds_that_have_one():
    assert regret.instance_reference({1: 2.0, 3: 4.0}) == 3.0
    assert regret.instance_reference({}) is None


def test_an_instance_is_scaled_only_where_the_oracle_is_told_apart_from_the_context_free_policy():
    # 1.0 and 1.1 against 0.0 and 0.1: the intervals [1.0, 1.1] and [0.0, 0.1] do not overlap
    assert regret.references_separated([0.0, 0.1], [1.0, 1.1])
    # a mean gap of 0.05 inside runs that spread over 0.4: the gap is noise
    assert not regret.references_separated([0.3, 0.7], [0.35, 0.75])
    # one run a side: its score is its interval
    assert regret.references_separated([0.2], [0.3]) and not regret.references_separated([0.3], [0.3])
    assert not regret.references_separated([], [1.0])


def test_lower_regret_is_the_improvement():
    low = np.array([[0.1, 0.5], [0.2, 0.5]])  # [runs, tasks]
    high = np.array([[0.6, 0.5], [0.7, 0.5]])
    # task 0: every run of `low` below every run of `high`: 1; task 1: all ties: .5
    assert regret.probability_of_lower(low, high) == pytest.approx(0.75)
    assert regret.probability_of_lower(high, low) == pytest.approx(0.25)
    # the opposite of the higher-is-better probability on the same values
    assert probability_of_improvement(low, high) == pytest.approx(0.25)


# Two instances of nav:point (scores at steps 0, 100, 200, 300; A = 300), seeds 1 and 2.
# Each instance has one scale, its reference rows' means over seeds: instance 0 context-free
# 0 (seed 1's run; seed 2 has none) and oracle (1 + 2) / 2 = 1.5. Instance 1 has no scale
# (oracle 0 = context-free 0): it is left out.
REFERENCES = {
    "oracle": {1: [[1.0] * 4, [0.0] * 4], 2: [[2.0] * 4, [0.0] * 4]},
    "context-free": {1: [[0.0] * 4, [0.0] * 4]},
}
# instance 0's regret by hand (s = score / 1.5; trapezoid over steps of 100, / 300):
# GRPO seed 1: scores 0 .2 .4 .6 -> 1 - s = 1 .8667 .7333 .6 -> (.9333 + .8 + .6667) / 3 = .8
# GRPO seed 2: scores 0 .2 .4 .4 -> 1 .8667 .7333 .7333 -> (.9333 + .8 + .7333) / 3 = 7.4 / 9
# MRFT seed 1: scores .5 .6 .6 .7 -> .6667 .6 .6 .5333 -> (.6333 + .6 + .5667) / 3 = .6
# MRFT seed 2: scores .1 .5 .6 .7 -> .9333 .6667 .6 .5333 -> (.8 + .6333 + .5667) / 3 = .6667
GRPO_REGRET, MRFT_REGRET = [0.8, 7.4 / 9], [0.6, 2.0 / 3]


def _analysis(tmp_path, curves=None):
    return analyze(_bench_folder(tmp_path, {**CURVES, **REFERENCES} if curves is None else curves))


def test_regret_and_in_context_score_of_a_bench_by_hand(tmp_path):
    analysis = _analysis(tmp_path)
    section = analysis["regret"]
    assert section["instances"] == {"used": 1, "of": 2}
    assert set(section["methods"]) == {"grpo", "mrft"}  # reference rows get no regret
    grpo, mrft = section["methods"]["grpo"], section["methods"]["mrft"]
    # two runs: the IQM is their mean
    assert grpo["regret"][0] == pytest.approx(np.mean(GRPO_REGRET))
    assert mrft["regret"][0] == pytest.approx(np.mean(MRFT_REGRET))
    # in context: the first point, scaled: GRPO 0 and 0, MRFT .5 / 1.5 and .1 / 1.5
    assert grpo["in_context"][0] == pytest.approx(0.0)
    assert mrft["in_context"][0] == pytest.approx((0.5 + 0.1) / 1.5 / 2)
    # P(a run of MRFT has lower regret than a run of GRPO): .6 and .67 both below .8 and .82
    # -> 1; the focus's own entry has none
    point, low, high = grpo["focus_lower_regret"]
    assert point == pytest.approx(1.0) and low <= point <= high
    assert "focus_lower_regret" not in mrft
    family = {r["method"]: r for r in section["families"]}
    assert family["mrft"]["regret"].startswith(f"{np.mean(MRFT_REGRET):.3g} [")
    assert family["mrft"]["runs"] == 2
    assert any(n.startswith("nav:point #1: the oracle does not score above the context-free")
               and "(0 vs 0, means over seeds)" in n for n in section["notes"])
    rows = {r["metric"]: r for r in analysis["headline"]}
    assert rows[REGRET]["values"]["mrft"].startswith(f"{np.mean(MRFT_REGRET):.3g} [")
    assert "oracle" not in rows[REGRET]["values"] and "lower is better" in rows[REGRET]["definition"]
    assert rows[IN_CONTEXT]["values"]["mrft"].startswith("0.2 [")
    # regret against GRPO's: .6333 / .8111 - 1 = -22%; a normalised score has no ratio
    assert rows[REGRET]["change"]["mrft"] == "-22%" and rows[IN_CONTEXT]["change"] == {}
    assert analysis["claims"]["regret"][0] == pytest.approx(np.mean(MRFT_REGRET))
    assert analysis["claims"]["in_context_normalised"][0] == pytest.approx(0.2)
    line = next(v for v in analysis["verdict"] if "cumulative regret" in v)
    assert line.startswith("MRFT has the lowest cumulative regret of the methods that adapt here")
    assert "probability that a run of MRFT has lower regret than GRPO 1.00 [" in line
    json.dumps(analysis)


def test_the_report_and_the_terminal_show_both_metrics(tmp_path):
    analysis = _analysis(tmp_path)
    files = write_report(analysis, tmp_path)
    md, page = files.markdown.read_text(), files.html.read_text()
    for text in (md, page):
        assert "Cumulative regret and in-context score, normalised" in text
        assert "cumulative regret (IQM; lower is better)" in text
        assert "in-context score, normalised (IQM)" in text
        assert "MRFT has the lowest cumulative regret" in text
    assert "| method | cumulative regret (IQM; lower is better) | in-context score, normalised (IQM) " \
           "| P(a run of MRFT has lower regret than a run of the method) |" in md
    assert "| nav:point | MRFT | " in md and "nav:point #1: the oracle does not score above" in md
    assert regret_markdown(analysis).splitlines()[0].startswith("| method | cumulative regret")
    summary = summary_text(analysis)
    assert "cumulative regret over adaptation: 0 = the oracle throughout" in summary
    assert "P(MRFT lower regret)" in summary and "  MRFT " in summary


def test_without_the_reference_rows_one_line_says_what_the_metrics_need(tmp_path):
    analysis = _analysis(tmp_path / "none", CURVES)
    line = needs_line(["oracle", "context-free"])
    assert analysis["regret"] == {"unavailable": line}
    assert "oracle" in line and "context-free" in line and "\n" not in line
    assert not any(r["metric"] in (REGRET, IN_CONTEXT) for r in analysis["headline"])
    assert "regret" not in analysis["claims"]
    assert not any("cumulative regret" in v for v in analysis["verdict"])
    md = write_report(analysis, tmp_path / "none").markdown.read_text()
    assert md.count(line) == 1
    assert summary_text(analysis).endswith(line)
    only_oracle = _analysis(tmp_path / "oracle", {**CURVES, "oracle": REFERENCES["oracle"]})
    assert only_oracle["regret"] == {"unavailable": needs_line(["context-free"])}


def test_an_instance_whose_reference_rows_overlap_is_left_out_with_a_note(tmp_path):
    # instance 1: oracle 0.3 and 0.9, context-free 0.2 and 0.6 -> mean gap 0.2, intervals
    # [0.3, 0.9] and [0.2, 0.6] overlap: no scale
    references = {"oracle": {1: [[1.0] * 4, [0.3] * 4], 2: [[2.0] * 4, [0.9] * 4]},
                  "context-free": {1: [[0.0] * 4, [0.2] * 4], 2: [[0.0] * 4, [0.6] * 4]}}
    section = _analysis(tmp_path, {**CURVES, **references})["regret"]
    assert section["instances"] == {"used": 1, "of": 2}
    assert any(n.startswith("nav:point #1: the oracle and the context-free policy are not told apart")
               for n in section["notes"])


def test_an_analysis_written_before_these_metrics_reports_without_them(tmp_path):
    analysis = _analysis(tmp_path)
    del analysis["regret"]
    md = write_report(analysis, tmp_path).markdown.read_text()
    assert "## Cumulative regret and in-context score" not in md
    assert regret_markdown(analysis) == ""


def test_the_verdict_reads_lower_regret_as_better():
    from mrft.bench.verdict import regret_verdict

    def entry(point, lower=None):
        out = {"regret": [point, point - 0.1, point + 0.1], "regret_text": f"{point}"}
        return {**out, "focus_lower_regret": lower} if lower else out

    # GRPO has less regret than MRFT (P(MRFT lower) .1 [0, .2]); RL2 is not told apart
    section = {"focus": "mrft", "methods": {"grpo": entry(0.2, [0.1, 0.0, 0.2]),
                                            "mrft": entry(0.5),
                                            "rl2": entry(0.7, [0.6, 0.4, 0.8])}}
    [line] = regret_verdict(section)
    assert line.startswith("MRFT does not have the lowest cumulative regret of the methods that "
                           "adapt here; GRPO does, and MRFT's regret is higher than GRPO's and "
                           "not told apart from RL2's (cumulative regret IQM, lower is better:")
    section["methods"]["grpo"] = entry(0.9, [0.9, 0.8, 1.0])
    [line] = regret_verdict(section)
    assert line.startswith("MRFT has the lowest cumulative regret of the methods that adapt "
                           "here: its regret is lower than GRPO's and not told apart from RL2's (")
    assert regret_verdict({"focus": "mrft", "methods": {"mrft": entry(0.5)}}) == []
    assert regret_verdict({"unavailable": "needs the reference rows"}) == []
