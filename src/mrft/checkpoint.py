"""Checkpoints: plain tensors and primitives, written atomically, loaded with ``weights_only``.

A checkpoint is a dict with ``format == "mrft-checkpoint"``, a format version, the
resolved config, model and optimiser state, counters, RNG states and library
versions. Nothing is pickled as an object, so files stay loadable across versions and
loading never runs code from the file.
"""

from __future__ import annotations

import contextlib
import hashlib
import importlib.metadata
import os
import pickle
import platform
import random
import warnings
from pathlib import Path
from typing import Any

import numpy as np
import torch

from mrft import __version__
from mrft.atomic import atomic_write
from mrft.errors import MrftError

FORMAT = "mrft-checkpoint"
FORMAT_VERSION = 1


def library_versions() -> dict[str, str]:
    versions = {"mrft": __version__, "torch": str(torch.__version__), "numpy": str(np.__version__),
                "python": platform.python_version()}
    # read from the installed metadata: importing envpool to ask it costs more than a second
    for name in ("gymnasium", "envpool"):
        with contextlib.suppress(importlib.metadata.PackageNotFoundError):
            versions[name] = importlib.metadata.version(name)
    return versions


def rng_state() -> dict[str, Any]:
    np_state = np.random.get_state()
    py_state = random.getstate()
    return {
        "torch": torch.get_rng_state(),
        "numpy": {"keys": torch.from_numpy(np_state[1].astype(np.int64)), "pos": int(np_state[2]),
                  "has_gauss": int(np_state[3]), "cached_gaussian": float(np_state[4])},
        "python": {"version": py_state[0], "state": list(py_state[1]),
                   "gauss_next": py_state[2]},
    }


def set_rng_state(state: dict[str, Any]) -> None:
    torch.set_rng_state(state["torch"])
    np_state = state["numpy"]
    np.random.set_state(("MT19937", np_state["keys"].numpy().astype(np.uint32), np_state["pos"],
                         np_state["has_gauss"], np_state["cached_gaussian"]))
    py = state["python"]
    random.setstate((py["version"], tuple(py["state"]), py["gauss_next"]))


def content_digest(value: Any) -> str:
    """SHA-256 over every tensor's bytes (with its place, dtype and shape) and every other
    value's ``repr``, in a fixed order: flipped bytes anywhere in the data change it."""
    hasher = hashlib.sha256()

    def visit(item: Any, where: str) -> None:
        if isinstance(item, dict):
            for key in sorted(item, key=str):
                visit(item[key], f"{where}/{key}")
        elif isinstance(item, (list, tuple)):
            for i, sub in enumerate(item):
                visit(sub, f"{where}/{i}")
        elif isinstance(item, torch.Tensor):
            t = item.detach().cpu().contiguous().reshape(-1)
            hasher.update(f"{where}:{t.dtype}:{tuple(item.shape)}".encode())
            hasher.update(t.view(torch.uint8).numpy().tobytes())
        else:
            hasher.update(f"{where}={item!r}".encode())

    visit(value, "")
    return hasher.hexdigest()


def save_checkpoint(path: str | os.PathLike, payload: dict[str, Any]) -> Path:
    """Write ``payload`` to ``path`` via a temp file in the same folder and an atomic rename,
    with a digest of its content that loading verifies."""
    data = {"format": FORMAT, "format_version": FORMAT_VERSION, "versions": library_versions()}
    data.update(payload)
    data["digest"] = content_digest({k: v for k, v in data.items() if k != "digest"})
    return atomic_write(path, lambda f: torch.save(data, f))


MILESTONES = "checkpoints"
"""The folder beside a run's checkpoint.pt where ``--keep-checkpoints`` keeps milestones."""


def keep_milestone(checkpoint: Path, step: int, keep: int) -> Path:
    """Keep the checkpoint just written as ``checkpoints/step-<step>.pt`` and delete all but the
    ``keep`` latest milestones. A hard link where the file system allows it (no copy: the
    next checkpoint.pt is a new file, renamed over this name, so the link keeps this one),
    else a copy written atomically."""
    folder = checkpoint.parent / MILESTONES
    folder.mkdir(exist_ok=True)
    milestone = folder / f"step-{step:012d}.pt"
    if not milestone.exists():
        try:
            os.link(checkpoint, milestone)
        except OSError:
            atomic_write(milestone, lambda f: f.write(checkpoint.read_bytes()))
    for old in sorted(folder.glob("step-*.pt"))[:-keep]:
        old.unlink(missing_ok=True)
    return milestone


