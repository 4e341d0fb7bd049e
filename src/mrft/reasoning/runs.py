"""Reasoning runs on disk: the warm start and RL fine-tuning, each a folder with a checkpoint
written atomically every few steps (``checkpoint.pt``, loaded with ``weights_only=True``), a
``metrics.jsonl`` of every step and progress lines with an ETA. Running the same command on
the same folder continues a run where it stopped; because the data of step ``s`` depends on
``(seed, s)`` alone, the continued run is the uninterrupted one."""

from __future__ import annotations

import dataclasses
import json
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import torch

from mrft.algos.token_rl import SequenceRLOptions
from mrft.checkpoint import load_checkpoint, load_module_state, save_checkpoint
from mrft.errors import MrftError
from mrft.reasoning import countdown
from mrft.reasoning.lm import LMConfig, TinyLM
from mrft.reasoning.rl import RLConfig, RLState, train_rl
from mrft.reasoning.sft import SFTConfig, train_sft

CHECKPOINT = "checkpoint.pt"
TRAIN_PROBLEMS = 8_000
"""Distinct train problems each run draws its examples from."""


def load_model(path: str | Path) -> tuple[TinyLM, dict[str, Any]]:
    """The model of a reasoning checkpoint and the checkpoint's content."""
    data = load_checkpoint(path, required=("reasoning", "model"))
    model = TinyLM(LMConfig(**data["reasoning"]["lm"]))
    load_module_state(model, data["model"], path)
    return model, data


def _save(folder: Path, model: TinyLM, optimizer: torch.optim.Optimizer, info: dict[str, Any]) -> None:
    save_checkpoint(folder / CHECKPOINT, {"reasoning": info, "model": model.state_dict(),
                                          "optimizer": optimizer.state_dict()})


class _Log:
    """``metrics.jsonl`` (records after ``keep_upto`` dropped, so a resumed run never logs a
    step twice) and one progress line every ``every`` steps."""

    def __init__(self, folder: Path, keep_upto: int, every: int, what: str, unit: str,
                 done_share: Callable[[dict[str, Any]], float], start_share: float = 0.0):
        self.path = folder / "metrics.jsonl"
        kept = []
        if self.path.exists():  # a line cut by a kill comes after the checkpoint: dropped
            for line in self.path.read_text(encoding="utf-8").splitlines():
                try:
                    if json.loads(line)[unit] <= keep_upto:
                        kept.append(line)
                except (json.JSONDecodeError, KeyError, TypeError):
                    continue
        self.path.write_text("".join(line + "\n" for line in kept), encoding="utf-8")
        self.every, self.what, self.unit, self.done_share = every, what, unit, done_share
        # the ETA counts only this process's work: a resumed run starts at start_share
        self.start, self.first_share = time.time(), start_share

    def __call__(self, record: dict[str, Any]) -> None:
        with open(self.path, "a", encoding="utf-8") as f:
            f.write(json.dumps(record) + "\n")
        share = self.done_share(record)
        if record[self.unit] % self.every == 0 or share >= 1.0:
            spent = time.time() - self.start
            left = spent / max(share - self.first_share, 1e-9) * (1.0 - share)
            shown = "  ".join(f"{k} {v:.3g}" for k, v in record.items()
                              if k in ("loss", "accuracy", "episodes", "trace_tokens"))
            print(f"{self.what} {record[self.unit]:,} ({share:.0%})  {shown}  (ETA {left / 60:.1f} min)",
                  file=sys.stderr, flush=True)


def run_sft(folder: str | Path, lm: LMConfig, cfg: SFTConfig, difficulty: str,
            checkpoint_every: int = 200) -> Path:
    """The warm start in ``folder`` (continued if it holds an unfinished one)."""
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    info = {"kind": "sft", "lm": dataclasses.asdict(lm), "sft": dataclasses.asdict(cfg),
            "difficulty": difficulty, "step": 0}
    data = None
    if (folder / CHECKPOINT).exists():
        model, data = load_model(folder / CHECKPOINT)
        saved = data["reasoning"]
        keys = ("kind", "lm", "sft", "difficulty")
        if {k: saved.get(k) for k in keys} != {k: info[k] for k in keys}:
            raise MrftError(f"{folder} holds another warm start; pick another folder")
        info["step"] = int(saved["step"])
    else:
        torch.manual_seed(cfg.seed)
        model = TinyLM(lm)
    optimizer = torch.optim.AdamW(model.parameters(), lr=cfg.learning_rate, weight_decay=0.01)
    if data is not None:
        optimizer.load_state_dict(data["optimizer"])
    train = countdown.problems("train", difficulty, TRAIN_PROBLEMS)
    log = _Log(folder, info["step"], 100, "sft step", "step", lambda r: r["step"] / cfg.steps,
               start_share=info["step"] / cfg.steps)
    while info["step"] < cfg.steps:
        stop = min(cfg.steps, info["step"] + checkpoint_every)
        train_sft(model, train, cfg, progress=log, start_step=info["step"], optimizer=optimizer,
                  stop_step=stop)
        info["step"] = stop
        _save(folder, model, optimizer, info)
    return folder / CHECKPOINT


def run_rl(folder: str | Path, init: str | Path, cfg: RLConfig, checkpoint_every: int = 5) -> Path:
    """RL fine-tuning of the warm start ``init`` in ``folder`` (continued if unfinished)."""
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    rl = dataclasses.asdict(cfg)
    resuming = (folder / CHECKPOINT).exists()
    model, data = load_model(folder / CHECKPOINT if resuming else init)
    optimizer = torch.optim.Adam(model.parameters(), lr=cfg.learning_rate)
    if resuming:
        info = data["reasoning"]
        if (info.get("kind") != "rl" or info["rl"] != rl  # the same warm start, however its path is spelt
                or Path(info["init"]).resolve() != Path(init).resolve()):
            raise MrftError(f"{folder} holds another RL run; pick another folder")
        optimizer.load_state_dict(data["optimizer"])
        state = RLState(**info["state"])
    else:
        info = {"kind": "rl", "lm": data["reasoning"]["lm"], "rl": rl, "init": str(init),
                "difficulty": data["reasoning"]["difficulty"]}
        state = RLState()
    train = [p for p, _ in countdown.problems("train", info["difficulty"], TRAIN_PROBLEMS)]
    log = _Log(folder, state.update, 1, f"rl {cfg.options.method} update", "update",
               lambda r: r["tokens"] / cfg.token_budget, start_share=state.tokens / cfg.token_budget)
    while state.tokens < cfg.token_budget:
        target = state.update + checkpoint_every
        state, optimizer = train_rl(model, train, cfg, state, optimizer, progress=log,
                                    stop=lambda s, target=target: s.update >= target)
        info["state"] = dataclasses.asdict(state)
        _save(folder, model, optimizer, info)
    return folder / CHECKPOINT


def rl_config(method: str, **values: Any) -> RLConfig:
    """An :class:`RLConfig` with the method's options."""
    options = {k: values.pop(k) for k in ("alpha", "length_coef") if k in values}
    return RLConfig(options=SequenceRLOptions(method, **options), **values)
