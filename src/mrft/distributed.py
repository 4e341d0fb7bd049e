"""Data-parallel training under ``torchrun``: one process per rank, gradients averaged.

``torchrun --nproc_per_node=N -m mrft train ...`` (or ``adapt``) starts N processes with
``RANK``, ``WORLD_SIZE`` and the rendezvous address set. Each rank plays its own envs with
its own seeds and computes the loss on its own batch; before every optimiser step the
ranks average their gradients with one all-reduce, which is what DistributedDataParallel
does, done here on the flattened gradients of every trained module so that each
algorithm's modules (MRFT's belief and meta-policy, RL2's GRU) train unchanged. All ranks
start from rank 0's weights and take the same averaged step, so their parameters stay
identical (tested). Backend: NCCL when the ranks have GPUs, gloo on CPU.

What else the ranks agree on, every update:

- **steps**: ``total_steps`` counts the env steps of all ranks; each rank collects at most
  its share of the budget left;
- **minibatches**: every rank takes as many optimiser steps as the rank with the most
  minibatches; a rank without one (or with a non-finite loss) contributes no gradient to
  that step, and the average is over the ranks that did;
- **running statistics** (observation and reward normalisers): merged over all ranks'
  new data after every collection, exactly as if one process had seen it all;
- **early stopping and Ctrl-C**: decided on the ranks' mean diagnostics and on any rank's
  request, so no rank waits for a step the others skip.

Rank 0 alone logs, evaluates and writes checkpoints; a resumed run reloads rank 0's
checkpoint on every rank (the other ranks continue with fresh episodes).
"""

from __future__ import annotations

import contextlib
import functools
import gc
import os
import re
import signal
import socket
import sys
import threading
import time
from collections.abc import Callable, Iterable, Sequence
from pathlib import Path

import torch
import torch.distributed as dist
from torch import nn

from mrft.errors import RankLostError
from mrft.normalize import RunningMeanStd
from mrft.run_faults import resume_hint

SEED_STRIDE = 1_000_003
"""Seed offset between ranks, so no two ranks play the same episodes."""


_error_said = False


def error_said() -> None:
    """This process has printed its ``error:`` line: a SIGTERM from the launcher, arriving
    while it exits, adds no second one."""
    global _error_said
    _error_said = True


def _collective(method: Callable) -> Callable:
    """A collective that fails because a peer is gone (gloo: "Connection closed by peer")
    becomes :class:`RankLostError`, one line instead of a traceback from the backend."""

    @functools.wraps(method)
    def run(self, *args, **kwargs):
        try:
            return method(self, *args, **kwargs)
        except RuntimeError as exc:
            if not _lost_peer(exc):
                raise  # a fault of this rank's own, not of the job
            cause = _backend_cause(exc)
            raise RankLostError(f"rank {self.rank}: stopped because {self.who_left(wait=5.0)} "
                                f"left the job ({cause})") from exc

    return run


PEER_LOST = ("connection closed", "connection reset", "broken pipe", "timed out", "gloo",
             "nccl")
"""What the backends' errors say when a peer is gone or silent (gloo: "Connection closed by
peer"; both: timeouts)."""


def _lost_peer(exc: RuntimeError) -> bool:
    """Whether a collective's error means the job lost a rank, rather than a bug of this one."""
    dist_error = getattr(dist, "DistError", None)
    text = str(exc).lower()
    return (dist_error is not None and isinstance(exc, dist_error)) or any(
        mark in text for mark in PEER_LOST)


def _backend_cause(exc: BaseException) -> str:
    """The gist of a backend's error: its first line without the source location in front
    (``[.../pair.cc:553] ``) or the advice after it."""
    lines = str(exc).strip().splitlines()
    text = re.sub(r"^\[[^\]]*\]\s*", "", lines[0]) if lines else type(exc).__name__
    return text.split(". ")[0].rstrip(".")


