"""MRFT adapts in context on a family that no design choice was made on: ``recsys:users``
(an evaluation family, docs/families.md) hides the user's taste and boredom, so only a
policy that reads them off the trial's clicks recommends well from the start.

The margin was fixed before any MRFT run on the family, from the reference rows of its
calibration (benchmarks/results/eval_calibration.md, 300k steps): the oracle ends at 12.8 and
the context-free policy at 7.89, so MRFT must close at least a quarter of that gap (1.2) in
context. Slow (six 300k-step trainings; passed in 10 min on the 2-core development machine,
beside a benchmark sweep at a lower priority, after the evaluation suite's one run):
``make test-slow``.
"""

import pytest
from held_out_runs import held_out_score

STEPS = 300_000
SEEDS = (1, 2, 3)
MARGIN = 0.25 * (12.8 - 7.89)


def _held_out_return(tmp_path, algo, seed):
    return held_out_score(tmp_path, algo, "recsys:users", STEPS, seed, "return_ci")


@pytest.mark.slow
def test_mrft_in_context_beats_a_context_free_ppo_on_an_evaluation_family(tmp_path):
    # MRFT is scored in context (the last episode of each evaluation trial, no gradient
    # step); PPO sees the same observations and budget but has no memory.
    mrft_return = [_held_out_return(tmp_path, "mrft", s) for s in SEEDS]
    ppo_return = [_held_out_return(tmp_path, "ppo", s) for s in SEEDS]
    mean_mrft, mean_ppo = sum(mrft_return) / 3, sum(ppo_return) / 3
    assert mean_mrft > mean_ppo + MARGIN, (mrft_return, ppo_return)
    assert min(mrft_return) > mean_ppo, (mrft_return, ppo_return)
