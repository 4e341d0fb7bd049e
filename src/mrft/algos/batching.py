"""Splitting a prepared batch into shuffled minibatches, shared by every algorithm."""

from __future__ import annotations

from collections.abc import Iterator

import torch


def shuffled_minibatches(
    data: dict[str, torch.Tensor], num_minibatches: int, generator: torch.Generator
) -> Iterator[dict[str, torch.Tensor]]:
    """Yield ``num_minibatches`` (the last may be smaller) random slices along dimension 0.

    The permutation comes from ``generator`` so that a checkpointed generator state
    reproduces the same minibatches after a resume.
    """
    first = next(iter(data.values()))
    n = first.shape[0]
    order = torch.randperm(n, generator=generator).to(first.device)
    size = max(1, -(-n // int(num_minibatches)))
    for start in range(0, n, size):
        idx = order[start : start + size]
        yield {k: v[idx] for k, v in data.items()}
