"""Dynamic gradient modulation for combining per-task gradients into one update.

Meta-RL fine-tuning takes one optimiser step on gradients from several tasks at once. A
plain mean lets a task whose gradient points against the consensus cancel progress made
on the others, so :class:`GradientModulator` compares each task gradient ``g_i`` with a
*meta-gradient* ``m`` (an EMA of past combined updates, a slow estimate of the direction
training is moving in) and either removes the conflicting component (PCGrad-style
projection) or down-weights the gradient. The weight ``w_i = (1 + cos(g~_i, m)) / 2`` maps
the similarity onto ``[0, 1]``: an aligned gradient counts fully, an orthogonal one half,
an opposite one (in ``"downweight"`` mode) not at all.

A per-task memory bank keeps EMAs of each task's gradient mean and second moment and of
its cosine to ``m``. They are GradVac-style targets and diagnostics: they tell which tasks
keep conflicting with the consensus, independent of which subset of tasks a batch holds.

Annealed Gaussian gradient noise (Neelakantan et al., 2015) is added to the combined
update with variance ``eta / (1 + t) ** gamma``; it helps escape poor regions early and
fades as training goes on. It is drawn from the modulator's own ``torch.Generator`` so a
run, and a run resumed from :meth:`GradientModulator.state_dict`, is reproducible.

All vectors here are *flat* over the shared parameters; :func:`flatten_grads` and
:func:`assign_flat_grad` convert to and from per-parameter ``.grad`` tensors.
"""

from __future__ import annotations

import dataclasses
import math
import operator
from collections.abc import Sequence
from typing import Any, Literal

import torch

MODES = ("project", "downweight")


@dataclasses.dataclass
class GradModConfig:
    """Hyperparameters of :class:`GradientModulator`.

    ``meta_ema`` is the EMA decay of the meta-gradient, ``bank_ema`` that of the per-task
    memory bank; ``noise_eta`` (0 disables noise) and ``noise_gamma`` set the annealed
    noise variance ``noise_eta / (1 + t) ** noise_gamma``.
    """

    mode: Literal["project", "downweight"] = "project"
    meta_ema: float = 0.9
    bank_ema: float = 0.99
    noise_eta: float = 1e-6
    noise_gamma: float = 0.55

    def __post_init__(self) -> None:
        self.validate()

    def validate(self) -> None:
        """Raise ``ValueError`` naming the first invalid field.

        Also called by the modulator, since a dataclass can be mutated after construction.
        Written as ``not (valid)`` so that NaN fails every check.
        """
        if self.mode not in MODES:
            raise ValueError(f"mode must be one of {MODES}, got {self.mode!r}")
        for name in ("meta_ema", "bank_ema"):
            value = getattr(self, name)
            if not 0.0 <= value < 1.0:
                raise ValueError(f"{name} must satisfy 0 <= {name} < 1, got {value!r}")
        for name in ("noise_eta", "noise_gamma"):
            value = getattr(self, name)
            if not (math.isfinite(value) and value >= 0.0):
                raise ValueError(f"{name} must be finite and >= 0, got {value!r}")


def cosine(a: torch.Tensor, b: torch.Tensor, eps: float = 1e-12) -> torch.Tensor:
    """Cosine similarity along the last dimension, broadcasting ``a`` ``[..., P]`` with ``b``.

    A zero vector has no direction, so its similarity to anything is defined as 0 rather
    than NaN: the dot product is then exactly 0 and each norm is clamped to ``eps``. The
    result is clamped to ``[-1, 1]`` so rounding cannot push a weight outside ``[0, 1]``.
    """
    dot = (a * b).sum(dim=-1)
    norm_a = torch.linalg.vector_norm(a, dim=-1).clamp_min(eps)
    norm_b = torch.linalg.vector_norm(b, dim=-1).clamp_min(eps)
    return (dot / (norm_a * norm_b)).clamp(-1.0, 1.0)


