"""Train one method on a family through the CLI and score its checkpoint on held-out
instances: the shared step of the slow learning tests that compare MRFT with PPO."""

import json

from test_cli import mrft


def held_out_score(tmp_path, algo: str, env: str, steps: int, seed: int, key: str) -> float:
    """Mean of ``key`` (``return_ci`` or ``success_ci``) over 64 held-out evaluation
    episodes of a ``steps``-step ``mrft train`` run of ``algo`` on ``env``."""
    name = f"{algo}{seed}"
    proc = mrft("train", "--algo", algo, "--env", env, "--total-steps", steps, "--seed", seed,
                "--runs-dir", tmp_path, "--run-name", name, "--no-progress", timeout=3600)
    assert proc.returncode == 0, proc.stderr
    out = tmp_path / f"{name}.json"
    proc = mrft("eval", tmp_path / name / "checkpoint.pt", "--episodes", 64, "--seed", 100 + seed,
                "--json-out", out)
    assert proc.returncode == 0, proc.stderr
    return json.loads(out.read_text())[key]["mean"]
