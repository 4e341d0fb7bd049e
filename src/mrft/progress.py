"""Live progress: a rich bar with steps, SPS, return and ETA on a terminal, plain lines otherwise."""

from __future__ import annotations

import sys
import time

from rich.console import Console
from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn, TimeRemainingColumn


class ProgressDisplay:
    def __init__(self, total_steps: int, description: str, enabled: bool = True,
                 start_step: int = 0, plain_every_s: float = 30.0):
        self.total = total_steps
        self.enabled = enabled
        self.console = Console(stderr=True)
        self.interactive = enabled and self.console.is_terminal
        self.plain_every_s = plain_every_s
        self._last_plain = 0.0
        self._start = time.time()
        self._start_step = start_step
        self.description = description
        self._progress = None
        if self.interactive:
            self._progress = Progress(
                TextColumn("[bold]{task.description}"), BarColumn(),
                TextColumn("{task.completed:,.0f}/{task.total:,.0f} steps"),
                TextColumn("{task.fields[stats]}"), TimeElapsedColumn(), TextColumn("ETA"),
                TimeRemainingColumn(), console=self.console, transient=False,
            )
            self._task = self._progress.add_task(description, total=total_steps,
                                                 completed=start_step, stats="")
            self._progress.start()

    def update(self, step: int, stats: dict[str, float]) -> None:
        if not self.enabled:
            return
        text = "  ".join(f"{k} {_fmt(v)}" for k, v in stats.items())
        if self._progress is not None:
            self._progress.update(self._task, completed=step, stats=text)
            return
        now = time.time()
        if now - self._last_plain >= self.plain_every_s or step >= self.total:
            self._last_plain = now
            done = step - self._start_step
            rate = done / max(now - self._start, 1e-9)
            eta = (self.total - step) / rate if rate > 0 else float("inf")
            print(f"[{self.description}] {step:,}/{self.total:,} steps  {text}  ETA {eta:,.0f}s",
                  file=sys.stderr, flush=True)

    def close(self) -> None:
        if self._progress is not None:
            self._progress.stop()


def _fmt(value: float) -> str:
    return f"{value:,.0f}" if abs(value) >= 100 else f"{value:.3g}"
