"""Benchmark sweeps on Ray: every (task family, pre-training, seed) chain is one Ray task.

A sweep is hundreds of independent chains: one pre-training run and the adaptations that
start from its checkpoint (every method that shares that pre-training: ``ppo`` and
``context-free`` share PPO's). Ray schedules them over the CPUs (and GPUs) of one machine
or a cluster; this module only cuts the sweep into chains and moves files.

- **Where runs happen.** A chain runs in a scratch folder of the worker that Ray picks, so
  workers need no shared filesystem. A chain whose pre-training finished earlier (a sweep
  that was stopped) is shipped its ``pretrain.json`` and checkpoint and only adapts. Where the
  worker sees ``--out`` itself (this machine, or a shared filesystem), the scratch folder is
  ``OUT/.chains/...``, kept until the driver has written the chain back: a sweep stopped
  mid-chain continues its runs from their checkpoints instead of starting them again.
- **What comes back.** Every file the chain wrote under its run folders, as bytes. The
  driver alone writes into ``--out``, each file atomically and the result files
  (``pretrain.json``, ``adapt/instance<i>.json``) last, so a driver killed while writing
  leaves those units pending and the folder exactly as a serial sweep would: the same
  layout, the same resume (rerun the command), the same report.
- **Declared resources.** Each chain asks Ray for ``cpus_per_run`` CPUs (torch then uses
  that many threads) and ``gpus_per_run`` GPUs; with no address Ray starts on this machine
  with all its CPUs, with an address the driver joins that cluster (``ray start --head`` on
  one machine, ``ray start --address HEAD:6379`` on the others; every machine needs mrft
  installed, and the same Python).

Ray is an optional dependency (``pip install 'mrft[ray]'``).
"""

from __future__ import annotations

import contextlib
import dataclasses
import io
import json
import shutil
import tempfile
import time
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from mrft.atomic import atomic_write_bytes
from mrft.bench.eta import EtaModel
from mrft.bench.runner import (
    Bench,
    BenchInterrupted,
    Unit,
    count_units,
    pretrain_source,
    result_path,
    seed_dir,
)
from mrft.bench.suite import BenchSuite, TaskFamily
from mrft.errors import MrftError

CHAINS = ".chains"
"""Folder of ``--out`` that holds the scratch folders of chains in progress."""
LOCAL = "local"
"""``--ray local``: start Ray on this machine (what a bare ``--ray`` means)."""


def import_ray():
    try:
        import ray
    except ImportError:
        raise MrftError("--ray needs Ray, an optional extra: pip install 'mrft[ray]'") from None
    return ray


@dataclasses.dataclass(frozen=True)
class Chain:
    """One pre-training (``source`` on ``family`` with ``seed``) and the units pending on it."""

    family: TaskFamily
    source: str
    seed: int
    units: tuple[Unit, ...]

    def describe(self) -> str:
        return f"{self.family.env} {self.source} seed {self.seed} ({len(self.units)} runs)"

    def folders(self, out: Path, methods: Iterable[str]) -> list[Path]:
        """The run folders this chain writes: its pre-training's and its methods'."""
        names = dict.fromkeys([self.source, *(m for m in methods if pretrain_source(m) == self.source)])
        return [seed_dir(out, self.family, name, self.seed) for name in names]


def pending_chains(bench: Bench) -> list[Chain]:
    """The sweep's pending units grouped into chains, in the serial sweep's order."""
    groups: dict[tuple[TaskFamily, str, int], list[Unit]] = {}
    for unit in bench.pending():
        groups.setdefault((unit.family, pretrain_source(unit.method), unit.seed), []).append(unit)
    return [Chain(family, source, seed, tuple(units))
            for (family, source, seed), units in groups.items()]


def shipped_files(out: Path, chain: Chain) -> dict[str, bytes]:
    """What a chain needs from earlier runs: a finished pre-training's record and checkpoint."""
    folder = seed_dir(out, chain.family, chain.source, chain.seed)
    record = folder / "pretrain.json"
    if not record.exists():
        return {}
    checkpoint = folder / json.loads(record.read_text(encoding="utf-8"))["checkpoint"]
    return {str(p.relative_to(out)): p.read_bytes() for p in (record, checkpoint)}


