"""MRFT end to end: meta-training logs and checkpoints, ablation flags, adapt and eval."""

import json

import pytest
import torch
from test_cli import _assert_one_line_error, mrft

from mrft.cli_options import ExportConfig

SMALL = ["--hidden-sizes", 16, 16, "--tcn-channels", 8, "--tcn-levels", 2, "--meta-d-model", 16,
         "--meta-layers", 1, "--embed-dim", 8, "--no-progress"]


def _records(run):
    return [json.loads(line) for line in (run / "metrics.jsonl").read_text().splitlines()]


@pytest.fixture(scope="module")
def mrft_run(tmp_path_factory):
    root = tmp_path_factory.mktemp("mrft")
    proc = mrft("train", "--algo", "mrft", "--env", "nav:point", "--total-steps", 2000,
                "--num-envs", 4, "--runs-dir", root, "--run-name", "m", "--eval-episodes", 4, *SMALL)
    assert proc.returncode == 0, proc.stderr
    return root / "m", proc


def test_meta_training_logs_the_monitoring_metrics_and_saves_the_belief_model(mrft_run):
    run, proc = mrft_run
    records = _records(run)
    # 12 updates of 4 trials x 2 episodes x 20 steps, then the 2 trials the budget pays for
    assert records[-1]["step"] == 2000
    keys = set().union(*records[1:])
    for key in ("monitor/entropy_change_rate", "monitor/task_feature_distance",
                "mrft/return_episode_0", "mrft/return_episode_1", "mrft/progress_bonus",
                "losses/policy_loss", "losses/value_loss", "monitor/belief_loss",
                "losses/potential_loss", "losses/clipfrac"):
        assert key in keys, key
    state = torch.load(run / "checkpoint.pt", weights_only=True)
    assert "agent" in state["algo"] and "reward_normalizer" in state["algo"]
    assert "last episode of trials of 2 episodes" in proc.stdout and "return:" in proc.stdout


def test_eval_probe_measures_the_belief(mrft_run, tmp_path):
    run, _ = mrft_run
    out = tmp_path / "probe.json"
    proc = mrft("eval", run / "checkpoint.pt", "--episodes", 8, "--probe", "--json-out", out)
    assert proc.returncode == 0, proc.stderr
    assert "linear-probe R^2 of the task parameters" in proc.stdout
    # 4 fitting trials for a belief of 8 dimensions: the figure is flagged
    assert "on 8 held-out trials (unreliable: the probe is fitted on 4 trials" in proc.stdout
    probe = json.loads(out.read_text())["probe"]
    assert {"probe_r2", "context_gain", "return_by_step", "return_episode"} <= set(probe)
    assert len(probe["return_by_step"]) == 20  # nav episodes


@pytest.mark.slow  # resume through the CLI; tests/test_trial_stream.py checks it is bit for bit
def test_resume_continues_an_mrft_run(mrft_run, tmp_path):
    run, _ = mrft_run
    proc = mrft("train", "--resume", run / "checkpoint.pt", "--total-steps", 2400)
    assert proc.returncode == 0, proc.stderr
    assert _records(run)[-1]["step"] == 2400


@pytest.mark.parametrize("flags", [
    ["--no-meta-learner"],
    ["--no-progress-bonus", "--belief-coef", 0, "--conditioning", "concat", "--belief-encoder", "set"],
    ["--conditioning", "hyper", "--belief-encoder", "gru", "--belief-passes", 1],
])
def test_ablation_flags_train(tmp_path, flags):
    proc = mrft("train", "--algo", "mrft", "--env", "nav:point", "--total-steps", 320,
                "--num-envs", 4, "--runs-dir", tmp_path, "--run-name", "a", *flags, *SMALL)
    assert proc.returncode == 0, proc.stderr
    keys = set().union(*_records(tmp_path / "a"))
    assert ("monitor/belief_loss" in keys) == (not flags[0].startswith("--no-meta") and 0 not in flags)
    assert ("mrft/progress_bonus" in keys) == ("--no-progress-bonus" not in flags and
                                               "--no-meta-learner" not in flags)
    if flags == ["--no-meta-learner"]:  # nothing to distil: the export is the fold, by default too
        proc = mrft("export", tmp_path / "a" / "checkpoint.pt", "--task", 1, "--out", tmp_path / "e.pt")
        assert proc.returncode == 0, proc.stderr
        assert "distillation" not in torch.load(tmp_path / "e.pt", weights_only=True)["algo"]["folded"]


