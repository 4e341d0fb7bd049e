"""Ctrl-C during a run: the first asks the loop to finish the current update, save and exit;
a second one interrupts at once (the last periodic checkpoint is then the one to resume)."""

from __future__ import annotations

import signal
import sys
import threading


class StopFlag:
    """A context manager whose ``requested`` turns true at the first Ctrl-C (main thread only:
    a run inside a worker thread keeps the process's own handler)."""

    def __init__(self):
        self.requested = False
        self._previous = None

    def __enter__(self):
        if threading.current_thread() is threading.main_thread():
            self._previous = signal.signal(signal.SIGINT, self._handle)
        return self

    def _handle(self, signum, frame):
        if self.requested:
            raise KeyboardInterrupt
        self.requested = True
        print("\nstopping after this update to save a checkpoint (Ctrl-C again to quit now)",
              file=sys.stderr, flush=True)

    def __exit__(self, *exc):
        if self._previous is not None:
            signal.signal(signal.SIGINT, self._previous)
        return False


class TerminateAsInterrupt:
    """A context manager under which SIGTERM (``kill PID``, a job scheduler's stop) raises
    KeyboardInterrupt in the main thread, so a sweep stopped that way takes Ctrl-C's path: it
    cancels its Ray chains and shuts Ray down, instead of dying with its workers still
    writing into the sweep's folder. Elsewhere (another thread) it changes nothing."""

    def __init__(self):
        self._previous = None

    def __enter__(self):
        if threading.current_thread() is threading.main_thread():
            self._previous = signal.signal(signal.SIGTERM, self._handle)
        return self

    @staticmethod
    def _handle(signum, frame):
        raise KeyboardInterrupt

    def __exit__(self, *exc):
        if self._previous is not None:
            signal.signal(signal.SIGTERM, self._previous)
        return False
