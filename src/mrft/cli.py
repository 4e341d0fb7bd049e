"""The ``mrft`` command: ``mrft train``, ``adapt``, ``eval``, ``export``, ``bench`` and ``report``.

Every flag comes from a config dataclass field and its docstring (``mrft train --help``).
Bad input of any kind ends in one ``error: ...`` line on stderr and exit code 2 (a run that
fails on the way, exit code 1); ``--debug`` or ``MRFT_DEBUG=1`` also prints the traceback.
"""

from __future__ import annotations

import contextlib
import dataclasses
import inspect
import io
import json
import os
import re
import signal
import sys
import traceback
from pathlib import Path
from typing import Annotated

import tyro

from mrft.cli_options import (
    AdaptConfig,
    BenchConfig,
    EvalConfig,
    ExportConfig,
    ListConfig,
    ReasonConfig,
    ReportConfig,
)
from mrft.config import TrainConfigBase, train_config_class
from mrft.distributed import error_said
from mrft.errors import MrftError


def _doc(cls) -> str:
    """A config class's docstring as a help paragraph (no continuation-line indent)."""
    return " ".join(inspect.cleandoc(cls.__doc__ or "").split())


def adapt_config_class() -> type:
    """``mrft adapt``'s options: :class:`AdaptConfig` and one section per registered algorithm
    with adaptation options of its own (its flags keep their names)."""
    from mrft import algos

    sections = [(name, algo.AdaptOptions, dataclasses.field(default_factory=algo.AdaptOptions))
                for name, algo in algos.REGISTRY.items() if algo.AdaptOptions is not None]
    cls = dataclasses.make_dataclass("AdaptCommand", sections, bases=(AdaptConfig,))
    cls.__doc__ = AdaptConfig.__doc__
    return cls


def command_type():
    """The sub-commands, with the options of the algorithms registered now."""
    train, adapt = train_config_class(), adapt_config_class()
    return (
        Annotated[train, tyro.conf.subcommand("train", description=_doc(train))]
        | Annotated[adapt, tyro.conf.subcommand("adapt", description=_doc(AdaptConfig))]
        | Annotated[EvalConfig, tyro.conf.subcommand("eval", description=_doc(EvalConfig))]
        | Annotated[ExportConfig, tyro.conf.subcommand("export", description=_doc(ExportConfig))]
        | Annotated[BenchConfig, tyro.conf.subcommand("bench", description=_doc(BenchConfig))]
        | Annotated[ReportConfig, tyro.conf.subcommand("report", description=_doc(ReportConfig))]
        | Annotated[ListConfig, tyro.conf.subcommand("list", description=_doc(ListConfig))]
        | Annotated[ReasonConfig, tyro.conf.subcommand("reason", description=_doc(ReasonConfig))]
    )


def parse(argv: list[str] | None = None):
    """Parse with tyro, turning its boxed error into one line (``MrftError``)."""
    argv = _bare_ray_flag(list(sys.argv[1:] if argv is None else argv))
    buffer = io.StringIO()
    try:
        with contextlib.redirect_stderr(buffer):
            return tyro.cli(command_type(), args=argv, prog="mrft",
                            config=(tyro.conf.OmitArgPrefixes,))
    except SystemExit as exc:
        if exc.code in (0, None):
            raise
        raise MrftError(_one_line(buffer.getvalue())) from None


def _bare_ray_flag(argv: list[str]) -> list[str]:
    """``mrft bench ... --ray`` with no address means a local Ray (``--ray local``,
    :data:`mrft.bench.ray_sweep.LOCAL`)."""
    out = []
    for i, arg in enumerate(argv):
        out.append(arg)
        if arg == "--ray" and (i + 1 == len(argv) or argv[i + 1].startswith("-")):
            out.append("local")
    return out


