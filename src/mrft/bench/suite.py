"""Benchmark suites as data: a TOML file says which task families, budgets and options a
benchmark runs, so a user's own suite needs no code (``mrft bench --suite my.toml``).

Schema (every key but ``name`` and ``[[tasks]]`` is optional)::

    name = "demo"                       # suite name used in reports
    description = "what it measures"
    seeds = 3                           # default number of seeds (1..S); --seeds overrides

    [budget]                            # the same for every method
    pretrain_steps = 30000              # P: pre-training env steps per task family
    adapt_steps = 2000                  # A: adaptation env steps per held-out instance
    eval_every = 500                    # evaluate after every this many adaptation steps
    eval_episodes = 16                  # fresh episodes per evaluation point
    adapt_envs = 16                     # envs per adaptation batch (a GRPO group)

    [[tasks]]                           # one entry per task family, pre-trained on its own
    env = "metaworld:ML1-reach"         # any --env of mrft train
    instances = 3                       # held-out instances to adapt to (test split)
    pretrain_steps = 100000             # optional: this family's own pre-training budget (a
                                        # single-task run beside a multi-task one, same per-task steps)

    [train]                             # mrft train options for every method, by section
    env.num_envs = 32
    grpo.group_size = 8
    run.hidden_sizes = [64, 64]

    [methods.mrft]                      # options for one method only, same layout
    mrft.inner_lr = 5.0

    [protocol]                          # optional: Meta-World's official meta-test protocol
    name = "official"                   # (mrft.metatest); the adaptation budget, evaluation
    adaptation_episodes = 10            # points and episodes follow from it, so [budget]
    evaluation_episodes = 3             # may not set them

Sections of ``[train]`` and ``[methods.NAME]`` are the config sections of ``mrft train``
(env, optim, ppo, grpo, mrft, rl2, run) with their field names. Anything malformed is an ``MrftError``
naming the file and the field.
"""

from __future__ import annotations

import dataclasses
import tomllib
import types
import typing
from importlib import resources
from pathlib import Path
from typing import Any, Literal

from mrft.bench.methods import Method, all_methods
from mrft.config import EnvConfig, TrainConfigBase, train_config_class, validate
from mrft.errors import MrftError
from mrft.metatest import MetaTestProtocol, refusal

BUILTIN = tuple(sorted(entry.name.removesuffix(".toml") for entry in
                       resources.files("mrft.bench").joinpath("builtin_suites").iterdir()
                       if entry.name.endswith(".toml")))
"""The suites shipped with mrft (``mrft/bench/builtin_suites/NAME.toml``)."""


def sections() -> dict[str, type]:
    """Config sections a suite may set: the shared ones and one per registered algorithm."""
    return {f.name: f.default_factory for f in dataclasses.fields(train_config_class())
            if f.default_factory is not dataclasses.MISSING}

# set by the benchmark itself, so a suite may not override them
RESERVED = {("env", "env"), ("env", "oracle"), ("run", "total_steps"), ("run", "seed"), ("run", "runs_dir"),
            ("run", "run_name"), ("run", "progress"), ("run", "eval_episodes")}


LIMITS = {
    "budget.pretrain_steps": 10**10, "budget.adapt_steps": 10**9, "budget.eval_every": 10**9,
    "budget.eval_episodes": 100_000, "budget.adapt_envs": 4096, "budget.export_steps": 10**9,
    "instances": 1000, "seeds": 100,
}
"""Upper bounds of a suite's numbers: far beyond any real benchmark, low enough that a typo
(an extra few zeros) is refused at once instead of planning billions of runs."""


@dataclasses.dataclass(frozen=True)
class Budget:
    pretrain_steps: int = 100_000
    adapt_steps: int = 10_000
    eval_every: int = 2_000
    eval_episodes: int = 16
    adapt_envs: int = 16
    export_steps: int = 0
    """Env steps of progressive distillation at the end of every adaptation of a method that
    distils its adapted policy into a context-free network (its adaptation option
    ``distill_steps``), outside the adaptation's budget; 0: none."""


@dataclasses.dataclass(frozen=True)
class TaskFamily:
    env: str
    instances: int = 3
    pretrain_steps: int | None = None
    """This family's pre-training budget when it differs from the suite's (every method alike)."""


