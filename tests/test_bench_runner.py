"""The sweep: a bench killed mid-run restarts where it stopped and redoes no finished run;
Ctrl-C and bad input end in one line; a finished sweep reports."""

import dataclasses
import json
import os
import shutil
import signal
import subprocess
import sys
import time
from collections import Counter
from pathlib import Path

import pytest

from mrft.bench.runner import Bench, BenchInterrupted, count_units, iter_units, result_path
from mrft.bench.suite import load_suite
from mrft.cli import main
from mrft.errors import MrftError

TINY = """
name = "tiny"
seeds = 1
[budget]
pretrain_steps = 640
adapt_steps = 40
eval_every = 20
eval_episodes = 4
adapt_envs = 4
[[tasks]]
env = "bandit:arms3"
instances = 2
[train]
env.num_envs = 8
grpo.group_size = 4
run.hidden_sizes = [16, 16]
run.threads = 1
mrft.tcn_channels = 8
mrft.tcn_levels = 2
mrft.meta_d_model = 16
mrft.embed_dim = 8
"""
METHODS = ["grpo", "mrft", "mrft-in-context"]


@pytest.fixture
def tiny(tmp_path):
    path = tmp_path / "tiny.toml"
    path.write_text(TINY)
    return path


def _bench(suite_path, out, methods=METHODS):
    return Bench(load_suite(str(suite_path)), list(methods), [1], out, "test", log=open(os.devnull, "w"))


def test_plan_shares_pretraining_of_adaptation_ablations(tiny):
    suite = load_suite(str(tiny))
    units = list(iter_units(suite, METHODS, [1, 2]))
    pretrains = [(u.method, u.seed) for u in units if u.kind == "pretrain"]
    assert pretrains == [("grpo", 1), ("mrft", 1), ("grpo", 2), ("mrft", 2)]
    assert sum(u.kind == "adapt" for u in units) == 3 * 2 * 2
    assert count_units(suite, METHODS, [1, 2]) == Counter((u.kind, u.method, u.family) for u in units)


def test_a_huge_sweep_is_planned_lazily(tiny):
    suite = load_suite(str(tiny))
    suite = dataclasses.replace(suite, tasks=tuple(dataclasses.replace(t, instances=1000)
                                                   for t in suite.tasks))
    seeds = list(range(100))
    assert sum(count_units(suite, METHODS, seeds).values()) == 100 * (2 + 3 * 1000)
    first = next(iter_units(suite, METHODS, seeds))
    assert (first.kind, first.method, first.seed) == ("pretrain", "grpo", 0)


def test_killed_bench_resumes_without_redoing_finished_runs(tiny, tmp_path):
    out = tmp_path / "out"
    first = out / "runs" / "bandit_arms3" / "grpo" / "seed1" / "adapt" / "instance0.json"
    command = [sys.executable, "-m", "mrft", "bench", "--suite", str(tiny),
               "--methods", ",".join(METHODS), "--seeds", "1", "--out", str(out), "--no-report"]
    proc = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        deadline = time.time() + 180
        while not first.exists() and proc.poll() is None and time.time() < deadline:
            time.sleep(0.05)
        assert first.exists(), "the bench wrote no adaptation result before the deadline"
    finally:
        proc.send_signal(signal.SIGKILL)
        proc.wait()
    # every record keeps how the run learned: its optimiser steps and the parameters trained
    record = json.loads(first.read_text())
    assert record["optimizer_steps"] > 0 and record["parameters"] > 0 and record["updates"] > 0
    pretrain = json.loads((first.parent.parent / "pretrain.json").read_text())
    assert pretrain["optimizer_steps"] > 0 and pretrain["parameters"] == record["parameters"]
    bench = _bench(tiny, out)
    units = list(bench.units())
    done_before = {u: result_path(out, u).read_text() for u in units
                   if result_path(out, u).exists()}
    assert 2 <= len(done_before) < len(units)
    ran = []
    original = bench.run_unit
    bench.run_unit = lambda unit: ran.append(unit) or original(unit)
    bench.run()
    assert ran and not set(ran) & set(done_before)
    assert all(result_path(out, u).exists() for u in units)
    assert all(result_path(out, u).read_text() == text for u, text in done_before.items())
    meta = json.loads((out / "bench.json").read_text())
    assert len(meta["commands"]) == 2 and "finished" in meta
    record = json.loads(result_path(out, units[-1]).read_text())
    assert record["method"] == "mrft-in-context" and record["curve"][-1]["step"] >= 40
    assert all("score" in p for p in record["curve"]) and record["peak_memory_mib"] > 0

    # a second run has nothing left to do, and the report comes from the finished folder
    assert list(_bench(tiny, out).pending()) == []
    with pytest.raises(SystemExit) as exit_info:
        main(["report", str(out)])
    assert exit_info.value.code == 0
    assert (out / "report.md").exists() and (out / "report.html").exists()
    assert (out / "analysis.json").exists() and (out / "adaptation.png").exists()