def stop_quietly_when_the_launcher_ends_the_job(ranks: Ranks, checkpoint: Path) -> None:
    """Under torchrun, when one rank fails (an error, a crash, a kill) the launcher ends the
    others with SIGTERM. Each then says so in one line, with the checkpoint to resume from,
    and exits at once: a handler that unwound the stack could block in a collective with the
    rank that is gone, and the checkpoint is written atomically, so stopping mid-write leaves
    the previous one whole. Python runs the handler between bytecodes, so a rank blocked in
    a collective runs it as soon as the collective fails on the lost connection."""
    if threading.current_thread() is not threading.main_thread():
        return

    def stopped(signum, frame) -> None:
        if _error_said:
            os._exit(128 + signum)
        saved = resume_hint(checkpoint)
        with contextlib.suppress(Exception):
            sys.stdout.flush()
            sys.stderr.write(f"error: rank {ranks.rank}: stopped by the launcher because "
                             f"{ranks.who_left()} ended (its own line, or the launcher's summary "
                             f"for a rank that was killed, says why); {saved}\n")
            sys.stderr.flush()
        os._exit(128 + signum)

    signal.signal(signal.SIGTERM, stopped)


class Ranks:
    """This process's place in a torchrun job."""

    def __init__(self, rank: int, world: int, processes: Sequence[tuple[str, int]] = ()):
        self.rank = rank
        self.world = world
        self.processes = list(processes)
        """Each rank's (host name, process id), to name a rank whose process has ended."""

    def departed(self) -> list[int]:
        """The ranks on this host whose process has ended (a zombie not yet reaped counts)."""
        host = socket.gethostname()
        gone = []
        for rank, (where, pid) in enumerate(self.processes):
            if rank == self.rank or where != host:
                continue
            try:
                state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
            except (OSError, IndexError):
                state = "gone"
            if state in ("gone", "Z", "X"):
                gone.append(rank)
        return gone

    def who_left(self, wait: float = 0.0) -> str:
        """``rank 1`` (or ``ranks 1, 3``) where this host can tell, else ``another rank``;
        ``wait``: seconds to give a rank that dropped its connections to end its process."""
        deadline = time.monotonic() + wait
        gone = self.departed()
        while not gone and time.monotonic() < deadline:
            time.sleep(0.1)
            gone = self.departed()
        if not gone:
            return "another rank"
        return f"rank{'s' if len(gone) > 1 else ''} {', '.join(map(str, gone))}"

    @property
    def is_main(self) -> bool:
        return self.rank == 0

    @classmethod
    def from_env(cls) -> Ranks | None:
        """The job this process belongs to, joined on first call; ``None`` outside torchrun
        (or with one process), where training runs exactly as before."""
        world = int(os.environ.get("WORLD_SIZE", "1"))
        if world <= 1:
            return None
        if not dist.is_initialized():
            backend = "nccl" if torch.cuda.is_available() else "gloo"
            if backend == "nccl":
                torch.cuda.set_device(int(os.environ.get("LOCAL_RANK", "0")))
            dist.init_process_group(backend)
        processes: list = [None] * dist.get_world_size()
        dist.all_gather_object(processes, (socket.gethostname(), os.getpid()))
        return cls(dist.get_rank(), dist.get_world_size(), [tuple(p) for p in processes])

    def close(self, wait_for_all: bool = True) -> None:
        """Leave the job. After a normal end every rank first waits for the others at a
        barrier: a rank that tears gloo down while another is still finishing its last
        update can abort the process at exit ("terminate called without an active
        exception"). After an error there is no barrier, since the other ranks may never
        reach it. The group's last Python references are collected at once, so no gloo
        object outlives it into interpreter shutdown, where freeing it can abort the
        process the same way."""
        if dist.is_initialized():
            if wait_for_all:
                self._barrier()
            dist.destroy_process_group()
            gc.collect()

    @_collective
    def _barrier(self) -> None:
        dist.barrier()

    # -- agreement on numbers -------------------------------------------------------------
    @_collective
    def _reduce(self, values: Sequence[float], op, dtype=torch.float64) -> list[float]:
        x = torch.tensor(list(values), dtype=dtype, device=self._device())
        dist.all_reduce(x, op=op)
        return x.tolist()

    def _device(self) -> torch.device:
        return torch.device("cuda") if dist.get_backend() == "nccl" else torch.device("cpu")

    def total(self, value: float) -> float:
        return self._reduce([value], dist.ReduceOp.SUM)[0]

    def largest(self, value: int) -> int:
        return int(self._reduce([value], dist.ReduceOp.MAX)[0])

    def any(self, flag: bool) -> bool:
        return self.largest(int(flag)) > 0

    @_collective
    def mean_scalars(self, scalars: dict[str, float]) -> dict[str, float]:
        """The ranks' mean of each scalar (a key some rank lacks counts only where present)."""
        gathered: list[dict[str, float]] = [{} for _ in range(self.world)]
        dist.all_gather_object(gathered, dict(scalars))
        keys = dict.fromkeys(k for g in gathered for k in g)
        return {k: sum(g[k] for g in gathered if k in g) / sum(k in g for g in gathered) for k in keys}

    @_collective
    def from_main(self, value):
        """Rank 0's ``value`` (any picklable object) on every rank."""
        box = [value]
        dist.broadcast_object_list(box, src=0)
        return box[0]

    # -- agreement on tensors -------------------------------------------------------------
    @_collective
    def copy_from_main(self, modules: Iterable[nn.Module]) -> None:
        """Every parameter and buffer set to rank 0's."""
        with torch.no_grad():
            for module in modules:
                for tensor in [*module.parameters(), *module.buffers()]:
                    dist.broadcast(tensor.data, src=0)

    @_collective
    def average_gradients(self, params: Sequence[torch.Tensor], contributes: bool) -> bool:
        """Replace each parameter's gradient by the mean over the ranks that ``contributes``
        (one all-reduce of the flattened gradients, which parameters had one, and a count);
        a parameter no contributing rank has a gradient for keeps none, as in one process.
        ``False`` when no rank contributed."""
        has = [p.grad is not None and contributes for p in params]
        grads = [p.grad if h else torch.zeros_like(p) for p, h in zip(params, has, strict=True)]
        flags = torch.tensor([*map(float, has), float(contributes)], dtype=grads[0].dtype,
                             device=grads[0].device)
        flat = torch.cat([g.reshape(-1) for g in grads] + [flags])
        dist.all_reduce(flat, op=dist.ReduceOp.SUM)
        count = float(flat[-1])
        if count == 0:
            return False
        used = flat[-1 - len(params):-1]
        offset = 0
        for i, p in enumerate(params):
            n = p.numel()
            p.grad = (flat[offset:offset + n] / count).view_as(p).clone() if used[i] > 0 else None
            offset += n
        return True

    @_collective
    def merge_statistics(self, stats: Sequence[RunningMeanStd], before: Sequence[dict]) -> None:
        """Each running mean/variance set to the merge of every rank's new data onto the
        common state ``before`` (taken with :func:`snapshot` after the last merge): sums of
        counts, first and second moments over the ranks, less the shared part counted once
        per rank."""
        for rms, old in zip(stats, before, strict=True):
            n, mean, var = rms.count.clone(), rms.mean.clone(), rms.var.clone()
            moments = torch.cat([n.reshape(1), (n * mean).reshape(-1), (n * (var + mean * mean)).reshape(-1)])
            moments = moments.to(self._device())
            dist.all_reduce(moments, op=dist.ReduceOp.SUM)
            moments = moments.to(rms.count.device)
            k = mean.numel()
            extra = self.world - 1  # the shared state was counted once per rank
            n0, mean0, var0 = old["count"], old["mean"], old["var"]
            total = moments[0] - extra * n0
            first = moments[1:1 + k].view_as(mean) - extra * n0 * mean0
            second = moments[1 + k:].view_as(mean) - extra * n0 * (var0 + mean0 * mean0)
            new_mean = first / total
            rms.mean.copy_(new_mean)
            rms.var.copy_((second / total - new_mean * new_mean).clamp_min(0.0))
            rms.count.copy_(total)


def is_main_process() -> bool:
    """Rank 0 of a torchrun job, or a process outside one: the process that reports."""
    return int(os.environ.get("RANK", "0")) == 0


def running_statistics(modules: Iterable[nn.Module]) -> list[RunningMeanStd]:
    """Every :class:`RunningMeanStd` inside ``modules``, each once."""
    found: list[RunningMeanStd] = []
    for module in modules:
        for sub in module.modules():
            if isinstance(sub, RunningMeanStd) and all(sub is not f for f in found):
                found.append(sub)
    return found


def snapshot(stats: Sequence[RunningMeanStd]) -> list[dict]:
    return [{"count": s.count.clone(), "mean": s.mean.clone(), "var": s.var.clone()} for s in stats]