def chain_scratch(out: Path, chain: Chain) -> Path:
    """The scratch folder of ``chain`` inside the sweep's folder ``out``."""
    return seed_dir(out / CHAINS, chain.family, chain.source, chain.seed)


def finished_in_scratch(out: Path, chains: Iterable[Chain]) -> set[Unit]:
    """The pending runs that a chain stopped mid-way had already finished in its scratch folder
    under ``out``: they come back with their chain's files and are not run again, so the
    progress lines neither number them nor count them in the ETA."""
    return {unit for chain in chains for unit in chain.units
            if result_path(chain_scratch(out, chain), unit).exists()}


def drop_chain_scratch(out: Path, chain: Chain) -> None:
    """Remove ``chain``'s scratch folder from ``out`` once it is written back, and the folders
    above it that it leaves empty (``OUT/.chains`` itself when no chain is in progress)."""
    folder = chain_scratch(out, chain)
    shutil.rmtree(folder, ignore_errors=True)
    top = out / CHAINS
    for parent in folder.parents:
        if parent == top.parent:
            break
        try:
            parent.rmdir()  # only an empty folder goes
        except OSError:
            break


PROGRESS_FIELDS = ("sps", "peak_memory_mib", "steps", "resumed_at_step")
"""What a chain reports of each run as it ends: the progress line's figures and what the ETA
needs to know of a resumed run."""


def run_chain(suite: BenchSuite, methods: list[str], chain: Chain,
              shipped: dict[str, bytes], progress: Any = None, out: str | None = None) -> dict[str, Any]:
    """Run one chain in a scratch folder; returns ``{"files": {relative path: bytes},
    "log": text, "seconds": wall clock}``. Executed by a Ray worker (or inline in tests),
    which first loads the suite's plugins (and ``$MRFT_PLUGINS``) as the driver did.
    ``progress`` (a queue: ``put``; a :class:`ProgressChannel` on Ray) receives ``(unit,
    seconds, record)`` as each run ends, so the driver reports runs, not whole chains."""
    from mrft.plugins import load_plugins

    load_plugins(list(suite.plugins))
    load_plugins()
    # the sweep's own folder where this worker sees it (bench.json is there): what a stopped
    # chain left is continued; else a fresh folder of this worker's
    kept = out is not None and (Path(out) / "bench.json").is_file()
    if kept:
        scratch = chain_scratch(Path(out), chain)
        scratch.mkdir(parents=True, exist_ok=True)
    else:
        scratch = Path(tempfile.mkdtemp(prefix="mrft-chain-"))
    start = time.time()
    try:
        for name, data in shipped.items():
            path = scratch / name
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_bytes(data)
        log = io.StringIO()
        bench = Bench(suite, methods, [chain.seed], scratch, log=log)
        for unit in chain.units:
            if not result_path(scratch, unit).exists():
                began = time.time()
                record = bench.run_unit(unit)
                if progress is not None:
                    progress.put((unit, time.time() - began,
                                  {k: record[k] for k in PROGRESS_FIELDS if k in record}))
        files = {}
        for folder in chain.folders(scratch, methods):
            for path in sorted(folder.rglob("*")) if folder.exists() else ():
                name = str(path.relative_to(scratch))
                if path.is_file() and name not in shipped:
                    files[name] = path.read_bytes()
        if progress is not None:  # the last run's report arrives before the chain's files
            progress.flush()
        return {"files": files, "log": log.getvalue(), "seconds": time.time() - start}
    finally:
        if not kept:  # a kept folder goes once the driver has written the chain back
            shutil.rmtree(scratch, ignore_errors=True)


def write_back(out: Path, files: dict[str, bytes], results: Iterable[Path]) -> None:
    """A chain's files into ``out``: everything else first, then the result files, each
    atomically, so an interrupted write leaves the unit pending (and redone), never half."""
    results = {str(p.relative_to(out)) for p in results}
    ordered = sorted(files, key=lambda name: name in results)
    for name in ordered:
        atomic_write_bytes(out / name, files[name])


