"""The analysis of a bench folder on hand-made curves: every headline number is worked out
by hand below, then the report is written from it."""

import json

import numpy as np
import pytest

from mrft.bench.analysis import analyze
from mrft.bench.report import write_report
from mrft.errors import MrftError
from mrft.logging import write_json

STEPS = [0, 100, 200, 300]
# [method][seed][task] -> evaluation scores at STEPS; budget A = 300, two tasks
CURVES = {
    "grpo": {1: [[0, .2, .4, .6], [0, .5, .8, 1.0]],
             2: [[0, .2, .4, .4], [0, .5, .8, .8]]},
    "mrft": {1: [[.5, .6, .6, .7], [.9, .9, 1, 1]],
             2: [[.1, .5, .6, .7], [.2, .9, 1, 1]]},
}


def _bench_folder(tmp_path, curves=CURVES, seeds=(1, 2), **settings):
    suite = {"name": "hand", "description": "hand-made curves",
             "tasks": [{"env": "nav:point", "instances": 2}],
             "budget": {"pretrain_steps": 1000, "adapt_steps": 300, "eval_every": 100,
                        "eval_episodes": 4, "adapt_envs": 4},
             "seeds": 2, "train": {}, "methods": {}, "source": "test"}
    write_json(tmp_path / "bench.json", {"format": 1, "suite": suite, "methods": list(curves),
                                        "seeds": list(seeds), "commands": ["mrft bench --suite x"],
                                        "machine": {"cores": 2}, "commit": "abc", "started": "t0",
                                        **settings})
    for method, by_seed in curves.items():
        for seed, tasks in by_seed.items():
            folder = tmp_path / "runs" / "nav_point" / method / f"seed{seed}"
            write_json(folder / "pretrain.json", {"wall_clock_s": 10.0 * seed, "sps": 100.0,
                                                  "peak_memory_mib": 500.0 + seed})
            for i, scores in enumerate(tasks):
                write_json(folder / "adapt" / f"instance{i}.json", {
                    "curve": [{"step": s, "return": v, "score": v} for s, v in zip(STEPS, scores, strict=True)],
                    "wall_clock_s": 2.0, "sps": 150.0, "peak_memory_mib": 600.0})
    return tmp_path


def _row(analysis, prefix):
    return next(r for r in analysis["headline"] if r["metric"].startswith(prefix))


def test_headline_numbers_by_hand(tmp_path):
    analysis = analyze(_bench_folder(tmp_path))
    assert analysis["baseline"] == "grpo" and analysis["focus"] == "mrft"
    final = _row(analysis, "final return")
    # GRPO finals .6 1 .4 .8 -> middle two .6 .8 -> .7; MRFT .7 1 .7 1 -> .85; +21%
    assert final["values"]["grpo"].startswith("0.7 [") and final["values"]["mrft"].startswith("0.85 [")
    assert final["change"]["mrft"] == "+21%"
    # GRPO's mean final per task: .5 and .9; 90% targets .45 and .81. GRPO: 300, never, 300,
    # never (censored at 300) -> IQM 300; MRFT: 0, 100, 0, 100 -> IQM 50
    steps = _row(analysis, "adaptation steps")
    assert steps["values"]["grpo"].startswith("300 [") and "2/4 never reached" in steps["values"]["grpo"]
    assert steps["values"]["mrft"].startswith("50 [") and "0/4 never reached" in steps["values"]["mrft"]
    assert steps["change"]["mrft"] == "-83%"
    # to GRPO's final itself (.5, .9): GRPO 300 x4 (two censored), MRFT 0, 100, 0, 100
    efficiency = _row(analysis, "sample efficiency, adaptation")
    assert efficiency["values"]["grpo"] == "1.0x" and efficiency["values"]["mrft"].startswith("6.00x [")
    overall = _row(analysis, "sample efficiency, pre-training")
    assert overall["values"]["mrft"].startswith(f"{1300 / 1050:.2f}x [")
    # task 0: .7 .7 beat .6 .4 -> 1; task 1: 1 vs 1 ties, 1 > .8 -> .75; mean .875
    improvement = _row(analysis, "probability of improvement")
    assert improvement["values"]["mrft"].startswith("0.88 [") and "grpo" not in improvement["values"]
    point, low, high = next(i["methods"]["mrft"] for i in analysis["intervals"]
                            if i["metric"].startswith("probability"))
    assert point == pytest.approx(0.875) and low <= point <= high
    # the figures set beside the published claims: 6x, 50 / 300 - 1, .85 / .7 - 1
    figures = analysis["claims"]
    assert figures["sample_efficiency"][0] == pytest.approx(6.0)
    assert figures["adaptation_steps_change"][0] == pytest.approx(50 / 300 - 1)
    assert figures["final_change"][0] == pytest.approx(0.85 / 0.7 - 1)
    low, high = figures["final_change"][1:]
    assert low <= 0.85 / 0.7 - 1 <= high
    assert _row(analysis, "pre-training wall clock")["values"] == {"grpo": "15", "mrft": "15"}
    assert _row(analysis, "peak memory")["values"]["mrft"] == "600"


