"""The seed-claim table: each published claim beside the measured interval, with a verdict
worked out by hand."""

import json

import pytest

from mrft.bench import claims
from mrft.errors import MrftError

CLAIM = {c.key: c for c in claims.CLAIMS}


@pytest.mark.parametrize(("key", "low", "high", "expected"), [
    # sample efficiency, claimed 3.2x, no effect 1x
    ("sample_efficiency", 2.0, 4.0, claims.REPRODUCED),
    ("sample_efficiency", 3.5, 5.0, claims.REPRODUCED),     # beyond the claim
    ("sample_efficiency", 0.8, 4.0, claims.NOT_TOLD_APART),  # reaches the claim and 1x
    ("sample_efficiency", 0.8, 1.5, claims.REFUTED),         # all of it short of 3.2x
    ("sample_efficiency", 1.2, 2.0, claims.REFUTED),         # an effect, smaller than claimed
    # adaptation steps, claimed -84%, fewer is stronger
    ("adaptation_steps_change", -0.9, -0.5, claims.REPRODUCED),
    ("adaptation_steps_change", -0.9, 0.1, claims.NOT_TOLD_APART),
    ("adaptation_steps_change", -0.5, 0.2, claims.REFUTED),
    # final return, claimed +18.5%
    ("final_change", 0.1, 0.3, claims.REPRODUCED),
    ("final_change", -0.4, -0.1, claims.REFUTED),
    # not comparisons: only the claimed value is tested
    ("sim_to_real", 0.92, 1.0, claims.REPRODUCED),
    ("sim_to_real", 0.8, 0.95, claims.NOT_TOLD_APART),
    ("sim_to_real", 0.5, 0.85, claims.REFUTED),
    ("transfer_rate", 0.2, 0.6, claims.REFUTED),
])
def test_verdicts_by_hand(key, low, high, expected):
    assert claims.verdict(CLAIM[key], low, high) == expected


def test_claim_rows_read_the_analyses(tmp_path):
    headline = {"claims": {"sample_efficiency": [1.1, 0.9, 1.4], "final_change": [-0.3, -0.5, -0.1],
                           "adaptation_steps_change": [-0.9, -0.95, None]}}
    sim = {"sim_to_real": [{"method": "grpo", "fraction_interval": {"200": [1.0, 1.0, 1.0]}},
                           {"method": "mrft", "fraction_interval": {"200": [0.89, 0.8, 0.97]}}]}
    transfer = {"transfer": {"rate_intervals": {"mrft": [0.3, 0.0, 0.6]}}}
    for name, content in (("cpu", headline), ("s2r", sim), ("mt", transfer)):
        (tmp_path / name).mkdir()
        (tmp_path / name / "analysis.json").write_text(json.dumps(content))
    rows = claims.claim_rows({"headline": tmp_path / "cpu", "sim_to_real": tmp_path / "s2r",
                              "transfer": tmp_path / "mt"})
    by_key = dict(zip((c.key for c in claims.CLAIMS), rows, strict=True))
    assert by_key["sample_efficiency"]["measured"] == "1.10x [0.90x, 1.40x]"
    assert by_key["sample_efficiency"]["verdict"] == claims.REFUTED
    unbounded = {"claims": {"sample_efficiency": [None, None, None]}}
    (tmp_path / "cpu" / "analysis.json").write_text(json.dumps(unbounded))
    row = claims.claim_rows({"headline": tmp_path / "cpu"})[0]
    assert row["measured"] == "inf [inf, inf]" and row["verdict"] == claims.REPRODUCED
    (tmp_path / "cpu" / "analysis.json").write_text(json.dumps(headline))
    assert by_key["adaptation_steps_change"]["measured"] == "-90% [-95%, inf]"
    assert by_key["adaptation_steps_change"]["verdict"] == claims.NOT_TOLD_APART
    assert by_key["final_change"]["measured"] == "-30% [-50%, -10%]"
    assert by_key["sim_to_real"]["verdict"] == claims.NOT_TOLD_APART  # MRFT's row, not GRPO's
    assert by_key["transfer_rate"]["verdict"] == claims.REFUTED
    table = claims.markdown(rows)
    assert table.count("\n") == len(claims.CLAIMS) + 1 and str(tmp_path / "mt") in table
    rows = claims.claim_rows({"headline": tmp_path / "cpu"})
    assert rows[-1]["measured"] == "not measured" and rows[-1]["source"] == ""
    with pytest.raises(MrftError, match="run mrft report"):
        claims.claim_rows({"headline": tmp_path / "missing"})


