"""MRFT adapts in context on a family that no design choice was made on: ``recsys:users``
(an evaluation family, docs/families.md) hides the user's taste and boredom, so only a
policy that reads them off the trial's clicks recommends well from the start.

The margin was fixed before any MRFT run on the family, from the reference rows of its
calibration (benchmarks/results/eval_calibration.md, 300k steps): the oracle ends at 12.8 and
the context-free policy at 7.89, so MRFT must close at least a quarter of that gap (1.2) in
context. Slow (about 25 minutes on 2 cores): ``make test-slow``.
"""

import json

import pytest
from test_cli import mrft

STEPS = 300_000
SEEDS = (1, 2, 3)
MARGIN = 0.25 * (12.8 - 7.89)


def _held_out_return(tmp_path, algo, seed):
    name = f"{algo}{seed}"
    proc = mrft("train", "--algo", algo, "--env", "recsys:users", "--total-steps", STEPS, "--seed", seed,
                "--runs-dir", tmp_path, "--run-name", name, "--no-progress", timeout=3600)
    assert proc.returncode == 0, proc.stderr
    out = tmp_path / f"{name}.json"
    proc = mrft("eval", tmp_path / name / "checkpoint.pt", "--episodes", 64, "--seed", 100 + seed,
                "--json-out", out)
    assert proc.returncode == 0, proc.stderr
    return json.loads(out.read_text())["return_ci"]["mean"]


@pytest.mark.slow
def test_mrft_in_context_beats_a_context_free_ppo_on_an_evaluation_family(tmp_path):
    # MRFT is scored in context (the last episode of each evaluation trial, no gradient
    # step); PPO sees the same observations and budget but has no memory.
    mrft_return = [_held_out_return(tmp_path, "mrft", s) for s in SEEDS]
    ppo_return = [_held_out_return(tmp_path, "ppo", s) for s in SEEDS]
    mean_mrft, mean_ppo = sum(mrft_return) / 3, sum(ppo_return) / 3
    assert mean_mrft > mean_ppo + MARGIN, (mrft_return, ppo_return)
    assert min(mrft_return) > mean_ppo, (mrft_return, ppo_return)