def test_a_pretraining_left_unreadable_or_of_other_settings_starts_again(tiny, tmp_path):
    from mrft.bench.methods import method as method_named
    from mrft.bench.runner import seed_dir
    from mrft.trainer import Trainer

    out = tmp_path / "out"
    bench = _bench(tiny, out, ["grpo"])
    bench.open()
    unit = next(bench.pending())
    folder = seed_dir(out, unit.family, unit.method, unit.seed)
    (folder / "train").mkdir(parents=True)
    (folder / "train" / "checkpoint.pt").write_bytes(b"cut short")
    assert "resumed_at_step" not in bench.run_unit(unit)
    other = dataclasses.replace(bench.suite.train_config(unit.family, method_named("grpo"), unit.seed,
                                                         str(folder), "train"))
    other.optim.learning_rate = 1e-2  # a run of other settings in the way
    shutil.rmtree(folder / "train")
    Trainer(other).train(max_updates=1)
    record = bench.run_unit(unit)
    assert "resumed_at_step" not in record and record["steps"] >= 640


def test_ctrl_c_keeps_finished_runs_and_says_how_to_continue(tiny, tmp_path, monkeypatch):
    out = tmp_path / "out"
    bench = _bench(tiny, out, ["grpo"])

    def interrupted(unit):
        raise KeyboardInterrupt

    monkeypatch.setattr(bench, "_adapt", interrupted)
    with pytest.raises(BenchInterrupted, match=r"1 of 3 runs are saved.*run the same command again"):
        bench.run()
    assert [u.kind for u in bench.units() if result_path(out, u).exists()] == ["pretrain"]


def test_a_folder_of_another_suite_is_refused(tiny, tmp_path):
    out = tmp_path / "out"
    _bench(tiny, out, ["grpo"]).open()
    other = tmp_path / "other.toml"
    other.write_text(TINY.replace("instances = 2", "instances = 3"))
    with pytest.raises(MrftError, match="holds a bench of suite 'tiny' with other settings"):
        _bench(other, out, ["grpo"]).open()


def test_a_folder_recorded_before_suites_had_a_protocol_is_resumed(tiny, tmp_path):
    out = tmp_path / "out"
    _bench(tiny, out, ["grpo"]).open()
    meta = json.loads((out / "bench.json").read_text())
    assert meta["suite"].pop("protocol", "absent") is None
    (out / "bench.json").write_text(json.dumps(meta))
    assert _bench(tiny, out, ["grpo"]).open()["suite"]["name"] == "tiny"


@pytest.mark.parametrize("argv, message", [
    (["bench", "--suite", "missing.toml"], "suite file missing.toml does not exist"),
    (["bench", "--suite", "demo", "--methods", "grpo,sac"], "unknown method 'sac'"),
    (["bench", "--suite", "demo", "--seeds", "0"], "--seeds must be >= 1"),
    (["report", "/nonexistent/folder"], "is not a bench folder"),
])
def test_bench_cli_errors_are_one_line(argv, message, capsys):
    with pytest.raises(SystemExit) as exit_info:
        main(argv)
    err = capsys.readouterr().err.strip()
    assert exit_info.value.code == 2 and message in err and "\n" not in err


def test_report_of_a_bench_with_no_finished_seed_is_an_error(tiny, tmp_path):
    out = tmp_path / "out"
    _bench(tiny, out, ["grpo"]).open()
    with pytest.raises(MrftError, match="no method has finished a whole seed"):
        from mrft.bench.analysis import analyze

        analyze(Path(out))


