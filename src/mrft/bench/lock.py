"""An advisory lock on a bench folder, so two sweeps never run the same units at once.

Two ``mrft bench`` processes on one folder would both run every pending unit, write
duplicate logs and delete each other's training folders. The first sweep creates
``OUT/.bench.lock`` atomically (``O_CREAT | O_EXCL``) holding its pid, host and start time;
a second one is refused with one line naming the holder. A lock whose process is gone (a
killed sweep) is stale and is taken over, so kill -9 never blocks the folder for good.
"""

from __future__ import annotations

import json
import os
import socket
import time
from pathlib import Path

from mrft.errors import MrftError

LOCK_NAME = ".bench.lock"


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # exists, owned by someone else
        return True
    return True


class FolderLock:
    def __init__(self, folder: Path):
        self.path = Path(folder) / LOCK_NAME
        self.held = False

    def __enter__(self) -> FolderLock:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        for _ in range(3):
            try:
                fd = os.open(self.path, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o644)
            except FileExistsError:
                self._refuse_or_clear()
                continue
            with os.fdopen(fd, "w") as f:
                json.dump({"pid": os.getpid(), "host": socket.gethostname(),
                           "started": time.strftime("%Y-%m-%d %H:%M:%S")}, f)
            self.held = True
            return self
        raise MrftError(f"could not lock {self.path.parent}: the lock file keeps reappearing")

    def _refuse_or_clear(self) -> None:
        try:
            holder = json.loads(self.path.read_text(encoding="utf-8"))
            pid, host = int(holder["pid"]), str(holder["host"])
        except (OSError, ValueError, KeyError, TypeError):
            holder, pid, host = {}, -1, ""
        if pid > 0 and (host != socket.gethostname() or _alive(pid)):
            raise MrftError(
                f"{self.path.parent} is in use by another mrft bench (pid {pid} on {host}, "
                f"started {holder.get('started', '?')}); wait for it to finish or stop it, "
                f"or use another --out folder")
        # stale: its process is gone (or the file is unreadable): take it over
        self.path.unlink(missing_ok=True)

    def __exit__(self, *exc) -> bool:
        if self.held:
            self.path.unlink(missing_ok=True)
            self.held = False
        return False
