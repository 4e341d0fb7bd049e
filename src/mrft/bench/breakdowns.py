"""The rows behind a bench report's tables below the headline: per task, per family against
the oracle, sim to real, exported policies and multi-task transfer.

Each is a mean over runs (seeds x held-out instances) in the family's own score, with a 95%
bootstrap interval, formatted for the report; the interval triples the claims read are kept
beside the text.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from mrft.bench import statistics
from mrft.bench.loading import BenchData, final_score
from mrft.bench.runner import pretrain_source
from mrft.bench.scores import score_name
from mrft.bench.statistics import REPS
from mrft.bench.suite import TaskFamily
from mrft.bench.text import MISSING, interval_text, readable_interval
from mrft.bench.transfer import (
    EPISODE_MARKS,
    at_episodes,
    episodes_to_target,
    fraction_of_sim,
    is_sim_to_real,
)
from mrft.errors import MrftError

ORACLE = "oracle"
"""The reference row told each instance's hidden parameters: the ceiling a family allows."""
CONTEXT_FREE = "context-free"
"""The reference row that plays a pre-trained policy without adapting: the floor."""


def mean_text(values: list[float]) -> str:
    """``mean [low, high]`` of scalar per-run values (:func:`mrft.bench.statistics.mean_interval`)."""
    return readable_interval(*statistics.mean_interval(values))


def task_rows(data: BenchData, methods: list[str], steps) -> list[dict]:
    """Per task: final score over seeds as measured, and the censored steps of ``steps``
    (``(steps, reached)`` matrices per method)."""
    rows = []
    for t, (env, i) in enumerate(data.tasks):
        cells = {}
        for method in methods:
            records = [data.adapt[env, method, s, i] for s in data.complete_seeds(method)]
            task_steps, reached = steps[method][0][:, t], steps[method][1][:, t]
            cells[method] = {
                "final": mean_text([final_score(r, "score") for r in records]),
                "steps": f"{task_steps.mean():,.0f} ({int(reached.sum())}/{reached.size} reached)",
            }
        rows.append({"task": f"{env} #{i}", "score": score_name(env), "methods": cells})
    return rows


def family_rows(data: BenchData, methods: list[str]) -> list[dict[str, Any]]:
    """Per family and method, in the family's own score: the score in context (the first
    evaluation, before any update: fresh episodes on the new instance, each the first one
    played there), the final score, and the final score as a fraction of the oracle's
    (when the bench has an oracle whose final score is above 0 with its whole interval: a
    ratio to a mean that may be 0 says nothing); each a mean over seeds x instances with a
    95% bootstrap interval. And the spread over seeds: the standard deviation, across seeds,
    of each seed's mean final score over the family's instances (how much the outcome
    depends on the seed a user happens to run; None with fewer than two seeds)."""
    def scores(family: TaskFamily, method: str, index: int) -> list[float]:
        return [data.adapt[family.env, method, s, i]["curve"][index]["score"]
                for s in data.complete_seeds(method) for i in range(family.instances)]

    rows = []
    for family in data.families:
        oracle = scores(family, ORACLE, -1) if ORACLE in methods else []
        for method in methods:
            finals = scores(family, method, -1)
            if not finals:
                continue
            of_oracle = MISSING
            if oracle and method != ORACLE and statistics.mean_interval(oracle)[1] > 0:
                of_oracle = readable_interval(*statistics.ratio_of_means(finals, oracle))
            rows.append({"env": family.env, "score": score_name(family.env), "method": method,
                         "in_context": mean_text(scores(family, method, 0)),
                         "final": mean_text(finals), "of_oracle": of_oracle,
                         "seed_spread": statistics.spread_over_seeds(  # finals run seed after seed
                             np.reshape(finals, (-1, family.instances))),
                         "runs": len(finals)})
    return rows


def sim_to_real(data: BenchData, methods: list[str]) -> list[dict[str, Any]]:
    """Per sim-to-real family and method: the in-sim return, the fraction of it reached on the
    real bodies after each of :data:`EPISODE_MARKS` real episodes (mean over seeds x
    instances with a bootstrap interval), the same as a fraction of the oracle's return on
    each real body (the oracle pre-trains on real bodies), and the real episodes until
    :data:`mrft.bench.transfer.TARGET` of the in-sim return (censored at the budget)."""
    from mrft.envs import parse_env
    from mrft.envs.spaces import task_spaces

    rows = []
    for family in data.families:
        if not is_sim_to_real(family.env):
            continue
        horizon = task_spaces(parse_env(family.env).test[0]).horizon
        oracle = {}  # instance -> the oracle's mean real return (trained on real bodies, not adapted)
        if ORACLE in methods:
            for i in range(family.instances):
                finals = [data.adapt[family.env, ORACLE, s, i]["curve"][-1]["return"]
                          for s in data.complete_seeds(ORACLE)]
                if finals:
                    oracle[i] = float(np.mean(finals))
        for method in methods:
            row = _sim_to_real_row(data, family, method, horizon, oracle)
            if row:
                rows.append(row)
    return rows


