"""The profiling scripts under benchmarks/ run and say what they measured."""

import json
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parent.parent


def _script(name: str, *args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, str(REPO / "benchmarks" / name), *args],
                          capture_output=True, text=True, timeout=600, cwd=REPO)


def test_mrft_cost_times_every_design_against_ppo(tmp_path):
    out = tmp_path / "cost.json"
    proc = _script("mrft_cost.py", "--env", "bandit:arms3", "--calls", "4", "--repeats", "1",
                   "--out", str(out))
    assert proc.returncode == 0, proc.stderr
    result = json.loads(out.read_text())
    assert set(result["mrft"]) == {f"{c}+{e}" for c in ("meta-policy", "hyper", "concat")
                                   for e in ("tcn", "gru")}
    assert all(v > 0 for part in result["mrft"].values() for v in part.values())
    assert result["ppo_acting_s"] > 0 and result["ppo_update_s"] > 0
    assert result["command"].startswith("python benchmarks/mrft_cost.py --env bandit:arms3")
    assert "PPO" in proc.stdout and "meta-policy+tcn" in proc.stdout


def test_meta_speed_refuses_what_it_cannot_measure_as_the_bench_would(tmp_path):
    for name, says in (("oracle", "is not a pre-training variant"),
                       ("mrft-in-context", "is not a pre-training variant"),
                       ("nope", "unknown method 'nope'")):
        proc = _script("meta_speed.py", "--algos", "ppo", name, "--steps", "100",
                       "--out", str(tmp_path / "speed.json"))
        assert proc.returncode == 2 and says in proc.stderr, proc.stderr
        assert proc.stderr.strip().startswith("error:") and not (tmp_path / "speed.json").exists()


def test_the_ablation_table_reads_a_bench_analysis_into_a_document(tmp_path):
    import test_bench_analysis as bench_helpers

    from mrft.bench.analysis import analyze

    # a third seed, as seed 1: the per-family comparison needs three on each side
    curves = {m: {**by_seed, 3: by_seed[1]} for m, by_seed in bench_helpers.CURVES.items()}
    folder = bench_helpers._bench_folder(tmp_path, curves, seeds=(1, 2, 3))
    (folder / "analysis.json").write_text(json.dumps(analyze(folder)))
    doc = tmp_path / "doc.md"
    doc.write_text("before\n<!-- ablation:start -->\nold\n<!-- ablation:end -->\nafter\n")
    proc = _script("ablation_table.py", str(folder), "--doc", str(doc))
    assert proc.returncode == 0, proc.stderr
    text = doc.read_text()
    assert text.startswith("before\n<!-- ablation:start -->\n| method | nav:point in context |")
    assert "\nold\n" not in text and text.endswith("<!-- ablation:end -->\nafter\n")
    # MRFT: first points .5 .9 .1 .2 .5 .9 -> .517, finals .7 1 (three times) -> .85; seeds
    # .85, .85, .85 -> spread 0
    row = next(line for line in text.splitlines() if line.startswith("| MRFT |"))
    assert "| 0.517 [" in row and "| 0.85 [" in row and "| 0 |" in row
    # GRPO against MRFT, the focus: no pair won in context; after adaptation, instance 0
    # {.6, .4, .6} against {.7, .7, .7} wins none, instance 1 {1, .8, 1} against {1, 1, 1}
    # ties six of nine pairs: 3/9; mean 1/6. Resampled seeds range from all seed 2 (0) to
    # none of it (every instance-1 pair a tie: 1/4)
    assert "scores higher than a run of MRFT" in text
    assert "| GRPO | 0.00 [0.00, 0.00] / 0.17 [0.00, 0.25] |" in text
    missing = tmp_path / "plain.md"
    missing.write_text("no markers\n")
    proc = _script("ablation_table.py", str(folder), "--doc", str(missing))
    assert proc.returncode == 2 and proc.stderr.startswith("error:") and "markers" in proc.stderr
    assert missing.read_text() == "no markers\n"
    proc = _script("ablation_table.py", str(folder), "--doc", str(tmp_path / "absent.md"))
    assert proc.returncode == 2 and proc.stderr.count("\n") == 1 and "Traceback" not in proc.stderr
    assert proc.stderr.startswith("error: ") and "absent.md" in proc.stderr


