"""The `mrft` command end to end (subprocess): tiny runs on each family, and bad input."""

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import torch

TINY = ["--num-envs", "2", "--num-steps", "16", "--num-minibatches", "2", "--update-epochs", "1",
        "--no-progress"]


def mrft(*args, cwd=None, timeout=300):
    return subprocess.run([sys.executable, "-m", "mrft", *map(str, args)], capture_output=True,
                          text=True, timeout=timeout, cwd=cwd)


def _assert_one_line_error(proc, *fragments):
    assert proc.returncode == 2, (proc.returncode, proc.stderr)
    lines = [line for line in proc.stderr.splitlines() if line.strip()]
    assert len(lines) == 1, proc.stderr
    assert lines[0].startswith("error: ")
    assert "Traceback" not in proc.stderr
    for fragment in fragments:
        assert fragment in lines[0], lines[0]


@pytest.mark.parametrize("env", ["procgen:bigfish", "metaworld:reach", "gym:CartPole-v1"])
def test_train_tiny_run_writes_logs_and_checkpoint(tmp_path, env):
    proc = mrft("train", "--env", env, "--total-steps", 64, "--runs-dir", tmp_path,
                "--run-name", "r", "--eval-episodes", 2, *TINY)
    assert proc.returncode == 0, proc.stderr
    assert "return:" in proc.stdout and "95% CI" in proc.stdout
    run = tmp_path / "r"
    assert json.loads((run / "eval.json").read_text())["episodes"] == 2
    assert (run / "checkpoint.pt").exists()
    assert any(p.name.startswith("events.out.tfevents") for p in run.iterdir())
    records = [json.loads(line) for line in (run / "metrics.jsonl").read_text().splitlines()]
    assert records[-1]["step"] == 64
    for key in ("charts/SPS", "losses/policy_loss", "losses/approx_kl", "losses/clipfrac",
                "losses/entropy"):
        assert key in records[-1]
    assert json.loads((run / "config.json").read_text())["env"]["env"] == env


@pytest.mark.parametrize("env", [
    pytest.param("procgen:bigfish", marks=pytest.mark.slow),  # images: covered by the tiny run too
    "metaworld:reach", "gym:CartPole-v1"])
def test_train_grpo_with_every_option(tmp_path, env):
    proc = mrft("train", "--algo", "grpo", "--env", env, "--group-size", 4, "--num-envs", 8,
                "--beta", 0.04, "--loss-type", "dapo", "--scale-rewards", "group",
                "--num-iterations", 2, "--epsilon-high", 0.28, "--advantage", "process",
                "--ref-reset-every", 1, "--max-episode-steps", 20, "--total-steps", 100,
                "--runs-dir", tmp_path, "--run-name", "g", "--no-progress")
    assert proc.returncode == 0, proc.stderr
    record = json.loads((tmp_path / "g" / "metrics.jsonl").read_text().splitlines()[-1])
    assert "grpo/frac_zero_std_groups" in record and "losses/kl" in record
    assert json.loads((tmp_path / "g" / "config.json").read_text())["grpo"]["group_size"] == 4


def test_eval_reports_confidence_interval(tmp_path):
    assert mrft("train", "--env", "metaworld:reach", "--total-steps", 64, "--runs-dir", tmp_path,
                "--run-name", "r", *TINY).returncode == 0
    out = tmp_path / "eval.json"
    proc = mrft("eval", tmp_path / "r" / "checkpoint.pt", "--episodes", 3, "--num-envs", 3,
                "--json-out", out)
    assert proc.returncode == 0, proc.stderr
    assert "return:" in proc.stdout and "95% CI" in proc.stdout and "success:" in proc.stdout
    summary = json.loads(out.read_text())
    assert summary["episodes"] == 3 and len(summary["successes"]) == 3


def test_help_shows_field_docs():
    proc = mrft("train", "--help")
    assert proc.returncode == 0
    for text in ("--env", "--total-steps", "--learning-rate", "--resume", "Steps per env per rollout"):
        assert text in proc.stdout


