"""Adaptation to one held-out task instance: what is specific to it, on top of the engine.

Every method starts from its pre-trained checkpoint and spends at most ``steps`` env steps
on one task instance (a hidden Meta-World goal, a Procgen level, a nav goal, a MuJoCo
body), learning with its **own** algorithm through the same loop as pre-training
(:class:`mrft.trainer.Trainer`); each algorithm says how (its
:attr:`~mrft.algos.base.Algorithm.adapts_by`), and its own adaptation options
(:class:`~mrft.config.AdaptSettings` ``options``) are applied to its config. The adapted policy is scored on
fresh episodes of the same instance at step 0, every ``eval_every`` steps and at the end.
This module only picks the instance, names the run folder and shapes the curve record.
"""

from __future__ import annotations

import dataclasses
import time
from pathlib import Path
from typing import Any

from mrft import algos, envs
from mrft.config import AdaptSettings, to_dict
from mrft.envs import held_out_instance
from mrft.errors import MrftError
from mrft.resolve import adapt_settings_from, option_flag


def run_folder(checkpoint: str, settings: AdaptSettings) -> Path:
    """Default folder of an adaptation run: next to the pre-trained checkpoint, named by
    instance and seed, and by the ablation when there is one, so an in-context or unbounded
    run never collides with the plain run of the same instance."""
    name = f"task{settings.task}__seed{settings.seed}"
    name += "" if settings.updates else "__in-context"
    for option, value in sorted(settings.options.items()):
        name += "__" + option_flag(option, value).removeprefix("--").replace(" ", "-")
    return Path(checkpoint).resolve().parent / "adapt" / name


def adapt(checkpoint: str, settings: AdaptSettings, run_dir: str | Path | None = None,
          progress: bool = False) -> dict[str, Any]:
    """Adapt ``checkpoint`` to one held-out instance; returns the curve record.

    The run (metrics.jsonl, TensorBoard, checkpoint.pt) lives in ``run_dir``; a run folder
    holding an unfinished adaptation of the same settings continues it (kill -9, Ctrl-C).
    """
    from mrft.checkpoint import load_checkpoint
    from mrft.trainer import CHECKPOINT_NAME, Trainer

    settings = dataclasses.replace(settings, checkpoint=str(checkpoint))
    folder = Path(run_dir) if run_dir is not None else run_folder(checkpoint, settings)
    saved = folder / CHECKPOINT_NAME
    if saved.exists():
        previous = load_checkpoint(str(saved), required=("config",))
        saved_settings = previous.get("adaptation", {}).get("settings")
        # filled with today's defaults, so a run saved before a setting existed still matches
        if not isinstance(saved_settings, dict) or _with_defaults(saved_settings) != to_dict(settings):
            raise MrftError(f"{folder} holds a different adaptation run; pick another folder")
        trainer = Trainer(resume_from=str(saved))
    else:
        trainer = Trainer(adaptation=settings, run_dir=folder)
    trainer.cfg.run.progress = progress
    start = time.time()
    result = trainer.train()
    if result.interrupted:
        raise KeyboardInterrupt
    cfg = trainer.cfg
    options = algos.get(cfg.algo).options(cfg)
    task, instance = held_out_instance(trainer.suite, settings.task)
    return {
        "checkpoint": str(checkpoint), "method": cfg.algo, "algo": cfg.algo,
        "suite": trainer.suite.name, "task": task.name, "instance": instance,
        "instance_index": settings.task, "distinct_instances": envs.distinct_instances(task),
        "steps": settings.steps, "adapt_env_steps": result.global_step,
        "updates": result.updates, "optimizer_steps": result.optimizer_steps,
        "parameters": result.parameters,
        # the rate the updates started at (annealed to 0 over the budget where anneal_lr)
        "learning_rate": trainer.algo.learning_rate,
        "eval_every": settings.eval_every, "eval_episodes": settings.eval_episodes,
        "num_envs": cfg.env.num_envs, "seed": settings.seed, "run_seed": cfg.run.seed,
        "score_policy": "stochastic", "curve": result.curve,
        "wall_clock_s": time.time() - start,
        "run_dir": str(folder),
        # the algorithm's options as the adaptation ran with them
        **({cfg.algo: dataclasses.asdict(options)} if options is not None else {}),
    }


def _with_defaults(saved: dict[str, Any]) -> dict[str, Any] | None:
    try:
        return to_dict(adapt_settings_from(saved))
    except TypeError:  # a setting this version does not know
        return None


def summarize(record: dict[str, Any]) -> str:
    last = record["curve"][-1]
    text = f"{record['method']} on {record['task']} instance {record['instance']}: "
    text += f"return {record['curve'][0]['return']:.2f} -> {last['return']:.2f}"
    if "success" in last:
        text += f", success {record['curve'][0]['success']:.2f} -> {last['success']:.2f}"
    return text + f" after {last['step']:,} steps"