WORKER_RETRIES = 2
"""Times a chain whose Ray worker died (killed, out of memory) is run again before it is given
up; the other chains go on, the sweep then ends in one error line, ``bench.json`` and the
report's notes name the chains given up, and the same command runs them again. Nothing of a
lost attempt is kept."""


class ProgressChannel:
    """Where chains report each run as it ends, and the driver reads them: a Ray queue that a
    chain writes to without waiting.

    A Ray task blocked in ``ray.get`` lends its CPUs back to the scheduler, which may start
    another chain on them and give them back to neither. ``Queue.put`` blocks that way, so a
    put after every run let a 2-CPU cluster run three chains at once, each slowed by the
    others and timed slower than it is. ``put`` here only sends the item; ``flush`` waits for
    all of them to arrive once the chain has nothing left to run. Reports are progress lines
    only: a queue that is gone by then costs the lines, never the chain's runs."""

    def __init__(self, queue: Any):
        self.queue = queue
        self._sent: list[Any] = []

    def put(self, item: Any) -> None:
        self._sent.append(self.queue.actor.put_nowait.remote(item))

    def flush(self) -> None:
        if self._sent:
            import ray

            with contextlib.suppress(ray.exceptions.RayError):
                ray.get(self._sent)
            self._sent = []

    def empty(self) -> bool:
        return self.queue.empty()

    def get(self) -> Any:
        return self.queue.get()


def progress_queue() -> ProgressChannel:
    """Where chains report each run as it ends (workers put, the driver reads)."""
    from ray.util.queue import Queue

    return ProgressChannel(Queue(actor_options={"num_cpus": 0}))


def run_on_ray(bench: Bench, address: str, cpus_per_run: float = 1.0,
               gpus_per_run: float | None = None) -> None:
    """``bench``'s pending chains as Ray tasks; results written into ``bench.out`` by this
    process as they arrive. ``address``: :data:`LOCAL` or a cluster address."""
    from mrft.bench.lock import FolderLock
    from mrft.interrupt import TerminateAsInterrupt

    ray = import_ray()
    with FolderLock(bench.out), TerminateAsInterrupt():
        started_here = not ray.is_initialized()
        if started_here:
            try:
                ray.init(address=None if address == LOCAL else address, log_to_driver=False,
                         include_dashboard=False, configure_logging=False)
            except Exception as exc:  # Ray raises several kinds (ConnectionError, ValueError, ...)
                where = "on this machine" if address == LOCAL else f"at {address}"
                raise MrftError(f"could not start or join Ray {where}: {exc}") from None
        try:
            bench.open()
            chains = pending_chains(bench)
            total = sum(len(c.units) for c in chains)
            _sweep(ray, bench, chains, total, cpus_per_run, gpus_per_run)
        finally:
            if started_here:
                ray.shutdown()
        bench.finish()


