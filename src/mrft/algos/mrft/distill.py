"""Progressive distillation of a meta-trained teacher into a plain student policy.

The meta-trained policy is conditioned on a context (recent transitions, a task
embedding) that is expensive or unavailable at deployment, so the policy that ships
is a plain network, the *student*. Copying the teacher in one shot with RL alone
throws away what meta-training learned, and pure imitation caps the student at the
teacher's (not yet adapted) skill. The distillation therefore runs in three stages
on the new task's states:

1. **feature alignment** - regress the student's hidden activations onto the
   teacher's, so the student starts from the teacher's representation rather than
   from random features;
2. **policy distillation** - minimise ``KL(teacher || student)`` between the action
   distributions, the forward KL, which is mass-covering: the student keeps every
   action the teacher considers plausible instead of collapsing onto one mode;
3. **constrained policy search** - optimise the task reward with the caller's
   policy-gradient surrogate plus an adaptive KL penalty to the previous policy
   (PPO's adaptive-KL variant, Schulman et al. 2017), so reward-driven updates
   cannot destroy the distilled behaviour in a few large steps.

Stages 1 and 2 each end when their env-step budget is spent or when their loss
stayed below a tolerance for a few consecutive updates (no point spending budget on
a converged stage); stage 3 is final. The loss math lives in pure functions that
tests call on hand-made tensors; :class:`ProgressiveDistiller` only tracks the
stage and the penalty coefficient.
"""

from __future__ import annotations

import dataclasses
import math
import numbers
from collections.abc import Sequence
from typing import Any

import torch
from torch import Tensor
from torch.distributions import Categorical, Distribution, Independent, Normal, kl_divergence

BETA_MIN = 1e-4
BETA_MAX = 1e3
STAGE_NAMES = {1: "feature alignment", 2: "policy distillation", 3: "constrained policy search"}


@dataclasses.dataclass
class DistillConfig:
    """Settings of :class:`ProgressiveDistiller`; validated on construction.

    ``stage_steps`` are env-step budgets for stages 1 and 2; a budget of 0 skips the
    stage. ``converge_tol``/``patience`` end a stage early once its loss stayed below
    the tolerance for ``patience`` consecutive updates. ``delta`` is the KL bound
    the stage-3 penalty coefficient ``beta`` (starting at ``beta_init``) is adapted
    to respect.
    """

    stage_steps: tuple[int, int] = (2000, 4000)
    converge_tol: float = 1e-3
    patience: int = 3
    feature_coef: float = 1.0
    kl_coef: float = 1.0
    delta: float = 0.02
    beta_init: float = 1.0

    def __post_init__(self) -> None:
        steps = tuple(self.stage_steps)
        if len(steps) != 2 or not all(_is_int(s) and s >= 0 for s in steps):
            raise ValueError(
                f"stage_steps must be two non-negative integers (stage 1, stage 2), got {self.stage_steps!r}"
            )
        self.stage_steps = (int(steps[0]), int(steps[1]))
        if not _is_number(self.converge_tol) or not self.converge_tol >= 0:
            raise ValueError(f"converge_tol must be >= 0, got {self.converge_tol!r}")
        if not _is_int(self.patience) or self.patience < 1:
            raise ValueError(f"patience must be an integer >= 1, got {self.patience!r}")
        for name in ("feature_coef", "kl_coef"):
            value = getattr(self, name)
            if not _is_number(value) or not math.isfinite(value) or value < 0:
                raise ValueError(f"{name} must be a finite number >= 0, got {value!r}")
        if not _is_number(self.delta) or not math.isfinite(self.delta) or self.delta <= 0:
            raise ValueError(f"delta must be a finite number > 0, got {self.delta!r}")
        if not _is_number(self.beta_init) or not BETA_MIN <= self.beta_init <= BETA_MAX:
            raise ValueError(
                f"beta_init must lie in [{BETA_MIN}, {BETA_MAX}], got {self.beta_init!r}"
            )


def _is_int(value: object) -> bool:
    """Integers (NumPy's too) but not bools: ``True`` as a budget or patience is a typo."""
    return isinstance(value, numbers.Integral) and not isinstance(value, bool)


