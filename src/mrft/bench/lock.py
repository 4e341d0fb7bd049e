"""An advisory lock on a bench folder, so two sweeps never run the same units at once.

Two ``mrft bench`` processes on one folder would both run every pending unit, write
duplicate logs and delete each other's training folders. The first sweep takes an exclusive
``flock`` on ``OUT/.bench.lock`` and writes its pid, host and start time into it; a second
one is refused with one line naming the holder. The kernel drops the lock when its process
ends, however it ends, so a killed sweep (kill -9 included) never blocks the folder: the
next sweep simply takes the lock. The file itself stays; only the lock on it matters.
"""

from __future__ import annotations

import fcntl
import json
import os
import socket
import time
from pathlib import Path

from mrft.errors import MrftError

LOCK_NAME = ".bench.lock"


class FolderLock:
    def __init__(self, folder: Path):
        self.path = Path(folder) / LOCK_NAME
        self._fd: int | None = None

    def __enter__(self) -> FolderLock:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        for _ in range(3):
            fd = os.open(self.path, os.O_CREAT | os.O_RDWR, 0o644)
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                os.close(fd)
                self._refuse()
            if self._same_file(fd):
                self._fd = fd
                self._write_holder()
                return self
            os.close(fd)  # the file was replaced between open and lock: lock the new one
        raise MrftError(f"could not lock {self.path.parent}: the lock file keeps being replaced")

    def _same_file(self, fd: int) -> bool:
        try:
            return os.stat(self.path).st_ino == os.fstat(fd).st_ino
        except FileNotFoundError:
            return False

    def _write_holder(self) -> None:
        holder = json.dumps({"pid": os.getpid(), "host": socket.gethostname(),
                             "started": time.strftime("%Y-%m-%d %H:%M:%S")}).encode()
        os.ftruncate(self._fd, 0)
        os.pwrite(self._fd, holder, 0)

    def _refuse(self) -> None:
        try:
            holder = json.loads(self.path.read_text(encoding="utf-8"))
            who = f"pid {int(holder['pid'])} on {holder['host']}, started {holder['started']}"
        except (OSError, ValueError, KeyError, TypeError):
            who = "a process that is just starting"
        raise MrftError(f"{self.path.parent} is in use by another mrft bench ({who}); wait for "
                        "it to finish or stop it, or use another --out folder")

    def __exit__(self, *exc) -> bool:
        if self._fd is not None:
            os.close(self._fd)  # closing releases the lock
            self._fd = None
        return False