HAND_SUITE = """name = "hand"
description = "hand-made curves"
seeds = 2
[budget]
pretrain_steps = 1000
adapt_steps = 300
eval_every = 100
eval_episodes = 4
adapt_envs = 4
[[tasks]]
env = "nav:point"
instances = INSTANCES
"""


def test_the_budget_curve_takes_its_1x_point_from_a_bench_of_the_suite_itself(tmp_path):
    import test_bench_analysis as bench_helpers

    folder = bench_helpers._bench_folder(tmp_path / "suite-run", bench_helpers.CURVES)
    suite = tmp_path / "hand.toml"
    suite.write_text(HAND_SUITE.replace("INSTANCES", "2"))
    out = tmp_path / "curve"
    # MRFT's seed 1 pre-trained its 1,000 steps in 40 s; seed 2 resumed at step 900, too short
    # a part to time it by (GRPO: 10 and 20 s, 100 and 50 env steps/s)
    mrft_runs = folder / "runs" / "nav_point" / "mrft"
    (mrft_runs / "seed1" / "pretrain.json").write_text(json.dumps({"wall_clock_s": 40.0, "sps": 25.0, "peak_memory_mib": 500.0}))
    (mrft_runs / "seed2" / "pretrain.json").write_text(json.dumps(
        {"wall_clock_s": 1.0, "sps": 100.0, "peak_memory_mib": 500.0, "steps": 1000, "resumed_at_step": 900}))
    args = ("--suite", str(suite), "--families", "nav:point", "--methods", "grpo,mrft", "--scales", "1",
            "--out", str(out), "--scale-one", str(folder))
    proc = _script("budget_curve.py", *args, "--summary-only")
    assert proc.returncode == 0, proc.stderr
    speeds = {s["method"]: s for s in json.loads((out / "curve.json").read_text())["pretrain_speed"]}
    assert speeds["grpo"]["sps"] == pytest.approx(75) and speeds["grpo"]["runs"] == 2
    assert speeds["mrft"]["sps"] == pytest.approx(25) and speeds["mrft"]["runs"] == 1
    md = (out / "curve.md").read_text()
    assert "| nav:point | grpo | 75 (2) | 13s |" in md and "| nav:point | mrft | 25 (1) | 40s |" in md
    rows = {r["method"]: r for r in json.loads((out / "curve.json").read_text())["rows"]}
    # finals: GRPO .6 1 | .4 .8, MRFT .7 1 | .7 1 (seed 1 | seed 2), at the suite's own 1,000
    # steps: per-seed means GRPO .8 and .6, MRFT .85 and .85; the interval resamples seeds
    assert rows["grpo"]["mean"] == pytest.approx(0.7) and rows["mrft"]["mean"] == pytest.approx(0.85)
    assert rows["grpo"]["low"] == pytest.approx(0.6) and rows["grpo"]["high"] == pytest.approx(0.8)
    assert rows["mrft"]["low"] == rows["mrft"]["high"] == pytest.approx(0.85)
    assert rows["mrft"]["pretrain_steps"] == 1000 and rows["mrft"]["seeds"] == [1, 2]
    assert rows["mrft"]["complete"]
    standing = json.loads((out / "curve.json").read_text())["overtaking"]
    # two seeds: too few for the intervals to decide, so the means do
    assert standing == [{"family": "nav:point", "method": "grpo", "standing": {"x1": "ahead by mean, 2 seeds"},
                         "above_from": 1.0, "not_behind_from": 1.0}]
    assert "- nav:point, against grpo: x1 ahead by mean, 2 seeds; above by mean from x1" in (
        out / "curve.md").read_text()
    # asked for one seed: the 1x point is read on that seed only, with no interval
    proc = _script("budget_curve.py", *args, "--summary-only", "--seeds", "1")
    assert proc.returncode == 0, proc.stderr
    rows = {r["method"]: r for r in json.loads((out / "curve.json").read_text())["rows"]}
    assert rows["grpo"]["mean"] == pytest.approx(0.8) and rows["grpo"]["seeds"] == [1]
    assert rows["grpo"]["low"] is None and "0.8 (1,000) |" in (out / "curve.md").read_text()
    # the summary into a results document, between its markers, the plot linked from there
    doc = tmp_path / "docs" / "results.md"
    doc.parent.mkdir()
    doc.write_text("# Results\n\nno markers\n")
    refused = _script("budget_curve.py", *args, "--summary-only", "--results-doc", str(doc))
    assert refused.returncode == 2 and "budget-curve:start" in refused.stderr, refused.stderr
    assert len(refused.stderr.strip().splitlines()) == 1
    doc.write_text("# Results\n\n<!-- budget-curve:start -->\nold\n<!-- budget-curve:end -->\n\ntail\n")
    proc = _script("budget_curve.py", *args, "--summary-only", "--results-doc", str(doc))
    assert proc.returncode == 0, proc.stderr
    text = doc.read_text()
    block = text.split("<!-- budget-curve:start -->\n")[1].split("\n<!-- budget-curve:end -->")[0]
    assert block.startswith("![Final held-out score against pre-training env steps](../curve/curve.png)")
    assert "#### nav:point" in block and "| grpo | 0.7 [0.6, 0.8] (1,000) |" in block and "old" not in block
    assert "Made by `python benchmarks/budget_curve.py --suite" in block and text.endswith("\n\ntail\n")
    missing = _script("budget_curve.py", *args, "--summary-only", "--results-doc", str(tmp_path / "none.md"))
    assert missing.returncode == 2 and missing.stderr.startswith("error: ") and "Traceback" not in missing.stderr
    # a bench of the suite with other settings is not the 1x point
    suite.write_text(HAND_SUITE.replace("INSTANCES", "3"))
    proc = _script("budget_curve.py", *args)
    assert proc.returncode == 2 and proc.stderr.startswith("error: --scale-one")
    assert "other settings" in proc.stderr and "Traceback" not in proc.stderr