def _unpickler_reason(message: str) -> str:
    """The line of torch's refusal that names the object it would not unpickle."""
    for line in message.splitlines():
        if "GLOBAL" in line:
            reason = line.split("WeightsUnpickler error:", 1)[-1].strip()
            return reason.split(" was not an allowed global")[0].rstrip(".")
    return "unsafe content"


def load_checkpoint(path: str | os.PathLike, required: tuple[str, ...] = ()) -> dict[str, Any]:
    """Load an mrft checkpoint safely; any problem becomes a one-line :class:`MrftError`.

    ``required`` lists the top-level entries the caller needs (resume needs more than eval).
    """
    path = Path(path)
    if not path.exists():
        raise MrftError(f"checkpoint not found: {path}")
    if path.is_dir():
        raise MrftError(f"checkpoint path is a folder, not a file: {path}")
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            data = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as exc:
        message = str(exc)
        if isinstance(exc, pickle.UnpicklingError) and "GLOBAL" in message:
            raise MrftError(
                f"refusing to load {path}: it holds pickled objects, not only tensors "
                f"({_unpickler_reason(message)})"
            ) from None
        first = message.strip().splitlines()[0] if message.strip() else type(exc).__name__
        if "weights_only" in first:  # torch's advice to load unsafely is never ours
            first = type(exc).__name__
        raise MrftError(f"checkpoint {path} is corrupted or not a torch file ({first})") from None
    if not isinstance(data, dict) or data.get("format") != FORMAT:
        raise MrftError(f"{path} is not an mrft checkpoint (no '{FORMAT}' marker)")
    if data.get("format_version") != FORMAT_VERSION:
        raise MrftError(
            f"{path} has checkpoint format {data.get('format_version')}, this mrft reads {FORMAT_VERSION}"
        )
    if "digest" in data and content_digest(
            {k: v for k, v in data.items() if k != "digest"}) != data["digest"]:
        raise MrftError(f"checkpoint {path} is corrupted: its content does not match the digest "
                        "written with it (restore it from a copy, or start a new run)")
    missing = [key for key in required if key not in data]
    if missing:
        raise MrftError(f"checkpoint {path} is incomplete: missing {', '.join(missing)}")
    return data


def load_module_state(module: torch.nn.Module, state: dict[str, Any], path: str | os.PathLike) -> None:
    """``module.load_state_dict`` with a one-line error saying how the networks differ."""
    mismatch = describe_state_mismatch(module.state_dict(), state)
    if mismatch:
        raise MrftError(f"checkpoint {path} holds a different network ({mismatch}); was it "
                        "trained on another env or with other --torso/--hidden-sizes?")
    try:
        module.load_state_dict(state)
    except (RuntimeError, KeyError, TypeError) as exc:
        first = str(exc).strip().splitlines()[0]
        raise MrftError(f"checkpoint {path} does not fit this network ({first})") from None


def describe_state_mismatch(expected: dict[str, Any], found: Any) -> str:
    """'' when ``found`` has the names and shapes of ``expected``; otherwise what differs,
    with the first example of each kind."""
    if not isinstance(found, dict):
        return f"weights are a {type(found).__name__}, not a name-to-tensor table"
    missing = [name for name in expected if name not in found]
    unexpected = [name for name in found if name not in expected]
    reshaped = [
        f"{name}: {_shape(found[name])} in the checkpoint, {_shape(tensor)} here"
        for name, tensor in expected.items()
        if name in found and _shape(found[name]) != _shape(tensor)
    ]
    parts = []
    for label, names in (("missing", missing), ("unexpected", unexpected),
                         ("of another shape", reshaped)):
        if names:
            parts.append(f"{len(names)} {label}, e.g. {names[0]}")
    return "; ".join(parts)


def _shape(value: Any) -> list[int] | str:
    return list(value.shape) if isinstance(value, torch.Tensor) else type(value).__name__