def test_a_pretraining_continued_after_a_stop_costs_its_whole_run(tmp_path):
    folder = _bench_folder(tmp_path)
    # MRFT's seed 2 ran its last 500 of 1,000 steps in 20 s at 100 env steps/s after a stop:
    # its first 500 steps count 5 s more, so the mean is (10 + 25) / 2 rather than 15
    record = folder / "runs" / "nav_point" / "mrft" / "seed2" / "pretrain.json"
    write_json(record, {**json.loads(record.read_text()), "steps": 1000, "resumed_at_step": 500})
    analysis = analyze(folder)
    assert _row(analysis, "pre-training wall clock")["values"] == {"grpo": "15", "mrft": "18"}
    assert analysis["provenance"]["wall_clock_s"] == pytest.approx(10 + 20 + 10 + 25 + 2.0 * 8)


def test_per_task_rows_curves_and_report(tmp_path):
    analysis = analyze(_bench_folder(tmp_path))
    task0 = analysis["tasks"][0]
    assert task0["task"] == "nav:point #0" and task0["score"] == "return"
    assert task0["methods"]["grpo"]["steps"] == "300 (1/2 reached)"
    assert task0["methods"]["mrft"]["steps"] == "50 (2/2 reached)"
    curve = analysis["curves"]["adaptation"][0]["methods"]["mrft"]
    assert curve["steps"] == STEPS and curve["runs"] == 4
    assert curve["mean"][0] == pytest.approx(np.mean([.5, .9, .1, .2]))
    assert analysis["curves"]["pretrain"][0]["methods"] == {}  # no training logs in the fixture
    json.dumps(analysis)  # JSON-safe, as mrft report writes it
    files = write_report(analysis, tmp_path)
    text = files.markdown.read_text()
    assert "| metric | GRPO | MRFT | change |" in text and "nav:point #1" in text
    assert files.html.read_text().count("<table") >= 2


def test_partial_bench_uses_complete_seeds_only(tmp_path):
    curves = {m: dict(by_seed) for m, by_seed in CURVES.items()}
    curves["mrft"][2] = curves["mrft"][2][:1]  # seed 2 finished one task of two
    analysis = analyze(_bench_folder(tmp_path, curves))
    assert analysis["curves"]["adaptation"][0]["methods"]["mrft"]["runs"] == 2
    assert any("mrft: only seeds [1]" in note for note in analysis["notes"])


def test_verdict_reads_the_improvement_interval(tmp_path):
    verdict = analyze(_bench_folder(tmp_path))["verdict"]
    assert verdict == [verdict[0]] and verdict[0].startswith("MRFT beats GRPO on final return")
    assert "0.88 [0.75, 1.00]: the interval lies above 0.5" in verdict[0]
    swapped = {"grpo": CURVES["mrft"], "mrft": CURVES["grpo"]}
    worse = analyze(_bench_folder(tmp_path / "swapped", swapped))["verdict"]
    assert worse[0].startswith("MRFT does not beat GRPO") and "below 0.5" in worse[0]
    one_seed = {m: {1: by_seed[1]} for m, by_seed in CURVES.items()}
    single = analyze(_bench_folder(tmp_path / "one", one_seed, seeds=(1,)))["verdict"]
    assert "single seed" in single[-1]


def test_verdict_sets_the_focus_against_every_learning_method(tmp_path):
    # PPO ends as GRPO does and RL2 as MRFT does: MRFT beats PPO as it beats GRPO (0.88) and
    # ties RL2 on every task (P = 0.5 in every resample); the oracle is a reference row
    curves = {**CURVES, "ppo": CURVES["grpo"], "rl2": CURVES["mrft"], "oracle": CURVES["mrft"]}
    verdict = analyze(_bench_folder(tmp_path, curves))["verdict"]
    ppo = next(line for line in verdict if line.startswith("MRFT beats PPO"))
    assert "a run of MRFT ends above a run of PPO 0.88 [0.75, 1.00]" in ppo
    rl2 = next(line for line in verdict if line.startswith("MRFT and RL2 are not told apart"))
    assert "0.50 [0.50, 0.50]: the interval contains 0.5" in rl2
    assert not any("MRFT" in line and "ORACLE" in line for line in verdict)
    assert len(verdict) == 4 + 2  # MRFT, PPO, RL2 and the oracle against GRPO; two focus lines


