"""Continuing a stopped sweep's unfinished pre-training run, where that gives the run an
uninterrupted sweep would make."""

from __future__ import annotations

import shutil
from pathlib import Path
from typing import Any

from mrft.errors import MrftError


def resumed_pretraining(train_dir: Path, cfg) -> Any:
    """The :class:`~mrft.trainer.Trainer` that continues the unfinished pre-training in
    ``train_dir`` (a sweep stopped mid-run), or None, after clearing the folder, where there is
    none to continue as the same run: no checkpoint, one unreadable or of other settings, or
    envs that cannot be replayed to their saved state (the trainer's resume is then not exact,
    and a bench's runs must not depend on where a sweep was stopped)."""
    from mrft.resolve import resolve_config
    from mrft.trainer import CHECKPOINT_NAME, Trainer

    checkpoint = train_dir / CHECKPOINT_NAME
    trainer = None
    if checkpoint.exists():
        try:
            trainer = Trainer(resume_from=str(checkpoint))
        except (MrftError, OSError, RuntimeError, KeyError, ValueError):
            trainer = None
        # the settings compared with the family presets filled in, as a checkpoint saves them
        if trainer is not None and not (trainer.resumed_exactly and settings_of(trainer.cfg)
                                        == settings_of(resolve_config(cfg, adapting=False)[0])):
            trainer.collector.close()  # built, never run: its envs are let go
            trainer = None
    if trainer is None and train_dir.exists():
        shutil.rmtree(train_dir)
    return trainer


def settings_of(cfg) -> dict[str, Any]:
    """What a run computes from: its config without where its folder lies (a chain's scratch
    folder may move, e.g. from a worker's temporary folder into ``OUT/.chains``)."""
    from mrft.config import to_dict

    settings = to_dict(cfg)
    for key in ("runs_dir", "run_name"):
        settings["run"].pop(key, None)
    return settings