def _one_line(text: str) -> str:
    """The first section of tyro's boxed, possibly coloured, error message, on one line."""
    text = re.sub(r"\x1b\[[0-9;]*m", "", text)
    words: list[str] = []
    for raw in text.splitlines():
        line = raw.strip()
        if line.startswith(("╭", "╰")) or not line:
            continue
        content = line.strip("│").strip()
        if content and set(content) <= {"─"}:
            break
        if content.startswith("usage:"):
            continue
        words.append(content.removeprefix("error:").strip())
    message = " ".join(w for w in words if w).split(" Got errors:")[0] or "invalid arguments"
    return f"{message} (see mrft --help)"


def describe_os_error(exc: OSError) -> str:
    """One line for a file-system failure: which path, what happened, what to do."""
    import errno

    where = os.fsdecode(exc.filename) if exc.filename else "a file"
    hints = {
        errno.ENOSPC: "the disk is full: free some space or write elsewhere (--runs-dir, --out)",
        errno.EDQUOT: "the disk quota is used up: free some space or write elsewhere",
        errno.EROFS: "the file system is read-only: write elsewhere (--runs-dir, --out)",
        errno.EACCES: "permission denied: write to a folder you own (--runs-dir, --out)",
        errno.EPERM: "permission denied: write to a folder you own (--runs-dir, --out)",
        errno.ENOENT: "no such file or folder",
        errno.ENOTDIR: "a part of the path is a file, not a folder",
    }
    return f"cannot use {where}: {hints.get(exc.errno, exc.strerror or str(exc))}"


def run_train(cfg: TrainConfigBase) -> int:
    from mrft.atomic import ensure_writable
    from mrft.trainer import Trainer

    # before envs are built and before TensorBoard's writer thread fails on its own
    ensure_writable(cfg.run.runs_dir if cfg.resume is None else Path(cfg.resume).parent)

    trainer = Trainer(cfg, resume_from=cfg.resume)
    result = trainer.train()
    if not trainer.is_main:  # a torchrun rank other than 0: rank 0 reports and evaluates
        return 130 if result.interrupted else 0
    summary = f"{result.global_step:,} steps in {result.updates} updates, {result.sps:,.0f} SPS"
    if result.recent_return is not None:
        summary += f", recent return {result.recent_return:.2f}"
    if result.recent_success is not None:
        summary += f", success {result.recent_success:.2f}"
    print(summary)
    print(f"run folder: {result.run_dir}  (tensorboard --logdir {result.run_dir.parent})")
    print(f"checkpoint: {result.checkpoint}")
    if result.interrupted:
        print(f"interrupted; continue with: mrft train --resume {result.checkpoint}", file=sys.stderr)
        return 130
    if trainer.cfg.run.eval_episodes > 0:
        return run_eval(EvalConfig(checkpoint=str(result.checkpoint),
                                   episodes=trainer.cfg.run.eval_episodes,
                                   json_out=str(result.run_dir / "eval.json")))
    return 0


def run_adapt(cfg: AdaptConfig) -> int:
    from mrft.adapt import adapt, run_folder, summarize
    from mrft.config import AdaptSettings
    from mrft.logging import write_json

    settings = AdaptSettings(
        checkpoint=cfg.checkpoint, task=cfg.task, steps=cfg.steps, eval_every=cfg.eval_every,
        eval_episodes=cfg.eval_episodes, num_envs=cfg.num_envs, learning_rate=cfg.learning_rate,
        updates=cfg.updates, seed=cfg.seed, options=_adapt_options(cfg),
    )
    folder = Path(cfg.out).with_suffix("") if cfg.out else run_folder(cfg.checkpoint, settings)
    out = Path(cfg.out) if cfg.out else folder.with_suffix(".json")
    from mrft.atomic import ensure_writable

    if Path(cfg.checkpoint).is_file():
        ensure_writable(out.parent)  # before the work, not after it
    record = adapt(cfg.checkpoint, settings, run_dir=folder)
    from mrft.distributed import is_main_process

    if not is_main_process():  # a torchrun rank other than 0: rank 0 evaluates and writes
        return 0
    write_json(out, record)
    for point in record["curve"]:
        line = f"step {point['step']:>9,}  return {point['return']:9.3f}"
        if "success" in point:
            line += f"  success {point['success']:.3f}"
        print(line)
    print(summarize(record))
    print(f"curve: {out}")
    return 0