def test_baseline_and_focus_are_settings_every_sentence_is_written_from(tmp_path):
    analysis = analyze(_bench_folder(tmp_path), baseline="mrft", focus="grpo")
    assert (analysis["baseline"], analysis["focus"], analysis["methods"]) == ("mrft", "grpo",
                                                                              ["mrft", "grpo"])
    # MRFT's mean final per task: .7 and 1; 90% targets .63 and .9. MRFT: 300, 0, 300, 100 ->
    # IQM 200; GRPO reaches .9 once (300), never otherwise -> 300, three censored
    steps = _row(analysis, "adaptation steps")
    assert steps["metric"] == "adaptation steps to 90% of MRFT's final (IQM)"
    assert steps["values"]["mrft"].startswith("200 [") and "3/4 never reached" in steps["values"]["grpo"]
    improvement = _row(analysis, "probability of improvement")
    assert improvement["metric"] == "probability of improvement over MRFT"
    assert improvement["values"]["grpo"].startswith("0.12 [")  # 1 - 0.875
    assert analysis["verdict"][0].startswith("GRPO does not beat MRFT")
    assert any("steps to target = mean adaptation steps to 90% of MRFT's final" in n
               for n in analysis["notes"])
    text = json.dumps(analysis["headline"])
    assert "GRPO" not in text and "steps_MRFT / steps_method" in text
    header = write_report(analysis, tmp_path).markdown.read_text()
    assert "| metric | MRFT | GRPO | change |" in header


def test_settings_come_from_the_argument_then_bench_json_then_the_defaults(tmp_path):
    recorded = _bench_folder(tmp_path / "recorded", baseline="mrft", focus="grpo")
    assert (analyze(recorded)["baseline"], analyze(recorded)["focus"]) == ("mrft", "grpo")
    assert analyze(recorded, baseline="grpo", focus="mrft")["baseline"] == "grpo"
    plain = analyze(_bench_folder(tmp_path / "plain"))
    assert (plain["baseline"], plain["focus"]) == ("grpo", "mrft")  # mrft.algos' defaults
    # a focus that is not in the bench gives way to the next method; the baseline leads
    other = analyze(_bench_folder(tmp_path / "other"), focus="ppo")
    assert (other["baseline"], other["focus"]) == ("grpo", "mrft")


def test_the_protocol_note_names_how_each_method_in_the_bench_adapts(tmp_path):
    from mrft.bench.methods import adaptation_note

    notes = analyze(_bench_folder(tmp_path))["notes"]
    protocol = next(n for n in notes if n.startswith("Every method gets the same"))
    # in the registry's order, whatever the baseline
    assert f"({adaptation_note('grpo')}, {adaptation_note('mrft')})" in protocol
    swapped = analyze(_bench_folder(tmp_path / "swapped"), baseline="mrft", focus="grpo")["notes"]
    assert protocol in swapped
    assert adaptation_note("ppo") not in protocol and "without any update" not in protocol
    curves = {**CURVES, "oracle": CURVES["mrft"], "context-free": CURVES["grpo"]}
    notes = analyze(_bench_folder(tmp_path / "references", curves))["notes"]
    protocol = next(n for n in notes if n.startswith("Every method gets the same"))
    assert "; the oracle and context-free rows are scored without any update. What each spent" in protocol
    assert protocol.endswith("(and a family's exogenous noise).")


