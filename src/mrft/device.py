"""Where a run computes and how its random streams start."""

from __future__ import annotations

import random

import numpy as np
import torch

from mrft.errors import MrftError


def seed_everything(seed: int) -> None:
    random.seed(seed)
    np.random.seed(seed % 2**32)
    torch.manual_seed(seed)


def pick_device(name: str) -> torch.device:
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    try:
        device = torch.device(name)
    except RuntimeError as exc:
        raise MrftError(f"bad --device {name!r}: {exc}") from None
    if device.type == "cuda" and not torch.cuda.is_available():
        raise MrftError(f"--device {name} asked for CUDA but no GPU is available")
    return device
