"""The report's "Meta-test success (official protocol)" section, for suites with a ``[protocol]``.

Per family and method, the figure published Meta-World results give (:mod:`mrft.metatest`):
each held-out instance is a test task (a class with one of its goals); its score is the share
of its evaluation episodes, played with the mode of the adapted policy after the protocol's
adaptation episodes, that succeeded at any step; a class's rate is the mean over its goals,
and a seed's figure the mean over classes. The interval is a bootstrap over seeds, the unit
published tables report over. Before adaptation: the same on the episodes scored before any
adaptation episode, with the same most likely action (the protocol's runs score it at their
first point too), so the two differ only by what adaptation changed.
"""

from __future__ import annotations

from collections import defaultdict
from typing import Any

from mrft.bench.breakdowns import mean_text
from mrft.bench.loading import BenchData
from mrft.bench.statistics import mean_interval
from mrft.errors import MrftError
from mrft.metatest import meta_test_success

CAPTION = (
    "Each held-out instance is one of the benchmark's test tasks (a class and one of its goals). "
    "After the protocol's adaptation episodes, each played by the method's own adaptation, the "
    "adapted policy plays the evaluation episodes with its most likely action; an episode "
    "succeeds if the success flag is 1 at any step. A class's rate is the mean over its goals, "
    "the figure the mean over classes; mean over seeds with a 95% bootstrap interval. "
    "\"Before adaptation\": the same, most likely action included, on the episodes scored "
    "before any adaptation episode. docs/metaworld-official.md says what is counted and where Farama's own "
    "evaluation helper counts differently."
)


def protocol_title(protocol: dict[str, Any]) -> str:
    """``official protocol: 10 adaptation and 3 evaluation episodes per test task``."""
    return (f"{protocol['name']} protocol: {protocol['adaptation_episodes']} adaptation and "
            f"{protocol['evaluation_episodes']} evaluation episodes per test task")


def _seed_figure(data: BenchData, env: str, instances: int, method: str, seed: int,
                 point: int, key: str) -> dict[str, Any]:
    rates: dict[str, list[float]] = defaultdict(list)
    for i in range(instances):
        record = data.adapt[env, method, seed, i]
        scored = record["curve"][point]
        if key not in scored:
            raise MrftError(f"{env} {method} seed {seed} instance {i}: the run has no {key} to count "
                            "(was it made without the suite's protocol?)")
        rates[record["task"]].append(float(scored[key]))
    return meta_test_success(rates)


def meta_test(data: BenchData, methods: list[str]) -> dict[str, Any] | None:
    """The section's data, or None for a suite without a protocol."""
    protocol = (data.meta.get("suite") or {}).get("protocol")
    if not protocol:
        return None
    rows = []
    for family in data.families:
        for method in methods:
            seeds = data.complete_seeds(method)
            if not seeds:
                continue
            after = [_seed_figure(data, family.env, family.instances, method, s, -1,
                                  "deterministic/success") for s in seeds]
            before = [_seed_figure(data, family.env, family.instances, method, s, 0,
                                   "deterministic/success") for s in seeds]
            classes = sorted(after[0]["per_class"])
            rows.append({
                "env": family.env, "method": method, "seeds": len(seeds),
                "success": mean_text([f["mean"] for f in after]),
                # mean and 95% interval over seeds, as numbers for tables beyond the report
                "success_interval": mean_interval([f["mean"] for f in after]),
                "before_interval": mean_interval([f["mean"] for f in before]),
                "before": mean_text([f["mean"] for f in before]),
                "per_class": {c: sum(f["per_class"][c] for f in after) / len(after) for c in classes},
                "goals": after[0]["goals"],
            })
    return {"protocol": protocol, "rows": rows, "caption": CAPTION}