def test_returns_of_several_families_are_normalised_per_task(tmp_path):
    folder = _bench_folder(tmp_path)
    meta = json.loads((folder / "bench.json").read_text())
    meta["suite"]["tasks"].append({"env": "bandit:arms3", "instances": 1})
    write_json(folder / "bench.json", meta)
    for method, offset in (("grpo", 0.0), ("mrft", 100.0)):  # bandit returns on another scale
        for seed in (1, 2):
            write_json(folder / "runs" / "bandit_arms3" / method / f"seed{seed}" / "adapt"
                       / "instance0.json",
                       {"curve": [{"step": s, "return": v, "score": v}
                                  for s, v in zip(STEPS, [0, 50, 100 + offset, 100 + offset],
                                                  strict=True)],
                        "wall_clock_s": 1.0, "sps": 1.0, "peak_memory_mib": 1.0})
    analysis = analyze(folder)
    # bandit: range 0 .. 200 -> GRPO final 100 -> .5, MRFT 200 -> 1; nav: range -> .6/.4 ... /1
    task = next(t for t in analysis["tasks"] if t["task"] == "bandit:arms3 #0")
    assert task["methods"]["mrft"]["final"].startswith("200 [")  # the table keeps returns
    assert any("bandit:arms3: returns mapped to [0, 1]" in n and "0 .. 200" in n
               for n in analysis["notes"])
    final = _row(analysis, "final return")
    assert "normalised per task" in final["definition"]
    point, _, high = next(i["methods"]["mrft"] for i in analysis["intervals"]
                          if i["metric"].startswith("final"))
    assert 0 <= point <= high <= 1


def test_change_is_a_signed_whole_percent():
    from mrft.bench.text import change

    assert change(0.85, 0.7) == "+21%" and change(0.0214, 0.259) == "-92%"
    assert change(0.999, 1.0) == "+0%"  # rounds to zero: no "-0%"
    assert change(1.0, 0.0) == "—" and change(float("inf"), 1.0) == "—"
    assert change(-1.5, -1.0) == "-50%"  # a negative baseline: the sign follows the value


@pytest.mark.parametrize("content", [b'{"curve": [{"step": 0, "sc', b"\xff\xfe garbage", b"[1, 2, 3]",
                                     b'{"curve": "no", "wall_clock_s": 1, "sps": 1, "peak_memory_mib": 1}'])
def test_broken_run_files_stop_the_report_unless_skipped(tmp_path, content):
    folder = _bench_folder(tmp_path)
    broken = folder / "runs" / "nav_point" / "grpo" / "seed1" / "adapt" / "instance0.json"
    broken.write_bytes(content)
    with pytest.raises(MrftError) as info:
        analyze(folder)
    text = str(info.value)
    assert "instance0.json" in text and "--skip-broken" in text and "\n" not in text
    # skipping it leaves GRPO with one complete seed: it stays the baseline, and the note says why
    analysis = analyze(folder, skip_broken=True)
    assert analysis["baseline"] == "grpo" and analysis["seeds"] == [1, 2]
    assert [s["file"] for s in analysis["skipped"]] == ["runs/nav_point/grpo/seed1/adapt/instance0.json"]
    assert any("Skipped broken run file" in n for n in analysis["notes"])


def test_the_baseline_is_never_silently_replaced(tmp_path):
    folder = _bench_folder(tmp_path, seeds=(1,), curves={m: {1: c[1]} for m, c in CURVES.items()})
    (folder / "runs" / "nav_point" / "grpo" / "seed1" / "adapt" / "instance0.json").write_text("{")
    with pytest.raises(MrftError, match="grpo, the baseline"):
        analyze(folder, skip_broken=True)



