"""The one line a run ends with when something outside its own code fails: a user's env (a
fault, a NaN), or another rank of a torchrun job. Each says where the work done so far is."""

from __future__ import annotations

from pathlib import Path

from mrft.errors import EnvFaultError


def resume_hint(checkpoint: Path) -> str:
    """Where to continue from: the last checkpoint written (whole: written atomically)."""
    if not checkpoint.is_file():
        return "no checkpoint was written yet"
    return f"the last checkpoint is {checkpoint} (continue with --resume {checkpoint})"


def env_fault(exc: EnvFaultError, suite: str, global_step: int, rank: int | None,
              saved: Path) -> EnvFaultError:
    """``exc`` (raised while collecting or scoring) as the run's last line: the rank, the
    family (unless a guarded env already named it, :mod:`mrft.envs.guard`), the run's env
    step, and ``saved``, the checkpoint rank 0 (or the one process) has just written (on
    another rank, the last one rank 0 wrote, to resume from)."""
    prefix = f"rank {rank}: " if rank is not None else ""
    if suite in str(exc):
        what = f"{exc} (at env step {global_step:,} of the run)"
    else:
        what = f"{suite} at env step {global_step:,}, {exc}"
    where = f"weights learned so far are in {saved}" if not rank else resume_hint(saved)
    return type(exc)(f"{prefix}{what}; {where}")
