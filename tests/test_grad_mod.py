"""GradientModulator on hand-made gradients: weights, projection, EMAs, noise and state."""

from __future__ import annotations

import io
import math
from collections.abc import Iterator

import pytest
import torch
from torch import nn

from mrft.algos.mrft.grad_mod import (
    GradientModulator,
    GradModConfig,
    assign_flat_grad,
    cosine,
    flatten_grads,
    modulation_weights,
    project_conflicting,
)

F64 = torch.float64


def t64(*rows: list[float]) -> torch.Tensor:
    return torch.tensor(rows, dtype=F64)


def make(num_params: int = 3, seed: int = 0, **cfg_kwargs: object) -> GradientModulator:
    """A float64 modulator without noise unless the test asks for it."""
    cfg_kwargs.setdefault("noise_eta", 0.0)
    return GradientModulator(num_params, GradModConfig(**cfg_kwargs), seed=seed, dtype=F64)


def primed(mode: str = "project") -> GradientModulator:
    """A modulator whose meta-gradient is exactly [1, 0, 0] after one call."""
    mod = make(mode=mode)
    mod.combine(t64([1.0, 0.0, 0.0]), [0])
    assert torch.equal(mod.meta_gradient, torch.tensor([1.0, 0.0, 0.0], dtype=F64))
    return mod


def test_helpers_on_hand_made_vectors() -> None:
    m = torch.tensor([1.0, 0.0], dtype=F64)
    assert cosine(torch.zeros(2, dtype=F64), m).item() == 0.0
    assert cosine(m, torch.zeros(2, dtype=F64)).item() == 0.0
    cos = cosine(t64([2.0, 0.0], [0.0, 5.0], [-3.0, 0.0]), m)
    assert torch.allclose(cos, torch.tensor([1.0, 0.0, -1.0], dtype=F64))
    assert torch.allclose(modulation_weights(cos), torch.tensor([1.0, 0.5, 0.0], dtype=F64))
    projected = project_conflicting(t64([2.0, 1.0], [-1.0, 1.0]), m)
    assert torch.equal(projected, t64([2.0, 1.0], [0.0, 1.0]))
    g = torch.tensor([-1.0, 1.0], dtype=F64)
    assert torch.equal(project_conflicting(g, torch.zeros(2, dtype=F64)), g)


def test_first_call_weights_everything_one_and_sets_meta() -> None:
    mod = make()
    combined, stats = mod.combine(t64([2.0, 0.0, 0.0], [0.0, 2.0, 0.0]), [0, 1])
    assert torch.equal(combined, torch.tensor([1.0, 1.0, 0.0], dtype=F64))
    assert torch.equal(mod.meta_gradient, combined)
    assert "grad_similarity" not in stats
    assert stats["weight_mean"] == 1.0 and stats["conflict_frac"] == 0.0
    assert stats["noise_std"] == 0.0 and stats["nonfinite_tasks"] == 0.0
    assert mod.steps == 1


@pytest.mark.parametrize("mode", ["project", "downweight"])
def test_aligned_gradient_has_weight_one(mode: str) -> None:
    mod = primed(mode)
    g = t64([2.0, 0.0, 0.0])
    combined, stats = mod.combine(g, [0])
    assert torch.equal(combined, g[0])
    assert stats["weight_mean"] == 1.0
    assert stats["grad_similarity"] == 1.0
    assert stats["conflict_frac"] == 0.0


@pytest.mark.parametrize("mode", ["project", "downweight"])
def test_orthogonal_gradient_has_weight_half(mode: str) -> None:
    mod = primed(mode)
    combined, stats = mod.combine(t64([0.0, 3.0, 0.0]), [0])
    assert torch.equal(combined, torch.tensor([0.0, 1.5, 0.0], dtype=F64))
    assert stats["weight_mean"] == 0.5
    assert stats["grad_similarity"] == 0.0


def test_project_mode_removes_conflicting_component() -> None:
    mod = primed("project")
    combined, stats = mod.combine(t64([-2.0, 0.0, 0.0], [-1.0, 1.0, 0.0]), [0, 1])
    m = torch.tensor([1.0, 0.0, 0.0], dtype=F64)
    # The opposite row projects to zero; the other to [0, 1, 0], weighted 0.5 as orthogonal.
    assert torch.allclose(combined, torch.tensor([0.0, 0.25, 0.0], dtype=F64))
    assert (combined @ m).item() == 0.0
    assert stats["conflict_frac"] == 1.0
    assert stats["weight_mean"] == 0.5
    assert stats["grad_similarity"] == pytest.approx((-1.0 - 1.0 / math.sqrt(2.0)) / 2.0)


