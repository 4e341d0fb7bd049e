"""Reading a bench folder: ``bench.json`` and the run files, checked, indexed by
(env, method, seed[, instance]), with every evaluation point given its aggregate score.

The run files are read from ``runs/`` or from the folder's archive
(:class:`mrft.bench.archive.RunFiles`). A run file that has not been written yet is an
unfinished run. One that cannot be read or has the wrong shape stops the analysis with a
one-line error, or, when the caller skips broken files, is listed and counted as unfinished.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np

from mrft import algos
from mrft.bench.archive import RunFiles
from mrft.bench.methods import report_order
from mrft.bench.runner import TIMING_FIELDS, pretrain_source, seed_dir
from mrft.bench.scores import RETURN, score_name
from mrft.bench.suite import Budget, TaskFamily
from mrft.errors import MrftError

PRETRAIN_KEYS = TIMING_FIELDS
ADAPT_KEYS = ("curve", *TIMING_FIELDS)


def setting(given: str | None, meta: dict[str, Any], key: str, default: str) -> str:
    """A bench setting (``baseline``, ``focus``): the caller's, else the one ``bench.json``
    records, else ``default``."""
    if given:
        return given
    return str(meta.get(key) or default)


class BenchData:
    """Everything a bench folder holds, indexed by (env, method, seed[, instance]).

    ``out`` is the bench folder or its run archive. ``baseline`` and ``focus`` are the
    settings the report is written from (see :func:`setting`); the methods are in report
    order, baseline first and focus second.
    """

    def __init__(self, out: Path, skip_broken: bool = False, baseline: str | None = None,
                 focus: str | None = None):
        self.files = RunFiles(out)
        self.out = self.files.folder
        self.skipped: list[dict[str, str]] = []
        """Run files that could not be read, when ``skip_broken`` lets the report go on."""
        self.skip_broken = skip_broken
        path = self.out / "bench.json"
        if not path.is_file():
            raise MrftError(f"{self.out} is not a bench folder (no bench.json); "
                            "make one with mrft bench --out DIR")
        try:
            self.meta = json.loads(path.read_text(encoding="utf-8"))
            suite = self.meta["suite"]
            self.families = [TaskFamily(t["env"], t["instances"], t.get("pretrain_steps"))
                             for t in suite["tasks"]]
            self.budget = Budget(**suite["budget"])
        except (json.JSONDecodeError, KeyError, TypeError) as exc:
            raise MrftError(f"{path} is not a readable bench record ({exc})") from None
        from mrft.plugins import load_plugins

        load_plugins(list(suite.get("plugins", [])))  # the suite's own families and algorithms
        self.suite_name = suite["name"]
        self.description = suite.get("description", "")
        self.baseline = setting(baseline, self.meta, "baseline", algos.BASELINE)
        self.focus = setting(focus, self.meta, "focus", algos.FOCUS)
        self.methods = report_order(list(self.meta["methods"]), self.baseline, self.focus)
        self.seeds = list(self.meta["seeds"])
        self.tasks = [(f.env, i) for f in self.families for i in range(f.instances)]
        self.pretrain: dict[tuple[str, str, int], dict[str, Any]] = {}
        self.adapt: dict[tuple[str, str, int, int], dict[str, Any]] = {}
        for family in self.families:
            for method in self.methods:
                for seed in self.seeds:
                    self._read_runs(family, method, seed)
        self.ranges = self._normalise()

    def _read_runs(self, family: TaskFamily, method: str, seed: int) -> None:
        # an adaptation-only method's pre-training lives under the method it reuses
        # (pretrain_source), whether or not that method was benched too
        source = pretrain_source(method)
        if (family.env, source, seed) not in self.pretrain:
            record = self._read(f"{run_folder(family, source, seed)}/pretrain.json",
                                PRETRAIN_KEYS)
            if record:
                self.pretrain[family.env, source, seed] = record
        folder = run_folder(family, method, seed)
        for i in range(family.instances):
            record = self._read(f"{folder}/adapt/instance{i}.json", ADAPT_KEYS)
            if record:
                self.adapt[family.env, method, seed, i] = record

    def _normalise(self) -> dict[tuple[str, int], tuple[float, float]]:
        """Give every evaluation point an aggregate score ``norm``. With one task family it is
        the score itself. With several, families scored by raw return are min-max normalised
        per task over every evaluation of every run in this bench, so that no family's scale
        dominates an IQM; success rates and normalised Procgen returns already share [0, 1]."""
        ranges = {}
        mixed = len(self.families) > 1
        for env, i in self.tasks:
            records = [r for (e, _, _, k), r in self.adapt.items() if (e, k) == (env, i)]
            values = [p["score"] for r in records for p in r["curve"]]
            lo, hi = 0.0, 1.0
            if mixed and score_name(env) == RETURN and values:
                lo, hi = min(values), max(values)
                ranges[env, i] = (lo, hi)
            for record in records:
                for point in record["curve"]:
                    point["norm"] = (point["score"] - lo) / (hi - lo) if hi > lo else 0.0
        return ranges

    def complete_seeds(self, method: str) -> list[int]:
        return [s for s in self.seeds
                if all((env, method, s, i) in self.adapt for env, i in self.tasks)]

    def matrix(self, method: str, value) -> np.ndarray | None:
        """``[complete seeds, tasks]`` of ``value(record)``; ``None`` without a complete seed."""
        seeds = self.complete_seeds(method)
        if not seeds:
            return None
        return np.array([[value(self.adapt[env, method, s, i]) for env, i in self.tasks]
                         for s in seeds], dtype=np.float64)

    def pretrain_steps_per_family(self) -> dict[str, int]:
        return {f.env: f.pretrain_steps or self.budget.pretrain_steps for f in self.families}

    def mean_pretrain_steps(self) -> float:
        """Pre-training env steps per task, averaged over the bench's tasks (instances)."""
        per_family = self.pretrain_steps_per_family()
        return float(np.mean([per_family[env] for env, _ in self.tasks]))

    def _read(self, name: str, keys: tuple[str, ...]) -> dict[str, Any] | None:
        """A run record (``name``: its path in the folder), ``None`` when the run has not
        finished, and for a file that cannot be read or has the wrong shape: one-line error,
        or (``skip_broken``) a listed skip."""
        if not self.files.exists(name):
            return None
        record, reason = _parse(self.files, name, keys)
        if reason is None:
            return record
        if not self.skip_broken:
            redo = ("delete it" if self.files.on_disk(name) else
                    f"unpack the archive into its folder (tar -xJf {self.files.archive} -C "
                    f"{self.out}), delete the file")
            raise MrftError(f"{self.files.where(name)}: broken run file ({reason}); {redo} and "
                            "run the same mrft bench command again to redo that run, or report "
                            "without it with mrft report --skip-broken")
        self.skipped.append({"file": name, "reason": reason})
        return None