BAD_TRAIN = [
    (["--env", "nosuch:thing"], "unknown env family"),
    (["--env", "procgen:pong"], "unknown Procgen game"),
    (["--env", "metaworld:fly"], "unknown Meta-World task"),
    (["--env", "gym:Nope-v0"], "unknown Gymnasium id"),
    (["--algo", "sac"], "sac"),
    (["--total-steps", "-5"], "--total-steps"),
    (["--seed", "-1"], "--seed"),
    (["--learning-rate", "abc"], "--learning-rate"),
    (["--learning-rate", "nan"], "--learning-rate"),
    (["--gamma", "1.5"], "--gamma"),
    (["--num-envs", "0"], "--num-envs"),
    (["--device", "tpu"], "--device"),
    (["--resume", "/nonexistent/checkpoint.pt"], "not found"),
    (["--algo", "grpo", "--group-size", "1"], "--group-size"),
    (["--algo", "grpo", "--group-size", "4", "--num-envs", "6"], "multiple of --group-size"),
    (["--algo", "grpo", "--loss-type", "mean"], "--loss-type"),
    (["--algo", "grpo", "--beta", "-1"], "--beta"),
]


@pytest.mark.parametrize("args,fragment", BAD_TRAIN)
def test_bad_train_input_is_one_line_exit_2(tmp_path, args, fragment):
    # later flags win, so the bad value comes last
    proc = mrft("train", "--total-steps", 64, "--runs-dir", tmp_path, *TINY, *args)
    _assert_one_line_error(proc, fragment)


def test_bad_checkpoints_are_one_line_exit_2(tmp_path):
    _assert_one_line_error(mrft("eval", tmp_path / "missing.pt"), "not found")
    corrupted = tmp_path / "corrupted.pt"
    corrupted.write_bytes(b"\x80\x04garbage" * 10)
    _assert_one_line_error(mrft("eval", corrupted), "corrupted")
    foreign = tmp_path / "foreign.pt"
    torch.save({"weights": torch.ones(3)}, foreign)
    _assert_one_line_error(mrft("eval", foreign), "not an mrft checkpoint")
    _assert_one_line_error(mrft("train", "--resume", foreign), "not an mrft checkpoint")
    _assert_one_line_error(mrft("eval", foreign, "--episodes", 0), "--episodes")
    _assert_one_line_error(mrft("eval"), "Missing")
    _assert_one_line_error(mrft("eval", foreign, "--seed", -1), "--seed")
    _assert_one_line_error(mrft("adapt", foreign, "--seed", -1), "--seed")


def test_ctrl_c_saves_checkpoint_and_resume_finishes(tmp_path):
    cmd = [sys.executable, "-m", "mrft", "train", "--env", "gym:CartPole-v1", "--total-steps",
           "2000000", "--runs-dir", str(tmp_path), "--run-name", "r", "--no-progress",
           "--checkpoint-every", "1000"]
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            env={**os.environ, "PYTHONUNBUFFERED": "1"})
    metrics = tmp_path / "r" / "metrics.jsonl"
    deadline = time.time() + 120
    while time.time() < deadline and not (metrics.exists() and metrics.stat().st_size > 0):
        time.sleep(0.2)
    proc.send_signal(signal.SIGINT)
    _, err = proc.communicate(timeout=120)
    assert proc.returncode == 130, err
    assert "--resume" in err
    checkpoint = tmp_path / "r" / "checkpoint.pt"
    state = torch.load(checkpoint, weights_only=True)
    saved_step = state["counters"]["global_step"]
    assert saved_step > 0
    records = [json.loads(line) for line in metrics.read_text().splitlines()]
    assert records[-1]["step"] == saved_step
    proc = mrft("train", "--resume", checkpoint, "--total-steps", saved_step + 2048)
    assert proc.returncode == 0, proc.stderr
    assert torch.load(checkpoint, weights_only=True)["counters"]["global_step"] >= saved_step + 2048
    assert Path(tmp_path / "r").exists()


def test_a_second_ctrl_c_during_shutdown_exits_in_one_line(tmp_path):
    """Exit handlers (writers flushing, envs closing) run after the command; a Ctrl-C there
    must not print a traceback from inside the handler."""
    script = (
        "import atexit, sys, time\n"
        "from mrft.cli import entry\n"
        "atexit.register(lambda: (print('shutting down', flush=True), time.sleep(30)))\n"
        f"sys.argv = ['mrft', 'train', '--env', 'nav:point', '--total-steps', '64', '--runs-dir',"
        f" {str(tmp_path)!r}, *{TINY!r}]\n"
        "entry()\n")
    proc = subprocess.Popen([sys.executable, "-c", script], stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True)
    lines = iter(proc.stdout.readline, "")
    assert any(line.strip() == "shutting down" for line in lines), proc.stderr.read()
    proc.send_signal(signal.SIGINT)
    _, err = proc.communicate(timeout=30)
    assert proc.returncode == 130
    assert "Traceback" not in err and "Exception ignored" not in err, err
    assert err.strip().splitlines()[-1].startswith("error: interrupted while shutting down")
    assert (next(tmp_path.iterdir()) / "checkpoint.pt").exists()