def project_conflicting(g: torch.Tensor, m: torch.Tensor) -> torch.Tensor:
    """Remove the component of ``g`` (``[P]`` or ``[n, P]``) along ``m`` where ``g . m < 0``.

    Only conflicting gradients are projected (PCGrad): the part of a gradient that agrees
    with ``m`` is useful signal and is left alone. The result of a projection is orthogonal
    to ``m``; a zero ``m`` leaves ``g`` unchanged.
    """
    dot = (g * m).sum(dim=-1, keepdim=True)
    m_sq = (m * m).sum()
    if m_sq <= 0:
        return g.clone()
    coef = torch.where(dot < 0, dot / m_sq, torch.zeros_like(dot))
    return g - coef * m


def modulation_weights(cos: torch.Tensor) -> torch.Tensor:
    """Map cosine similarities to weights ``(1 + cos) / 2`` in ``[0, 1]``.

    Linear in the cosine so the weight degrades smoothly as a gradient turns away from the
    consensus, instead of a hard accept / reject threshold.
    """
    return ((1.0 + cos) * 0.5).clamp(0.0, 1.0)


def annealed_noise_variance(t: int, eta: float, gamma: float) -> float:
    """Per-coordinate noise variance ``eta / (1 + t) ** gamma`` at step ``t >= 0``."""
    if t < 0:
        raise ValueError(f"t must be >= 0, got {t}")
    return eta / (1.0 + t) ** gamma


def flatten_grads(
    grads: Sequence[torch.Tensor | None], params: Sequence[torch.Tensor]
) -> torch.Tensor:
    """Concatenate per-parameter gradients into one flat vector in ``params`` order.

    ``torch.autograd.grad(..., allow_unused=True)`` returns ``None`` for parameters a task's
    loss does not touch; they contribute zeros so every task's vector has the same layout.
    """
    if len(grads) != len(params):
        raise ValueError(f"got {len(grads)} gradients for {len(params)} parameters")
    if not params:
        return torch.zeros(0)
    pieces = []
    for i, (grad, param) in enumerate(zip(grads, params, strict=True)):
        if grad is None:
            pieces.append(torch.zeros(param.numel(), dtype=param.dtype, device=param.device))
            continue
        if grad.shape != param.shape:
            raise ValueError(
                f"gradient {i} has shape {tuple(grad.shape)}, parameter has {tuple(param.shape)}"
            )
        pieces.append(grad.detach().reshape(-1))
    return torch.cat(pieces)


def assign_flat_grad(flat: torch.Tensor, params: Sequence[torch.Tensor]) -> None:
    """Write ``flat`` into the ``.grad`` of each parameter, restoring shapes, dtype and device.

    This is how the combined gradient reaches an ordinary ``torch.optim`` optimiser. An
    existing ``.grad`` is overwritten in place (not accumulated into) so the optimiser sees
    exactly the combined update.
    """
    total = sum(p.numel() for p in params)
    if flat.dim() != 1 or flat.numel() != total:
        raise ValueError(
            f"flat gradient must be 1-D with {total} elements, got shape {tuple(flat.shape)}"
        )
    offset = 0
    with torch.no_grad():
        for param in params:
            n = param.numel()
            chunk = (
                flat[offset : offset + n]
                .view(param.shape)
                .to(device=param.device, dtype=param.dtype)
            )
            offset += n
            if param.grad is None or param.grad.shape != param.shape:
                param.grad = chunk.detach().clone()
            else:
                param.grad.copy_(chunk)


@dataclasses.dataclass
class _BankEntry:
    """Memory-bank state of one task: EMA gradient mean, second moment and cosine to ``m``."""

    mean: torch.Tensor
    second_moment: torch.Tensor
    cos_ema: float | None = None