def _is_number(value: object) -> bool:
    return isinstance(value, numbers.Real) and not isinstance(value, bool)


def _masked_mean(values: Tensor, mask: Tensor | None) -> Tensor:
    """Mean over the rows ``mask`` selects and every trailing element of those rows.

    Rows are the leading ``mask.dim()`` dims of ``values`` (``[B]`` for a flat batch,
    ``[T, N]`` for a rollout). An empty selection gives 0 rather than NaN: a
    minibatch made only of padding must not poison the optimiser, and the zero still
    belongs to the graph so ``backward()`` works.
    """
    if mask is not None:
        if mask.dtype != torch.bool:
            raise ValueError(f"mask must be a bool tensor, got dtype {mask.dtype}")
        if tuple(mask.shape) != tuple(values.shape[: mask.dim()]):
            raise ValueError(
                f"mask shape {tuple(mask.shape)} does not match the leading dims of "
                f"the per-sample loss {tuple(values.shape)}"
            )
        values = values[mask]
    return values.sum() / max(values.numel(), 1)


def feature_alignment_loss(
    student_feats: Sequence[Tensor],
    teacher_feats: Sequence[Tensor],
    mask: Tensor | None = None,
) -> Tensor:
    """MSE between matching hidden layers, averaged over layers.

    Each layer's MSE is a mean over the selected rows and the layer's features, so a
    wide layer does not outweigh a narrow one; the per-layer values are then
    averaged. The teacher's activations are detached here: they are the regression
    target, and letting gradient into the teacher would move the target towards the
    student instead.
    """
    if len(student_feats) != len(teacher_feats):
        raise ValueError(
            f"student has {len(student_feats)} feature layers, teacher has {len(teacher_feats)}"
        )
    if len(student_feats) == 0:
        raise ValueError("feature_alignment_loss needs at least one layer")
    losses = []
    for i, (s, t) in enumerate(zip(student_feats, teacher_feats, strict=True)):
        if s.shape != t.shape:
            raise ValueError(
                f"layer {i}: student features {tuple(s.shape)} vs teacher {tuple(t.shape)}"
            )
        losses.append(_masked_mean((s - t.detach()).pow(2), mask))
    return torch.stack(losses).mean()


def _detached(dist: Distribution) -> Distribution:
    """A copy of ``dist`` built from detached parameters.

    Distributions have no generic ``detach``; rebuilding the supported types is the
    only way to guarantee that no gradient reaches the teacher even when the caller
    forgot ``torch.no_grad()``.
    """
    if isinstance(dist, Categorical):
        return Categorical(logits=dist.logits.detach())
    if isinstance(dist, Normal):
        return Normal(dist.loc.detach(), dist.scale.detach())
    if isinstance(dist, Independent):
        return Independent(_detached(dist.base_dist), dist.reinterpreted_batch_ndims)
    raise TypeError(
        f"unsupported teacher distribution {type(dist).__name__}: "
        "use Categorical, Normal or Independent(Normal)"
    )


def policy_distillation_loss(
    teacher: Distribution,
    student: Distribution,
    mask: Tensor | None = None,
    continuous: bool | None = None,
) -> Tensor:
    """``KL(teacher || student)`` averaged over the selected rows.

    The forward KL is the mass-covering direction: the student is penalised for
    assigning low probability to any action the teacher likes, which is what we want
    from a student that must keep the teacher's behaviour before fine-tuning it.

    Build the teacher from detached parameters (or under ``torch.no_grad()``) so its
    graph is never recorded; the teacher is rebuilt from detached parameters here as
    well, so no gradient can reach it either way. For a :class:`Normal` the last dim
    is the action dim and the per-dimension KLs are summed over it (the KL of a
    diagonal Gaussian policy). ``continuous`` says whether to do that sum; ``None``
    infers it (True for a ``Normal``, False otherwise, since ``Categorical`` and
    ``Independent`` already give one KL per sample). Pass ``continuous=False`` for a
    ``Normal`` without an action dim (shape ``[B]``).
    """
    if continuous is None:
        continuous = isinstance(student, Normal)
    if continuous and not isinstance(student, Normal):
        raise ValueError(
            f"continuous=True sums over the action dim of a Normal, got {type(student).__name__}"
        )
    if teacher.batch_shape != student.batch_shape:
        raise ValueError(
            f"teacher batch shape {tuple(teacher.batch_shape)} vs student {tuple(student.batch_shape)}"
        )
    kl = kl_divergence(_detached(teacher), student)
    if continuous:
        kl = kl.sum(-1)
    return _masked_mean(kl, mask)


