"""The benchmark sweep: pre-train every (task family, method, seed), adapt each checkpoint to
every held-out instance, and write one JSON file per finished run.

The sweep is a sequence of units, produced lazily. A unit is done when its result file exists, and result files
are written atomically, so a killed or interrupted bench restarts where it stopped and never
redoes a finished run (an unfinished pre-training run starts again). Layout of ``OUT``::

    bench.json                                   suite, methods, seeds, every command, machine
    runs/<family>/<method>/seed<k>/pretrain.json wall clock, env steps/s, peak memory
    runs/<family>/<method>/seed<k>/train/        the trainer's run folder (checkpoint, metrics)
    runs/<family>/<method>/seed<k>/adapt/instance<i>.json   evaluation curve of one adaptation
"""

from __future__ import annotations

import contextlib
import dataclasses
import datetime
import importlib.metadata
import json
import os
import platform
import re
import subprocess
import sys
import threading
import time
from collections import Counter
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from mrft.bench.eta import EtaModel
from mrft.bench.methods import all_methods
from mrft.bench.methods import method as method_named
from mrft.bench.resume import resumed_pretraining
from mrft.bench.suite import BenchSuite, TaskFamily
from mrft.bench.transfer import in_sim_return, is_sim_to_real
from mrft.errors import MrftError
from mrft.logging import write_json

FORMAT = 1


@dataclasses.dataclass(frozen=True)
class Unit:
    kind: str
    """``pretrain`` or ``adapt``."""
    family: TaskFamily
    method: str
    seed: int
    instance: int | None = None

    def describe(self) -> str:
        what = f"{self.kind:<8} {self.family.env} {self.method} seed {self.seed}"
        return what if self.instance is None else f"{what} instance {self.instance}"


def family_slug(env: str) -> str:
    return re.sub(r"[^A-Za-z0-9.-]+", "_", env)


def seed_dir(out: Path, family: TaskFamily, method: str, seed: int) -> Path:
    return out / "runs" / family_slug(family.env) / method / f"seed{seed}"


def pretrain_source(method: str) -> str:
    """The method whose pre-training a method uses (itself unless it is an adaptation
    ablation, or a method this version no longer has, whose runs a stored bench still holds)."""
    known = all_methods().get(method)
    return (known.pretrain_as if known is not None else None) or method


TIMING_FIELDS = ("wall_clock_s", "sps", "peak_memory_mib")
"""The fields of a run's result file that depend on when and where it ran: two sweeps of
the same runs (serial or on Ray, on any machine with the same thread count) agree on all
the others."""


def adaptation_options(method, budget) -> dict[str, Any]:
    """The adaptation options of a method's runs: its variant's, plus the suite's export
    budget (``budget.export_steps``) for an algorithm whose adaptation can distil its adapted
    policy (an adaptation option ``distill_steps``)."""
    from mrft import algos

    options = dict(method.adapt_options)
    adapt_class = algos.get(method.algo).AdaptOptions
    fields = {f.name for f in dataclasses.fields(adapt_class)} if adapt_class is not None else set()
    if budget.export_steps and "distill_steps" in fields:
        options.setdefault("distill_steps", budget.export_steps)
    return options


def result_path(out: Path, unit: Unit) -> Path:
    if unit.kind == "pretrain":
        return seed_dir(out, unit.family, unit.method, unit.seed) / "pretrain.json"
    return (seed_dir(out, unit.family, unit.method, unit.seed) / "adapt"
            / f"instance{unit.instance}.json")


def iter_units(suite: BenchSuite, methods: list[str], seeds: list[int]) -> Iterator[Unit]:
    """Seed by seed, so a partial sweep already compares every method on the first seeds.
    Produced one at a time: a sweep's size costs no memory before its runs do."""
    for seed in seeds:
        for family in suite.tasks:
            pretrained = set()
            for method in methods:
                source = pretrain_source(method)
                if source not in pretrained:
                    yield Unit("pretrain", family, source, seed)
                    pretrained.add(source)
                for instance in range(family.instances):
                    yield Unit("adapt", family, method, seed, instance)


def count_units(suite: BenchSuite, methods: list[str],
                seeds: list[int]) -> Counter[tuple[str, str, TaskFamily]]:
    """How many units of each (kind, method, family) ``iter_units`` produces, without
    producing them."""
    counts: Counter[tuple[str, str, TaskFamily]] = Counter()
    for family in suite.tasks:
        for source in dict.fromkeys(pretrain_source(m) for m in methods):
            counts["pretrain", source, family] += len(seeds)
        for method in methods:
            counts["adapt", method, family] += len(seeds) * family.instances
    return counts