def run_folder(family: TaskFamily, method: str, seed: int) -> str:
    """A run's folder relative to the bench folder: ``runs/<family>/<method>/seed<k>``."""
    return seed_dir(Path(), family, method, seed).as_posix()


def _parse(files: RunFiles, name: str, keys: tuple[str, ...]) -> tuple[Any, str | None]:
    """A run file's record, and why it cannot be used (``None`` when it can)."""
    try:
        record = json.loads(files.read_text(name))
    except UnicodeDecodeError:
        return None, "not UTF-8 text"
    except json.JSONDecodeError as exc:
        return None, f"not valid JSON: {exc.msg} at line {exc.lineno}"
    except OSError as exc:
        return None, f"unreadable: {exc.strerror}"
    if not isinstance(record, dict):
        return None, "not a JSON object"
    missing = [k for k in keys if k not in record]
    if missing:
        return None, f"missing {', '.join(missing)}"
    if "curve" in keys:
        curve = record["curve"]
        if not isinstance(curve, list) or not curve or not all(
                isinstance(p, dict) and isinstance(p.get("step"), (int, float))
                and isinstance(p.get("score"), (int, float)) for p in curve):
            return None, "curve is not a list of points with step and score"
    return record, None


def final_score(record: dict[str, Any], key: str = "norm") -> float:
    """Score at the end of adaptation: ``norm`` for aggregates, ``score`` as measured."""
    return float(record["curve"][-1][key])
