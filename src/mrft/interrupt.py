"""Ctrl-C during a run: the first asks the loop to finish the current update, save and exit;
a second one interrupts at once (the last periodic checkpoint is then the one to resume)."""

from __future__ import annotations

import signal
import sys
import threading


class _SignalHandler:
    """A context manager that handles ``signum`` with :meth:`_handle` in the main thread and
    puts the previous handler back on exit (elsewhere it changes nothing: a run inside a
    worker thread keeps the process's own handler)."""

    signum: signal.Signals

    def __init__(self):
        self._previous = None

    def __enter__(self):
        if threading.current_thread() is threading.main_thread():
            self._previous = signal.signal(self.signum, self._handle)
        return self

    def _handle(self, signum, frame):
        raise NotImplementedError

    def __exit__(self, *exc):
        if self._previous is not None:
            signal.signal(self.signum, self._previous)
        return False


class StopFlag(_SignalHandler):
    """A context manager whose ``requested`` turns true at the first Ctrl-C (main thread only)."""

    signum = signal.SIGINT

    def __init__(self):
        super().__init__()
        self.requested = False

    def _handle(self, signum, frame):
        if self.requested:
            raise KeyboardInterrupt
        self.requested = True
        print("\nstopping after this update to save a checkpoint (Ctrl-C again to quit now)",
              file=sys.stderr, flush=True)


class TerminateAsInterrupt(_SignalHandler):
    """A context manager under which SIGTERM (``kill PID``, a job scheduler's stop) raises
    KeyboardInterrupt in the main thread, so a sweep stopped that way takes Ctrl-C's path: it
    cancels its Ray chains and shuts Ray down, instead of dying with its workers still
    writing into the sweep's folder."""

    signum = signal.SIGTERM

    def _handle(self, signum, frame):
        raise KeyboardInterrupt
