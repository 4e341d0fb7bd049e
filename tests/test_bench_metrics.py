"""Benchmark metrics on hand-made curves: threshold crossing, censoring, ratios, progress."""

import math

import numpy as np
import pytest

from mrft.bench.metrics import Censored, adaptation_steps, sample_efficiency, steps_to_reach

STEPS = [0, 1000, 2000, 3000, 4000]
RISING = [0.1, 0.3, 0.6, 0.85, 0.9]


def test_steps_to_reach_first_crossing_and_never():
    assert steps_to_reach(STEPS, RISING, 0.6) == 2000  # equal counts as reached
    assert steps_to_reach(STEPS, RISING, 0.05) == 0
    assert steps_to_reach(STEPS, RISING, 0.95) is None
    assert steps_to_reach(STEPS, [0.1, 0.7, 0.2, 0.1, 0.1], 0.5) == 1000  # first, not last
    with pytest.raises(ValueError, match="steps"):
        steps_to_reach(STEPS, RISING[:2], 0.5)


def test_adaptation_steps_relative_to_the_baseline_and_censored():
    # the baseline's final value 0.9 -> target 0.81, first reached at 3000
    assert adaptation_steps(STEPS, RISING, baseline_final=0.9, budget=4000) == Censored(3000, True)
    # a target above the curve: censored at the budget
    assert adaptation_steps(STEPS, RISING, baseline_final=1.2, budget=4000) == Censored(4000, False)
    assert adaptation_steps(STEPS, RISING, 0.9, 4000, fraction=0.5) == Censored(2000, True)
    with pytest.raises(ValueError, match="fraction"):
        adaptation_steps(STEPS, RISING, 0.9, 4000, fraction=0)
    # a negative final return -100: the 90% target is -110, first reached at 2000
    costs = [-300, -200, -105, -100, -100]
    assert adaptation_steps(STEPS, costs, baseline_final=-100, budget=4000) == Censored(2000, True)


def test_sample_efficiency_ratio():
    assert sample_efficiency(5000, 800) == pytest.approx(6.25)
    assert sample_efficiency(800, 800) == 1.0
    assert sample_efficiency(1000, 0) == math.inf
    assert sample_efficiency(0, 0) == 1.0
    with pytest.raises(ValueError):
        sample_efficiency(-1, 10)


def test_process_scores_are_the_fraction_from_doing_nothing_to_the_tuned_pid():
    from mrft.bench.scores import REFERENCE, score_curve
    from mrft.envs import parse_env, process

    task = parse_env("process:changeover").test[0]
    env = process.make(task, 1, 0, env_seeds=[2])  # doing nothing, stepped by hand
    env.reset()
    nothing = sum(float(env.step(np.zeros((1, 1), np.float32)).reward[0]) for _ in range(env.horizon))
    tuned = process.reference_return(task, 2)
    assert tuned > nothing
    curve = [{"return": nothing}, {"return": tuned}, {"return": (nothing + tuned) / 2}]
    assert score_curve("process:changeover", curve, instance=2) == REFERENCE
    assert [round(p["score"], 6) for p in curve] == [0.0, 1.0, 0.5]
    with pytest.raises(ValueError, match="per-instance reference"):
        score_curve("process:changeover", [{"return": 1.0}])
    raw = [{"return": 3.5}]
    assert score_curve("market:regimes", raw, instance=2) == "return" and raw[0]["score"] == 3.5


def test_learning_progress_by_hand():
    from mrft.bench.metrics import learning_progress, steps_to_progress

    steps = list(range(0, 101, 10))           # 0, 10, ..., 100
    values = [0, 2, 4, 6, 8, 10, 10, 10, 10, 10, 10]
    # window 5% of 100 = 5 steps: start = value at 0; asymptote = mean over [90, 100] = 10;
    # at 30: the values in [25, 30] -> 6
    p = learning_progress(steps, values, 30)
    assert (p.start, p.asymptote, p.at_budget) == (0.0, 10.0, 6.0) and p.fraction == 0.6
    # a cost-like return rising from -50 to -10 reads the same
    costs = [v * 4 - 50 for v in values]
    assert learning_progress(steps, costs, 30).fraction == 0.6
    assert steps_to_progress(steps, values, 0.8) == 40.0
    assert steps_to_progress(steps, [1.0] * 11, 0.8) is None  # gained nothing
    from mrft.bench.metrics import tail_mean

    assert tail_mean(steps, values) == 10.0 and tail_mean(steps, costs, tail=0.35) == -10.0
    assert tail_mean([0, 50, 100], [1.0, 2.0, 6.0], tail=0.5) == 4.0