class GradientModulator:
    """Combine per-task flat gradients ``[n, P]`` into one update ``[P]``; see the module doc.

    State (meta-gradient, memory bank, step count, noise generator) lives in ``dtype`` on
    ``device``; inputs are cast to it and the combined gradient is returned in it.
    """

    def __init__(
        self,
        num_params: int,
        cfg: GradModConfig | None = None,
        seed: int = 0,
        device: torch.device | str | None = None,
        dtype: torch.dtype = torch.float32,
    ) -> None:
        if num_params < 1:
            raise ValueError(f"num_params must be >= 1, got {num_params}")
        if not dtype.is_floating_point:
            raise ValueError(f"dtype must be a floating point type, got {dtype}")
        self.cfg = cfg if cfg is not None else GradModConfig()
        self.cfg.validate()
        self.num_params = int(num_params)
        self.device = torch.device(device if device is not None else "cpu")
        self.dtype = dtype
        self._meta = torch.zeros(self.num_params, dtype=dtype, device=self.device)
        self._bank: dict[int, _BankEntry] = {}
        self._steps = 0
        self._generator = torch.Generator(device=self.device)
        self._generator.manual_seed(seed)

    @property
    def steps(self) -> int:
        """Number of :meth:`combine` calls so far (the ``t`` of the noise schedule)."""
        return self._steps

    @property
    def meta_gradient(self) -> torch.Tensor:
        """A copy of the meta-gradient ``m`` (zeros until the first usable call)."""
        return self._meta.clone()

    @property
    def task_ids(self) -> list[int]:
        """Task ids present in the memory bank, in first-seen order."""
        return list(self._bank)

    def noise_variance(self, t: int) -> float:
        """Per-coordinate noise variance at step ``t`` under this modulator's config."""
        return annealed_noise_variance(t, self.cfg.noise_eta, self.cfg.noise_gamma)

    def bank_mean(self, task_id: int) -> torch.Tensor:
        """EMA of task ``task_id``'s gradient (``KeyError`` if never seen)."""
        return self._bank[task_id].mean.clone()

    def bank_second_moment(self, task_id: int) -> torch.Tensor:
        """Elementwise EMA of task ``task_id``'s squared gradient (``KeyError`` if never seen)."""
        return self._bank[task_id].second_moment.clone()

    def bank_cos(self, task_id: int) -> float | None:
        """EMA of task ``task_id``'s cosine to ``m``; ``None`` until a cosine was defined."""
        return self._bank[task_id].cos_ema

    @torch.no_grad()
    def combine(
        self, task_grads: torch.Tensor, task_ids: Sequence[int]
    ) -> tuple[torch.Tensor, dict[str, float]]:
        """Combine ``task_grads`` ``[n, P]`` (row ``i`` from task ``task_ids[i]``) into ``[P]``.

        Rows with any non-finite value are dropped: one diverged task must not poison the
        shared update, the meta-gradient or the bank. If every row is dropped the result is
        a zero vector (no noise) and no state but the step count changes.

        ``stats`` holds ``grad_similarity`` (mean cosine of the raw rows to ``m``; absent
        while ``m`` is zero, i.e. on the first call), ``conflict_frac`` (fraction of rows
        with cosine < 0), ``weight_mean``, ``noise_std`` and ``nonfinite_tasks``, all over
        the rows kept.
        """
        cfg = self.cfg
        cfg.validate()
        if task_grads.dim() != 2 or task_grads.shape[1] != self.num_params:
            raise ValueError(
                f"task_grads must have shape [n, {self.num_params}], got {tuple(task_grads.shape)}"
            )
        ids = [operator.index(task_id) for task_id in task_ids]
        if len(ids) != task_grads.shape[0]:
            raise ValueError(f"got {len(ids)} task ids for {task_grads.shape[0]} gradients")

        grads = task_grads.detach().to(self.device, self.dtype)
        finite = torch.isfinite(grads).all(dim=1)
        num_dropped = int((~finite).sum())
        keep = finite.nonzero().flatten().tolist()
        grads = grads[finite]
        ids = [ids[i] for i in keep]
        t = self._steps
        self._steps += 1

        stats: dict[str, float] = {"nonfinite_tasks": float(num_dropped)}
        if not ids:
            stats.update(conflict_frac=0.0, weight_mean=0.0, noise_std=0.0)
            return torch.zeros(self.num_params, dtype=self.dtype, device=self.device), stats

        m = self._meta
        # A zero ``m`` (the first call) carries no direction to compare with, so every row
        # counts fully and ``m`` is then set to the combined gradient itself, not an EMA
        # step from zero, so that cosines are meaningful from the next call on.
        has_direction = bool(torch.linalg.vector_norm(m) > 0)
        if has_direction:
            cos = cosine(grads, m)
            if cfg.mode == "project":
                modulated = project_conflicting(grads, m)
                weights = modulation_weights(cosine(modulated, m))
            else:
                modulated = grads
                weights = modulation_weights(cos)
            combined = (weights.unsqueeze(1) * modulated).mean(dim=0)
            stats["grad_similarity"] = float(cos.mean())
            stats["conflict_frac"] = float((cos < 0).to(self.dtype).mean())
            stats["weight_mean"] = float(weights.mean())
            m.mul_(cfg.meta_ema).add_(combined, alpha=1.0 - cfg.meta_ema)
        else:
            cos = None
            combined = grads.mean(dim=0)
            stats["conflict_frac"] = 0.0
            stats["weight_mean"] = 1.0
            m.copy_(combined)

        self._update_bank(grads, ids, cos)

        # Noise is added after ``m`` is updated: it explores, it is not evidence about the
        # direction training should go, so the meta-gradient tracks the clean update.
        variance = self.noise_variance(t)
        std = math.sqrt(variance)
        stats["noise_std"] = std
        if variance > 0:
            noise = torch.randn(
                self.num_params, generator=self._generator, dtype=self.dtype, device=self.device
            )
            combined = combined + std * noise
        return combined, stats

    def _update_bank(self, grads: torch.Tensor, ids: list[int], cos: torch.Tensor | None) -> None:
        """EMA-update each row's task entry; a new task starts at its first gradient.

        Starting at the first observation rather than zero avoids the bias toward zero a
        zero-initialised EMA would have for tasks seen only a few times.
        """
        b = self.cfg.bank_ema
        cos_values = cos.tolist() if cos is not None else [None] * len(ids)
        for task_id, g, c in zip(ids, grads, cos_values, strict=True):
            entry = self._bank.get(task_id)
            if entry is None:
                entry = _BankEntry(mean=g.clone(), second_moment=g.square())
                self._bank[task_id] = entry
            else:
                entry.mean.mul_(b).add_(g, alpha=1.0 - b)
                entry.second_moment.mul_(b).add_(g.square(), alpha=1.0 - b)
            if c is not None:
                entry.cos_ema = c if entry.cos_ema is None else b * entry.cos_ema + (1.0 - b) * c

    def state_dict(self) -> dict[str, Any]:
        """Tensors and plain Python only, so ``torch.load(weights_only=True)`` accepts it.

        The bank is stored as a list of task ids with stacked ``[k, P]`` tensors, since
        int-keyed dicts of custom objects are not plain data. The config is not included: it
        comes from the constructor, like an optimiser's hyperparameters.
        """
        ids = list(self._bank)
        entries = [self._bank[i] for i in ids]
        empty = self._meta.new_zeros(0, self.num_params)
        return {
            "num_params": self.num_params,
            "steps": self._steps,
            "meta": self._meta.clone(),
            "bank_task_ids": ids,
            "bank_mean": torch.stack([e.mean for e in entries]) if entries else empty,
            "bank_second_moment": (
                torch.stack([e.second_moment for e in entries]) if entries else empty.clone()
            ),
            "bank_cos": [e.cos_ema for e in entries],
            "generator": self._generator.get_state(),
        }

    def load_state_dict(self, state: dict[str, Any]) -> None:
        """Restore what :meth:`state_dict` saved, cast to this modulator's dtype and device."""
        if int(state["num_params"]) != self.num_params:
            raise ValueError(
                f"state has num_params={state['num_params']}, modulator has {self.num_params}"
            )
        ids = [operator.index(i) for i in state["bank_task_ids"]]
        means = state["bank_mean"]
        seconds = state["bank_second_moment"]
        cos_values = list(state["bank_cos"])
        expected = (len(ids), self.num_params)
        if tuple(means.shape) != expected or tuple(seconds.shape) != expected:
            raise ValueError(f"bank tensors must have shape {expected}")
        if len(cos_values) != len(ids):
            raise ValueError("bank_cos must have one entry per task id")
        meta = state["meta"]
        if tuple(meta.shape) != (self.num_params,):
            raise ValueError(f"meta must have shape ({self.num_params},)")

        self._steps = int(state["steps"])
        self._meta = meta.detach().to(self.device, self.dtype).clone()
        self._bank = {
            task_id: _BankEntry(
                mean=means[k].detach().to(self.device, self.dtype).clone(),
                second_moment=seconds[k].detach().to(self.device, self.dtype).clone(),
                cos_ema=None if c is None else float(c),
            )
            for k, (task_id, c) in enumerate(zip(ids, cos_values, strict=True))
        }
        self._generator.set_state(state["generator"].cpu())
