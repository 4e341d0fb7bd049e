"""Atomic file writes: a temp file in the target's folder, flushed to disk, then renamed over
the target, so a killed process leaves either the old file or the new one, never half of one.
Checkpoints, run records and reports all go through here."""

from __future__ import annotations

import contextlib
import os
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import BinaryIO


def atomic_write(path: str | os.PathLike, write: Callable[[BinaryIO], object],
                 mode: int | None = None) -> Path:
    """Write ``path`` through ``write(file)``; ``mode`` sets its permissions (the temp file's
    0600 stays otherwise, fit for checkpoints that may hold private data)."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as f:
            write(f)
            f.flush()
            os.fsync(f.fileno())
        if mode is not None:
            os.chmod(tmp, mode)
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp)
        raise
    return path


def atomic_write_bytes(path: str | os.PathLike, data: bytes, mode: int = 0o644) -> Path:
    """``data`` to ``path`` atomically; readable by others by default (records and reports)."""
    return atomic_write(path, lambda f: f.write(data), mode)