def penalised_surrogate(
    surrogate: Tensor, kl: Tensor, beta: float, mask: Tensor | None = None
) -> Tensor:
    """``surrogate + beta * mean(kl)`` over the selected rows (PPO's KL-penalty objective).

    ``surrogate`` is the caller's policy-gradient loss (to minimise) and ``kl`` the
    per-sample ``KL(previous policy || student)``. The penalty rather than a hard
    trust region keeps the update a plain gradient step; ``beta`` is adapted between
    updates by :func:`adapt_beta` so the KL stays near its bound.
    """
    if surrogate.dim() != 0:
        raise ValueError(f"surrogate must be a scalar tensor, got shape {tuple(surrogate.shape)}")
    if not math.isfinite(beta) or beta < 0:
        raise ValueError(f"beta must be a finite number >= 0, got {beta!r}")
    return surrogate + beta * _masked_mean(kl, mask)


def adapt_beta(beta: float, kl: float, delta: float) -> float:
    """PPO's adaptive KL coefficient: double when KL overshoots, halve when it undershoots.

    The 1.5x dead band keeps beta from oscillating on noisy KL estimates; the clamp to
    ``[BETA_MIN, BETA_MAX]`` stops a long run of tiny (or huge) KLs from driving beta
    to a value it would take many updates to recover from.
    """
    if math.isnan(kl):
        raise ValueError("measured KL is NaN: the student policy has diverged")
    if kl > 1.5 * delta:
        beta *= 2.0
    elif kl < delta / 1.5:
        beta /= 2.0
    return min(max(beta, BETA_MIN), BETA_MAX)