def test_downweight_mode_gives_opposite_gradient_zero_weight() -> None:
    mod = primed("downweight")
    combined, stats = mod.combine(t64([-2.0, 0.0, 0.0]), [0])
    assert torch.equal(combined, torch.zeros(3, dtype=F64))
    assert stats["weight_mean"] == 0.0
    assert stats["grad_similarity"] == -1.0
    assert stats["conflict_frac"] == 1.0


def test_meta_gradient_ema_after_two_calls() -> None:
    mod = make(num_params=2, meta_ema=0.9)
    mod.combine(t64([2.0, 0.0], [0.0, 2.0]), [0, 1])
    assert torch.equal(mod.meta_gradient, torch.tensor([1.0, 1.0], dtype=F64))
    # Row 0 is aligned with m = [1, 1] (weight 1), row 1 orthogonal (weight 0.5):
    # combined = ([1, 1] + 0.5 * [3, -3]) / 2 = [1.25, -0.25].
    combined, stats = mod.combine(t64([1.0, 1.0], [3.0, -3.0]), [0, 1])
    assert torch.allclose(combined, torch.tensor([1.25, -0.25], dtype=F64))
    expected = 0.9 * torch.tensor([1.0, 1.0], dtype=F64) + 0.1 * combined
    assert torch.allclose(mod.meta_gradient, expected)
    assert torch.allclose(mod.meta_gradient, torch.tensor([1.025, 0.875], dtype=F64))
    assert stats["weight_mean"] == pytest.approx(0.75)
    assert stats["grad_similarity"] == pytest.approx(0.5)


def test_memory_bank_emas_with_a_skipped_task() -> None:
    mod = make(num_params=2, bank_ema=0.5)
    mod.combine(t64([1.0, 2.0], [3.0, -1.0]), [0, 1])
    assert torch.equal(mod.bank_mean(0), torch.tensor([1.0, 2.0], dtype=F64))
    assert torch.equal(mod.bank_second_moment(1), torch.tensor([9.0, 1.0], dtype=F64))
    assert mod.bank_cos(0) is None and mod.bank_cos(1) is None

    # Task 1 skips this call; m is now [2, 0.5].
    mod.combine(t64([3.0, 0.0]), [0])
    assert torch.allclose(mod.bank_mean(0), torch.tensor([2.0, 1.0], dtype=F64))
    assert torch.allclose(mod.bank_second_moment(0), torch.tensor([5.0, 2.0], dtype=F64))
    assert torch.equal(mod.bank_mean(1), torch.tensor([3.0, -1.0], dtype=F64))
    assert mod.bank_cos(0) == pytest.approx(2.0 / math.sqrt(4.25))
    assert mod.bank_cos(1) is None

    mod.combine(t64([1.0, 1.0]), [1])
    assert torch.allclose(mod.bank_mean(1), torch.tensor([2.0, 0.0], dtype=F64))
    assert torch.allclose(mod.bank_second_moment(1), torch.tensor([5.0, 1.0], dtype=F64))
    assert mod.bank_cos(1) is not None
    assert mod.task_ids == [0, 1]
    with pytest.raises(KeyError):
        mod.bank_mean(7)


def test_noise_variance_schedule_exact() -> None:
    mod = GradientModulator(2, GradModConfig(noise_eta=0.3, noise_gamma=0.55))
    assert mod.noise_variance(0) == 0.3
    assert mod.noise_variance(9) == 0.3 / 10.0**0.55
    assert make(2).noise_variance(5) == 0.0


@pytest.fixture
def single_thread() -> Iterator[None]:
    """One intra-op thread while a test works on large vectors.

    On a small machine shared with other jobs, two OpenMP threads contending for busy cores
    make each elementwise op many times slower than one thread alone.
    """
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        yield
    finally:
        torch.set_num_threads(threads)


@pytest.mark.usefixtures("single_thread")
def test_empirical_noise_variance_follows_schedule() -> None:
    num_params = 200_000
    mod = make(num_params, noise_eta=1.0, noise_gamma=0.55)
    zeros = torch.zeros(1, num_params, dtype=F64)
    variances = {}
    for t in range(10):
        combined, stats = mod.combine(zeros, [0])
        variances[t] = combined.var().item()
        assert stats["noise_std"] == pytest.approx(math.sqrt(mod.noise_variance(t)))
    for t in (0, 9):
        assert variances[t] == pytest.approx(1.0 / (1.0 + t) ** 0.55, rel=0.05)


