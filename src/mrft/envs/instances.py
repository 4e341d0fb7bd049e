"""How many distinct held-out instances a family has, and a seed for each.

Most families have a continuum of instances (goals, bodies, levels), so instance seeds
``0, 1, 2, ...`` give distinct tasks. ``bandit:armsK`` has only K: seeds would repeat arms,
and a benchmark that adapted to "instances" 2 and 5 with the same paying arm would count
one task twice and report intervals that are too narrow. For such families (a
:class:`~mrft.envs.family.Family` with ``distinct_instances``) the ``r``-th distinct instance
is the ``r``-th new one met along seeds ``0, 1, 2, ...``, told apart by the family's
``instance_key``.
"""

from __future__ import annotations

import numpy as np

from mrft.envs.family import family_of
from mrft.envs.spec import Suite, Task
from mrft.errors import MrftError

TEST_SEED_OFFSET = 1_000_003
"""Where the built-in families' held-out split starts: held-out instance seed ``i`` plays env
seed ``TEST_SEED_OFFSET + i`` (the test task's ``split_seed_offset``)."""
HELD_OUT_SPAN = 1_000_000
"""Held-out instance seeds that :func:`training_seeds` keeps pre-training away from."""


def training_seeds(draws: np.ndarray) -> np.ndarray:
    """Pre-training instance seeds from uniform draws, none of them a held-out instance: a
    train task's env seed is its instance seed (offset 0), so a draw in ``[TEST_SEED_OFFSET,
    TEST_SEED_OFFSET + HELD_OUT_SPAN)`` would replay held-out instance ``draw -
    TEST_SEED_OFFSET`` exactly; such a draw (about one in 2,000) moves past that range."""
    draws = np.asarray(draws, dtype=np.int64)
    inside = (draws >= TEST_SEED_OFFSET) & (draws < TEST_SEED_OFFSET + HELD_OUT_SPAN)
    return np.where(inside, draws + HELD_OUT_SPAN, draws)


def distinct_instances(task: Task) -> int | None:
    """Number of distinct instances of ``task`` (None: unbounded)."""
    count = family_of(task).distinct_instances
    return None if count is None else count(task)


def instance_seed(task: Task, rank: int) -> int:
    """Seed of the ``rank``-th distinct instance of ``task`` (``rank`` < the instance count)."""
    count = distinct_instances(task)
    if count is None:
        return rank
    if not 0 <= rank < count:
        raise ValueError(f"rank {rank} outside the {count} distinct instances")
    key = family_of(task).instance_key or (lambda t, s: s)
    seen: set[object] = set()
    seed = 0
    while True:
        value = key(task, seed)
        if value not in seen:
            if len(seen) == rank:
                return seed
            seen.add(value)
        seed += 1


def held_out_instance(suite: Suite, index: int) -> tuple[Task, int]:
    """The ``index``-th held-out task instance: test task ``index % len(test)`` and an
    instance seed. Families with finitely many instances (``bandit:armsK``) map indices to
    distinct instances, and refuse an index past the last one."""
    if index < 0:
        raise MrftError(f"--task must be >= 0, got {index}")
    task = suite.test[index % len(suite.test)]
    rank = index // len(suite.test)
    count = distinct_instances(task)
    if count is None:
        return task, index
    if rank >= count:
        raise MrftError(f"{suite.name} has only {count * len(suite.test)} distinct held-out "
                        f"instances; --task {index} would repeat one")
    return task, instance_seed(task, rank)