def test_sim_to_real_fractions_by_hand(tmp_path):
    # Reacher episodes are 50 steps: evaluation points at 0, 10, 50 and 200 real episodes
    steps = [0, 500, 2500, 10000]
    suite = {"name": "s2r", "description": "", "tasks": [{"env": "sim2real:reacher", "instances": 1}],
             "budget": {"pretrain_steps": 1000, "adapt_steps": 10000, "eval_every": 500,
                        "eval_episodes": 4, "adapt_envs": 8},
             "seeds": 2, "train": {}, "methods": {}, "source": "test"}
    write_json(tmp_path / "bench.json", {"format": 1, "suite": suite,
                                        "methods": ["grpo", "ppo", "context-free", "oracle"],
                                        "seeds": [1, 2], "commands": ["x"], "machine": {}, "commit": "c"})
    # in-sim returns (costs): grpo -4 and -5; ppo -4 for both seeds
    returns = {"grpo": {1: [-8, -6, -4.4, -4], 2: [-10, -10, -5, -5]},
               "ppo": {1: [-8, -8, -5, -4], 2: [-16, -8, -8, -4]},
               "context-free": {1: [-8] * 4, 2: [-16] * 4},
               "oracle": {1: [-4] * 4, 2: [-4] * 4}}  # pre-trained on real bodies; no sim score here
    sims = {"grpo": {1: -4.0, 2: -5.0}, "ppo": {1: -4.0, 2: -4.0}}
    for method, by_seed in returns.items():
        for seed, values in by_seed.items():
            folder = tmp_path / "runs" / "sim2real_reacher" / method / f"seed{seed}"
            if method in sims:
                write_json(folder / "pretrain.json", {"wall_clock_s": 1.0, "sps": 1.0, "peak_memory_mib": 1.0,
                                                      "sim_return": sims[method][seed]})
            write_json(folder / "adapt" / "instance0.json", {
                "curve": [{"step": s, "return": v, "score": v} for s, v in zip(steps, values, strict=True)],
                "wall_clock_s": 1.0, "sps": 1.0, "peak_memory_mib": 1.0})
    rows = {r["method"]: r for r in analyze(tmp_path)["sim_to_real"]}
    # grpo: seed 1 fractions .5 .667 .909 1; seed 2 .5 .5 1 1
    grpo = rows["grpo"]
    assert grpo["sim_return"].startswith("-4.5")
    assert grpo["fractions"]["10"].startswith("0.583")  # (.667 + .5) / 2
    assert grpo["fractions"]["50"].startswith("0.955")  # (.909 + 1) / 2
    assert grpo["episodes_to_target"].startswith("50 [") and grpo["episodes_to_target"].endswith("0/2 never")
    # ppo: seed 1 .5 .5 .8 1 -> 200 episodes; seed 2 .25 .5 .5 1 -> 200
    assert rows["ppo"]["episodes_to_target"].startswith("200 [")
    # context-free reads PPO's in-sim return and never gets there: .5 and .25
    assert rows["context-free"]["fractions"]["200"].startswith("0.375")
    assert rows["context-free"]["episodes_to_target"].endswith("2/2 never")
    # of the oracle's real return (-4): grpo ends at -4 and -5 -> 1 and .8
    assert rows["grpo"]["oracle_fractions"]["200"].startswith("0.9 ")
    assert "oracle" not in rows  # no in-sim score of its own in this folder
    report = write_report(analyze(tmp_path), tmp_path)
    text = report.markdown.read_text()
    assert "## Sim to real" in text and "of in-sim after 50 real episodes" in text
    # context-free reads ppo's pre-training even when ppo is not among the benched methods
    meta = json.loads((tmp_path / "bench.json").read_text())
    meta["methods"] = ["grpo", "context-free"]
    (tmp_path / "bench.json").write_text(json.dumps(meta))
    rows = {r["method"]: r for r in analyze(tmp_path)["sim_to_real"]}
    assert rows["context-free"]["fractions"]["200"].startswith("0.375")


def test_fraction_of_sim_for_rewards_costs_and_mixed_signs():
    from mrft.bench.transfer import at_episodes, episodes_to_target, fraction_of_sim

    assert fraction_of_sim(5.0, 10.0) == 0.5 and fraction_of_sim(-8.0, -4.0) == 0.5
    assert fraction_of_sim(-1.0, 10.0) == 0.0 and fraction_of_sim(1.0, -3.0) == 1.0
    assert at_episodes([0, 10, 50], [0.1, 0.2, 0.3], 49) == 0.2
    assert episodes_to_target([0, 10, 50], [0.1, 0.95, 0.3]) == 10.0
    assert episodes_to_target([0, 10], [0.1, 0.2]) is None
    assert at_episodes([0, 10], [0.1, 0.2], 50) is None  # the budget ends before the mark
    assert fraction_of_sim(1.0, 0.0) == 1.0 and fraction_of_sim(-1.0, 0.0) == 0.0


def test_a_family_is_flagged_uninformative_when_the_oracle_does_not_beat_the_context_free_policy(tmp_path):
    curves = {"grpo": CURVES["grpo"],
              "oracle": {1: [[.9] * 4, [.8] * 4], 2: [[.9] * 4, [.9] * 4]},
              "context-free": {1: [[.1] * 4, [.2] * 4], 2: [[.2] * 4, [.1] * 4]}}
    lines = analyze(_bench_folder(tmp_path / "a", curves))["informative"]
    assert len(lines) == 1 and lines[0].startswith("nav:point is informative")
    assert "1.00 [1.00, 1.00]" in lines[0]
    curves["context-free"] = curves["oracle"]
    lines = analyze(_bench_folder(tmp_path / "b", curves))["informative"]
    assert lines[0].startswith("nav:point is uninformative") and "0.50" in lines[0]
    assert "not told apart" in lines[0]
    worse = {**curves, "oracle": {1: [[.1] * 4, [.1] * 4], 2: [[.1] * 4, [.1] * 4]},
             "context-free": {1: [[.9] * 4, [.8] * 4], 2: [[.9] * 4, [.9] * 4]}}
    lines = analyze(_bench_folder(tmp_path / "e", worse))["informative"]
    assert lines[0].startswith("nav:point is uninformative") and "oracle does worse" in lines[0]
    assert "0.00 [0.00, 0.00]" in lines[0]
    assert analyze(_bench_folder(tmp_path / "c"))["informative"] == []  # no reference rows
    text = write_report(analyze(_bench_folder(tmp_path / "d", curves)), tmp_path / "d").markdown.read_text()
    assert "Does the family reward adaptation?" in text