def test_same_seed_gives_identical_noise() -> None:
    grads = t64([1.0, -2.0, 0.5], [0.0, 1.0, 1.0])
    outs = []
    for seed in (3, 3, 4):
        mod = make(seed=seed, noise_eta=0.1)
        outs.append([mod.combine(grads, [0, 1])[0] for _ in range(2)])
    assert all(torch.equal(a, b) for a, b in zip(outs[0], outs[1], strict=True))
    assert not torch.equal(outs[0][0], outs[2][0])


def test_state_dict_round_trip_gives_identical_next_output() -> None:
    grads = t64([1.0, -2.0, 0.5], [0.0, 1.0, 1.0])
    mod = make(seed=1, noise_eta=0.1, bank_ema=0.5)
    mod.combine(grads, [0, 1])
    mod.combine(-grads[:1], [2])

    buffer = io.BytesIO()
    torch.save(mod.state_dict(), buffer)
    buffer.seek(0)
    state = torch.load(buffer, weights_only=True)
    restored = make(seed=99, noise_eta=0.1, bank_ema=0.5)
    restored.load_state_dict(state)

    assert restored.steps == mod.steps == 2
    for task_id in (0, 1, 2):
        assert torch.equal(restored.bank_mean(task_id), mod.bank_mean(task_id))
        assert restored.bank_cos(task_id) == mod.bank_cos(task_id)
    expected, expected_stats = mod.combine(grads, [1, 0])
    actual, actual_stats = restored.combine(grads, [1, 0])
    assert torch.equal(actual, expected)
    assert actual_stats == expected_stats

    with pytest.raises(ValueError, match="num_params"):
        make(num_params=4).load_state_dict(state)


def test_flatten_and_assign_round_trip() -> None:
    net = nn.Sequential(nn.Linear(3, 2), nn.Linear(2, 1, bias=False))
    params = list(net.parameters())
    grads = [torch.randn_like(p) for p in params]
    grads[1] = None
    flat = flatten_grads(grads, params)
    assert flat.shape == (sum(p.numel() for p in params),)

    params[0].grad = torch.full_like(params[0], 7.0)
    assign_flat_grad(flat, params)
    for param, grad in zip(params, grads, strict=True):
        assert param.grad is not None and param.grad.shape == param.shape
        assert torch.equal(param.grad, grad if grad is not None else torch.zeros_like(param))
    assert torch.equal(flatten_grads([p.grad for p in params], params), flat)
    with pytest.raises(ValueError):
        assign_flat_grad(flat[:-1], params)


def test_nonfinite_rows_are_dropped() -> None:
    mod = make()
    grads = t64([float("nan"), 0.0, 0.0], [1.0, 2.0, 3.0], [0.0, float("inf"), 0.0])
    combined, stats = mod.combine(grads, [0, 1, 2])
    assert torch.equal(combined, grads[1])
    assert stats["nonfinite_tasks"] == 2.0
    assert mod.task_ids == [1]

    meta = mod.meta_gradient
    combined, stats = mod.combine(t64([float("nan"), 0.0, 0.0]), [1])
    assert torch.equal(combined, torch.zeros(3, dtype=F64))
    assert stats["nonfinite_tasks"] == 1.0
    assert torch.equal(mod.meta_gradient, meta)
    assert mod.steps == 2


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("mode", "average"),
        ("meta_ema", 1.0),
        ("meta_ema", -0.1),
        ("bank_ema", 1.5),
        ("noise_eta", -1e-3),
        ("noise_gamma", -0.5),
        ("noise_gamma", float("nan")),
    ],
)
def test_config_validation_names_the_field(field: str, value: object) -> None:
    with pytest.raises(ValueError, match=field):
        GradModConfig(**{field: value})


def test_input_validation() -> None:
    mod = make()
    with pytest.raises(ValueError, match="shape"):
        mod.combine(torch.zeros(3, dtype=F64), [0])
    with pytest.raises(ValueError, match="shape"):
        mod.combine(torch.zeros(1, 4, dtype=F64), [0])
    with pytest.raises(ValueError, match="task ids"):
        mod.combine(torch.zeros(2, 3, dtype=F64), [0])