def _sim_to_real_row(data: BenchData, family: TaskFamily, method: str, horizon: int,
                     oracle: dict[int, float]) -> dict[str, Any] | None:
    """One method's row of :func:`sim_to_real`; ``None`` when no run recorded an in-sim return."""
    sims, at_mark, to_target, never = [], {m: [] for m in EPISODE_MARKS}, [], 0
    of_oracle = {m: [] for m in EPISODE_MARKS}
    for seed in data.complete_seeds(method):
        pretrain = data.pretrain.get((family.env, pretrain_source(method), seed)) or {}
        if "sim_return" not in pretrain:
            continue
        sims.append(pretrain["sim_return"])
        for i in range(family.instances):
            curve = data.adapt[family.env, method, seed, i]["curve"]
            episodes = [p["step"] / horizon for p in curve]
            fractions = [fraction_of_sim(p["return"], sims[-1]) for p in curve]
            for mark in EPISODE_MARKS:
                fraction = at_episodes(episodes, fractions, mark)
                if fraction is None:
                    continue
                at_mark[mark].append(fraction)
                if i in oracle:
                    real = at_episodes(episodes, [p["return"] for p in curve], mark)
                    of_oracle[mark].append(fraction_of_sim(real, oracle[i]))
            reached = episodes_to_target(episodes, fractions)
            to_target.append(episodes[-1] if reached is None else reached)
            never += reached is None
    if not sims:
        return None
    return {
        "env": family.env, "method": method, "sim_return": mean_text(sims),
        "fractions": {str(m): mean_text(v) if v else MISSING for m, v in at_mark.items()},
        "fraction_interval": {str(m): statistics.mean_interval(v) for m, v in at_mark.items() if v},
        "oracle_fractions": {str(m): mean_text(v) for m, v in of_oracle.items() if v},
        "episodes_to_target": f"{mean_text(to_target)}; {never}/{len(to_target)} never"}


def return_auc(record: dict[str, Any]) -> float:
    """The area under a run's return curve over its adaptation, per env step (the mean
    return over the adaptation, by the trapezoid rule); one point: that point's return."""
    steps = np.array([p["step"] for p in record["curve"]], dtype=np.float64)
    returns = np.array([p["return"] for p in record["curve"]], dtype=np.float64)
    if steps.size < 2 or steps[-1] == steps[0]:
        return float(returns[0])
    return float(np.trapezoid(returns, steps) / (steps[-1] - steps[0]))


TRANSFER_MEASURES = (
    ("return AUC", return_auc),
    ("score before any update", lambda record: float(record["curve"][0]["score"])),
)
"""How a multi-task run is compared with a single-task one, the first being the headline:
the return AUC over the adaptation (sensitive where success rates sit at 0 in both arms, as
they do at small budgets) and the family's score before any update."""


def transfer(data: BenchData, methods: list[str]) -> dict[str, Any]:
    """Multi-task against single-task pre-training, per task, method and measure
    (:data:`TRANSFER_MEASURES`, :mod:`mrft.bench.multitask`); empty without a multi-task
    family and a single-task one. The top-level ``rows``, ``rates`` and ``rate_intervals``
    are the first measure's."""
    from mrft.bench.multitask import test_tasks, transfer_pairs

    if len(data.families) < 2:
        return {}
    try:
        pairs = transfer_pairs(data.families)
    except MrftError:  # an env this process cannot build (a user's gym module): no pairs to find
        return {}
    if not pairs:
        return {}
    counts = {multi.env: len(test_tasks(multi.env)) for multi, *_ in pairs}
    measures = [_transfer_measure(data, methods, pairs, counts, measure, value)
                for measure, value in TRANSFER_MEASURES]
    return {**{k: measures[0][k] for k in ("rows", "rates", "rate_intervals")},
            "measure": measures[0]["measure"], "measures": measures}


def _transfer_measure(data: BenchData, methods: list[str], pairs, counts: dict[str, int],
                      measure: str, value) -> dict[str, Any]:
    """One measure of :func:`transfer`: a row per (task, method), and per method the rate of
    tasks with positive transfer."""
    from mrft.bench.multitask import transfer_probability, transfer_rate

    rows, rates, intervals = [], {}, {}
    for method in methods:
        seeds = data.complete_seeds(method)
        positive = []
        for multi, k, name, single in pairs:
            multi_scores = [value(data.adapt[multi.env, method, s, i])
                            for s in seeds for i in range(multi.instances)
                            if i % counts[multi.env] == k]
            single_scores = [value(data.adapt[single.env, method, s, i])
                             for s in seeds for i in range(single.instances)]
            if not multi_scores or not single_scores:
                continue
            point, low, high = transfer_probability(multi_scores, single_scores, REPS)
            result = "positive" if low > 0.5 else "negative" if high < 0.5 else "not told apart"
            positive.append(low > 0.5)
            rows.append({"task": name, "method": method, "measure": measure,
                         "multi": f"{np.mean(multi_scores):.3g}",
                         "single": f"{np.mean(single_scores):.3g}",
                         "probability": interval_text(point, low, high, "{:.2f}"),
                         "transfer": result})
        if positive:
            rate, low, high = transfer_rate(positive)
            rates[method] = (f"{interval_text(rate, low, high, '{:.2f}')} "
                             f"({sum(positive)} of {len(positive)} tasks)")
            intervals[method] = [rate, low, high]
    return {"measure": measure, "rows": rows, "rates": rates, "rate_intervals": intervals}
