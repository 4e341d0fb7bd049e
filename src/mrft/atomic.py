"""Atomic file writes: a temp file in the target's folder, flushed to disk, then renamed over
the target, so a killed process leaves either the old file or the new one, never half of one.
Checkpoints, run records and reports all go through here."""

from __future__ import annotations

import contextlib
import errno
import os
import shutil
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
    except BaseException as exc:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp)
        if isinstance(exc, RuntimeError) and _disk_nearly_full(path.parent):
            # torch.save reports a full disk as "unexpected pos"; say what it is
            raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC), str(path)) from None
        if isinstance(exc, OSError) and exc.filename is None:
            exc.filename = str(path)
        raise
    return path


def _disk_nearly_full(folder: Path) -> bool:
    try:
        return shutil.disk_usage(folder).free < 16 * 2**20
    except OSError:
        return False


def ensure_writable(folder: str | os.PathLike) -> Path:
    """Create ``folder`` and prove a file can be written there, before any long computation
    whose result would otherwise be lost; raises the ``OSError`` that writing would, naming
    the folder."""
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    try:
        fd, probe = tempfile.mkstemp(prefix=".mrft-write-check.", dir=folder)
    except OSError as exc:
        exc.filename = str(folder)
        raise
    os.close(fd)
    os.unlink(probe)
    return folder


def atomic_write_bytes(path: str | os.PathLike, data: bytes, mode: int = 0o644) -> Path:
    """``data`` to ``path`` atomically; readable by others by default (records and reports)."""
    return atomic_write(path, lambda f: f.write(data), mode)