def machine_info() -> dict[str, Any]:
    import torch

    info: dict[str, Any] = {"platform": platform.platform(), "python": platform.python_version(),
                            "torch": torch.__version__, "cores": os.cpu_count()}
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                info["cpu"] = line.split(":", 1)[1].strip()
                break
        pages = os.sysconf("SC_PHYS_PAGES") * os.sysconf("SC_PAGE_SIZE")
        info["memory_gib"] = round(pages / 2**30, 1)
    except (OSError, ValueError):
        pass
    if torch.cuda.is_available():
        info["gpu"] = torch.cuda.get_device_name(0)
    from mrft.envs import SIMULATOR_PACKAGES

    info["packages"] = {}  # the simulators' versions, which a family's figures depend on
    for package in SIMULATOR_PACKAGES:
        with contextlib.suppress(importlib.metadata.PackageNotFoundError):
            info["packages"][package] = importlib.metadata.version(package)
    return info


def suite_settings(suite_dict: dict[str, Any]) -> dict[str, Any]:
    """What a suite says, for telling whether two benches ran the same one: where it was read
    from does not matter, and a bench recorded before a setting existed reads as one without
    it (a family without a budget of its own, plugins, an export budget, a meta-test protocol)."""
    said = {k: v for k, v in json.loads(json.dumps(suite_dict)).items() if k != "source"}
    for task in said.get("tasks", []):
        if task.get("pretrain_steps") is None:
            task.pop("pretrain_steps", None)
    if not said.get("plugins"):
        said.pop("plugins", None)
    if not said.get("budget", {}).get("export_steps"):
        said.get("budget", {}).pop("export_steps", None)
    if not said.get("protocol"):
        said.pop("protocol", None)
    return said


def git_commit() -> str:
    """The commit of the installed source tree (with ``+dirty`` for local edits), if any."""
    src = Path(__file__).resolve().parent
    try:
        commit = subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=src, check=True,
                                capture_output=True, text=True, timeout=10).stdout.strip()
        dirty = subprocess.run(["git", "status", "--porcelain", "--untracked-files=no"], cwd=src,
                               check=True, capture_output=True, text=True, timeout=10).stdout
        return commit + ("+dirty" if dirty.strip() else "")
    except (OSError, subprocess.SubprocessError):
        return "unknown"


class PeakMemory:
    """Peak resident memory of this process while a unit runs, sampled from /proc (Linux);
    elsewhere the process's lifetime peak from ``getrusage``."""

    def __init__(self, every_s: float = 0.2):
        self.every_s = every_s
        self.peak_kib = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._sample, daemon=True)

    def __enter__(self) -> PeakMemory:
        self.peak_kib = _rss_kib()
        self._thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self._stop.set()
        self._thread.join()
        self.peak_kib = max(self.peak_kib, _rss_kib())

    def _sample(self) -> None:
        while not self._stop.wait(self.every_s):
            self.peak_kib = max(self.peak_kib, _rss_kib())

    @property
    def mib(self) -> float:
        return self.peak_kib / 1024


def _rss_kib() -> int:
    try:
        with open("/proc/self/status", encoding="ascii") as f:
            for line in f:
                if line.startswith("VmRSS:"):
                    return int(line.split()[1])
    except OSError:
        pass
    import resource

    return int(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss)


class BenchInterrupted(Exception):
    """Ctrl-C during a unit: finished units are kept, the command can be run again."""