def _sweep(ray, bench: Bench, chains: list[Chain], total: int, cpus: float,
           gpus: float | None) -> None:
    if gpus is None:  # one GPU per chain where the cluster has any
        gpus = 1.0 if ray.cluster_resources().get("GPU", 0) > 0 else 0.0
    remote = ray.remote(num_cpus=cpus, num_gpus=gpus, max_retries=0)(run_chain)
    suite = bench.suite
    finished = finished_in_scratch(bench.out, chains)
    before_stop = f" ({len(finished)} finished before a stop, saved with their chain)" if finished else ""
    bench.say(f"bench {bench.suite.name} on Ray: {total} runs{before_stop} in {len(chains)} chains, "
               f"{cpus:g} CPU and {gpus:g} GPU each, cluster {ray.cluster_resources().get('CPU', 0):g} "
               f"CPUs -> {bench.out}")
    progress = progress_queue()

    def submit(chain: Chain):
        return remote.remote(suite, bench.methods, chain, shipped_files(bench.out, chain), progress,
                             str(bench.out.resolve()))

    waiting = {submit(c): c for c in chains}
    done = 0
    crashes: dict[str, int] = {}
    given_up: list[dict[str, Any]] = []
    slots = int(ray.cluster_resources().get("CPU", 1) // cpus) if cpus > 0 else 1
    runs = RunProgress(bench, total - len(finished), slots, finished)
    try:
        while waiting:
            ready, _ = ray.wait(list(waiting), num_returns=1, timeout=1.0)
            runs.drain(progress)
            if not ready:
                continue
            chain = waiting.pop(ready[0])
            runs.chains_left = len(waiting)
            try:
                result = ray.get(ready[0])
            except ray.exceptions.RayTaskError as exc:
                raise MrftError(f"chain {chain.describe()} failed on a Ray worker: "
                                f"{exc.cause if exc.cause is not None else exc}") from None
            except ray.exceptions.RayError as exc:  # the worker died: killed, out of memory, ...
                key = chain.describe()
                crashes[key] = crashes.get(key, 0) + 1
                if crashes[key] > WORKER_RETRIES:
                    bench.say(f"        chain {key}: its Ray worker died {crashes[key]} times "
                              f"({type(exc).__name__}); given up, the other chains go on")
                    given_up.append({"chain": key, "runs": len(chain.units),
                                     "reason": f"its Ray worker died {crashes[key]} times "
                                               f"({type(exc).__name__})"})
                    continue
                bench.say(f"        chain {chain.describe()}: its Ray worker died "
                          f"({type(exc).__name__}); running the chain again")
                waiting[submit(chain)] = chain
                continue
            write_back(bench.out, result["files"], [result_path(bench.out, u) for u in chain.units])
            drop_chain_scratch(bench.out, chain)
            runs.drain(progress)
            done += len(chain.units)
            bench.say(f"        chain {chain.describe()} written back "
                      f"({done}/{total} runs saved)")
        bench.record_given_up(given_up)
        if given_up:
            names = "; ".join(f"{g['chain']}: {g['reason']}" for g in given_up)
            raise MrftError(f"{len(given_up)} chain{'s' if len(given_up) > 1 else ''} given up ("
                            f"{names}); the other {done} of {total} runs are saved in {bench.out} "
                            "and the report's notes name what is missing; run the same command "
                            "again to run them", exit_code=1)
    except KeyboardInterrupt:
        for ref in waiting:
            ray.cancel(ref, force=True)
        raise BenchInterrupted(f"interrupted; {done} of {total} runs are saved in {bench.out}; "
                               "run the same command again to continue") from None
    except BaseException:
        for ref in waiting:
            ray.cancel(ref, force=True)
        raise


class RunProgress:
    """The serial sweep's progress lines for runs that finish on Ray workers: one line per run
    as it ends, numbered in order of arrival, with the sweep's ETA from the runs seen so far
    (the run time left, shared by as many chains as run at once: ``slots``, or fewer when
    fewer chains are left). ``total`` and the time left leave out the ``finished`` runs, done
    before a stop in a chain's scratch folder (:func:`finished_in_scratch`)."""

    def __init__(self, bench: Bench, total: int, slots: int = 1, finished: Iterable[Unit] = ()):
        self.bench = bench
        self.total = total
        self.slots = slots
        self.chains_left: int | None = None
        self.finished = 0
        self.left = count_units(bench.suite, bench.methods, bench.seeds)
        finished = set(finished)  # done in a stopped chain's scratch folder, not yet saved
        for unit in bench.units():
            if unit in finished or result_path(bench.out, unit).exists():
                self.left[unit.kind, unit.method, unit.family] -= 1
        self.eta = EtaModel(bench.suite)

    def drain(self, queue: Any) -> None:
        while not queue.empty():
            unit, seconds, record = queue.get()
            self.report(unit, seconds, record)

    def report(self, unit: Unit, seconds: float, record: dict[str, float]) -> None:
        self.eta.observe(unit, seconds, record)
        self.left[unit.kind, unit.method, unit.family] -= 1
        self.finished += 1
        parallel = self.slots if self.chains_left is None else min(self.slots, self.chains_left + 1)
        self.bench.say(f"[{self.finished}/{self.total}] {unit.describe()} done in {seconds:,.0f} s, "
                       f"{record['sps']:,.0f} env steps/s, peak memory "
                       f"{record['peak_memory_mib']:,.0f} MiB  (sweep ETA "
                       f"{self.eta.text(+self.left, parallel)})")