def test_the_exported_policy_is_reported_beside_the_adapted_one(tmp_path):
    references = {"oracle": {1: [[1.0] * 4, [1.0] * 4], 2: [[1.0] * 4, [1.0] * 4]},
                  "context-free": {1: [[0.0] * 4, [0.0] * 4], 2: [[0.0] * 4, [0.0] * 4]}}
    folder = _bench_folder(tmp_path, {**CURVES, **references})
    for seed in (1, 2):
        for i in range(2):
            path = folder / "runs" / "nav_point" / "mrft" / f"seed{seed}" / "adapt" / f"instance{i}.json"
            record = json.loads(path.read_text())
            for point in record["curve"]:
                point["export/return"] = point["return"] - 0.5
                point["export/score"] = point["score"] - 0.5
            record["curve"][-1].update({"distilled/score": record["curve"][-1]["score"] - 0.1,
                                        "distilled/env_steps": 40})
            path.write_text(json.dumps(record))
    rows = analyze(folder)["exports"]
    # MRFT finals .7 1 | .7 1 -> per-seed means .85 .85; folded .2 .5 | .2 .5 -> .35 .35;
    # distilled .6 .9 | .6 .9 -> .75 .75. On the scale context-free 0, oracle 1 the scores are
    # their own normalised values: distilled / adapted = .75 / .85
    assert [(r["env"], r["method"]) for r in rows] == [("nav:point", "mrft")]
    row = rows[0]
    assert row["adapted"].startswith("0.85") and row["export"].startswith("0.35")
    assert row["distilled"].startswith("0.75") and row["distill_steps"] == "40" and row["runs"] == 4
    assert row["distilled_share"][0] == pytest.approx(0.75 / 0.85)
    assert row["distilled_share_text"].startswith("0.882 [")
    text = write_report(analyze(folder), tmp_path).markdown.read_text()
    assert "## Exported policies" in text and "distilled / adapted, normalised" in text