@pytest.mark.parametrize("flags, message", [
    (("--scales", "0.5,x"), "--scales takes comma-separated numbers"),
    (("--scales", "0.5,0"), "--scales must be positive"),
    (("--scales", "nan"), "--scales must be positive"),
    (("--scales", "1,inf"), "--scales must be positive and finite"),
    (("--scales", "-0.5"), "--scales must be positive"),
    (("--seeds", "0"), "--seeds must be at least 1"),
])
def test_the_budget_curve_refuses_bad_scales_and_seeds_in_one_line(tmp_path, flags, message):
    proc = _script("budget_curve.py", "--families", "nav:point", "--out", str(tmp_path / "c"), *flags)
    assert proc.returncode == 2 and proc.stderr.startswith(f"error: {message}"), proc.stderr
    assert len(proc.stderr.strip().splitlines()) == 1 and not (tmp_path / "c").exists()


def test_a_scale_not_finished_reads_every_method_on_the_seeds_all_have_and_says_so(tmp_path):
    import test_bench_analysis as bench_helpers

    curves = {"grpo": bench_helpers.CURVES["grpo"], "mrft": {1: bench_helpers.CURVES["mrft"][1]}}
    folder = bench_helpers._bench_folder(tmp_path / "suite-run", curves)
    suite = tmp_path / "hand.toml"
    suite.write_text(HAND_SUITE.replace("INSTANCES", "2"))
    out = tmp_path / "curve"
    proc = _script("budget_curve.py", "--suite", str(suite), "--families", "nav:point", "--methods",
                   "grpo,mrft", "--scales", "1", "--out", str(out), "--scale-one", str(folder),
                   "--summary-only")
    assert proc.returncode == 0, proc.stderr
    rows = {r["method"]: r for r in json.loads((out / "curve.json").read_text())["rows"]}
    # MRFT has finished seed 1 only: GRPO is read on seed 1 too (.6 and 1 -> .8), not on both
    assert rows["grpo"]["seeds"] == rows["mrft"]["seeds"] == [1]
    assert rows["grpo"]["mean"] == pytest.approx(0.8) and not rows["grpo"]["complete"]
    assert "0.8 (1,000, 1/2 seeds)" in (out / "curve.md").read_text()


