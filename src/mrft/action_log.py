"""The exact-resume action log: every action sent to the envs, stored compactly.

A resumed run rebuilds its envs with the original seed and replays this log, which puts
them in exactly the state the checkpoint was taken in (envpool cannot save env state).
The price is memory and checkpoint size, one row of actions per vector step, so the log
is kept as compact as the actions allow and stops (and frees itself) at a fixed number of
env steps; a longer run resumes with fresh episodes instead of a replay.

Cost per env step: 1 byte for up to 256 discrete actions (2 for more), 4 bytes per action
dimension for continuous control. At the default cap of 2M env steps that is 2 MiB for
CartPole or Procgen and 32 MiB for a 4-dimensional Meta-World arm.
"""

from __future__ import annotations

import numpy as np
import torch

CHUNK_ROWS = 4096
"""Rows per storage block: memory grows in blocks, never by copying the whole log."""


def compact_dtype(actions: np.ndarray) -> np.dtype:
    """The smallest dtype that holds these actions exactly."""
    if actions.dtype.kind in "iu" and actions.size:
        low, high = int(actions.min()), int(actions.max())
        for dtype in (np.uint8, np.uint16, np.int16, np.int32):
            info = np.iinfo(dtype)
            if info.min <= low and high <= info.max:
                return np.dtype(dtype)
    return actions.dtype


class ActionLog:
    """Append-only log of vector-env actions, bounded by ``limit_steps`` env steps.

    ``complete`` says whether the log still holds every action since the envs were built;
    once the bound is passed it turns False for good and the memory is released.
    """

    def __init__(self, num_envs: int, limit_steps: int):
        self.num_envs = num_envs
        self.limit_steps = limit_steps
        self.complete = limit_steps > 0
        self._chunks: list[np.ndarray] = []
        self._rows = 0
        self._env_dtype: np.dtype | None = None

    @property
    def rows(self) -> int:
        return self._rows

    @property
    def nbytes(self) -> int:
        return sum(chunk.nbytes for chunk in self._chunks)

    def append(self, env_actions: np.ndarray) -> None:
        if not self.complete:
            return
        if (self._rows + 1) * self.num_envs > self.limit_steps:
            self.abandon()
            return
        if self._env_dtype is None:
            self._env_dtype = env_actions.dtype
        offset = self._rows % CHUNK_ROWS
        if offset == 0:
            self._chunks.append(np.empty((CHUNK_ROWS, *env_actions.shape),
                                         dtype=self._storage_dtype(env_actions)))
        chunk = self._chunks[-1]
        if not np.can_cast(compact_dtype(env_actions), chunk.dtype, casting="safe"):
            self._widen(env_actions)
            chunk = self._chunks[-1]
        chunk[offset] = env_actions
        self._rows += 1

    def _storage_dtype(self, env_actions: np.ndarray) -> np.dtype:
        if self._chunks:
            return self._chunks[0].dtype
        return compact_dtype(env_actions)

    def _widen(self, env_actions: np.ndarray) -> None:
        """An action outside the compact range (rare: the first rows chose the dtype)."""
        dtype = np.promote_types(self._chunks[0].dtype, compact_dtype(env_actions))
        self._chunks = [chunk.astype(dtype) for chunk in self._chunks]

    def abandon(self) -> None:
        self.complete = False
        self._chunks = []
        self._rows = 0

    def __iter__(self):
        """Rows as the env took them (original dtype)."""
        for index in range(self._rows):
            chunk = self._chunks[index // CHUNK_ROWS]
            yield chunk[index % CHUNK_ROWS].astype(self._env_dtype, copy=False)

    def to_tensor(self) -> torch.Tensor | None:
        """All rows as one compact tensor for the checkpoint (None when empty)."""
        if not self._rows:
            return None
        stacked = np.concatenate(self._chunks)[: self._rows]
        return torch.from_numpy(np.ascontiguousarray(stacked))

    def state_dict(self) -> dict:
        state: dict = {"complete": self.complete}
        tensor = self.to_tensor() if self.complete else None
        if tensor is not None:
            state["actions"] = tensor
            state["env_dtype"] = str(self._env_dtype)
        return state

    def load_rows(self, actions: np.ndarray, env_dtype: str) -> None:
        """Adopt the rows of a checkpoint's log (after they were replayed)."""
        self.complete = self.limit_steps > 0
        self._chunks, self._rows, self._env_dtype = [], 0, np.dtype(env_dtype)
        for start in range(0, len(actions), CHUNK_ROWS):
            block = actions[start:start + CHUNK_ROWS]
            chunk = np.empty((CHUNK_ROWS, *actions.shape[1:]), dtype=actions.dtype)
            chunk[: len(block)] = block
            self._chunks.append(chunk)
        self._rows = len(actions)
