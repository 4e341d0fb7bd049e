"""How many distinct held-out instances a family has, and a seed for each.

Most families have a continuum of instances (goals, bodies, levels), so instance seeds
``0, 1, 2, ...`` give distinct tasks. ``bandit:armsK`` has only K: seeds would repeat arms,
and a benchmark that adapted to "instances" 2 and 5 with the same paying arm would count
one task twice and report intervals that are too narrow. For such families the ``r``-th
distinct instance is the ``r``-th new one met along seeds ``0, 1, 2, ...``.
"""

from __future__ import annotations

from mrft.envs.spec import Task


def distinct_instances(task: Task) -> int | None:
    """Number of distinct instances of ``task`` (None: unbounded)."""
    if task.family == "bandit":
        return int(task.option("arms"))
    return None


def _instance_key(task: Task, seed: int) -> object:
    if task.family == "bandit":
        from mrft.envs import bandit

        env = bandit.make(task, 1, 0, env_seeds=[seed])
        env.reset()
        return int(env.best[0])
    return seed


def instance_seed(task: Task, rank: int) -> int:
    """Seed of the ``rank``-th distinct instance of ``task`` (``rank`` < the instance count)."""
    count = distinct_instances(task)
    if count is None:
        return rank
    if not 0 <= rank < count:
        raise ValueError(f"rank {rank} outside the {count} distinct instances")
    seen: set[object] = set()
    seed = 0
    while True:
        key = _instance_key(task, seed)
        if key not in seen:
            if len(seen) == rank:
                return seed
            seen.add(key)
        seed += 1