class ProgressiveDistiller:
    """Tracks the current stage and ``beta``, and picks the stage's loss.

    Use: each update, call :meth:`loss` with the inputs of the current stage,
    step the optimiser on ``out["loss"]``, then call :meth:`observe` with the env
    steps that update consumed and the measured (unscaled) stage loss, i.e.
    ``out["distill/feature_loss"]`` or ``out["distill/kl_teacher"]``, so that
    ``converge_tol`` does not depend on the loss coefficients; in stage 3 also pass
    the measured KL to the previous policy. An update belongs wholly to the stage
    it was computed in: steps that overshoot a budget are not carried over.
    """

    def __init__(self, cfg: DistillConfig | None = None):
        self.cfg = cfg if cfg is not None else DistillConfig()
        self.stage: int = self._next_stage(0)
        self.beta: float = float(self.cfg.beta_init)
        self.stage_steps: int = 0
        self.below_tol: int = 0

    def _next_stage(self, stage: int) -> int:
        """The first stage after ``stage`` with a non-zero budget (stage 3 has none)."""
        for nxt in (1, 2):
            if nxt > stage and self.cfg.stage_steps[nxt - 1] > 0:
                return nxt
        return 3

    def loss(
        self,
        *,
        student_feats: Sequence[Tensor] | None = None,
        teacher_feats: Sequence[Tensor] | None = None,
        student_dist: Distribution | None = None,
        teacher_dist: Distribution | None = None,
        surrogate: Tensor | None = None,
        kl_prev: Tensor | None = None,
        mask: Tensor | None = None,
    ) -> dict[str, Tensor]:
        """The current stage's loss under ``"loss"`` plus its detached diagnostic.

        Inputs of other stages are ignored, so a trainer may pass everything it has.
        """
        if self.stage == 1:
            self._require(student_feats=student_feats, teacher_feats=teacher_feats)
            feat = feature_alignment_loss(student_feats, teacher_feats, mask)
            return {"loss": self.cfg.feature_coef * feat, "distill/feature_loss": feat.detach()}
        if self.stage == 2:
            self._require(student_dist=student_dist, teacher_dist=teacher_dist)
            kl = policy_distillation_loss(teacher_dist, student_dist, mask)
            return {"loss": self.cfg.kl_coef * kl, "distill/kl_teacher": kl.detach()}
        self._require(surrogate=surrogate, kl_prev=kl_prev)
        total = penalised_surrogate(surrogate, kl_prev, self.beta, mask)
        kl_mean = _masked_mean(kl_prev.detach(), mask)
        return {
            "loss": total,
            "distill/kl_prev": kl_mean,
            "distill/surrogate": surrogate.detach(),
        }

    def _require(self, **inputs: Any) -> None:
        missing = [name for name, value in inputs.items() if value is None]
        if missing:
            raise ValueError(
                f"stage {self.stage} ({STAGE_NAMES[self.stage]}) needs "
                + ", ".join(f"`{name}`" for name in missing)
            )

    def observe(self, env_steps: int, stage_loss: float, kl_prev: float | None = None) -> bool:
        """Account one update; returns True when it moved the distiller to a new stage.

        In stages 1 and 2, ``kl_prev`` is ignored. In stage 3 it is required: it is
        the only signal that adapts ``beta``, and silently skipping the adaptation
        would let the KL drift past ``delta`` unnoticed.
        """
        if not _is_int(env_steps) or env_steps < 0:
            raise ValueError(f"env_steps must be a non-negative integer, got {env_steps!r}")
        self.stage_steps += int(env_steps)
        if self.stage == 3:
            if kl_prev is None:
                raise ValueError(
                    "stage 3 (constrained policy search) needs `kl_prev` to adapt beta"
                )
            self.beta = adapt_beta(self.beta, float(kl_prev), self.cfg.delta)
            return False
        self.below_tol = self.below_tol + 1 if stage_loss < self.cfg.converge_tol else 0
        budget_spent = self.stage_steps >= self.cfg.stage_steps[self.stage - 1]
        if budget_spent or self.below_tol >= self.cfg.patience:
            self.stage = self._next_stage(self.stage)
            self.stage_steps = 0
            self.below_tol = 0
            return True
        return False

    def stats(self) -> dict[str, float]:
        return {
            "distill/stage": float(self.stage),
            "distill/beta": float(self.beta),
            "distill/stage_steps": float(self.stage_steps),
        }

    def state_dict(self) -> dict[str, int | float]:
        """Plain Python numbers only, so ``torch.load(weights_only=True)`` accepts it."""
        return {
            "stage": int(self.stage),
            "beta": float(self.beta),
            "stage_steps": int(self.stage_steps),
            "below_tol": int(self.below_tol),
        }

    def load_state_dict(self, state: dict) -> None:
        """Restore :meth:`state_dict`; a malformed state raises before anything changes."""
        missing = {"stage", "beta", "stage_steps", "below_tol"} - set(state)
        if missing:
            raise ValueError(f"distiller state is missing {sorted(missing)}")
        stage, beta = state["stage"], state["beta"]
        steps, below = state["stage_steps"], state["below_tol"]
        if not _is_int(stage) or stage not in (1, 2, 3):
            raise ValueError(f"distiller state: stage must be 1, 2 or 3, got {stage!r}")
        if not _is_number(beta) or not BETA_MIN <= beta <= BETA_MAX:
            raise ValueError(
                f"distiller state: beta must lie in [{BETA_MIN}, {BETA_MAX}], got {beta!r}"
            )
        for name, value in (("stage_steps", steps), ("below_tol", below)):
            if not _is_int(value) or value < 0:
                raise ValueError(
                    f"distiller state: {name} must be a non-negative integer, got {value!r}"
                )
        self.stage, self.beta = int(stage), float(beta)
        self.stage_steps, self.below_tol = int(steps), int(below)