@pytest.mark.slow  # about a minute; `make test-slow`
def test_smoke_suite_runs_every_method_on_procgen_and_metaworld(tmp_path, capsys):
    out = tmp_path / "smoke"
    with pytest.raises(SystemExit) as exit_info:
        main(["bench", "--suite", "smoke", "--out", str(out)])
    assert exit_info.value.code == 0
    printed = capsys.readouterr().out
    # per family and method, in context and final; the full headline table is in the report
    assert "procgen:bigfish: normalised return" in printed and "report.html" in printed
    assert all(f"  {label}  " in printed for label in ("GRPO", "MRFT", "PPO"))
    assert "  method  " in printed and "in context" in printed
    analysis = json.loads((out / "analysis.json").read_text())
    panels = {p["env"]: p for p in analysis["curves"]["adaptation"]}
    assert set(panels) == {"procgen:bigfish", "metaworld:ML1-reach"}
    assert panels["procgen:bigfish"]["score"] == "normalised return"
    assert all(set(p["methods"]) == {"grpo", "ppo", "mrft"} for p in panels.values())


def test_the_same_suite_from_another_path_resumes_the_folder(tiny, tmp_path):
    out = tmp_path / "out"
    _bench(tiny, out, ["grpo"]).open()
    moved = tmp_path / "moved" / "tiny.toml"
    moved.parent.mkdir()
    moved.write_text(tiny.read_text())
    meta = _bench(moved, out, ["grpo", "mrft"]).open()
    assert meta["methods"] == ["grpo", "mrft"] and len(meta["commands"]) == 2
    assert meta["commit"] == ", ".join(meta["commits"]) and len(meta["commits"]) == 1


def test_a_second_sweep_on_a_locked_folder_is_refused_and_a_killed_holder_never_blocks(tiny, tmp_path):
    out = tmp_path / "out"
    # a pre-training long enough to hold the folder while the second sweep starts
    long = tmp_path / "long.toml"
    long.write_text(TINY.replace("pretrain_steps = 640", "pretrain_steps = 10_000_000"))
    command = [sys.executable, "-m", "mrft", "bench", "--suite", str(long), "--methods", "grpo",
               "--seeds", "1", "--out", str(out), "--no-report"]
    first = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        deadline = time.time() + 120
        while not (out / "bench.json").exists() and first.poll() is None and time.time() < deadline:
            time.sleep(0.05)
        assert first.poll() is None, "the first sweep ended before the second started"
        second = subprocess.run(command, capture_output=True, text=True, timeout=120)
        assert second.returncode == 2, second.stderr
        assert second.stderr.splitlines() == [second.stderr.strip()]
        assert f"in use by another mrft bench (pid {first.pid}" in second.stderr
    finally:
        first.send_signal(signal.SIGKILL)
        first.wait()
    # the killed holder's lock died with it: the next sweep takes the folder at once
    from mrft.bench.lock import FolderLock

    assert (out / ".bench.lock").exists()
    with FolderLock(out):
        assert json.loads((out / "bench.json").read_text())["suite"]["name"] == "tiny"


def test_a_sim_to_real_bench_scores_the_sim_and_reports_real_fractions(tmp_path):
    suite = tmp_path / "s2r.toml"
    suite.write_text(TINY.replace('env = "bandit:arms3"\ninstances = 2', 'env = "sim2real:reacher"\ninstances = 1')
                     .replace("adapt_steps = 40", "adapt_steps = 100").replace("eval_every = 20", "eval_every = 50")
                     .replace("pretrain_steps = 640", "pretrain_steps = 400")
                     + "ppo.num_steps = 50\n")
    out = tmp_path / "out"
    _bench(suite, out, ["ppo", "oracle", "context-free"]).run()
    pretrain = json.loads((out / "runs" / "sim2real_reacher" / "ppo" / "seed1" / "pretrain.json").read_text())
    assert pretrain["sim_return"] < 0  # Reacher's return is a cost
    from mrft.bench.analysis import analyze
    from mrft.bench.report import write_report

    analysis = analyze(out)
    rows = {r["method"]: r for r in analysis["sim_to_real"]}
    assert set(rows) == {"ppo", "oracle", "context-free"}
    assert rows["context-free"]["sim_return"] == rows["ppo"]["sim_return"]
    assert write_report(analysis, out).markdown.read_text().count("## Sim to real") == 1


