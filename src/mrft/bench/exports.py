"""The report's "Exported policies" section: per family, the adapted policy beside the
networks ``mrft export`` writes from it, on the same runs.

A method whose adaptation also scores exported policies (MRFT) records, at its last curve
point, the score of its belief folded into the weights (``export/score``) and, where the
adaptation asked for progressive distillation, of the distilled student
(``distilled/score``). Per family and method, on the runs that have every one of them:

- each score's mean over seeds of the seed's mean over the held-out instances, with a 95%
  bootstrap interval over whole seeds (a seed's instances share one pre-training);
- with the bench's reference rows, the distilled student's share of the adapted policy's
  normalised score (each instance on the scale of the cumulative regret: context-free 0,
  oracle 1, :mod:`mrft.bench.regret_section`): the mean normalised distilled score over the
  mean normalised adapted one, the same seeds resampled for both. A family's scores are in
  its own unit (success rate, return), so families are never pooled.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from mrft.bench import regret
from mrft.bench.breakdowns import mean_text
from mrft.bench.loading import BenchData, final_score
from mrft.bench.regret_section import task_scales
from mrft.bench.scores import RETURN, SUCCESS, score_name
from mrft.bench.statistics import REPS
from mrft.bench.text import MISSING, readable_interval

EXPORT_CAPTION = (
    "The exported policies are what `mrft export` writes: the fold (`mrft export --distill-steps "
    "0`), the network alone with the belief of the first adapting env (the belief its scored "
    "episodes start from; the adapted policy starts env i of its evaluation from adapting env "
    "i's) folded into its weights (exact at zero env steps, but it cannot learn within an "
    "episode); and, where the adaptation asked for one (the suite's `export_steps`, `mrft adapt "
    "--distill-steps`), the context-free student that progressive distillation, `mrft export`'s "
    "default, trained from the adapted policy with the env steps shown (feature alignment, KL "
    "distillation, constrained policy search). Both deploy without a belief model. Per family, on the same runs: the mean "
    "over seeds of each seed's mean over the held-out instances at the end of adaptation, 95% "
    "bootstrap interval over whole seeds. Distilled / adapted: the student's mean normalised "
    "score (context-free policy 0, oracle 1, as the cumulative regret scales each instance) over "
    "the adapted policy's, the same seeds resampled for both; on the instances with a scale."
)


def exported_score(record: dict[str, Any], env: str, name: str) -> float | None:
    """The score of exported policy ``name`` (``export``, ``distilled``) at a run's last point;
    records written before ``<name>/score`` existed fall back to the raw success or return
    when that is the family's score."""
    point = record["curve"][-1]
    if f"{name}/score" in point:
        return float(point[f"{name}/score"])
    raw = {SUCCESS: f"{name}/success", RETURN: f"{name}/return"}.get(score_name(env))
    return float(point[raw]) if raw in point else None


def seed_interval(per_seed: np.ndarray) -> str:
    """``mean [low, high]`` of per-seed values, resampling seeds; the mean alone for one seed."""
    if len(per_seed) < 2:
        return f"{per_seed.mean():.3g}" if len(per_seed) else MISSING
    return mean_text(per_seed.tolist())


def share_of_adapted(distilled: np.ndarray, adapted: np.ndarray, reps: int = REPS,
                     seed: int = 0) -> tuple[float, float, float] | None:
    """``mean(distilled) / mean(adapted)`` of ``[seeds, instances]`` normalised scores, with a
    95% interval resampling whole seeds, the same draw for both; None when the adapted mean is
    not above 0 (a share of nothing says nothing) or with fewer than two seeds."""
    if len(adapted) < 2 or adapted.mean() <= 0:
        return None
    rng = np.random.default_rng(seed)
    draws = rng.integers(0, len(adapted), size=(reps, len(adapted)))
    top, bottom = distilled[draws].mean(axis=(1, 2)), adapted[draws].mean(axis=(1, 2))
    ratios = top[bottom > 0] / bottom[bottom > 0]
    low, high = np.quantile(ratios, [0.025, 0.975])
    return float(distilled.mean() / adapted.mean()), float(low), float(high)


def exports(data: BenchData, methods: list[str]) -> list[dict[str, Any]]:
    """Per family and method that scored exported policies, the section's row (see the
    module docstring)."""
    scales, _ = task_scales(data) if _has_references(data) else ({}, [])
    rows = []
    for family in data.families:
        for method in methods:
            row = _row(data, family, method, scales)
            if row is not None:
                rows.append(row)
    return rows


def _has_references(data: BenchData) -> bool:
    return all(any(k[1] == row for k in data.adapt) for row in ("oracle", "context-free"))


def _row(data: BenchData, family, method: str, scales) -> dict[str, Any] | None:
    seeds = data.complete_seeds(method)
    records = {(s, i): data.adapt[family.env, method, s, i]
               for s in seeds for i in range(family.instances)}
    if not records or any(exported_score(r, family.env, "export") is None for r in records.values()):
        return None
    names = ["adapted", "export"]
    if all(exported_score(r, family.env, "distilled") is not None for r in records.values()):
        names.append("distilled")
    scores = {name: np.array([[final_score(records[s, i], "score") if name == "adapted" else
                               exported_score(records[s, i], family.env, name)
                               for i in range(family.instances)] for s in seeds])
              for name in names}
    steps = sorted({int(r["curve"][-1]["distilled/env_steps"]) for r in records.values()
                    if "distilled/env_steps" in r["curve"][-1]})
    row = {"env": family.env, "method": method, "seeds": len(seeds), "runs": len(records),
           **{name: seed_interval(values.mean(axis=1)) for name, values in scores.items()},
           "distill_steps": ", ".join(f"{s:,}" for s in steps) or MISSING,
           "distilled_share": None, "distilled_share_text": MISSING}
    row.setdefault("distilled", MISSING)
    columns = [i for t, (env, i) in enumerate(data.tasks) if env == family.env and t in scales]
    if "distilled" in scores and columns:
        task = {i: t for t, (env, i) in enumerate(data.tasks) if env == family.env}
        normalised = {name: np.array([[regret.normalise(scores[name][r, i], *scales[task[i]][s])
                                       for i in columns] for r, s in enumerate(seeds)])
                      for name in ("adapted", "distilled")}
        share = share_of_adapted(normalised["distilled"], normalised["adapted"])
        if share is not None:
            row["distilled_share"] = list(share)
            row["distilled_share_text"] = readable_interval(*share)
    return row
