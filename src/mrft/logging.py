"""Run outputs: TensorBoard scalars, a JSONL copy of them, the config, optional W&B.

Metric names follow CleanRL/SB3 (``charts/episodic_return``, ``charts/SPS``,
``losses/policy_loss`` ...) so existing dashboards and habits carry over. The JSONL file
is the machine-readable record that reports and benchmarks read back.
"""

from __future__ import annotations

import json
import math
import time
from pathlib import Path
from typing import Any

from mrft.atomic import atomic_write_bytes
from mrft.errors import MrftError


def _finite_or_none(value: float) -> float | None:
    return value if math.isfinite(value) else None


class RunLogger:
    """Writes every scalar to TensorBoard and ``metrics.jsonl`` (one JSON object per log call)."""

    def __init__(self, run_dir: Path, config: dict[str, Any], *, track: bool = False,
                 project: str = "mrft", run_name: str = "", resume_step: int | None = None):
        self.run_dir = Path(run_dir)
        self.run_dir.mkdir(parents=True, exist_ok=True)
        if track:
            try:
                import wandb
            except ImportError:
                raise MrftError("--track needs Weights & Biases: pip install wandb") from None
            wandb.init(project=project, name=run_name, config=config, sync_tensorboard=True,
                       resume="allow", id=run_name)
        from torch.utils.tensorboard import SummaryWriter

        self.writer = SummaryWriter(str(self.run_dir), purge_step=resume_step)
        metrics_path = self.run_dir / "metrics.jsonl"
        if resume_step is not None and metrics_path.exists():
            _drop_records_after(metrics_path, resume_step)
        self.jsonl = open(metrics_path, "a", encoding="utf-8")  # noqa: SIM115 - open for the whole run, closed in close()
        (self.run_dir / "config.json").write_text(json.dumps(config, indent=2))
        if resume_step is None:
            rows = "\n".join(f"|{k}|{v}|" for k, v in _flatten(config).items())
            self.writer.add_text("hyperparameters", f"|param|value|\n|-|-|\n{rows}")
        self.track = track

    def log(self, step: int, scalars: dict[str, float]) -> None:
        for name, value in scalars.items():
            self.writer.add_scalar(name, value, step)
        record = {"step": step, "time": time.time()}
        record.update({k: _finite_or_none(float(v)) for k, v in scalars.items()})
        self.jsonl.write(json.dumps(record) + "\n")
        self.jsonl.flush()

    def close(self) -> None:
        self.writer.close()
        self.jsonl.close()
        if self.track:
            import wandb

            wandb.finish()


def _drop_records_after(path: Path, step: int) -> None:
    """On resume, forget records logged after the checkpoint (they will be logged again)."""
    kept = []
    with open(path, encoding="utf-8") as f:
        for line in f:
            try:
                if json.loads(line)["step"] <= step:
                    kept.append(line)
            except (json.JSONDecodeError, KeyError, TypeError):
                continue
    tmp = path.with_suffix(".jsonl.tmp")
    tmp.write_text("".join(kept), encoding="utf-8")
    tmp.replace(path)


def _flatten(config: dict[str, Any], prefix: str = "") -> dict[str, Any]:
    out: dict[str, Any] = {}
    for key, value in config.items():
        name = f"{prefix}{key}"
        if isinstance(value, dict):
            out.update(_flatten(value, name + "."))
        else:
            out[name] = value
    return out


def read_metrics(run_dir: str | Path) -> list[dict[str, Any]]:
    """All records of a run's ``metrics.jsonl``."""
    path = Path(run_dir) / "metrics.jsonl"
    with open(path, encoding="utf-8") as f:
        return [json.loads(line) for line in f if line.strip()]


def write_json(path: Path, record: dict[str, Any]) -> None:
    """Atomic write: a killed process never leaves half a file."""
    atomic_write_bytes(path, json.dumps(record, indent=2).encode("utf-8"))


class SilentLogger:
    """What ranks other than 0 of a torchrun job log to: nothing."""

    def log(self, step: int, scalars: dict[str, float]) -> None:
        pass

    def close(self) -> None:
        pass
