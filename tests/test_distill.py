"""Progressive distillation: the three losses on hand-computed numbers, and the stage machine."""

from __future__ import annotations

import math

import pytest
import torch
from torch.distributions import Categorical, Normal

from mrft.algos.mrft.distill import (
    BETA_MAX,
    BETA_MIN,
    DistillConfig,
    ProgressiveDistiller,
    adapt_beta,
    feature_alignment_loss,
    penalised_surrogate,
    policy_distillation_loss,
)


def normal_kl(m1: float, s1: float, m2: float, s2: float) -> float:
    """Closed form KL(N(m1, s1^2) || N(m2, s2^2))."""
    return math.log(s2 / s1) + (s1**2 + (m1 - m2) ** 2) / (2 * s2**2) - 0.5


# ---------------------------------------------------------------- losses


def test_all_losses_zero_when_student_equals_teacher():
    feats = [torch.randn(4, 3), torch.randn(4, 5)]
    assert feature_alignment_loss(feats, [f.clone() for f in feats]).item() == 0.0
    logits = torch.randn(4, 3)
    cat = policy_distillation_loss(Categorical(logits=logits), Categorical(logits=logits.clone()))
    assert cat.item() == pytest.approx(0.0, abs=1e-7)
    loc, scale = torch.randn(4, 2), torch.rand(4, 2) + 0.5
    gauss = policy_distillation_loss(Normal(loc, scale), Normal(loc.clone(), scale.clone()))
    assert gauss.item() == 0.0
    assert penalised_surrogate(torch.tensor(0.0), torch.zeros(4), beta=3.0).item() == 0.0


def test_feature_mse_two_layers_with_mask():
    s1 = torch.tensor([[1.0, 2.0], [3.0, 4.0], [0.0, 0.0]])
    t1 = torch.tensor([[0.0, 0.0], [3.0, 2.0], [9.0, 9.0]])
    s2 = torch.tensor([[1.0], [2.0], [5.0]])
    t2 = torch.tensor([[1.0], [0.0], [-5.0]])
    # Unmasked: layer 1 = (1+4+0+4+81+81)/6 = 28.5, layer 2 = (0+4+100)/3 = 104/3.
    full = feature_alignment_loss([s1, s2], [t1, t2])
    assert full.item() == pytest.approx((28.5 + 104 / 3) / 2)
    # Rows 0 and 1 only: layer 1 = (1+4+0+4)/4 = 2.25, layer 2 = (0+4)/2 = 2.
    mask = torch.tensor([True, True, False])
    assert feature_alignment_loss([s1, s2], [t1, t2], mask).item() == pytest.approx(2.125)


def test_categorical_kl_hand_computed_and_masked():
    teacher = Categorical(probs=torch.tensor([[0.5, 0.5], [0.5, 0.5]]))
    student = Categorical(probs=torch.tensor([[0.25, 0.75], [0.5, 0.5]]))
    kl_row0 = 0.5 * math.log(0.5 / 0.25) + 0.5 * math.log(0.5 / 0.75)
    assert policy_distillation_loss(teacher, student).item() == pytest.approx(kl_row0 / 2)
    mask = torch.tensor([True, False])
    assert policy_distillation_loss(teacher, student, mask).item() == pytest.approx(kl_row0)


def test_normal_kl_sums_over_action_dims():
    teacher = Normal(torch.tensor([[0.0, 1.0]]), torch.tensor([[1.0, 2.0]]))
    student = Normal(torch.tensor([[1.0, 1.0]]), torch.tensor([[2.0, 1.0]]))
    expected = normal_kl(0.0, 1.0, 1.0, 2.0) + normal_kl(1.0, 2.0, 1.0, 1.0)
    assert policy_distillation_loss(teacher, student).item() == pytest.approx(expected)
    per_dim_mean = policy_distillation_loss(teacher, student, continuous=False)
    assert per_dim_mean.item() == pytest.approx(expected / 2)


def test_penalised_surrogate_uses_masked_kl_mean():
    kl = torch.tensor([0.1, 0.3, 10.0])
    out = penalised_surrogate(
        torch.tensor(2.0), kl, beta=0.5, mask=torch.tensor([True, True, False])
    )
    assert out.item() == pytest.approx(2.0 + 0.5 * 0.2)


def test_gradient_reaches_student_only():
    t_feat = torch.ones(2, 3, requires_grad=True)
    s_feat = torch.zeros(2, 3, requires_grad=True)
    feature_alignment_loss([s_feat], [t_feat]).backward()
    assert t_feat.grad is None and s_feat.grad is not None and s_feat.grad.abs().sum() > 0

    t_logits = torch.tensor([[0.0, 1.0]], requires_grad=True)
    s_logits = torch.zeros(1, 2, requires_grad=True)
    policy_distillation_loss(Categorical(logits=t_logits), Categorical(logits=s_logits)).backward()
    assert t_logits.grad is None and s_logits.grad.abs().sum() > 0

    t_loc = torch.zeros(1, 2, requires_grad=True)
    s_loc = torch.ones(1, 2, requires_grad=True)
    policy_distillation_loss(
        Normal(t_loc, torch.ones(1, 2)), Normal(s_loc, torch.ones(1, 2))
    ).backward()
    assert t_loc.grad is None and s_loc.grad.abs().sum() > 0


def test_empty_mask_gives_zero_not_nan():
    s = torch.ones(2, 2, requires_grad=True)
    loss = feature_alignment_loss([s], [torch.zeros(2, 2)], torch.zeros(2, dtype=torch.bool))
    assert loss.item() == 0.0
    loss.backward()