@dataclasses.dataclass(frozen=True)
class BenchSuite:
    name: str
    tasks: tuple[TaskFamily, ...]
    budget: Budget = Budget()
    description: str = ""
    seeds: int = 3
    train: dict[str, dict[str, Any]] = dataclasses.field(default_factory=dict)
    methods: dict[str, dict[str, dict[str, Any]]] = dataclasses.field(default_factory=dict)
    source: str = ""
    """Where the suite came from: ``builtin:NAME`` or a file path."""
    plugins: tuple[str, ...] = ()
    """Modules or files (absolute paths) that register the suite's own families or
    algorithms (:mod:`mrft.plugins`), loaded before the suite is checked."""
    protocol: MetaTestProtocol | None = None
    """Meta-World's official meta-test protocol, when the suite scores by it."""

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)

    def train_config(self, family: TaskFamily, method: Method, seed: int, runs_dir: str,
                     run_name: str) -> TrainConfigBase:
        """The pre-training config of one (family, method, seed): suite-wide options, then
        the method's own, then the options that define a variant, then the benchmark's
        settings."""
        cfg = train_config_class()(env=EnvConfig(env=family.env, oracle=method.oracle),
                                   algo=method.algo)
        for options in (self.train, self.methods.get(method.name, {})):
            cfg = _apply(cfg, options)
        if method.options:
            section = getattr(cfg, method.algo)
            cfg = dataclasses.replace(cfg, **{method.algo: dataclasses.replace(
                section, **dict(method.options))})
        steps = family.pretrain_steps or self.budget.pretrain_steps
        run = dataclasses.replace(cfg.run, total_steps=steps, seed=seed,
                                  runs_dir=runs_dir, run_name=run_name, progress=False,
                                  eval_episodes=0)
        return dataclasses.replace(cfg, run=run)


def load_suite(name_or_path: str) -> BenchSuite:
    """A built-in suite by name, or a user's TOML file by path."""
    if name_or_path in BUILTIN:
        text = resources.files("mrft.bench").joinpath(f"builtin_suites/{name_or_path}.toml").read_text()
        return parse_suite(text, f"builtin:{name_or_path}")
    path = Path(name_or_path)
    if not path.suffix == ".toml":
        raise MrftError(f"unknown suite {name_or_path!r}; give one of {', '.join(BUILTIN)} "
                        "or a path to a .toml file")
    if not path.is_file():
        raise MrftError(f"suite file {path} does not exist")
    try:
        text = path.read_text(encoding="utf-8")
    except UnicodeDecodeError as exc:
        raise MrftError(f"{path}: not a UTF-8 text file (byte {exc.start}); a suite is TOML text") from None
    except OSError as exc:
        raise MrftError(f"cannot read suite file {path}: {exc.strerror}") from None
    return parse_suite(text, str(path))


def parse_suite(text: str, source: str) -> BenchSuite:
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise MrftError(f"{source}: not valid TOML: {exc}") from None
    where = _Where(source)
    known = {"name", "description", "seeds", "budget", "tasks", "train", "methods", "plugins", "protocol"}
    where.no_unknown(data, known, "")
    name = where.typed(data, "name", str, required=True)
    plugins = _plugins(where, data, source)
    budget_data = where.table(data, "budget")
    where.no_unknown(budget_data, {f.name for f in dataclasses.fields(Budget)}, "budget.")
    budget = Budget(**{k: where.positive_int(budget_data, k, "budget.", LIMITS[f"budget.{k}"])
                       for k in budget_data})
    protocol = _protocol(where, data, budget_data, source)
    if protocol is not None:
        budget = dataclasses.replace(budget, adapt_steps=protocol.adaptation_steps,
                                     eval_every=protocol.adaptation_steps,
                                     eval_episodes=protocol.evaluation_episodes,
                                     adapt_envs=max(2, protocol.adaptation_episodes))
    if budget.eval_every > budget.adapt_steps:
        raise MrftError(f"{source}: budget.eval_every ({budget.eval_every}) must be <= "
                        f"budget.adapt_steps ({budget.adapt_steps})")
    if budget.adapt_envs < 2:
        raise MrftError(f"{source}: budget.adapt_envs must be >= 2 (a group), got {budget.adapt_envs}")
    tasks_data = data.get("tasks")
    if not isinstance(tasks_data, list) or not tasks_data:
        raise MrftError(f"{source}: tasks: need at least one [[tasks]] entry with an env")
    tasks = []
    for i, entry in enumerate(tasks_data):
        if not isinstance(entry, dict):
            raise MrftError(f"{source}: tasks[{i}]: expected a table with env and instances")
        where.no_unknown(entry, {"env", "instances", "pretrain_steps"}, f"tasks[{i}].")
        env = where.typed(entry, "env", str, required=True, prefix=f"tasks[{i}].")
        _check_env(env, f"{source}: tasks[{i}].env")
        instances = (where.positive_int(entry, "instances", f"tasks[{i}].", LIMITS["instances"])
                     if "instances" in entry else 3)
        pretrain = (where.positive_int(entry, "pretrain_steps", f"tasks[{i}].", LIMITS["budget.pretrain_steps"])
                    if "pretrain_steps" in entry else None)
        tasks.append(TaskFamily(env, instances, pretrain))
    if len({t.env for t in tasks}) != len(tasks):
        raise MrftError(f"{source}: tasks: each env may appear once")
    train = _options(where, where.table(data, "train"), "train")
    methods_data = where.table(data, "methods")
    methods = {method: _options(where, options, f"methods.{method}")
               for method, options in where.tables(methods_data, all_methods(), "methods", "method")}
    for method, options in methods.items():
        shared = all_methods()[method].pretrain_as
        if shared and options:  # they would be silently ignored
            raise MrftError(f"{source}: methods.{method}: this method adapts {shared}'s pre-trained "
                            f"checkpoint, so its own options would change nothing; set them in "
                            f"[methods.{shared}]")
    seeds = where.positive_int(data, "seeds", "", LIMITS["seeds"]) if "seeds" in data else 3
    description = where.typed(data, "description", str) or ""
    suite = BenchSuite(name=name, tasks=tuple(tasks), budget=budget, description=description,
                       seeds=seeds, train=train, methods=methods, source=source, plugins=plugins,
                       protocol=protocol)
    _check_values(suite)
    if protocol is not None:
        _check_protocol_families(suite, source)
    return suite