def test_claims_name_the_headline_analysis_focus_and_baseline(tmp_path):
    headline = {"baseline": "ppo", "focus": "rl2",
                "claims": {"sample_efficiency": [3.3, 2.0, 4.0], "final_change": [0.2, 0.1, 0.3]}}
    (tmp_path / "analysis.json").write_text(json.dumps(headline))
    rows = {c.key: r for c, r in zip(claims.CLAIMS, claims.claim_rows({"headline": tmp_path}),
                                      strict=True)}
    assert rows["sample_efficiency"]["metric"] == "sample efficiency, adaptation (RL2 vs PPO)"
    assert rows["adaptation_steps_change"]["metric"].startswith("adaptation steps to 90% of PPO's")
    assert rows["final_change"]["sentence"].endswith("excludes no difference from PPO.")
    assert rows["sim_to_real"]["metric"].startswith("fraction of in-sim return after 200 real "
                                                    "episodes (RL2;")


def _claims_script():
    import importlib.util
    from pathlib import Path

    script = Path(__file__).resolve().parent.parent / "benchmarks" / "claims.py"
    spec = importlib.util.spec_from_file_location("claims_script", script)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


HEADLINE = {"suite": {"name": "toy"}, "baseline": "grpo", "focus": "mrft",
            "methods": ["grpo", "mrft", "context-free"],
            "claims": {"sample_efficiency": [2.0, 1.5, 2.5]},
            "headline": [{"metric": "final return (IQM)",
                          "values": {"grpo": "0.4 [0.3, 0.5]", "mrft": "0.7 [0.6, 0.8]",
                                     "context-free": "0.1 [0, 0.2]"},
                          "change": {"mrft": "+75%", "context-free": "-75%"}},
                         {"metric": "probability of improvement over GRPO",
                          "values": {"mrft": "0.9 [0.8, 1]", "context-free": "0.1 [0, 0.2]"},
                          "change": {}},
                         {"metric": "peak memory (MiB)", "values": {"grpo": "9", "mrft": "9"},
                          "change": {}}],
            "families": [{"env": "toy:a", "score": "return", "method": m, "in_context": "1 [0, 2]",
                          "final": "3 [2, 4]", "runs": 5} for m in ("grpo", "mrft")],
            "informative": ["toy:a is informative: knowing the hidden parameters helps."],
            "verdict": ["MRFT beats GRPO on final return here (P 0.9).",
                        "CONTEXT-FREE does not beat GRPO; it is worse on final return here (P 0.1)."]}