def test_multi_task_transfer_by_hand(tmp_path):
    from mrft.bench.multitask import transfer_pairs, transfer_probability, transfer_rate
    from mrft.bench.suite import TaskFamily

    # MT10's held-out instance i plays task i mod 10: instances 0 and 10 are reach, 1 and 11 push
    suite = {"name": "mt", "description": "", "budget": {"pretrain_steps": 100, "adapt_steps": 10,
             "eval_every": 10, "eval_episodes": 4, "adapt_envs": 4}, "seeds": 2, "train": {},
             "methods": {}, "source": "t",
             "tasks": [{"env": "metaworld:MT10", "instances": 20},
                       {"env": "metaworld:reach", "instances": 2, "pretrain_steps": 10},
                       {"env": "metaworld:push", "instances": 2, "pretrain_steps": 10}]}
    write_json(tmp_path / "bench.json", {"format": 1, "suite": suite, "methods": ["ppo"], "seeds": [1, 2],
                                        "commands": ["x"], "machine": {}, "commit": "c"})

    def write(env, seed, instance, score):
        folder = tmp_path / "runs" / env.replace(":", "_") / "ppo" / f"seed{seed}"
        write_json(folder / "pretrain.json", {"wall_clock_s": 1.0, "sps": 1.0, "peak_memory_mib": 1.0})
        write_json(folder / "adapt" / f"instance{instance}.json", {
            "curve": [{"step": 0, "return": score, "score": score}, {"step": 10, "return": 0, "score": 0}],
            "wall_clock_s": 1.0, "sps": 1.0, "peak_memory_mib": 1.0})

    for seed in (1, 2):
        for i in range(20):
            # multi-task: reach .9 (beats single .1), push .2 (ties single .2), others .5
            write("metaworld:MT10", seed, i, {0: .9, 1: .2}.get(i % 10, .5))
        for i in range(2):
            write("metaworld:reach", seed, i, .1)
            write("metaworld:push", seed, i, .2)
    families = [TaskFamily(t["env"], t["instances"], t.get("pretrain_steps")) for t in suite["tasks"]]
    assert [(k, name, s.env) for _, k, name, s in transfer_pairs(families)] == [
        (0, "reach-v3", "metaworld:reach"), (1, "push-v3", "metaworld:push")]
    transfer = analyze(tmp_path)["transfer"]
    rows = {r["task"]: r for r in transfer["rows"]}
    assert rows["reach-v3"]["transfer"] == "positive" and rows["reach-v3"]["probability"].startswith("1.00")
    assert rows["push-v3"]["transfer"] == "not told apart" and rows["push-v3"]["probability"].startswith("0.50")
    assert transfer["rates"]["ppo"].startswith("0.50 [0.00, 1.00]") and "(1 of 2 tasks)" in transfer["rates"]["ppo"]
    # the headline measure is the return AUC: here (score + 0) / 2 over the 10-step budget,
    # so reach .45 vs .05 and push .1 vs .1, as the scores; the second measure is the score
    assert transfer["measure"] == "return AUC" and rows["reach-v3"]["multi"] == "0.45"
    by_score = transfer["measures"][1]
    assert by_score["measure"] == "score before any update"
    assert {r["task"]: r["multi"] for r in by_score["rows"]} == {"reach-v3": "0.9", "push-v3": "0.2"}
    assert by_score["rate_intervals"]["ppo"][0] == 0.5
    assert transfer_probability([0.0, 0.0], [1.0, 1.0])[2] == 0.0
    assert transfer_rate([True, True, False, True])[0] == 0.75
    text = write_report(analyze(tmp_path), tmp_path).markdown.read_text()
    assert "## Multi-task transfer" in text and "positive-transfer rate" in text
    assert "### By return AUC" in text and "### By score before any update" in text
    # the budgets name each family's own pre-training budget, not the default for all
    assert analyze(tmp_path)["budget"]["pretrain_steps_per_family"] == {
        "metaworld:MT10": 100, "metaworld:reach": 10, "metaworld:push": 10}
    assert ("- **pre-training env steps**: metaworld:MT10 100; metaworld:reach 10; "
            "metaworld:push 10") in text
    from mrft.bench.loading import BenchData

    # 20 MT10 instances at the suite's 100 steps, 2 + 2 single-task ones at their own 10
    assert BenchData(tmp_path).mean_pretrain_steps() == (20 * 100 + 4 * 10) / 24


def test_per_family_rows_and_within_episode_curves_by_hand(tmp_path):
    curves = {"grpo": CURVES["grpo"], "mrft": CURVES["mrft"],
              "oracle": {1: [[.8] * 4, [.8] * 4], 2: [[1.0] * 4, [1.0] * 4]}}
    folder = _bench_folder(tmp_path, curves)
    for method, rise in (("grpo", 0.0), ("mrft", 1.0)):
        for seed in (1, 2):
            for i in range(2):
                path = folder / "runs" / "nav_point" / method / f"seed{seed}" / "adapt" / f"instance{i}.json"
                record = json.loads(path.read_text())
                record["curve"][0]["reward_by_step"] = {"step": [0, 10] if seed == 1 else [0, 5],
                                                        "reward": [1.0, 1.0 + rise],
                                                        "horizon": 20 if seed == 1 else 10}
                path.write_text(json.dumps(record))
    analysis = analyze(folder)
    rows = {r["method"]: r for r in analysis["families"]}
    # MRFT first points .5 .9 .1 .2 -> .425; finals .7 1 .7 1 -> .85; oracle mean .9 -> .85 / .9
    assert rows["mrft"]["in_context"].startswith("0.425 [") and rows["mrft"]["final"].startswith("0.85 [")
    assert rows["mrft"]["of_oracle"].startswith(f"{0.85 / 0.9:.3g} [")
    # GRPO finals .6 1 .4 .8 -> .7 of .9
    assert rows["grpo"]["of_oracle"].startswith(f"{0.7 / 0.9:.3g} [") and rows["oracle"]["of_oracle"] == "—"
    assert rows["mrft"]["runs"] == 4
    # spread over seeds: std of the per-seed means of the finals. GRPO: seed 1 (.6 + 1) / 2 = .8,
    # seed 2 (.4 + .8) / 2 = .6 -> .2 / sqrt(2); MRFT: .85 and .85 -> 0
    assert rows["grpo"]["seed_spread"] == pytest.approx(0.2 / 2**0.5)
    assert rows["mrft"]["seed_spread"] == pytest.approx(0.0)
    panel = analysis["curves"]["within_episode"][0]
    assert set(panel["methods"]) == {"grpo", "mrft"}  # the oracle's runs hold no profile
    # the grid: bin centres of the longest profile (horizon 20): 5 and 15. Seed 2's profiles
    # (horizon 10, centres 2.5 and 7.5) read 1 + rise / 2 at step 5 and 0 at 15 (over)
    assert panel["methods"]["mrft"]["steps"] == [5.0, 15.0]
    assert panel["methods"]["mrft"]["mean"] == [1.25, 1.0] and panel["methods"]["grpo"]["mean"] == [1.0, 0.5]
    files = write_report(analysis, tmp_path)
    text = files.markdown.read_text()
    assert "## Per family: in context, after adaptation, against the oracle" in text
    assert "| spread over seeds (std) |" in text and f"| {0.2 / 2**0.5:.3g} |" in text
    assert (tmp_path / "within_episode.png").is_file() and "within_episode.png" in text