def test_bad_inputs_raise():
    with pytest.raises(ValueError, match="layers"):
        feature_alignment_loss([torch.zeros(2, 2)], [])
    with pytest.raises(ValueError, match="mask"):
        feature_alignment_loss([torch.zeros(2, 2)], [torch.zeros(2, 2)], torch.ones(2))
    with pytest.raises(ValueError, match="continuous"):
        cat = Categorical(logits=torch.zeros(2, 3))
        policy_distillation_loss(cat, cat, continuous=True)
    with pytest.raises(ValueError, match="surrogate"):
        penalised_surrogate(torch.zeros(2), torch.zeros(2), beta=1.0)


# ---------------------------------------------------------------- stage machine


def test_stage_transitions_by_budget():
    d = ProgressiveDistiller(DistillConfig(stage_steps=(100, 200)))
    assert d.stage == 1
    assert d.observe(60, stage_loss=1.0) is False
    assert d.observe(60, stage_loss=1.0) is True
    assert d.stage == 2 and d.stats()["distill/stage_steps"] == 0.0
    assert d.observe(150, stage_loss=1.0) is False
    assert d.observe(50, stage_loss=1.0) is True
    assert d.stage == 3
    assert d.observe(10_000, stage_loss=1.0, kl_prev=0.02) is False
    assert d.stage == 3


def test_stage_transitions_by_convergence():
    d = ProgressiveDistiller(
        DistillConfig(stage_steps=(10**6, 10**6), converge_tol=0.1, patience=3)
    )
    d.observe(1, 0.05)
    d.observe(1, 0.05)
    d.observe(1, 0.5)  # a single bad update resets the streak
    d.observe(1, 0.05)
    d.observe(1, 0.05)
    assert d.stage == 1
    assert d.observe(1, 0.05) is True and d.stage == 2
    assert [d.observe(1, 0.0) for _ in range(3)] == [False, False, True]
    assert d.stage == 3


@pytest.mark.parametrize(
    ("budgets", "first", "after"), [((0, 5), 2, 3), ((0, 0), 3, 3), ((5, 0), 1, 3)]
)
def test_zero_budget_skips_stage(budgets, first, after):
    d = ProgressiveDistiller(DistillConfig(stage_steps=budgets))
    assert d.stage == first
    d.observe(5, 1.0, kl_prev=0.02)
    assert d.stage == after


def test_beta_adapts_and_is_clamped():
    delta = 0.02
    assert adapt_beta(1.0, 0.031, delta) == 2.0
    assert adapt_beta(1.0, 0.013, delta) == 0.5
    assert adapt_beta(1.0, 0.02, delta) == 1.0
    assert adapt_beta(BETA_MAX, 1.0, delta) == BETA_MAX
    assert adapt_beta(BETA_MIN, 0.0, delta) == BETA_MIN
    d = ProgressiveDistiller(DistillConfig(stage_steps=(0, 0), beta_init=1.0, delta=delta))
    d.observe(1, 0.0, kl_prev=0.1)
    d.observe(1, 0.0, kl_prev=0.1)
    assert d.beta == 4.0 and d.stats()["distill/beta"] == 4.0
    d.observe(1, 0.0, kl_prev=0.0)
    assert d.beta == 2.0
    with pytest.raises(ValueError, match="kl_prev"):
        d.observe(1, 0.0)


def test_loss_picks_stage_and_names_missing_input():
    d = ProgressiveDistiller(DistillConfig(stage_steps=(1, 1), feature_coef=2.0, beta_init=0.5))
    with pytest.raises(ValueError, match="teacher_feats"):
        d.loss(student_feats=[torch.zeros(1, 1)])
    out = d.loss(student_feats=[torch.ones(1, 2)], teacher_feats=[torch.zeros(1, 2)])
    assert out["loss"].item() == 2.0 and out["distill/feature_loss"].item() == 1.0
    d.observe(1, 1.0)
    with pytest.raises(ValueError, match="student_dist"):
        d.loss(student_feats=[torch.ones(1, 2)], teacher_feats=[torch.zeros(1, 2)])
    cat = Categorical(logits=torch.zeros(1, 2))
    assert d.loss(student_dist=cat, teacher_dist=cat)["distill/kl_teacher"].item() == 0.0
    d.observe(1, 1.0)
    with pytest.raises(ValueError, match="kl_prev"):
        d.loss(surrogate=torch.tensor(1.0))
    out = d.loss(surrogate=torch.tensor(1.0), kl_prev=torch.tensor([0.2, 0.4]))
    assert out["loss"].item() == pytest.approx(1.0 + 0.5 * 0.3)
    assert out["distill/kl_prev"].item() == pytest.approx(0.3)


def test_state_dict_round_trip(tmp_path):
    cfg = DistillConfig(stage_steps=(10, 10), delta=0.01)
    d = ProgressiveDistiller(cfg)
    d.observe(10, 1.0)
    d.observe(4, 1.0)
    torch.save(d.state_dict(), tmp_path / "d.pt")
    e = ProgressiveDistiller(cfg)
    e.load_state_dict(torch.load(tmp_path / "d.pt", weights_only=True))
    assert e.state_dict() == d.state_dict() and e.stats() == d.stats()
    assert e.stage == 2 and e.stats()["distill/stage_steps"] == 4.0
    with pytest.raises(ValueError, match="stage"):
        e.load_state_dict({**d.state_dict(), "stage": 4})


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("stage_steps", (-1, 5)),
        ("stage_steps", (1, 2, 3)),
        ("converge_tol", -0.1),
        ("patience", 0),
        ("delta", 0.0),
        ("feature_coef", -1.0),
        ("kl_coef", -1.0),
        ("beta_init", 0.0),
    ],
)
def test_config_validation_names_field(field, value):
    with pytest.raises(ValueError, match=field):
        DistillConfig(**{field: value})