def test_the_results_tables_and_the_readme_verdict_are_written_between_their_markers(tmp_path, capsys):
    module = _claims_script()
    for name, content in (("cpu", HEADLINE), ("s2r", {}), ("mt", {})):
        (tmp_path / name).mkdir()
        (tmp_path / name / "analysis.json").write_text(json.dumps(content))
    (tmp_path / "docs").mkdir()
    results = tmp_path / "docs" / "results.md"
    results.write_text("intro\n<!-- headline:start -->\nold\n<!-- headline:end -->\nmiddle\n"
                       "<!-- claims:start -->\nold\n<!-- claims:end -->\nend\n")
    readme = tmp_path / "README.md"
    readme.write_text("top\n<!-- verdict:start -->\n<!-- verdict:end -->\nbottom\n")
    args = ["--headline", str(tmp_path / "cpu"), "--sim-to-real", str(tmp_path / "s2r"),
            "--transfer", str(tmp_path / "mt"), "--out", str(tmp_path), "--results-doc",
            str(results), "--readme", "--readme-path", str(readme)]
    assert module.main(args) == 0
    text = results.read_text()
    assert text.startswith("intro\n") and "\nmiddle\n" in text and text.endswith("end\n")
    assert "old" not in text and "peak memory" not in text  # cost rows stay in the report
    assert "| final return (IQM) | 0.4 [0.3, 0.5] | 0.7 [0.6, 0.8] | +75% |" in text
    assert "\n\nMRFT beats GRPO on final return here" in text
    assert "| toy:a (return) | 1 -> 3 [2, 4] | 1 -> 3 [2, 4] |" in text
    assert "- toy:a is informative" in text
    assert "| sample efficiency, adaptation (MRFT vs GRPO) | 3.2x | 2.00x [1.50x, 2.50x] |" in text
    assert (tmp_path / "claims.md").is_file() and (tmp_path / "claims.json").is_file()
    # links resolve from where each table lies: docs/ one folder below the bench folders,
    # claims.md beside them
    assert f"[{tmp_path / 'cpu'}](../cpu) |" in text
    assert f"[{tmp_path / 'cpu'}](cpu) |" in (tmp_path / "claims.md").read_text()

    block = readme.read_text().split("<!-- verdict:start -->\n")[1].split("<!-- verdict:end -->")[0]
    assert readme.read_text().startswith("top\n") and readme.read_text().endswith("-->\nbottom\n")
    assert block.splitlines()[:4] == [
        "| `toy` suite | GRPO | MRFT | context-free |", "| --- | --- | --- | --- |",
        "| final return (IQM) [95% CI] | 0.4 [0.3, 0.5] | 0.7 [0.6, 0.8] | 0.1 [0, 0.2] |",
        "| probability of improvement over GRPO | — | 0.9 [0.8, 1] | 0.1 [0, 0.2] |"]
    assert block.splitlines()[5] == (
        "On the `toy` suite, MRFT beats GRPO on final return (GRPO is the baseline every method "
        "is compared with, MRFT the method in focus; [all results](docs/results.md)).")
    # then the per-family table and the claims, links resolving from README's folder
    assert "| toy:a (return) | 1 -> 3 [2, 4] | 1 -> 3 [2, 4] |" in block
    assert block.index("toy:a (return)") < block.index(module.CLAIMS_INTRO) < block.index(
        "| sample efficiency, adaptation (MRFT vs GRPO) | 3.2x | 2.00x [1.50x, 2.50x] |")
    assert f"[{tmp_path / 'cpu'}](cpu) |" in block and "peak memory" not in block


def test_the_evaluation_set_gets_its_own_tables_labelled_as_such(tmp_path, capsys):
    module = _claims_script()
    evaluation = {**HEADLINE, "suite": {"name": "toy-eval"},
                  "families": [{**row, "env": "toy:b"} for row in HEADLINE["families"]]}
    for name, content in (("cpu", HEADLINE), ("eval", evaluation)):
        (tmp_path / name).mkdir()
        (tmp_path / name / "analysis.json").write_text(json.dumps(content))
    results, readme = tmp_path / "results.md", tmp_path / "README.md"
    results.write_text("<!-- headline:start -->\n<!-- headline:end -->\n<!-- claims:start -->\n"
                       "<!-- claims:end -->\n## Evaluation\n<!-- evaluation:start -->\nold\n"
                       "<!-- evaluation:end -->\n")
    readme.write_text("<!-- verdict:start -->\n<!-- verdict:end -->\n")
    args = ["--headline", str(tmp_path / "cpu"), "--evaluation", str(tmp_path / "eval"), "--out",
            str(tmp_path / "out"), "--results-doc", str(results), "--readme", "--readme-path", str(readme)]
    assert module.main(args) == 0
    text = results.read_text()
    section = text.split("<!-- evaluation:start -->\n")[1].split("<!-- evaluation:end -->")[0]
    assert section.startswith(module.EVALUATION_NOTE) and "old" not in section
    assert "toy:b (return)" in section and "toy:b" not in text.split("## Evaluation")[0]
    block = readme.read_text()
    # the development set's tables and the claims, then the evaluation set's under its label
    assert block.index("On the `toy` suite") < block.index("toy:a (return)") < block.index(
        module.CLAIMS_INTRO) < block.index(module.EVALUATION_NOTE) < block.index(
        "On the `toy-eval` suite") < block.index("toy:b (return)")
    # the evaluation markers are checked like the others: nothing is written without them
    results.write_text("<!-- headline:start -->\n<!-- headline:end -->\n<!-- claims:start -->\n"
                       "<!-- claims:end -->\n")
    capsys.readouterr()
    readme_before = readme.read_text()
    assert module.main(args) == 2
    err = capsys.readouterr().err
    assert err.startswith(f"error: {results} has no ") and "evaluation:start" in err
    assert readme.read_text() == readme_before