def test_belief_probes_probe_every_mrft_pretraining_once_and_tabulate_them(tmp_path):
    from test_cli import mrft

    seed_dir = tmp_path / "bench" / "runs" / "bandit_arms3" / "mrft" / "seed1"
    proc = mrft("train", "--algo", "mrft", "--env", "bandit:arms3", "--total-steps", 400,
                "--runs-dir", seed_dir, "--run-name", "train", "--no-progress")
    assert proc.returncode == 0, proc.stderr
    proc = _script("belief_probes.py", str(tmp_path / "bench"), "--episodes", "16")
    assert proc.returncode == 0, proc.stderr
    record = json.loads((tmp_path / "bench" / "belief_probes" / "bandit_arms3" / "mrft" / "seed1.json").read_text())
    assert len(record["probe"]["return_episode"]) >= 2 and "context_gain" in record["probe"]
    assert record["settings"]["episodes"] == 16
    row = next(line for line in proc.stdout.splitlines() if line.startswith("| bandit_arms3 | mrft | 1 |"))
    assert row == (tmp_path / "bench" / "belief_probes.md").read_text().splitlines()[2]
    again = _script("belief_probes.py", str(tmp_path / "bench"), "--episodes", "16")
    assert again.returncode == 0 and "probing" not in again.stderr  # kept, not probed twice
    empty = _script("belief_probes.py", str(tmp_path / "nothing"))
    assert empty.returncode == 2 and empty.stderr.strip().startswith("error: no MRFT")
    stored = tmp_path / "bench" / "belief_probes" / "bandit_arms3" / "mrft" / "seed1.json"
    stored.write_text("{cut")  # a record no run writes: one line, not a traceback
    broken = _script("belief_probes.py", str(tmp_path / "bench"))
    assert broken.returncode == 2 and broken.stderr.startswith("error: ") and "Traceback" not in broken.stderr


def test_the_budget_curve_says_from_which_budget_mrft_stays_above_and_is_never_behind(monkeypatch):
    monkeypatch.syspath_prepend(str(REPO / "benchmarks"))
    import budget_curve

    def row(method, scale, mean, low, high, seeds=(1, 2, 3, 4, 5)):
        return {"family": "f", "method": method, "scale": scale, "mean": mean, "low": low, "high": high,
                "seeds": list(seeds), "expected_seeds": 5, "complete": len(seeds) == 5}

    # scales given out of order. PPO: MRFT behind at x0.25 (intervals apart), level at x0.5
    # though below by mean, above by mean from x1 on (level at x1, ahead at x3)
    rows = [row("mrft", 0.25, 1, 0.5, 1.5), row("ppo", 0.25, 3, 2, 4),
            row("mrft", 0.5, 2, 1, 3), row("ppo", 0.5, 2.5, 2, 3),
            row("mrft", 1, 3, 2, 4), row("ppo", 1, 2.9, 2.5, 3.5),
            row("mrft", 3, 5, 4.5, 5.5), row("ppo", 3, 3, 2.5, 3.5)]
    summary = {"families": ["f"], "methods": ["mrft", "ppo"], "scales": [3, 0.5, 1, 0.25], "rows": rows}
    ppo, = budget_curve.overtaking(summary, "mrft")
    assert ppo["standing"] == {"x0.25": "behind", "x0.5": "level", "x1": "level", "x3": "ahead"}
    assert ppo["above_from"] == 1 and ppo["not_behind_from"] == 0.5
    # RL2, with its own seeds per scale: ahead at x0.5 (intervals apart); at x1 equal means
    # on two seeds, the scale not finished: level by mean; at x3 below by mean on one seed
    rows = [row("mrft", 0.5, 2, 1, 3), row("rl2", 0.5, 0.85, 0.8, 0.9),
            row("mrft", 1, 3, 2.4, 3.6, seeds=(1, 2)), row("rl2", 1, 3, 2.5, 3.5, seeds=(1, 2)),
            row("mrft", 3, 5, None, None, seeds=(1,)), row("rl2", 3, 6, None, None, seeds=(1,))]
    rl2, = budget_curve.overtaking({**summary, "methods": ["mrft", "rl2"], "rows": rows}, "mrft")
    assert rl2["standing"] == {"x0.5": "ahead", "x1": "level by mean, 2 seeds (2/5 seeds)",
                               "x3": "behind by mean, 1 seed (1/5 seeds)"}
    assert rl2["above_from"] is None and rl2["not_behind_from"] is None