def _adapt_options(cfg: AdaptConfig) -> dict:
    """The algorithms' adaptation options the user set away from their defaults."""
    own = {f.name for f in dataclasses.fields(AdaptConfig)}
    options: dict = {}
    for field in dataclasses.fields(cfg):
        if field.name in own:
            continue
        section = getattr(cfg, field.name)
        default = type(section)()
        for option in dataclasses.fields(section):
            if getattr(section, option.name) != getattr(default, option.name):
                options[option.name] = getattr(section, option.name)
    return options


def run_eval(cfg: EvalConfig) -> int:
    from mrft.evaluate import evaluate, load_policy_and_state

    if cfg.episodes < 1:
        raise MrftError(f"--episodes must be >= 1, got {cfg.episodes}")
    if cfg.num_envs < 1:
        raise MrftError(f"--num-envs must be >= 1, got {cfg.num_envs}")
    if cfg.seed < 0:
        raise MrftError(f"--seed must be >= 0, got {cfg.seed}")
    if cfg.json_out:
        from mrft.atomic import ensure_writable

        ensure_writable(Path(cfg.json_out).parent)  # before the work, not after it
    from mrft import algos

    if cfg.protocol is not None:
        return _run_protocol(cfg)
    policy, train_cfg, suite, state = load_policy_and_state(cfg.checkpoint)
    policy.eval()
    tasks = suite.split(cfg.split)
    actor, trial = algos.get(train_cfg.algo).checkpoint_evaluation(
        train_cfg, policy, state.get("algo", {}), cfg.checkpoint, cfg.deterministic)
    if trial > 1:
        print(f"({train_cfg.algo}: last episode of trials of {trial} episodes)")
    algo = algos.get(train_cfg.algo)
    if cfg.probe and not algo.supports_probe:
        probing = ", ".join(name for name, a in algos.REGISTRY.items() if a.supports_probe)
        raise MrftError(f"--probe measures the context a policy infers ({probing}); "
                        f"{cfg.checkpoint} is a {train_cfg.algo} run")
    result = evaluate(policy, tasks, cfg.episodes, num_envs=cfg.num_envs, seed=cfg.seed,
                      deterministic=cfg.deterministic, actor=actor, trial_episodes=trial)
    probe = None
    if cfg.probe:
        from mrft.evaluate import trial_player

        play = trial_player(tasks, train_cfg.env.max_episode_steps, cfg.seed)
        probe = algo.probe(actor, play, max(cfg.episodes, 4), trial, cfg.seed)
    print(f"{suite.name} [{cfg.split}], {len(result.returns)} episodes")
    print(f"return:  {result.return_ci}")
    if result.success_ci is not None:
        print(f"success: {result.success_ci}")
    if probe is not None:
        r2 = f"{probe['probe_r2']:.3f}" if "probe_r2" in probe else "n/a (family exposes no parameters)"
        if probe.get("probe_r2_by_step"):
            r2 += " (after " + ", ".join(f"{t} steps {v:.3f}" for t, v in probe["probe_r2_by_step"].items()) + ")"
        fit_rows, width = probe["trials"] // 2, probe["belief_dims"]
        r2 += f" on {probe['trials']} held-out trials"
        if "probe_r2" in probe and fit_rows < 4 * width:
            r2 += (f" (unreliable: the probe is fitted on {fit_rows} trials for a belief of {width}"
                   f" dimensions; give --episodes {8 * width} or more)")
        print(f"belief: linear-probe R^2 of the task parameters {r2}; context gain "
              f"{probe['context_gain']:+.3f} (own belief {probe['return_own_belief']:.3f}, "
              f"another instance's {probe['return_other_belief']:.3f})")
    if cfg.json_out:
        summary = {
            "checkpoint": cfg.checkpoint, "suite": suite.name, "split": cfg.split,
            "episodes": len(result.returns), "returns": result.returns, "lengths": result.lengths,
            "successes": result.successes, "return_ci": dataclasses.asdict(result.return_ci),
            "success_ci": dataclasses.asdict(result.success_ci) if result.success_ci else None,
            "probe": probe,
        }
        with open(cfg.json_out, "w", encoding="utf-8") as f:
            json.dump(summary, f, indent=2)
    return 0


