"""The bench's statistics on values worked out by hand: IQM, the stratified bootstrap
interval, the probability of improvement, bands, ratios of means and the spread over seeds."""

import math

import numpy as np
import pytest

from mrft.bench.statistics import (
    band,
    interquartile_mean,
    mean_interval,
    probability_of_improvement,
    ratio_of_means,
    relative_change,
    spread_over_seeds,
    stratified_bootstrap,
    stratified_bootstrap_ci,
)


def test_interquartile_mean_hand_values():
    # 1..8: a quarter (two values) cut from each end leaves 3, 4, 5, 6 -> 4.5
    assert interquartile_mean([1, 2, 3, 4, 5, 6, 7, 8]) == pytest.approx(4.5)
    assert interquartile_mean([8, 7, 6, 5, 4, 3, 2, 1]) == pytest.approx(4.5)  # order does not matter
    assert interquartile_mean([1, 2, 3, 4, 5, 6, 7, 100]) == pytest.approx(4.5)  # an outlier is cut
    # 4 values: the middle two
    assert interquartile_mean([10, 0, 2, 1]) == pytest.approx(1.5)
    # 6 values: floor(6 / 4) = 1 cut from each end: (2 + 3 + 4 + 5) / 4
    assert interquartile_mean([1, 2, 3, 4, 5, 100]) == pytest.approx(3.5)
    # 5 values: 1 cut from each end: (2 + 3 + 4) / 3
    assert interquartile_mean([5, 4, 3, 2, 1]) == pytest.approx(3.0)
    # a [runs, tasks] matrix counts every run of every task
    assert interquartile_mean([[1, 2, 3, 4], [5, 6, 7, 8]]) == pytest.approx(4.5)
    assert interquartile_mean([7.0]) == 7.0
    with pytest.raises(ValueError):
        interquartile_mean([])


def test_probability_of_improvement_hand_values():
    # task 0: pairs (1>0) (1<3) (2>0) (2<3) -> 0.5; task 1: every method run beats every baseline -> 1
    assert probability_of_improvement([[1, 5], [2, 6]], [[0, 1], [3, 2]]) == pytest.approx(0.75)
    # ties count one half. task 0: (1=1) .5, (1<3) 0, (2>1) 1, (2<3) 0 -> 1.5 / 4;
    # task 1: (3=3) .5, (3>2) 1, twice -> 3 / 4; mean over tasks (0.375 + 0.75) / 2
    assert probability_of_improvement([[1, 3], [2, 3]], [[1, 3], [3, 2]]) == pytest.approx(0.5625)
    assert probability_of_improvement([[1.0]], [[1.0]]) == 0.5
    # the method's and the baseline's runs need not be as many: 3 runs against 1
    assert probability_of_improvement([[0.0], [1.0], [2.0]], [[1.0]]) == pytest.approx(0.5)
    with pytest.raises(ValueError, match="tasks"):
        probability_of_improvement([[1, 2]], [[1]])


def test_stratified_bootstrap_resamples_runs_within_each_task():
    # every task has one value across its runs: resampling runs within a task cannot move the
    # mean, though the values differ between tasks (resampling across tasks would)
    steady = [[0.0, 10.0], [0.0, 10.0], [0.0, 10.0]]
    assert stratified_bootstrap_ci(steady, np.mean, reps=200) == (5.0, 5.0, 5.0)
    constant = [[2.0, 2.0], [2.0, 2.0], [2.0, 2.0]]
    assert stratified_bootstrap_ci(constant, reps=50) == (2.0, 2.0, 2.0)


def test_stratified_bootstrap_interval_by_hand():
    # one task, runs 0 and 1: a resample of two runs has mean 0, 0.5 or 1 with probabilities
    # 1/4, 1/2, 1/4, so the 2.5% and 97.5% quantiles of 2,000 resamples are 0 and 1
    point, low, high = stratified_bootstrap([[[0.0], [1.0]]], np.mean, reps=2000)
    assert (point, low, high) == (0.5, 0.0, 1.0)
    # a method whose every run beats every baseline run: P = 1 in every resample
    assert stratified_bootstrap([[[2.0], [3.0]], [[0.0], [1.0]]],
                                probability_of_improvement) == (1.0, 1.0, 1.0)
    scores = [[0.1, 0.5], [0.3, 0.9], [0.2, 0.7], [0.4, 0.6]]
    point, low, high = stratified_bootstrap_ci(scores, reps=500, seed=3)
    assert low <= point <= high and low < high
    assert (point, low, high) == stratified_bootstrap_ci(scores, reps=500, seed=3)  # seeded
    with pytest.raises(ValueError, match="runs, tasks"):
        stratified_bootstrap_ci([1.0, 2.0])
    with pytest.raises(ValueError, match="same tasks"):
        stratified_bootstrap([[[1.0, 2.0]], [[1.0]]], probability_of_improvement)


def test_relative_change_band_and_ratio_of_means_by_hand():
    # IQM 6 against IQM 4: +50%, in every resample since each task's runs are equal
    point, low, high = relative_change(np.array([[6.0], [6.0]]), np.array([[4.0], [4.0]]),
                                       lambda x: interquartile_mean(x.ravel()), reps=100)
    assert (point, low, high) == pytest.approx((0.5, 0.5, 0.5))
    # against a cost-like baseline of -4, -2 is an improvement: (-2 - -4) / 4
    assert relative_change(np.array([[-2.0]]), np.array([[-4.0]]), np.mean, reps=10)[0] == 0.5
    assert all(map(math.isnan, relative_change(np.array([[1.0]]), np.array([[0.0]]), np.mean,
                                               reps=10)))
    # two runs 0 and 2 at each of two points: mean 1; a resample's mean is 0, 1 or 2
    result = band([np.array([0.0, 0.0]), np.array([2.0, 2.0])])
    assert result == {"mean": [1.0, 1.0], "low": [0.0, 0.0], "high": [2.0, 2.0]}
    assert mean_interval([3.0, 3.0, 3.0]) == [3.0, 3.0, 3.0]
    assert ratio_of_means([2.0, 4.0], [2.0, 2.0]) == pytest.approx((1.5, 1.0, 2.0))
    # seed means 1 and 3: sample standard deviation sqrt(2); one seed has no spread
    assert spread_over_seeds([[0.0, 2.0], [3.0, 3.0]]) == pytest.approx(math.sqrt(2))
    assert spread_over_seeds([[1.0, 5.0]]) is None
    with np.errstate(divide="ignore"):
        assert all(map(math.isnan, ratio_of_means([1.0], [0.0])[1:]))


def test_interquartile_mean_is_scipys_trimmed_mean():
    from scipy.stats import trim_mean

    rng = np.random.default_rng(0)
    for n in (1, 2, 3, 4, 5, 7, 8, 13, 40):
        values = rng.normal(size=n) * 10.0 ** rng.integers(-3, 4)
        assert interquartile_mean(values) == pytest.approx(trim_mean(values, 0.25), rel=1e-12)
    assert interquartile_mean([1.0, math.inf, 2.0, 3.0]) == trim_mean([1.0, math.inf, 2.0, 3.0], 0.25)
    assert math.isnan(interquartile_mean([1.0, math.nan, 2.0]))