PROTOCOL_FIXES = ("adapt_steps", "eval_every", "eval_episodes", "adapt_envs")
"""Budget keys that a [protocol] sets itself."""


def _protocol(where: _Where, data: dict[str, Any], budget_data: dict[str, Any],
              source: str) -> MetaTestProtocol | None:
    """The suite's ``[protocol]`` table, or None."""
    if "protocol" not in data:
        return None
    table = where.table(data, "protocol")
    fields = {f.name for f in dataclasses.fields(MetaTestProtocol)}
    where.no_unknown(table, fields, "protocol.")
    clash = [key for key in PROTOCOL_FIXES if key in budget_data]
    if clash:
        raise MrftError(f"{source}: budget.{clash[0]} follows from [protocol] (adaptation_episodes "
                        f"and evaluation_episodes); remove it")
    values: dict[str, Any] = {}
    if "name" in table:
        values["name"] = where.typed(table, "name", str)
    for key in ("adaptation_episodes", "evaluation_episodes"):
        if key in table:
            values[key] = where.positive_int(table, key, "protocol.", LIMITS["budget.eval_episodes"])
    try:
        return MetaTestProtocol(**values)
    except MrftError as exc:
        raise MrftError(f"{source}: {exc}") from None


def _check_protocol_families(suite: BenchSuite, source: str) -> None:
    """A meta-test protocol scores the benchmark's own test tasks: every family must play them."""
    for i, task in enumerate(suite.tasks):
        refused = refusal(suite.protocol, task.env)
        if refused:
            raise MrftError(f"{source}: tasks[{i}].env {task.env}: {refused}")


def _plugins(where: _Where, data: dict[str, Any], source: str) -> tuple[str, ...]:
    """The suite's ``plugins`` list, files made absolute (relative to the suite file), loaded."""
    from mrft.plugins import load_plugins

    plugins = where.typed(data, "plugins", list) or []
    if not all(isinstance(p, str) for p in plugins):
        raise MrftError(f"{source}: plugins: expected a list of module names or .py paths")
    base = None if source.startswith("builtin:") else Path(source).resolve().parent
    resolved = tuple(str(base / p) if base is not None and (p.endswith(".py") or "/" in p)
                     and not Path(p).is_absolute() else p for p in plugins)
    load_plugins(list(resolved))
    return resolved


def _check_values(suite: BenchSuite) -> None:
    """Every method's config passes the same checks as ``mrft train``; an error names the
    file and the suite field (``train.optim.learning_rate``) instead of the CLI flag."""
    for method in all_methods().values():
        cfg = suite.train_config(suite.tasks[0], method, seed=0, runs_dir="runs", run_name="check")
        try:
            validate(cfg)
        except MrftError as exc:
            raise MrftError(_as_suite_field(str(exc), suite, method.name)) from None


def _as_suite_field(message: str, suite: BenchSuite, method: str) -> str:
    flag, _, rest = message.partition(" ")
    if not flag.startswith("--"):
        return f"{suite.source}: {message}"
    field = flag[2:].replace("-", "_")
    for prefix, options in ((f"methods.{method}", suite.methods.get(method, {})),
                            ("train", suite.train)):
        for section, fields in options.items():
            if field in fields:
                return f"{suite.source}: {prefix}.{section}.{field} {rest}"
    return f"{suite.source}: {field} (for {method}) {rest}"


def _check_env(env: str, where: str) -> None:
    """The env must parse as in mrft train; Meta-World's official sets are only checked by
    name, since building one takes minutes (ML45) and the runs build it anyway."""
    from mrft.envs import family_of, parse_env

    try:
        lazily = family_of(env).parse_lazily
        if lazily is not None and lazily(env.partition(":")[2]):
            return
        parse_env(env)
    except MrftError as exc:
        raise MrftError(f"{where}: {exc}") from None


