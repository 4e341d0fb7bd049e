"""Benchmark metrics on hand-made curves: threshold crossing, censoring, ratios, IQM."""

import math

import numpy as np
import pytest

from mrft.bench.metrics import (
    Censored,
    adaptation_steps,
    interquartile_mean,
    probability_of_improvement,
    sample_efficiency,
    steps_to_reach,
    stratified_bootstrap_ci,
)

STEPS = [0, 1000, 2000, 3000, 4000]
RISING = [0.1, 0.3, 0.6, 0.85, 0.9]


def test_steps_to_reach_first_crossing_and_never():
    assert steps_to_reach(STEPS, RISING, 0.6) == 2000  # equal counts as reached
    assert steps_to_reach(STEPS, RISING, 0.05) == 0
    assert steps_to_reach(STEPS, RISING, 0.95) is None
    assert steps_to_reach(STEPS, [0.1, 0.7, 0.2, 0.1, 0.1], 0.5) == 1000  # first, not last
    with pytest.raises(ValueError, match="steps"):
        steps_to_reach(STEPS, RISING[:2], 0.5)


def test_adaptation_steps_relative_to_grpo_and_censored():
    # GRPO's final value 0.9 -> target 0.81, first reached at 3000
    assert adaptation_steps(STEPS, RISING, grpo_final=0.9, budget=4000) == Censored(3000, True)
    # a target above the curve: censored at the budget
    assert adaptation_steps(STEPS, RISING, grpo_final=1.2, budget=4000) == Censored(4000, False)
    assert adaptation_steps(STEPS, RISING, 0.9, 4000, fraction=0.5) == Censored(2000, True)
    with pytest.raises(ValueError, match="fraction"):
        adaptation_steps(STEPS, RISING, 0.9, 4000, fraction=0)
    # a negative final return -100: the 90% target is -110, first reached at 2000
    costs = [-300, -200, -105, -100, -100]
    assert adaptation_steps(STEPS, costs, grpo_final=-100, budget=4000) == Censored(2000, True)


def test_sample_efficiency_ratio():
    assert sample_efficiency(5000, 800) == pytest.approx(6.25)
    assert sample_efficiency(800, 800) == 1.0
    assert sample_efficiency(1000, 0) == math.inf
    assert sample_efficiency(0, 0) == 1.0
    with pytest.raises(ValueError):
        sample_efficiency(-1, 10)


def test_interquartile_mean_hand_values():
    # 8 values: the middle four are 3, 4, 5, 6
    assert interquartile_mean([1, 2, 3, 4, 5, 6, 7, 100]) == pytest.approx(4.5)
    # 4 values: the middle two
    assert interquartile_mean([10, 0, 2, 1]) == pytest.approx(1.5)
    # 5 values: quartile bounds at 1.25 and 3.75, so sorted [1, 2, 3, 4, 5] get weights
    # [0, .75, 1, .75, 0] -> (1.5 + 3 + 3) / 2.5 = 3
    assert interquartile_mean([5, 4, 3, 2, 1]) == pytest.approx(3.0)
    assert interquartile_mean([7.0]) == 7.0
    with pytest.raises(ValueError):
        interquartile_mean([])


def test_probability_of_improvement_hand_values():
    # task 0: pairs (1>0) (1<3) (2>0) (2<3) -> 0.5; task 1: every method run beats every baseline -> 1
    method = [[1, 5], [2, 6]]
    baseline = [[0, 1], [3, 2]]
    assert probability_of_improvement(method, baseline) == pytest.approx(0.75)
    assert probability_of_improvement([[1.0]], [[1.0]]) == 0.5  # a tie counts one half
    with pytest.raises(ValueError, match="tasks"):
        probability_of_improvement([[1, 2]], [[1]])


def test_stratified_bootstrap_interval():
    constant = [[2.0, 2.0], [2.0, 2.0], [2.0, 2.0]]
    assert stratified_bootstrap_ci(constant, reps=50) == (2.0, 2.0, 2.0)
    scores = [[0.1, 0.5], [0.3, 0.9], [0.2, 0.7], [0.4, 0.6]]
    point, low, high = stratified_bootstrap_ci(scores, reps=500, seed=3)
    assert low <= point <= high and low < high
    assert (point, low, high) == stratified_bootstrap_ci(scores, reps=500, seed=3)  # seeded
    with pytest.raises(ValueError, match="runs, tasks"):
        stratified_bootstrap_ci([1.0, 2.0])


def test_process_scores_are_the_fraction_from_doing_nothing_to_the_tuned_pid():
    from mrft.bench.scores import REFERENCE, reference_range, score_curve
    from mrft.envs import parse_env, process

    task = parse_env("process:changeover").test[0]
    env = process.make(task, 1, 0, env_seeds=[2])  # doing nothing, stepped by hand
    env.reset()
    nothing = sum(float(env.step(np.zeros((1, 1), np.float32)).reward[0]) for _ in range(env.horizon))
    tuned = process.reference_return(task, 2)
    low, high = reference_range("process:changeover", 2)
    assert low == pytest.approx(nothing, rel=1e-6) and high == tuned and tuned > nothing
    curve = [{"return": nothing}, {"return": tuned}, {"return": (nothing + tuned) / 2}]
    assert score_curve("process:changeover", curve, instance=2) == REFERENCE
    assert [round(p["score"], 9) for p in curve] == [0.0, 1.0, 0.5]
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