@pytest.mark.slow  # about a minute; `make test-slow`
@pytest.mark.parametrize("name", ["market", "process"])
def test_the_scenario_suites_run_every_method_and_reference_row_at_smoke_budgets(name, tmp_path):
    suite = load_suite(name)
    tiny_budget = dataclasses.replace(suite.budget, pretrain_steps=1600, adapt_steps=400,
                                      eval_every=400, eval_episodes=2, adapt_envs=2)
    train = {**suite.train, "env": {"num_envs": 8}, "ppo": {"num_steps": 100},
             "run": {"hidden_sizes": [16], "threads": 1},
             "mrft": {"tcn_channels": 8, "tcn_levels": 2, "meta_d_model": 16, "embed_dim": 8},
             "grpo": {**suite.train.get("grpo", {}), "group_size": 2}}
    suite = dataclasses.replace(suite, budget=tiny_budget, train=train, methods={},
                                tasks=(dataclasses.replace(suite.tasks[0], instances=1),))
    out = tmp_path / name
    methods = ["grpo", "ppo", "mrft", "rl2", "oracle", "context-free"]
    with open(os.devnull, "w") as log:
        Bench(suite, methods, [1], out, "test", log=log).run()
    from mrft.bench.analysis import analyze

    analysis = analyze(out)
    assert set(analysis["methods"]) == set(methods)
    assert analysis["informative"] and analysis["informative"][0].startswith(suite.tasks[0].env)
    panel = analysis["curves"]["adaptation"][0]
    assert panel["score"] == ("fraction of the reference" if name == "process" else "return")


def test_an_oracle_on_a_family_without_hidden_parameters_is_refused_before_any_run(tiny, tmp_path):
    suite = tmp_path / "gym.toml"
    suite.write_text(TINY.replace('env = "bandit:arms3"', 'env = "gym:CartPole-v1"'))
    out = tmp_path / "out"
    with pytest.raises(MrftError, match="needs hidden task parameters to show"):
        _bench(suite, out, ["ppo", "oracle"]).run()
    assert not (out / "runs").exists()


def test_the_sweep_eta_weighs_each_family_by_its_own_budget():
    from mrft.bench.eta import EtaModel
    from mrft.bench.runner import Unit
    from mrft.bench.suite import BenchSuite, Budget, TaskFamily

    long, short = TaskFamily("nav:point", 1), TaskFamily("bandit:arms5", 1, pretrain_steps=100)
    eta = EtaModel(BenchSuite("s", (long, short), Budget(pretrain_steps=1000, adapt_steps=50)))
    eta.observe(Unit("pretrain", long, "ppo", 1), 10.0)  # 0.01 s per env step
    assert eta.text(Counter({("pretrain", "ppo", short): 30})) == "30s"  # 30 x 100 x 0.01
    assert eta.text(Counter({("pretrain", "ppo", long): 30})) == "5m00s"


def test_the_sweep_eta_learns_each_family_s_rate_and_counts_what_a_resumed_run_ran():
    from mrft.bench.eta import EtaModel
    from mrft.bench.runner import Unit
    from mrft.bench.suite import BenchSuite, Budget, TaskFamily

    grid, body = TaskFamily("nav:point", 1), TaskFamily("shift:inverted-pendulum-signed", 1)
    eta = EtaModel(BenchSuite("s", (grid, body), Budget(pretrain_steps=1000, adapt_steps=50)))
    eta.observe(Unit("pretrain", grid, "mrft", 1), 10.0)  # 0.01 s per env step
    # a resumed run of 1,000 steps that ran its last 500 in 20 s: 0.04 s per env step
    eta.observe(Unit("pretrain", body, "mrft", 1), 20.0, {"steps": 1000, "resumed_at_step": 500})
    assert eta.text(Counter({("pretrain", "mrft", grid): 1})) == "10s"
    assert eta.text(Counter({("pretrain", "mrft", body): 1})) == "40s"
    # an unseen method borrows its kind's pooled rate: 30 s over 1,500 steps
    assert eta.text(Counter({("pretrain", "ppo", grid): 15})) == "5m00s"
    # an adaptation before any has finished borrows the rate of everything seen: 2 x 50 x 0.02
    assert eta.text(Counter({("adapt", "mrft", grid): 2})) == "2s"
    # an unseen family borrows the method's rate over the families seen: 0.05 s per step
    eta.observe(Unit("adapt", grid, "mrft", 1), 2.5)
    assert eta.text(Counter({("adapt", "mrft", body): 4, ("adapt", "mrft", grid): 0})) == "10s"
    # a resumed run that ran a sliver of its budget (loading, final evaluation) is ignored
    eta.observe(Unit("pretrain", grid, "mrft", 2), 60.0, {"steps": 1000, "resumed_at_step": 990})
    assert eta.text(Counter({("pretrain", "mrft", grid): 1})) == "10s"


