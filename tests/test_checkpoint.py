"""Checkpoints are atomic, safe to load, and every bad file gives one clear error."""

import os

import pytest
import torch

from mrft.checkpoint import load_checkpoint, rng_state, save_checkpoint, set_rng_state
from mrft.errors import MrftError


def test_roundtrip_and_no_temp_files_left(tmp_path):
    path = save_checkpoint(tmp_path / "c.pt", {"model": {"w": torch.ones(2)}, "counters": {"n": 3}})
    data = load_checkpoint(path)
    assert torch.equal(data["model"]["w"], torch.ones(2)) and data["counters"]["n"] == 3
    assert "torch" in data["versions"]
    assert os.listdir(tmp_path) == ["c.pt"]


def test_failed_write_keeps_previous_checkpoint(tmp_path, monkeypatch):
    path = save_checkpoint(tmp_path / "c.pt", {"model": {"w": torch.zeros(1)}})

    def boom(*args, **kwargs):
        raise OSError("disk full")

    monkeypatch.setattr(torch, "save", boom)
    with pytest.raises(OSError):
        save_checkpoint(path, {"model": {"w": torch.ones(1)}})
    monkeypatch.undo()
    assert torch.equal(load_checkpoint(path)["model"]["w"], torch.zeros(1))
    assert os.listdir(tmp_path) == ["c.pt"]


def test_rng_state_roundtrip():
    import random

    import numpy as np

    state = rng_state()
    a = (torch.rand(2), np.random.rand(), random.random())
    set_rng_state(state)
    b = (torch.rand(2), np.random.rand(), random.random())
    assert torch.equal(a[0], b[0]) and a[1] == b[1] and a[2] == b[2]


def _error(path):
    with pytest.raises(MrftError) as info:
        load_checkpoint(path)
    assert "\n" not in str(info.value)
    return str(info.value)


def test_missing(tmp_path):
    assert "not found" in _error(tmp_path / "nope.pt")


def test_corrupted(tmp_path):
    path = save_checkpoint(tmp_path / "c.pt", {"model": {"w": torch.ones(100)}})
    data = path.read_bytes()
    path.write_bytes(data[: len(data) // 2])
    assert "corrupted" in _error(path)
    path.write_bytes(b"this is not a checkpoint")
    assert "corrupted" in _error(path)


def test_foreign_torch_file(tmp_path):
    torch.save({"state_dict": {"w": torch.ones(1)}}, tmp_path / "other.pt")
    assert "not an mrft checkpoint" in _error(tmp_path / "other.pt")


class _Evil:
    def __reduce__(self):
        return (os.system, ("echo pwned",))


def test_pickled_objects_are_refused(tmp_path):
    torch.save({"format": "mrft-checkpoint", "x": _Evil()}, tmp_path / "evil.pt")
    message = _error(tmp_path / "evil.pt")
    assert "refusing" in message and "pickled objects" in message


def test_incomplete_checkpoint_names_what_is_missing(tmp_path):
    path = save_checkpoint(tmp_path / "c.pt", {"config": {}})
    message = _error_required(path, ("config", "model", "optimizer"))
    assert "missing model, optimizer" in message


def _error_required(path, required):
    with pytest.raises(MrftError) as info:
        load_checkpoint(path, required=required)
    return str(info.value)


def test_mismatched_weights_are_one_line_error():
    from mrft.checkpoint import load_module_state

    with pytest.raises(MrftError) as info:
        load_module_state(torch.nn.Linear(2, 2), {"weight": torch.ones(3, 3), "extra": 1}, "x.pt")
    message = str(info.value)
    assert "\n" not in message and "x.pt holds a different network" in message
    assert "1 missing, e.g. bias" in message
    assert "1 unexpected, e.g. extra" in message
    assert "1 of another shape, e.g. weight: [3, 3] in the checkpoint, [2, 2] here" in message
    with pytest.raises(MrftError, match="not a name-to-tensor table"):
        load_module_state(torch.nn.Linear(2, 2), [1, 2], "x.pt")


def test_flipped_tensor_bytes_are_refused_without_unsafe_advice(tmp_path):
    weights = torch.arange(4096, dtype=torch.float32)
    path = save_checkpoint(tmp_path / "c.pt", {"model": {"w": weights}})
    raw = bytearray(path.read_bytes())
    start = raw.find(weights.numpy().tobytes()[:256]) + 1024
    assert start > 1024
    for i in range(start, start + 64):
        raw[i] ^= 0xFF
    path.write_bytes(bytes(raw))
    with pytest.raises(MrftError) as info:
        load_checkpoint(path)
    text = str(info.value)
    assert "corrupted" in text and "digest" in text and "\n" not in text
    assert "weights_only" not in text