@pytest.mark.parametrize("missing", ["results", "readme"])
def test_a_missing_marker_is_one_line_and_nothing_is_written(tmp_path, capsys, missing):
    module = _claims_script()
    (tmp_path / "cpu").mkdir()
    (tmp_path / "cpu" / "analysis.json").write_text(json.dumps(HEADLINE))
    results, readme = tmp_path / "results.md", tmp_path / "README.md"
    results.write_text("<!-- headline:start -->\n<!-- headline:end -->\n"
                       "<!-- claims:start -->\n<!-- claims:end -->\n")
    readme.write_text("<!-- verdict:start -->\n<!-- verdict:end -->\n")
    broken = {"results": results, "readme": readme}[missing]
    broken.write_text("no markers\n")
    before = {path: path.read_text() for path in (results, readme)}
    args = ["--headline", str(tmp_path / "cpu"), "--out", str(tmp_path / "out"),
            "--results-doc", str(results), "--readme", "--readme-path", str(readme)]
    capsys.readouterr()
    assert module.main(args) == 2
    err = capsys.readouterr().err
    assert err.startswith(f"error: {broken} has no ") and "markers" in err and err.count("\n") == 1
    assert {path: path.read_text() for path in (results, readme)} == before
    assert not (tmp_path / "out").exists()


def test_the_results_tables_and_the_readme_verdict_carry_the_cumulative_regret():
    from mrft.bench.headline import REGRET

    module = _claims_script()
    regret_row = {"metric": REGRET, "values": {"grpo": "0.6 [0.5, 0.7]", "mrft": "0.3 [0.2, 0.4]"},
                  "change": {"mrft": "-50%"}}
    entries = {"grpo": {"regret_text": "0.6 [0.5, 0.7]", "in_context_text": "0.1 [0, 0.2]",
                        "focus_lower_regret_text": "0.90 [0.80, 1.00]"},
               "mrft": {"regret_text": "0.3 [0.2, 0.4]", "in_context_text": "0.5 [0.4, 0.6]"}}
    analysis = {**HEADLINE, "headline": [*HEADLINE["headline"][:2], regret_row],
                "regret": {"focus": "mrft", "methods": entries}}
    block = module.headline_block(analysis)
    assert "| cumulative regret (IQM; lower is better) | 0.6 [0.5, 0.7] | 0.3 [0.2, 0.4] | -50% |" in block
    assert "| GRPO | 0.6 [0.5, 0.7] | 0.1 [0, 0.2] | 0.90 [0.80, 1.00] |" in block
    assert "| MRFT | 0.3 [0.2, 0.4] | 0.5 [0.4, 0.6] | — |" in block
    readme = module.verdict_block(analysis, "docs/results.md").splitlines()
    assert readme[4] == ("| cumulative regret (IQM; lower is better) [95% CI] | 0.6 [0.5, 0.7] | "
                         "0.3 [0.2, 0.4] | — |")
    needs = {**HEADLINE, "regret": {"unavailable": "These metrics need the reference rows."}}
    assert module.headline_block(needs).count("These metrics need the reference rows.") == 1