@pytest.fixture
def read_only(tmp_path):
    """Make a folder read-only for real: permissions for a normal user, a read-only bind
    mount for root (whom permissions do not stop)."""
    mounts = []

    def make(folder: Path) -> Path:
        if os.geteuid() != 0:
            for path in [folder, *folder.rglob("*")]:
                path.chmod(0o555 if path.is_dir() else 0o444)
            return folder
        target = tmp_path / f"ro{len(mounts)}"
        target.mkdir()
        if subprocess.run(["mount", "--bind", str(folder), str(target)],
                          capture_output=True).returncode != 0:
            pytest.skip("cannot make a read-only mount here")
        mounts.append(target)
        if subprocess.run(["mount", "-o", "remount,bind,ro", str(target)],
                          capture_output=True).returncode != 0:
            pytest.skip("cannot make a read-only mount here")
        return target

    yield make
    for target in mounts:
        subprocess.run(["umount", str(target)], capture_output=True)
    for path in tmp_path.rglob("*"):
        if os.geteuid() != 0 and path.is_dir():
            path.chmod(0o755)


def test_a_read_only_folder_is_one_line_before_any_work(tmp_path, read_only):
    runs = tmp_path / "runs"
    proc = mrft("train", "--env", "nav:point", "--total-steps", 64, "--runs-dir", runs,
                "--run-name", "r", *TINY)
    assert proc.returncode == 0, proc.stderr
    folder = read_only(runs)
    checkpoint = folder / "r" / "checkpoint.pt"
    for args in (["train", "--resume", checkpoint, "--total-steps", 128],
                 ["train", "--env", "nav:point", "--runs-dir", folder, *TINY],
                 ["adapt", checkpoint, "--steps", 32],
                 ["eval", checkpoint, "--episodes", 2, "--json-out", folder / "e.json"],
                 ["bench", "--suite", "smoke", "--out", folder / "bench"]):
        _assert_one_line_error(mrft(*args), "cannot use", str(folder))


def test_user_env_module_is_imported_before_its_id_is_checked(tmp_path):
    (tmp_path / "user_envs_for_test.py").write_text(
        "import gymnasium\n"
        "gymnasium.register('UserCart-v0', max_episode_steps=40,\n"
        "                   entry_point='gymnasium.envs.classic_control:CartPoleEnv')\n")
    proc = mrft("train", "--env", "gym:user_envs_for_test:UserCart-v0", "--total-steps", 64,
                "--runs-dir", tmp_path / "runs", "--run-name", "u", *TINY, cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    (tmp_path / "broken_envs_for_test.py").write_text("raise RuntimeError('no such robot')\n")
    proc = mrft("train", "--env", "gym:broken_envs_for_test:X-v0", cwd=tmp_path)
    _assert_one_line_error(proc, "broken_envs_for_test", "no such robot")
    proc = mrft("train", "--env", "gym:user_envs_for_test:Missing-v0", cwd=tmp_path)
    _assert_one_line_error(proc, "unknown Gymnasium id")


def test_a_full_disk_is_one_line_naming_the_path(tmp_path, monkeypatch, capsys):
    import errno

    from mrft import atomic, cli

    def full(fd):
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(atomic.os, "fsync", full)
    with pytest.raises(SystemExit) as info:
        cli.main(["train", "--env", "nav:point", "--total-steps", "64", "--runs-dir",
                  str(tmp_path), "--run-name", "full", *map(str, TINY)])
    err = capsys.readouterr().err
    lines = [line for line in err.splitlines() if line.strip()]
    assert info.value.code == 2 and len(lines) == 1, err
    assert "disk is full" in lines[0] and str(tmp_path / "full") in lines[0]


def test_an_unwritable_output_is_refused_before_the_work(tmp_path):
    blocker = tmp_path / "a-file"
    blocker.write_text("not a folder")
    proc = mrft("train", "--env", "nav:point", "--runs-dir", blocker / "runs", *TINY)
    _assert_one_line_error(proc, "a-file", "not a folder")
    proc = mrft("adapt", blocker, "--out", blocker / "curve.json")
    _assert_one_line_error(proc, "a-file")