def test_adapt_keeps_the_belief_and_bounds_each_update(mrft_run, tmp_path):
    run, _ = mrft_run
    out = tmp_path / "curve.json"
    proc = mrft("adapt", run / "checkpoint.pt", "--task", 3, "--steps", 400, "--eval-every", 160,
                "--eval-episodes", 4, "--out", out, "--adapt-kl", 0.02)
    assert proc.returncode == 0, proc.stderr
    record = json.loads(out.read_text())
    assert record["method"] == "mrft" and record["instance"] == 3
    steps = [p["step"] for p in record["curve"]]
    assert steps[0] == 0 and steps == sorted(steps) and record["adapt_env_steps"] <= 400
    assert "success" in record["curve"][-1]
    # the belief folded into a context-free network is scored beside the adapted policy
    # the exported policy is scored at the end (the curve is the adapted policy's)
    assert "export/return" in record["curve"][-1] and "export/success" in record["curve"][-1]
    assert not any("export/return" in p or "deterministic/return" in p for p in record["curve"][:-1])
    records = _records(out.with_suffix(""))
    assert all(r.get("losses/approx_kl", 0.0) < 0.2 for r in records)
    # the adapted policy and its belief, exported as a context-free network
    adapted = out.with_suffix("") / "checkpoint.pt"
    assert "context" in torch.load(adapted, weights_only=True)["algo"]
    proc = mrft("export", adapted, "--out", tmp_path / "e.pt", "--distill-steps", 200)
    assert proc.returncode == 0, proc.stderr
    exported = torch.load(tmp_path / "e.pt", weights_only=True)
    assert exported["algo"]["folded"]["instance_index"] == 3 and "agent" not in exported["algo"]
    assert exported["algo"]["folded"]["distillation"]["env_steps"] == 200
    assert ExportConfig("x").distill_steps == 4000  # the export distils by default
    assert mrft("eval", tmp_path / "e.pt", "--episodes", 2).returncode == 0
    _assert_one_line_error(mrft("export", tmp_path / "e.pt"), "already an exported")
    proc = mrft("export", run / "checkpoint.pt", "--task", 1, "--out", tmp_path / "p.pt", "--distill-steps", 0)
    assert proc.returncode == 0 and "instance" in proc.stdout, proc.stderr
    assert "distillation" not in torch.load(tmp_path / "p.pt", weights_only=True)["algo"]["folded"]


@pytest.mark.slow  # the inner loop is an optional ablation; tests/test_mrft_inner_loop.py checks its math
def test_the_gradient_inner_loop_trains_adapts_and_exports(tmp_path):
    proc = mrft("train", "--algo", "mrft", "--env", "nav:point", "--total-steps", 640,
                "--num-envs", 4, "--runs-dir", tmp_path, "--run-name", "i", "--inner-steps", 1, *SMALL)
    assert proc.returncode == 0, proc.stderr
    state = torch.load(tmp_path / "i" / "checkpoint.pt", weights_only=True)["algo"]["agent"]
    assert "inner_lr" in state
    out = tmp_path / "adapt.json"
    proc = mrft("adapt", tmp_path / "i" / "checkpoint.pt", "--task", 2, "--steps", 160,
                "--eval-every", 80, "--eval-episodes", 2, "--out", out)
    assert proc.returncode == 0, proc.stderr
    adapted = out.with_suffix("") / "checkpoint.pt"
    assert torch.load(adapted, weights_only=True)["algo"]["context"]["offset"] is not None
    proc = mrft("export", adapted, "--out", tmp_path / "e.pt", "--distill-steps", 200)
    assert proc.returncode == 0, proc.stderr
    # the ablation of the KL bound gets a default folder of its own
    proc = mrft("adapt", tmp_path / "i" / "checkpoint.pt", "--task", 2, "--steps", 160,
                "--eval-every", 160, "--eval-episodes", 2, "--no-kl-bound")
    assert proc.returncode == 0, proc.stderr
    record = json.loads((tmp_path / "i" / "adapt" / "task2__seed1__no-kl-bound.json").read_text())
    assert record["mrft"]["adapt_kl"] is None


def test_adapt_from_grpo(tmp_path):
    proc = mrft("train", "--algo", "grpo", "--env", "nav:point", "--total-steps", 320,
                "--group-size", 4, "--num-envs", 8, "--runs-dir", tmp_path, "--run-name", "g",
                "--hidden-sizes", 16, 16, "--no-progress")
    assert proc.returncode == 0, proc.stderr
    proc = mrft("adapt", tmp_path / "g" / "checkpoint.pt", "--steps", 320, "--eval-every", 160,
                "--eval-episodes", 2)
    assert proc.returncode == 0, proc.stderr
    record = json.loads((tmp_path / "g" / "adapt" / "task0__seed1.json").read_text())
    assert record["method"] == "grpo" and len(record["curve"]) == 3
    _assert_one_line_error(mrft("adapt", tmp_path / "g" / "checkpoint.pt", "--no-kl-bound"),
                           "--no-kl-bound")
    _assert_one_line_error(mrft("eval", tmp_path / "g" / "checkpoint.pt", "--probe"),
                           "the context a policy infers (mrft)")
    _assert_one_line_error(mrft("export", tmp_path / "g" / "checkpoint.pt"), "grpo run")


def test_bad_mrft_input_gives_one_line(tmp_path):
    _assert_one_line_error(mrft("train", "--algo", "mrft", "--trial-episodes", 0, "--env", "nav:point"),
                           "--trial-episodes")
    _assert_one_line_error(mrft("train", "--algo", "mrft", "--env", "nav:point",
                                "--meta-minibatch-size", 0), "--meta-minibatch-size")
    _assert_one_line_error(mrft("train", "--algo", "mrft", "--env", "nav:point",
                                "--belief-policy-scale", -1), "--belief-policy-scale")
    _assert_one_line_error(mrft("adapt", tmp_path / "missing.pt"), "missing.pt")
    _assert_one_line_error(mrft("adapt", tmp_path / "missing.pt", "--task", -1), "--task")