def _run_protocol(cfg: EvalConfig) -> int:
    """``mrft eval --protocol``: :func:`mrft.metatest.score_checkpoint`."""
    from mrft.metatest import MetaTestProtocol, score_checkpoint

    protocol = MetaTestProtocol(cfg.protocol, cfg.adaptation_episodes, cfg.evaluation_episodes)
    result = score_checkpoint(cfg.checkpoint, protocol, cfg.goals, seed=cfg.seed)
    print(f"{result['suite']} [test], {cfg.protocol} meta-test protocol: {cfg.adaptation_episodes} "
          f"adaptation and {cfg.evaluation_episodes} evaluation episodes per test task, "
          f"{cfg.goals} goals per class")
    for name, rate in result["per_class"].items():
        print(f"  {name}: {rate:.3f}")
    classes = len(result["per_class"])
    print(f"meta-test success (mean over {classes} class{'es' if classes > 1 else ''}): "
          f"{result['mean']:.3f}")
    if cfg.json_out:
        from mrft.logging import write_json

        write_json(Path(cfg.json_out), result)
    return 0


def run_export(cfg: ExportConfig) -> int:
    from mrft.export import export

    if cfg.task < 0:
        raise MrftError(f"--task must be >= 0, got {cfg.task}")
    if cfg.seed < 0:
        raise MrftError(f"--seed must be >= 0, got {cfg.seed}")
    if cfg.distill_steps < 0:
        raise MrftError(f"--distill-steps must be >= 0, got {cfg.distill_steps}")
    from mrft.distillation import parse_stages

    record = export(cfg.checkpoint, cfg.task, cfg.seed, cfg.out, cfg.distill_steps,
                    parse_stages(cfg.distill_stages))
    distilled = record.get("distillation")
    if distilled is not None:
        for stage in distilled["stages"]:
            if f"{stage}/loss_before" in distilled:
                print(f"{stage}: loss {distilled[f'{stage}/loss_before']:.4g} -> "
                      f"{distilled[f'{stage}/loss_after']:.4g} "
                      f"({int(distilled[f'{stage}/env_steps']):,} env steps)")
    print(f"context-free policy for {record['task']} instance {record['instance']}: {record['path']}")
    return 0


def run_bench(cfg: BenchConfig) -> int:
    import shlex

    from mrft.bench.methods import check_role, parse_methods
    from mrft.bench.runner import Bench, BenchInterrupted
    from mrft.bench.suite import load_suite

    suite = load_suite(cfg.suite)
    methods = parse_methods(cfg.methods)
    baseline, focus = check_role("baseline", cfg.baseline), check_role("focus", cfg.focus)
    seeds = cfg.seeds if cfg.seeds is not None else suite.seeds
    if seeds < 1:
        raise MrftError(f"--seeds must be >= 1, got {seeds}")
    out = Path(cfg.out or Path("bench") / suite.name)
    command = shlex.join(["mrft", *sys.argv[1:]]) if sys.argv[1:2] == ["bench"] else (
        f"mrft bench --suite {cfg.suite} --methods {','.join(methods)} --seeds {seeds} --out {out}")
    bench = Bench(suite, methods, list(range(1, seeds + 1)), out, command, baseline=baseline,
                  focus=focus)
    try:
        if cfg.ray is None:
            bench.run()
        else:
            from mrft.bench.ray_sweep import run_on_ray

            if cfg.ray_cpus_per_run <= 0:
                raise MrftError(f"--ray-cpus-per-run must be > 0, got {cfg.ray_cpus_per_run}")
            run_on_ray(bench, cfg.ray, cfg.ray_cpus_per_run, cfg.ray_gpus_per_run)
    except BenchInterrupted as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 130
    return run_report(ReportConfig(folder=str(out))) if cfg.report else 0