def _options(where: _Where, data: dict[str, Any], prefix: str) -> dict[str, dict[str, Any]]:
    """Check ``{section: {field: value}}`` against the config dataclasses' fields and types."""
    out: dict[str, dict[str, Any]] = {}
    for section, fields in where.tables(data, sections(), prefix, "section"):
        hints = typing.get_type_hints(sections()[section])
        out[section] = {}
        for field, value in fields.items():
            name = f"{prefix}.{section}.{field}"
            if field not in hints:
                raise MrftError(f"{where.source}: {name}: unknown option")
            if (section, field) in RESERVED:
                raise MrftError(f"{where.source}: {name}: set by the benchmark, not by a suite")
            out[section][field] = _coerce(value, hints[field], f"{where.source}: {name}")
    return out


def _coerce(value: Any, annotation: Any, name: str) -> Any:
    """``value`` as ``annotation`` (int, float, bool, str, Literal, tuples, optional), or an error."""
    origin, args = typing.get_origin(annotation), typing.get_args(annotation)
    if origin in (typing.Union, types.UnionType):
        for arg in args:
            if arg is type(None):
                continue
            return _coerce(value, arg, name)
    if origin is Literal:
        if value not in args:
            raise MrftError(f"{name}: {value!r} is not one of {', '.join(map(repr, args))}")
        return value
    if origin is tuple:
        if not isinstance(value, list):
            raise MrftError(f"{name}: expected a list, got {value!r}")
        if len(args) == 2 and args[1] is Ellipsis:
            return tuple(_coerce(v, args[0], name) for v in value)
        if len(value) != len(args):
            raise MrftError(f"{name}: expected {len(args)} values, got {len(value)}")
        return tuple(_coerce(v, a, name) for v, a in zip(value, args, strict=True))
    if annotation is bool:
        if not isinstance(value, bool):
            raise MrftError(f"{name}: expected true or false, got {value!r}")
        return value
    if annotation is int:
        if isinstance(value, bool) or not isinstance(value, int):
            raise MrftError(f"{name}: expected an integer, got {value!r}")
        return value
    if annotation is float:
        if isinstance(value, bool) or not isinstance(value, int | float):
            raise MrftError(f"{name}: expected a number, got {value!r}")
        return float(value)
    if annotation is str:
        if not isinstance(value, str):
            raise MrftError(f"{name}: expected a string, got {value!r}")
        return value
    raise MrftError(f"{name}: options of this type cannot be set from a suite file")


def _apply(cfg: TrainConfigBase, options: dict[str, dict[str, Any]]) -> TrainConfigBase:
    updates = {section: dataclasses.replace(getattr(cfg, section), **fields)
               for section, fields in options.items()}
    return dataclasses.replace(cfg, **updates)


@dataclasses.dataclass
class _Where:
    """Typed lookups that name the file and the field in every error."""

    source: str

    def no_unknown(self, data: dict[str, Any], known: set[str], prefix: str) -> None:
        for key in data:
            if key not in known:
                raise MrftError(f"{self.source}: {prefix}{key}: unknown field; expected one of "
                                f"{', '.join(sorted(known))}")

    def typed(self, data: dict[str, Any], key: str, kind: type, required: bool = False,
              prefix: str = "") -> Any:
        if key not in data:
            if required:
                raise MrftError(f"{self.source}: {prefix}{key}: missing")
            return None
        value = data[key]
        if not isinstance(value, kind) or (isinstance(value, bool) and kind is not bool):
            raise MrftError(f"{self.source}: {prefix}{key}: expected {kind.__name__}, got {value!r}")
        return value

    def positive_int(self, data: dict[str, Any], key: str, prefix: str,
                     limit: int | None = None) -> int:
        value = self.typed(data, key, int, required=True, prefix=prefix)
        if value <= 0:
            raise MrftError(f"{self.source}: {prefix}{key}: must be > 0, got {value}")
        if limit is not None and value > limit:
            raise MrftError(f"{self.source}: {prefix}{key}: must be <= {limit:,}, got {value:,}")
        return value

    def tables(self, data: dict[str, Any], known, prefix: str, kind: str):
        """``(name, table)`` pairs of ``data``, each name one of ``known``, each value a table."""
        for name, value in data.items():
            if name not in known:
                raise MrftError(f"{self.source}: {prefix}.{name}: unknown {kind}; choose from "
                                f"{', '.join(known)}")
            if not isinstance(value, dict):
                raise MrftError(f"{self.source}: {prefix}.{name}: expected a table of options")
            yield name, value

    def table(self, data: dict[str, Any], key: str) -> dict[str, Any]:
        value = data.get(key, {})
        if not isinstance(value, dict):
            raise MrftError(f"{self.source}: {key}: expected a table, got {value!r}")
        return value
