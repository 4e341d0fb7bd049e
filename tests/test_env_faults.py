"""A user's env that fails ends a run in one ``error:`` line naming the env, its index and the
step, with the user's message, exit code 1 and the weights learned so far saved: an
exception in ``step`` or ``reset``, an observation of another shape or type, a reward that is
not a number, a step that hangs past ``--env-step-timeout``. ``--debug`` shows the traceback."""

import os

import pytest
from test_cli import mrft

from mrft.algos.ppo import PPOConfig
from mrft.config import EnvConfig, RunConfig, TrainConfig
from mrft.envs import guard
from mrft.errors import EnvFaultError
from mrft.trainer import Trainer

FAULTY_ENVS = '''
import os
import signal
import time

import gymnasium
import numpy as np

FAULT_AT = 40  # the step (counted over this env's life) where the fault happens


class Faulty(gymnasium.Env):
    """Stays still and pays 1 a step; the env made last (env 1 of a vector of 2) breaks at its
    FAULT_AT-th step in the way ``kind`` names, unless the environment variable FAULTS_MENDED
    is set; in a torchrun job, on rank 1 only."""

    observation_space = gymnasium.spaces.Box(-1.0, 1.0, (3,), np.float32)
    action_space = gymnasium.spaces.Discrete(2)
    made = []

    def __init__(self, kind="step"):
        self.kind = kind
        Faulty.made.append(self)
        self.calls = 0
        self.resets = 0

    def _broken(self):
        return (self is Faulty.made[-1] and not os.environ.get("FAULTS_MENDED")
                and os.environ.get("RANK", "1") == "1")

    def reset(self, seed=None, options=None):
        super().reset(seed=seed)
        self.resets += 1
        self.t = 0
        if self.kind == "reset" and self.resets > 2 and self._broken():
            raise RuntimeError("the plant controller refused to restart")
        return np.zeros(3, np.float32), {}

    def step(self, action):
        self.calls += 1
        self.t += 1
        obs, reward = np.zeros(3, np.float32), 1.0
        if self.calls >= FAULT_AT and self._broken():
            if self.kind == "step":
                raise ConnectionError("lost the connection to the simulator")
            if self.kind == "shape":
                obs = np.zeros(5, np.float32)
            if self.kind == "type":
                obs = "sensor offline"
            if self.kind == "reward":
                reward = "1.0"
            if self.kind == "hang":
                time.sleep(60)
            if self.kind == "kill":
                os.kill(os.getpid(), signal.SIGKILL)
        return obs, reward, False, self.t >= 10, {}


for kind in ("step", "reset", "shape", "type", "reward", "hang", "kill"):
    gymnasium.register(f"Faulty{kind.title()}-v0", entry_point=Faulty, kwargs={"kind": kind})
'''

EXPECTED = {
    "step": "step() raised ConnectionError: lost the connection to the simulator",
    "reset": "reset() raised RuntimeError: the plant controller refused to restart",
    "shape": "step() returned an observation of shape (5,), but its observation space has shape (3,)",
    "type": "step() returned an observation that is not an array of numbers: 'sensor offline'",
    "reward": "step() returned a reward that is not a number: '1.0' (str)",
    "hang": "step() did not return within --env-step-timeout 0.5 s",
}


@pytest.fixture
def faulty_envs(tmp_path, monkeypatch):
    (tmp_path / "faulty_envs_for_test.py").write_text(FAULTY_ENVS)
    monkeypatch.syspath_prepend(str(tmp_path))
    monkeypatch.delenv("FAULTS_MENDED", raising=False)
    yield tmp_path
    guard.set_step_timeout(None)


def _cfg(tmp_path, kind: str, total_steps: int = 2 * 16 * 16) -> TrainConfig:
    return TrainConfig(
        env=EnvConfig(env=f"gym:faulty_envs_for_test:Faulty{kind.title()}-v0", num_envs=2,
                      env_step_timeout=0.5 if kind == "hang" else None),
        ppo=PPOConfig(num_steps=16, num_minibatches=2, update_epochs=1),
        run=RunConfig(total_steps=total_steps, seed=1, runs_dir=str(tmp_path), run_name=kind,
                      progress=False, hidden_sizes=(8,), eval_episodes=0),
    )


@pytest.mark.parametrize("kind", list(EXPECTED))
def test_each_fault_ends_in_one_line_naming_env_index_and_step_with_the_weights_saved(
        faulty_envs, monkeypatch, kind):
    trainer = Trainer(_cfg(faulty_envs, kind))
    with pytest.raises(EnvFaultError) as info:
        trainer.train()
    text = str(info.value)
    assert info.value.exit_code == 1 and "\n" not in text
    assert f"env 1 of gym:faulty_envs_for_test:Faulty{kind.title()}-v0, step " in text
    assert EXPECTED[kind] in text
    assert "step" in text and "weights learned so far are in" in text
    checkpoint = faulty_envs / kind / "checkpoint.pt"
    assert checkpoint.is_file() and trainer.update >= 1  # the fault came after an update
    # the saved run resumes, once the env is mended, and runs to the end of its budget
    monkeypatch.setenv("FAULTS_MENDED", "1")
    result = Trainer(resume_from=str(checkpoint)).train()
    assert result.global_step == 2 * 16 * 16 and result.updates > trainer.update


def test_the_cli_prints_one_line_and_debug_prints_the_users_traceback(faulty_envs):
    args = ("train", "--env", "gym:faulty_envs_for_test:FaultyStep-v0", "--algo", "ppo",
            "--num-envs", "2", "--num-steps", "16", "--num-minibatches", "2", "--total-steps",
            "512", "--hidden-sizes", "8", "--runs-dir", faulty_envs, "--no-progress",
            "--eval-episodes", "0")
    proc = mrft(*args, "--run-name", "quiet", cwd=faulty_envs)
    lines = [line for line in proc.stderr.splitlines() if line.strip()]
    assert proc.returncode == 1 and len(lines) == 1, proc.stderr
    assert lines[0].startswith("error: ") and "Traceback" not in proc.stderr
    assert "lost the connection to the simulator" in lines[0] and "env 1 of gym:" in lines[0]
    assert (faulty_envs / "quiet" / "checkpoint.pt").is_file()
    loud = mrft(*args, "--run-name", "loud", "--debug", cwd=faulty_envs)
    assert loud.returncode == 1 and "Traceback" in loud.stderr
    assert "faulty_envs_for_test.py" in loud.stderr  # the user's own frame
    assert loud.stderr.strip().splitlines()[-1].startswith("error: ")


def test_a_negative_step_timeout_is_refused_in_one_line():
    with pytest.raises(Exception) as info:
        guard.set_step_timeout(-1)
    assert "--env-step-timeout must be >= 0" in str(info.value)


@pytest.mark.skipif(os.name != "posix", reason="SIGALRM")
def test_the_timeout_leaves_no_timer_or_handler_behind(faulty_envs):
    import signal

    before = signal.getsignal(signal.SIGALRM)
    with pytest.raises(EnvFaultError):
        Trainer(_cfg(faulty_envs, "hang")).train()
    assert signal.getsignal(signal.SIGALRM) == before
    assert signal.getitimer(signal.ITIMER_REAL) == (0.0, 0.0)