@dataclasses.dataclass
class Bench:
    suite: BenchSuite
    methods: list[str]
    seeds: list[int]
    out: Path
    command: str = ""
    log: Any = dataclasses.field(default=sys.stderr)
    baseline: str | None = None
    """The method every comparison is against (None: the bench's, else the default)."""
    focus: str | None = None
    """The method the verdict is about (None: the bench's, else the default)."""

    def units(self) -> Iterator[Unit]:
        return iter_units(self.suite, self.methods, self.seeds)

    def _check_methods_fit(self) -> None:
        """Refuse, before any run, a method that cannot run on one of the suite's families
        (the oracle needs hidden parameters to show), instead of failing halfway."""
        from mrft import algos
        from mrft.envs import family_of, oracle, parse_env
        from mrft.metatest import check_group

        protocol = self.suite.protocol
        for name in self.methods:
            if protocol is not None:
                check_group(protocol, algos.get(method_named(name).algo).adapts_in_groups,
                            f"method {name}", "set the suite's [protocol] adaptation_episodes >= 2")
            if not method_named(name).oracle:
                continue
            for family in self.suite.tasks:
                spec = family_of(family.env)
                if spec.oracle is None or (callable(spec.oracle) and not oracle.shows_parameters(
                        parse_env(family.env).train[0])):
                    raise MrftError(f"method {name} needs hidden task parameters to show, and "
                                    f"{family.env} has none; families with an oracle: "
                                    f"{', '.join(oracle.families_with_oracle())}")

    # ---- bookkeeping -------------------------------------------------------------------
    def open(self) -> dict[str, Any]:
        """Create or check OUT/bench.json; a folder of another suite is refused, not mixed."""
        self._check_methods_fit()
        self._unpack_runs()
        path = self.out / "bench.json"
        suite = self.suite.to_dict()

        if path.exists():
            try:
                meta = json.loads(path.read_text(encoding="utf-8"))
                same = suite_settings(meta["suite"]) == suite_settings(suite)
            except (json.JSONDecodeError, KeyError, TypeError):
                raise MrftError(f"{path} is not a bench record; use an empty --out folder") from None
            if not same:
                raise MrftError(f"{self.out} holds a bench of suite {meta['suite'].get('name')!r} "
                                "with other settings; use another --out folder")
            meta["methods"] = list(dict.fromkeys(meta["methods"] + self.methods))
            meta["seeds"] = sorted(set(meta["seeds"]) | set(self.seeds))
        else:
            meta = {"format": FORMAT, "suite": suite, "methods": self.methods, "seeds": self.seeds,
                    "commands": [], "started": _now()}
        meta["commands"].append(self.command)
        for role in ("baseline", "focus"):
            if getattr(self, role) is not None:
                meta[role] = getattr(self, role)
        meta["machine"] = machine_info()
        # a bench resumed on other code names every commit its runs came from
        meta["commits"] = list(dict.fromkeys([*meta.get("commits", []), git_commit()]))
        meta["commit"] = ", ".join(meta["commits"])
        write_json(path, meta)
        return meta

    def _unpack_runs(self) -> None:
        """A packed bench (``mrft report --pack``) continues from its archive: run files that
        are only in ``runs.tar.xz`` are written back under ``runs/`` first, so no finished run
        is redone."""
        from mrft.bench.archive import ARCHIVE, read_archive

        archive = self.out / ARCHIVE
        if not archive.is_file():
            return
        for name, data in read_archive(archive).items():
            if ".." in Path(name).parts or Path(name).is_absolute():
                continue
            target = self.out / name
            if not target.exists():
                target.parent.mkdir(parents=True, exist_ok=True)
                target.write_bytes(data)

    def pending(self) -> Iterator[Unit]:
        return (u for u in self.units() if not result_path(self.out, u).exists())

    # ---- running -----------------------------------------------------------------------
    def run(self) -> None:
        from mrft.bench.lock import FolderLock

        with FolderLock(self.out):
            self._run()

    def _run(self) -> None:
        self.open()
        left = count_units(self.suite, self.methods, self.seeds)
        total = sum(left.values())
        for unit in self.units():
            if result_path(self.out, unit).exists():
                left[unit.kind, unit.method, unit.family] -= 1
        done = total - sum(left.values())
        self.say(f"bench {self.suite.name}: {total} runs ({done} already done), methods "
                  f"{','.join(self.methods)}, seeds {','.join(map(str, self.seeds))} -> {self.out}")
        eta = EtaModel(self.suite)
        for unit in self.pending():
            self.say(f"[{done + 1}/{total}] {unit.describe()}  (sweep ETA {eta.text(left)})")
            start = time.time()
            try:
                record = self.run_unit(unit)
            except KeyboardInterrupt:
                raise BenchInterrupted(
                    f"interrupted; {done} of {total} runs are saved in {self.out}; "
                    "run the same command again to continue") from None
            eta.observe(unit, time.time() - start, record)
            left[unit.kind, unit.method, unit.family] -= 1
            done += 1
            self.say(f"        done in {time.time() - start:,.0f} s, {record['sps']:,.0f} env steps/s, "
                      f"peak memory {record['peak_memory_mib']:,.0f} MiB")
        self.finish()

    def _edit_meta(self, **fields: Any) -> None:
        """Set ``fields`` in ``bench.json``; a field set to None is removed."""
        meta = json.loads((self.out / "bench.json").read_text(encoding="utf-8"))
        for key, value in fields.items():
            if value is None:
                meta.pop(key, None)
            else:
                meta[key] = value
        write_json(self.out / "bench.json", meta)

    def finish(self) -> None:
        """Mark the sweep finished in ``bench.json`` (no chain is missing any more)."""
        self._edit_meta(finished=_now(), given_up=None)

    def record_given_up(self, chains: list[dict[str, Any]]) -> None:
        """Name in ``bench.json`` the chains this sweep gave up (a Ray worker that kept
        dying), for the report's notes; an empty list clears an earlier sweep's."""
        self._edit_meta(given_up=chains or None)

    def run_unit(self, unit: Unit) -> dict[str, Any]:
        path = result_path(self.out, unit)
        record = self._pretrain(unit) if unit.kind == "pretrain" else self._adapt(unit)
        write_json(path, record)
        return record

    def _pretrain(self, unit: Unit) -> dict[str, Any]:
        from mrft.trainer import Trainer

        method = method_named(unit.method)
        folder = seed_dir(self.out, unit.family, unit.method, unit.seed)
        cfg = self.suite.train_config(unit.family, method, unit.seed, str(folder), "train")
        start = time.time()
        with PeakMemory() as memory:
            trainer = resumed_pretraining(folder / "train", cfg) or Trainer(cfg)
            resumed_at = trainer.global_step
            result = trainer.train()
        if result.interrupted:
            raise KeyboardInterrupt
        record = {"kind": "pretrain", "env": unit.family.env, "method": unit.method,
                  "algo": method.algo, "seed": unit.seed, "steps": result.global_step,
                  "updates": result.updates, "optimizer_steps": result.optimizer_steps,
                  "parameters": result.parameters,
                  "wall_clock_s": time.time() - start, "sps": result.sps,
                  "peak_memory_mib": memory.mib, "train_dir": "train",
                  "checkpoint": str(Path("train") / Path(result.checkpoint).name)}
        if resumed_at:  # the figures above are those of the part run here
            record["resumed_at_step"] = resumed_at
        if is_sim_to_real(unit.family.env):
            # what the real body's scores are read against (mrft.bench.transfer)
            episodes = self.suite.budget.eval_episodes * unit.family.instances
            record["sim_return"] = in_sim_return(str(result.checkpoint), episodes, unit.seed)
        return record

    def _adapt(self, unit: Unit) -> dict[str, Any]:
        from mrft.adapt import adapt
        from mrft.bench.scores import score_curve
        from mrft.config import AdaptSettings

        source = seed_dir(self.out, unit.family, pretrain_source(unit.method), unit.seed)
        pretrain = json.loads((source / "pretrain.json").read_text(encoding="utf-8"))
        b = self.suite.budget
        checkpoint = str(source / pretrain["checkpoint"])
        method = method_named(unit.method)
        settings = AdaptSettings(checkpoint=checkpoint, task=unit.instance, steps=b.adapt_steps,
                                 eval_every=b.eval_every, eval_episodes=b.eval_episodes,
                                 num_envs=b.adapt_envs, updates=method.adapt_updates, seed=unit.seed,
                                 options=adaptation_options(method, b))
        if self.suite.protocol is not None:
            from mrft import algos, envs
            from mrft.metatest import protocol_settings

            task, _ = envs.held_out_instance(envs.parse_env(unit.family.env), unit.instance)
            settings = protocol_settings(settings, self.suite.protocol, task,
                                         algos.get(method.algo).adapts_in_groups)
        run_dir = result_path(self.out, unit).with_suffix("")
        with PeakMemory() as memory:
            record = adapt(checkpoint, settings, run_dir=run_dir)
        # the curve is the result; the adaptation's own checkpoint only served a resume
        (run_dir / "checkpoint.pt").unlink(missing_ok=True)
        record["run_dir"] = os.path.relpath(run_dir, self.out)
        record["checkpoint"] = str(Path(os.path.relpath(source, self.out)) / pretrain["checkpoint"])
        score_name = score_curve(unit.family.env, record["curve"], instance=record["instance"])
        adapted = record["adapt_env_steps"]
        record.update({"kind": "adapt", "env": unit.family.env, "method": unit.method,
                       "score_name": score_name, "adapt_env_steps": adapted,
                       "sps": adapted / max(record["wall_clock_s"], 1e-9),
                       "peak_memory_mib": memory.mib})
        return record

    def say(self, text: str) -> None:
        print(text, file=self.log, flush=True)


def _now() -> str:
    return datetime.datetime.now(datetime.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
