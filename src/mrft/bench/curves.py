"""The curves of a bench's analysis, one panel per task family and one band per method: the
adaptation curves, the return step by step through the first episode, and the
pre-training curves. A band is the mean over runs with a 95% bootstrap interval of the mean
at every point (:func:`mrft.bench.statistics.band`), the runs read on a common grid.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from mrft.bench.loading import BenchData, run_folder
from mrft.bench.runner import pretrain_source
from mrft.bench.scores import score_name, training_metric
from mrft.bench.statistics import band


def adaptation_curves(data: BenchData, methods: list[str]) -> list[dict[str, Any]]:
    """Per family: the evaluation score against adaptation env steps, over seeds x instances."""
    panels = []
    for family in data.families:
        panel = {"env": family.env, "score": score_name(family.env), "methods": {}}
        for method in methods:
            runs = [data.adapt[family.env, method, s, i] for s in data.complete_seeds(method)
                    for i in range(family.instances)]
            if not runs:
                continue
            grid = sorted({p["step"] for r in runs for p in r["curve"]})
            series = [np.interp(grid, [p["step"] for p in r["curve"]],
                                [p["score"] for p in r["curve"]]) for r in runs]
            panel["methods"][method] = {"steps": [float(g) for g in grid], **band(series),
                                        "runs": len(runs)}
        panels.append(panel)
    return panels


def within_episode_curves(data: BenchData, methods: list[str]) -> list[dict[str, Any]]:
    """Per family: the return step by step through the first episode on a new instance
    (the first evaluation, before any update; :meth:`mrft.evaluate.EvalResult.reward_by_step`),
    mean over seeds x instances with a band. An in-context learner should earn more late in
    the episode than early; a policy that does not infer the task stays level or, where
    failing ends the episode, falls. Runs from code that did not record the profile are
    left out."""
    panels = []
    for family in data.families:
        panel = {"env": family.env, "ylabel": "reward per step", "methods": {}}
        profiles = {m: [p for s in data.complete_seeds(m) for i in range(family.instances)
                        if (p := data.adapt[family.env, m, s, i]["curve"][0].get("reward_by_step"))
                        and p.get("step") and p.get("horizon")]
                    for m in methods}
        everyone = [p for runs in profiles.values() for p in runs]
        if not everyone:
            continue
        grid = bin_centres(max(everyone, key=lambda p: p["horizon"]))
        for method, runs in profiles.items():
            if runs:
                series = [profile_at(grid, p) for p in runs]
                panel["methods"][method] = {"steps": grid.tolist(), **band(series),
                                            "runs": len(series)}
        panels.append(panel)
    return panels


def bin_centres(profile: dict[str, Any]) -> np.ndarray:
    """Centres of a binned profile's bins: its bins start at ``step`` and the last ends at
    ``horizon``."""
    edges = np.append(profile["step"], profile["horizon"]).astype(np.float64)
    return (edges[:-1] + edges[1:]) / 2


def profile_at(grid: np.ndarray, profile: dict[str, Any]) -> np.ndarray:
    """A binned profile read at ``grid`` steps: interpolated between its bin centres, and 0
    after its longest episode ended (every episode over, nothing more earned)."""
    values = np.interp(grid, bin_centres(profile), profile["reward"])
    values[grid >= profile["horizon"]] = 0.0
    return values


def pretrain_curves(data: BenchData, methods: list[str], points: int = 40) -> list[dict]:
    """Per family: the training metric that follows the family's score against
    pre-training env steps, over seeds, on ``points`` steps the runs share; one band per
    pre-training (an adaptation-only method shows under the method it reuses)."""
    panels = []
    for family in data.families:
        key = training_metric(family.env)
        panel = {"env": family.env, "metric": f"training {key.split('/')[1].replace('_', ' ')}",
                 "methods": {}}
        for method in dict.fromkeys(pretrain_source(m) for m in methods):
            series = []
            for seed in data.seeds:
                if (family.env, method, seed) not in data.pretrain:
                    continue
                log = f"{run_folder(family, method, seed)}/train/metrics.jsonl"
                try:
                    records = [r for r in data.files.read_jsonl(log) if key in r]
                except OSError:
                    continue
                if records:
                    series.append(([r["step"] for r in records], [r[key] for r in records]))
            if not series:
                continue
            end = min(s[-1] for s, _ in series)
            start = max(s[0] for s, _ in series)
            grid = np.linspace(start, end, points) if end > start else np.array([end])
            panel["methods"][method] = {"steps": grid.tolist(),
                                        **band([np.interp(grid, s, v) for s, v in series]),
                                        "runs": len(series)}
        panels.append(panel)
    return panels
