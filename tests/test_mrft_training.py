"""MRFT end to end: meta-training logs and checkpoints, ablation flags, adapt and eval."""

import json

import pytest
import torch
from test_cli import _assert_one_line_error, mrft

SMALL = ["--hidden-sizes", 16, 16, "--tcn-channels", 8, "--tcn-levels", 2, "--meta-d-model", 16,
         "--meta-layers", 1, "--embed-dim", 8, "--context-length", 16, "--no-progress"]


def _records(run):
    return [json.loads(line) for line in (run / "metrics.jsonl").read_text().splitlines()]


@pytest.fixture(scope="module")
def mrft_run(tmp_path_factory):
    root = tmp_path_factory.mktemp("mrft")
    proc = mrft("train", "--algo", "mrft", "--env", "nav:point", "--total-steps", 2000,
                "--trials-per-task", 4, "--tasks-per-batch", 2, "--runs-dir", root, "--run-name", "m",
                "--eval-episodes", 4, *SMALL)
    assert proc.returncode == 0, proc.stderr
    return root / "m", proc


def test_meta_training_logs_the_monitoring_metrics_and_saves_the_meta_learner(mrft_run):
    run, proc = mrft_run
    records = _records(run)
    # 6 updates of 8 trials x 2 episodes x 20 steps; a 7th would overshoot the budget
    assert records[-1]["step"] == 1920
    keys = set().union(*records[1:])
    for key in ("monitor/entropy_change_rate", "monitor/grad_similarity",
                "monitor/task_feature_distance", "mrft/return_episode_0", "mrft/return_episode_1",
                "mrft/progress_bonus", "losses/policy_loss", "losses/clipfrac"):
        assert key in keys, key
    state = torch.load(run / "checkpoint.pt", weights_only=True)
    assert "meta_learner" in state["algo"] and "modulator" in state["algo"]
    assert "last episode of" in proc.stdout and "return:" in proc.stdout


def test_resume_continues_an_mrft_run(mrft_run, tmp_path):
    run, _ = mrft_run
    proc = mrft("train", "--resume", run / "checkpoint.pt", "--total-steps", 2400)
    assert proc.returncode == 0, proc.stderr
    # one more whole update (2240), then one group of 4 trials fits exactly
    assert _records(run)[-1]["step"] == 2400


@pytest.mark.parametrize("flags", [
    ["--no-meta-learner"],
    ["--no-grad-mod", "--no-progress-bonus", "--inner-steps", 0],
    ["--second-order", "--inner-objective", "ppo", "--inner-steps", 2, "--grad-mod-mode", "downweight"],
])
def test_ablation_flags_train(tmp_path, flags):
    proc = mrft("train", "--algo", "mrft", "--env", "nav:point", "--total-steps", 300,
                "--trials-per-task", 2, "--tasks-per-batch", 2, "--runs-dir", tmp_path, "--run-name", "a",
                *flags, *SMALL)
    assert proc.returncode == 0, proc.stderr
    keys = set().union(*_records(tmp_path / "a"))
    assert ("monitor/grad_similarity" in keys) == ("--no-grad-mod" not in flags and len(_records(tmp_path / "a")) > 1)
    assert ("monitor/task_feature_distance" in keys) == ("--no-meta-learner" not in flags)


def test_adapt_writes_a_curve_through_every_distillation_stage(mrft_run, tmp_path):
    run, _ = mrft_run
    out = tmp_path / "curve.json"
    proc = mrft("adapt", run / "checkpoint.pt", "--task", 3, "--steps", 800, "--eval-every", 160,
                "--eval-episodes", 4, "--distill-stage-steps", 160, 160, "--out", out)
    assert proc.returncode == 0, proc.stderr
    record = json.loads(out.read_text())
    assert record["method"] == "mrft" and record["instance"] == 3
    steps = [p["step"] for p in record["curve"]]
    assert steps[0] == 0 and steps[-1] == 800 and steps == sorted(steps)
    assert record["adapt_env_steps"] == 800
    # 160-step stage budgets: feature alignment, then policy KL, then constrained search
    stages = [p["distill/stage"] for p in record["curve"]]
    assert stages == sorted(stages) and stages[0] == 1 and stages[-1] == 3
    assert "success" in record["curve"][-1]


def test_adapt_without_distillation_and_from_grpo(mrft_run, tmp_path):
    run, _ = mrft_run
    proc = mrft("adapt", run / "checkpoint.pt", "--steps", 320, "--eval-every", 160,
                "--eval-episodes", 2, "--distill", "off", "--out", tmp_path / "c.json")
    assert proc.returncode == 0, proc.stderr
    assert json.loads((tmp_path / "c.json").read_text())["method"] == "mrft-no-distill"
    proc = mrft("train", "--algo", "grpo", "--env", "nav:point", "--total-steps", 320,
                "--group-size", 4, "--num-envs", 8, "--runs-dir", tmp_path, "--run-name", "g",
                "--hidden-sizes", 16, 16, "--no-progress")
    assert proc.returncode == 0, proc.stderr
    proc = mrft("adapt", tmp_path / "g" / "checkpoint.pt", "--steps", 320, "--eval-every", 160,
                "--eval-episodes", 2)
    assert proc.returncode == 0, proc.stderr
    record = json.loads((tmp_path / "g" / "adapt" / "task0__seed1.json").read_text())
    assert record["method"] == "grpo" and len(record["curve"]) == 3


def test_bad_mrft_input_gives_one_line(tmp_path):
    _assert_one_line_error(mrft("train", "--algo", "mrft", "--inner-steps", -1, "--env", "nav:point"),
                           "--inner-steps")
    _assert_one_line_error(mrft("train", "--algo", "mrft", "--env", "nav:point", "--num-envs", 5),
                           "--trials-per-task")
    _assert_one_line_error(mrft("adapt", tmp_path / "missing.pt"), "missing.pt")
    _assert_one_line_error(mrft("adapt", tmp_path / "missing.pt", "--task", -1), "--task")