def test_the_adaptation_rule_picks_the_variant_that_wins_somewhere_and_loses_nowhere(monkeypatch, tmp_path):
    monkeypatch.syspath_prepend(str(REPO / "benchmarks"))
    import adaptation_rule

    def row(env, method, final):  # final: P(mrft better) [point, low, high]
        return {"env": env, "method": method, "in_context": None, "final": final}

    analysis = {"focus": "mrft", "family_comparisons": [
        # beats the default on a, level on b: qualifies
        row("a", "mrft-frozen", [0.2, 0.1, 0.4]), row("b", "mrft-frozen", [0.5, 0.3, 0.7]),
        # beats it on a, below it on b: does not
        row("a", "mrft-bound", [0.1, 0.0, 0.3]), row("b", "mrft-bound", [0.8, 0.6, 0.9]),
        # beats it on both, but lower regret decides between qualifiers
        row("a", "mrft-slow", [0.3, 0.2, 0.45]), row("b", "mrft-slow", [0.3, 0.1, 0.49]),
        # level everywhere: does not; another method is no variant
        row("a", "mrft-level", [0.5, 0.4, 0.6]), row("b", "mrft-level", [0.5, 0.2, 0.8]),
        row("a", "ppo", [0.9, 0.8, 1.0])],
        "regret": {"methods": {"mrft-frozen": {"regret": [0.10, 0.05, 0.2]},
                               "mrft-bound": {"regret": [0.01, 0.0, 0.1]},
                               "mrft-slow": {"regret": [0.20, 0.1, 0.3]},
                               "mrft-level": {"regret": [0.0, 0.0, 0.0]}}}}
    names = ("mrft-frozen", "mrft-bound", "mrft-slow", "mrft-level", "mrft-absent")
    rows = {r["method"]: r for r in adaptation_rule.verdicts(analysis, names)}
    assert set(rows) == set(names) and rows["mrft-absent"]["absent"] and not rows["mrft-absent"]["qualifies"]
    assert rows["mrft-frozen"]["beats"] == ["a"] and rows["mrft-frozen"]["qualifies"]
    assert rows["mrft-bound"]["below"] == ["b"] and not rows["mrft-bound"]["qualifies"]
    assert rows["mrft-slow"]["beats"] == ["a", "b"] and rows["mrft-slow"]["qualifies"]
    assert not rows["mrft-level"]["qualifies"]
    assert adaptation_rule.decision(list(rows.values())) == "mrft-frozen"  # the lower regret
    # a family without an interval (too few seeds) decides nothing: the variant cannot qualify
    unsure = {**analysis, "family_comparisons": [row("a", "mrft-frozen", [0.2, 0.1, 0.4]),
                                                 row("b", "mrft-frozen", None)]}
    assert adaptation_rule.decision(adaptation_rule.verdicts(unsure, names)) == "mrft"
    # an interval that reaches one half decides nothing; without the reference rows there is
    # no regret, which a single qualifier does not need and several cannot do without
    edge = {"focus": "mrft", "regret": {"unavailable": "no oracle"},
            "family_comparisons": [row("a", "mrft-frozen", [0.3, 0.1, 0.5]), row("a", "mrft-slow", [0.3, 0.1, 0.45])]}
    edge_rows = {r["method"]: r for r in adaptation_rule.verdicts(edge, names)}
    assert edge_rows["mrft-frozen"]["beats"] == [] and edge_rows["mrft-slow"]["beats"] == ["a"]
    assert adaptation_rule.decision(list(edge_rows.values())) == "mrft-slow"
    edge["family_comparisons"].append(row("a", "mrft-level", [0.2, 0.1, 0.3]))
    with pytest.raises(adaptation_rule.MrftError, match="no cumulative regret"):
        adaptation_rule.decision(adaptation_rule.verdicts(edge, names))
    # the script: its table and decision, and a clear error for a bench reported against another focus
    (tmp_path / "bench").mkdir()
    (tmp_path / "bench" / "analysis.json").write_text(json.dumps(analysis))
    proc = _script("adaptation_rule.py", str(tmp_path / "bench"), "--variants", ",".join(names))
    assert proc.returncode == 0, proc.stderr
    assert "| mrft-absent | not in the bench" in proc.stdout
    assert "`mrft-frozen` becomes the default." in proc.stdout
    assert (tmp_path / "bench" / "adaptation_rule.md").read_text() == proc.stdout
    none = _script("adaptation_rule.py", str(tmp_path / "bench"))  # none of the pre-registered four
    assert none.returncode == 2 and "compares none of mrft-kl-bound" in none.stderr
    (tmp_path / "bench" / "analysis.json").write_text(json.dumps({**analysis, "focus": "ppo"}))
    proc = _script("adaptation_rule.py", str(tmp_path / "bench"))
    assert proc.returncode == 2 and proc.stderr.startswith("error: ") and "--focus mrft" in proc.stderr


