"""Per-env instance streams for the numpy families: how an instance seed replays.

Every numpy family draws its hidden task (and start) from a stream per env. The ``k``-th
explicit :meth:`SeedStreams.reset` of env ``i`` with env seed ``s`` restarts that stream as
``default_rng([s, k])``, and the auto-resets after it continue it. An explicit reset thus
depends only on ``(s, k)``: envs with equal seeds (a GRPO group) see the same instance at
every explicit reset however many auto-resets each had in between, a fresh env replays its
first instance, and :meth:`SeedStreams.reseed` makes the next reset replay a fresh env's
first one (:class:`mrft.envs.vector.VecEnv`'s contract).
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from mrft.envs.vector import check_seed_count


class SeedStreams:
    """Mixed into a numpy vector env that has ``num_envs``, ``_needs_reset``,
    ``_reset_envs(which)`` (draw rows ``which`` from ``_rngs``) and ``_obs()``, and that calls
    :meth:`start_streams` when it is built."""

    num_envs: int
    _seed_offset: int

    def start_streams(self, env_seeds: Sequence[int], seed_offset: int) -> None:
        """At construction: the split's ``seed_offset`` and env seeds that already include
        it (as ``make`` passes them)."""
        self._seed_offset = seed_offset
        self.reseed([s - seed_offset for s in env_seeds])

    def reseed(self, env_seeds: Sequence[int]) -> None:
        """New env seeds (without the split offset); restarts the explicit-reset count."""
        seeds = check_seed_count(env_seeds, self.num_envs)
        self._env_seeds = [s + self._seed_offset for s in seeds]
        self._explicit_resets = 0
        self._rngs = [np.random.default_rng([s, 0]) for s in self._env_seeds]

    def reset(self) -> np.ndarray:
        """Explicit reset ``k``: env ``i`` draws from ``default_rng([env_seeds[i], k])``, a
        stream its auto-resets then continue until the next explicit reset."""
        k = self._explicit_resets
        self._rngs = [np.random.default_rng([s, k]) for s in self._env_seeds]
        self._explicit_resets += 1
        self._reset_envs(np.ones(self.num_envs, dtype=bool))
        self._needs_reset[:] = False
        return self._obs()