def test_no_oracle_fraction_against_an_oracle_that_may_score_zero(tmp_path):
    curves = {"grpo": CURVES["grpo"],
              "oracle": {1: [[-.5] * 4, [.6] * 4], 2: [[.5] * 4, [-.4] * 4]}}
    rows = {r["method"]: r for r in analyze(_bench_folder(tmp_path, curves))["families"]}
    assert rows["grpo"]["of_oracle"] == "—"


def test_how_each_method_learned_by_hand(tmp_path):
    """Env steps spent, optimiser steps per 1,000 env steps, parameters and the first adapted
    point, per family and method, from the run records; records without a figure show —."""
    folder = _bench_folder(tmp_path)
    for seed in (1, 2):
        pre = folder / "runs" / "nav_point" / "mrft" / f"seed{seed}" / "pretrain.json"
        record = json.loads(pre.read_text())
        record.update({"steps": 1000, "optimizer_steps": 40 * seed, "parameters": 500})
        pre.write_text(json.dumps(record))
        for i in range(2):
            path = folder / "runs" / "nav_point" / "mrft" / f"seed{seed}" / "adapt" / f"instance{i}.json"
            record = json.loads(path.read_text())
            record.update({"adapt_env_steps": 280 + 10 * i, "optimizer_steps": 8, "parameters": 500})
            path.write_text(json.dumps(record))
    rows = {r["method"]: r for r in analyze(folder)["learning"]}
    mrft, grpo = rows["mrft"], rows["grpo"]
    # pre-training: (40 + 80) optimiser steps over 2,000 env steps -> 60 per 1,000
    assert mrft["pretrain_steps"] == 1000 and mrft["pretrain_rate"] == pytest.approx(60.0)
    # adaptation: 4 runs of 280 and 290 env steps, 8 optimiser steps each -> 32 / 1,140
    assert mrft["adapt_steps"] == pytest.approx(285) and mrft["adapt_rate"] == pytest.approx(32000 / 1140)
    assert mrft["parameters"] == 500 and mrft["first_point"] == 100
    assert grpo["pretrain_rate"] is None and grpo["parameters"] is None
    text = write_report(analyze(folder), tmp_path).markdown.read_text()
    assert "## How each method learned" in text
    assert "| nav:point | MRFT | 1,000 | 60 | 285 | 28.1 | 500 | 100 |" in text


def test_rates_far_apart_are_named_with_the_side_they_favour():
    """A family and phase where adapting methods' update rates differ by more than 4x gets
    one sentence naming the most and least frequent updater; reference rows and closer
    rates get none."""
    from mrft.bench.learning_facts import rate_notes
    rows = [{"env": "nav:point", "method": "ppo", "pretrain_rate": 150.0, "adapt_rate": 10.0},
            {"env": "nav:point", "method": "grpo", "pretrain_rate": 5.0, "adapt_rate": 8.0},
            {"env": "nav:point", "method": "oracle", "pretrain_rate": 900.0, "adapt_rate": None},
            {"env": "market:regimes", "method": "ppo", "pretrain_rate": 30.0, "adapt_rate": 10.0},
            {"env": "market:regimes", "method": "rl2", "pretrain_rate": 10.0, "adapt_rate": None}]
    notes = rate_notes(rows, str.upper)
    assert notes == ["nav:point, pre-training: PPO took 150 optimiser steps per 1,000 env steps and "
                     "GRPO 5; the equal budget gives PPO 30 times the updates."]