def _official_bench(folder, env, rows, pretrain_steps, protocol=(10, 3)):
    """A bench folder with only what metaworld_published.py reads: its meta-test rows."""
    folder.mkdir(parents=True)
    (folder / "bench.json").write_text(json.dumps({
        "suite": {"budget": {"pretrain_steps": 1}, "tasks": [{"env": env, "pretrain_steps": pretrain_steps}]},
        "machine": {"packages": {"metaworld": "3.1.1"}}}))
    meta_test = {"protocol": {"name": "official", "adaptation_episodes": protocol[0],
                              "evaluation_episodes": protocol[1]},
                 "rows": [{"env": env, "method": m, "seeds": 3, "success_interval": list(s),
                           "before_interval": [0.1, 0.0, 0.2], "goals": {"a-v3": 10, "b-v3": 10}}
                          for m, s in rows.items()]}
    (folder / "analysis.json").write_text(json.dumps({"meta_test": meta_test}))
    return folder


def test_metaworld_published_sets_ours_beside_the_papers_figures(tmp_path):
    ml1 = _official_bench(tmp_path / "ml1", "metaworld-official:ML1-reach",
                          {"rl2": (0.5, 0.25, 0.75)}, 200_000)
    ml10 = _official_bench(tmp_path / "ml10", "metaworld-official:ML10",
                           {"rl2": (0.1, 0.05, 0.15), "mrft": (0.2, 0.1, 0.3)}, 750_000)
    push = _official_bench(tmp_path / "push", "metaworld-official:ML1-push",
                           {"rl2": (0.0, 0.0, 0.0)}, 200_000)
    doc = tmp_path / "results.md"
    doc.write_text("top\n<!-- metaworld-official:start -->\nold\n<!-- metaworld-official:end -->\nend\n")
    proc = _script("metaworld_published.py", str(ml1), str(push), str(ml10), "--out", str(tmp_path / "out"),
                   "--results-doc", str(doc))
    assert proc.returncode == 0, proc.stderr
    rows = {(r["benchmark"], r["method"]): r for r in json.loads((tmp_path / "out" / "published.json").read_text())}
    # RL2 on ML10: ours in percent beside the paper's 35.8%, at 750k of Farama's 20M (3.75%)
    assert rows["ML10", "rl2"]["published"] == 35.8 and rows["ML10", "rl2"]["farama_share"] == 0.0375
    assert rows["ML1-reach", "rl2"]["published"] is None and rows["ML1-reach", "rl2"]["farama_share"] == 0.1
    # the paper's methods not run here are listed with their figures alone
    assert rows["ML10", "maml"] == {"benchmark": "ML10", "method": "maml", "published": 31.6}
    text = doc.read_text()
    assert text.startswith("top\n") and text.endswith("end\n") and "old" not in text
    assert "| ML10 | RL2 | 10% [5%, 15%] | 10% [0%, 20%] | 3 | 35.8% |" in text
    assert "| ML10 | MAML | not run here | — | — | 31.6% |" in text
    # how each benchmark's figures were made, said once below the table, one line for the
    # benchmarks made alike
    notes = {x.split("**")[1]: x for x in text.splitlines() if x.startswith("- **")}
    assert sorted(notes) == ["ML1-reach, ML1-push", "ML10"]
    notes["ML1-reach"] = notes.pop("ML1-reach, ML1-push")
    assert "10 adaptation + 3 evaluation episodes per test task, 10 goals per class; Meta-World 3.1.1; " \
           "750,000 pre-training env steps (3.75% of Farama's recipe). Not one measurement" in notes["ML10"]
    assert "(10% of Farama's recipe). No published figure to set beside: Yu et al. show ML1 as " \
           "learning curves only." in notes["ML1-reach"]
    # a document without the markers, or a bench not scored by the protocol: one error line,
    # nothing written
    doc.write_text("no markers\n")
    proc = _script("metaworld_published.py", str(ml1), "--out", str(tmp_path / "out2"), "--results-doc", str(doc))
    assert proc.returncode == 2 and proc.stderr.startswith("error: ") and not (tmp_path / "out2").exists()
    proc = _script("metaworld_published.py", str(ml1), "--out", str(tmp_path / "out2"),
                   "--results-doc", str(tmp_path / "missing.md"))
    assert proc.returncode == 2 and proc.stderr.startswith("error: ") and "Traceback" not in proc.stderr
    (ml1 / "analysis.json").write_text(json.dumps({"meta_test": None}))
    proc = _script("metaworld_published.py", str(ml1), "--out", str(tmp_path / "out3"))
    assert proc.returncode == 2 and "no meta_test section" in proc.stderr
