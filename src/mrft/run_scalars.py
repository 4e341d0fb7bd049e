"""The scalars logged after every update (CleanRL/SB3 names), the few the live progress
display shows, and what one training loop accumulates for them."""

from __future__ import annotations

import dataclasses
import resource
from collections import defaultdict

import numpy as np

from mrft.batches import Episode


def update_scalars(batch, diagnostics: dict[str, float], stats: dict[str, float], lr: float,
                   sps: float, timings: dict[str, float]) -> dict[str, float]:
    """``charts/*`` of the batch, ``losses/*`` of the update (a diagnostic already named
    ``group/name`` keeps its name), the algorithm's batch ``stats``, ``perf/*`` timings and
    peak memory."""
    scalars: dict[str, float] = {"charts/learning_rate": lr, "charts/SPS": sps}
    if batch.episodes:
        scalars["charts/episodic_return"] = float(np.mean([e.ret for e in batch.episodes]))
        scalars["charts/episodic_length"] = float(np.mean([e.length for e in batch.episodes]))
        successes = [e.success for e in batch.episodes if e.success is not None]
        if successes:
            scalars["charts/success_rate"] = float(np.mean(successes))
    for key, value in diagnostics.items():
        scalars[key if "/" in key else f"losses/{key}"] = value
    scalars.update(stats)
    for key, value in timings.items():
        scalars[f"perf/{key}_s"] = value
    scalars["perf/peak_rss_mb"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0
    return scalars


def progress_stats(scalars: dict[str, float], recent: list[Episode]) -> dict[str, float]:
    """SPS, and the mean return (and success) of the last finished episodes."""
    stats = {"SPS": scalars["charts/SPS"]}
    if recent:
        stats["return"] = float(np.mean([e.ret for e in recent]))
        succ = [e.success for e in recent if e.success is not None]
        if succ:
            stats["success"] = float(np.mean(succ))
    return stats


@dataclasses.dataclass
class TrainLoop:
    """What one call of :meth:`mrft.trainer.Trainer.train` accumulates: its start, the seconds
    spent in each part of the loop, the latest episodes and whether it was interrupted."""

    start_time: float
    start_step: int
    timings: dict[str, float] = dataclasses.field(default_factory=lambda: defaultdict(float))
    recent: list[Episode] = dataclasses.field(default_factory=list)
    interrupted: bool = False