def test_an_ablation_bench_keeps_the_runs_copied_from_a_bench_of_the_same_suite(tiny, tmp_path):
    """An adaptation-only ablation next to a finished sweep: its methods' runs copied into a
    new folder count as done, and the ablation adapts the copied pre-training."""
    first, second = tmp_path / "first", tmp_path / "second"
    _bench(tiny, first, ["grpo", "mrft"]).run()
    shutil.copytree(first / "runs", second / "runs")
    bench = _bench(tiny, second, ["grpo", "mrft", "mrft-kl-bound"])
    bench.run()
    copied = sorted((first / "runs").rglob("*.json"))
    assert copied and all((second / p.relative_to(first)).read_bytes() == p.read_bytes() for p in copied)
    records = {u.method: json.loads(result_path(second, u).read_text())
               for u in bench.units() if u.kind == "adapt" and u.instance == 0}
    assert records["mrft-kl-bound"]["checkpoint"] == records["mrft"]["checkpoint"]
    assert records["mrft-kl-bound"]["mrft"]["adapt_kl"] == 0.02 and records["mrft"]["mrft"]["adapt_kl"] == 0.2


def test_the_adaptation_ablations_adapt_mrfts_own_pretraining(tiny, tmp_path):
    suite = load_suite(str(tiny))
    suite = dataclasses.replace(suite, tasks=tuple(dataclasses.replace(t, instances=1)
                                                   for t in suite.tasks))
    with open(os.devnull, "w") as devnull:
        bench = Bench(suite, ["mrft", "mrft-kl-bound", "mrft-loose-kl-bound", "mrft-frozen-meta-policy",
                              "mrft-tenth-adapt-lr", "mrft-normalised-adapt-advantages"], [1],
                      tmp_path, "test", log=devnull)
        bench.run()
    units = list(bench.units())
    assert [(u.kind, u.method) for u in units if u.kind == "pretrain"] == [("pretrain", "mrft")]
    records = {u.method: json.loads(result_path(tmp_path, u).read_text())
               for u in units if u.kind == "adapt"}
    assert records["mrft"]["mrft"]["adapt_kl"] == 0.2  # the default bound
    assert records["mrft-kl-bound"]["mrft"]["adapt_kl"] == 0.02
    assert records["mrft-loose-kl-bound"]["mrft"]["adapt_kl"] == 0.2
    assert records["mrft-frozen-meta-policy"]["mrft"]["adapt_meta_policy"] is False
    assert records["mrft"]["mrft"]["adapt_meta_policy"] is True
    assert records["mrft-tenth-adapt-lr"]["learning_rate"] == pytest.approx(
        0.1 * records["mrft"]["learning_rate"])
    assert records["mrft-tenth-adapt-lr"]["checkpoint"] == records["mrft"]["checkpoint"]
    assert records["mrft-normalised-adapt-advantages"]["mrft"]["adapt_norm_adv"] is True
    assert records["mrft"]["mrft"]["adapt_norm_adv"] is False
    assert records["mrft-kl-bound"]["checkpoint"] == records["mrft"]["checkpoint"]
    assert records["mrft-loose-kl-bound"]["checkpoint"] == records["mrft"]["checkpoint"]


def test_a_terminated_sweep_takes_the_interrupt_path_and_restores_the_handler():
    import os
    import signal

    from mrft.interrupt import TerminateAsInterrupt

    before = signal.getsignal(signal.SIGTERM)
    with pytest.raises(KeyboardInterrupt), TerminateAsInterrupt():
        os.kill(os.getpid(), signal.SIGTERM)
        time.sleep(5)  # the handler raises at once
    assert signal.getsignal(signal.SIGTERM) is before