def run_report(cfg: ReportConfig) -> int:

    from mrft.bench.analysis import analyze
    from mrft.bench.archive import ARCHIVE, locate, pack
    from mrft.bench.lock import FolderLock
    from mrft.bench.methods import check_role
    from mrft.bench.report import headline_markdown, write_report
    from mrft.bench.terminal import summary_text
    from mrft.logging import write_json

    folder, _ = locate(cfg.folder)
    analysis = analyze(Path(cfg.folder), skip_broken=cfg.skip_broken,
                       baseline=check_role("baseline", cfg.baseline),
                       focus=check_role("focus", cfg.focus))
    write_json(folder / "analysis.json", analysis)
    files = write_report(analysis, folder)
    print(f"\n{analysis['suite']['name']}: {', '.join(analysis['methods'])}, "
          f"seeds {analysis['seeds']}\n")
    # per family, in context and final; the full headline table is in the report
    print(summary_text(analysis) or headline_markdown(analysis))
    for line in [*analysis["verdict"], *(analysis.get("informative") or [])]:
        print(f"\n{line}")
    print(f"\nreport: {files.html.resolve()}\n        {files.markdown.resolve()}")
    if cfg.pack:
        with FolderLock(folder):  # never while a sweep writes into runs/
            packed = pack(Path(cfg.folder), remove=True)
        print(f"packed {len(packed)} run files into {folder / ARCHIVE}")
    return 0


def run_list(cfg: ListConfig) -> int:
    from mrft.listing import listing

    print(listing())
    return 0


def debugging(argv: list[str]) -> tuple[bool, list[str]]:
    """Whether ``--debug`` (anywhere on the line) or ``MRFT_DEBUG=1`` asks for the full
    traceback behind an ``error:`` line (a user's env that raised: the user's own frames),
    and the arguments without the flag."""
    wanted = "--debug" in argv or os.environ.get("MRFT_DEBUG", "") not in ("", "0")
    return wanted, [a for a in argv if a != "--debug"]


def main(argv: list[str] | None = None) -> None:
    debug, argv = debugging(list(sys.argv[1:] if argv is None else argv))
    try:
        from mrft.plugins import load_plugins

        load_plugins()
        cfg = parse(argv)
        if isinstance(cfg, ListConfig):
            code = run_list(cfg)
        elif isinstance(cfg, TrainConfigBase):
            code = run_train(cfg)
        elif isinstance(cfg, AdaptConfig):
            code = run_adapt(cfg)
        elif isinstance(cfg, BenchConfig):
            code = run_bench(cfg)
        elif isinstance(cfg, ReportConfig):
            code = run_report(cfg)
        elif isinstance(cfg, ReasonConfig):
            from mrft.reasoning.command import run_reason

            code = run_reason(cfg)
        elif isinstance(cfg, ExportConfig):
            code = run_export(cfg)
        else:
            code = run_eval(cfg)
    except MrftError as exc:
        if debug:
            traceback.print_exception(exc, file=sys.stderr)
        error_said()
        print(f"error: {exc}", file=sys.stderr)
        sys.exit(exc.exit_code)
    except OSError as exc:
        print(f"error: {describe_os_error(exc)}", file=sys.stderr)
        sys.exit(2)
    except KeyboardInterrupt:
        print("error: interrupted", file=sys.stderr)
        sys.exit(130)
    sys.exit(code)


def entry() -> None:
    """The console command: ``main``, then a Ctrl-C during interpreter shutdown (flushing
    writers, closing envs; every checkpoint is already written atomically) exits at once in
    one line instead of a traceback from inside an exit handler."""
    try:
        main()
    finally:
        signal.signal(signal.SIGINT, _exit_on_interrupt_during_shutdown)


def _exit_on_interrupt_during_shutdown(signum, frame) -> None:
    with contextlib.suppress(Exception):
        sys.stdout.flush()
        sys.stderr.write("error: interrupted while shutting down; saved files are complete\n")
        sys.stderr.flush()
    os._exit(130)
