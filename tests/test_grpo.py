"""GRPO advantages, k3 KL and loss aggregations on hand-computed values."""

import math

import pytest
import torch

from mrft.algos.grpo import group_advantages, grpo_loss, kl_k3, process_advantages

# Two interleaved groups with non-contiguous ids: group 7 = {1, 3}, group 2 = {2, 4, 6}.
RETURNS = torch.tensor([1.0, 2.0, 3.0, 4.0, 6.0])
GROUPS = torch.tensor([7, 2, 7, 2, 2])


def test_group_advantages_each_scale():
    # group 7: mean 2, std sqrt((1 + 1) / 1) = sqrt(2); group 2: mean 4, std sqrt((4 + 0 + 4) / 2) = 2
    # centered by group mean: [-1, -2, 1, 0, 2]
    centered = torch.tensor([-1.0, -2.0, 1.0, 0.0, 2.0])
    r2 = math.sqrt(2.0)
    group = group_advantages(RETURNS, GROUPS, "group", eps=0.0)
    assert torch.allclose(group, torch.tensor([-1 / r2, -1.0, 1 / r2, 0.0, 1.0]))
    # batch: mean 3.2, squares of deviations 4.84 + 1.44 + 0.04 + 0.64 + 7.84 = 14.8, / 4 = 3.7
    batch = group_advantages(RETURNS, GROUPS, "batch", eps=0.0)
    assert torch.allclose(batch, centered / math.sqrt(3.7))
    assert torch.equal(group_advantages(RETURNS, GROUPS, "none"), centered)
    # default eps: group 2 std 2 -> 2 / 2.0001
    assert math.isclose(group_advantages(RETURNS, GROUPS)[4].item(), 2 / 2.0001, rel_tol=1e-6)


def test_group_advantages_rejects_unknown_scale():
    with pytest.raises(ValueError, match=r"group.*batch.*none"):
        group_advantages(RETURNS, GROUPS, "std")


@pytest.mark.parametrize("scale", ["group", "batch", "none"])
@pytest.mark.parametrize("eps", [0.0, 1e-4])
def test_group_of_one_and_zero_variance_group_give_zero(scale, eps):
    # group 3 has one episode; group 4 has three equal returns; group 9 = {1, 3}
    returns = torch.tensor([5.0, 2.0, 2.0, 2.0, 1.0, 3.0])
    groups = torch.tensor([3, 4, 4, 4, 9, 9])
    adv = group_advantages(returns, groups, scale, eps=eps)
    assert torch.isfinite(adv).all()
    assert torch.equal(adv[:4], torch.zeros(4))
    assert adv[4] < 0 < adv[5]


def test_group_advantages_single_episode_batch():
    assert torch.equal(group_advantages(torch.tensor([3.0]), torch.tensor([0]), "batch"), torch.zeros(1))


def test_process_advantages_with_padding():
    pad = 99.0  # padded rewards must be ignored
    rewards = torch.tensor([[4.0, 2.0, 4.0], [0.0, 0.0, pad], [7.0, pad, pad]])
    mask = torch.tensor([[True, True, True], [True, True, False], [True, False, False]])
    groups = torch.tensor([5, 5, 1])
    adv = process_advantages(rewards, mask, groups, eps=0.0)
    # group 5 valid rewards {4, 2, 4, 0, 0}: mean 2, var (4 + 0 + 4 + 4 + 4) / 4 = 4, std 2
    #   normalised: episode 0 [1, 0, 1], episode 1 [-1, -1]
    #   reverse cumsum: episode 0 [2, 1, 1], episode 1 [-2, -1], padding 0
    # group 1 has a single valid step: normalised reward 0
    expected = torch.tensor([[2.0, 1.0, 1.0], [-2.0, -1.0, 0.0], [0.0, 0.0, 0.0]])
    assert torch.equal(adv, expected)
    # default eps: every normalised reward divided by 2.0001 instead of 2
    assert torch.allclose(process_advantages(rewards, mask, groups), expected * 2 / 2.0001)


def test_kl_k3():
    logp = torch.tensor([-0.5, -1.5, 0.0, 0.0])
    assert torch.equal(kl_k3(logp, logp), torch.zeros(4))
    ref = torch.tensor([-1.0, -0.2, math.log(2.0), -math.log(2.0)])
    kl = kl_k3(logp, ref)
    assert (kl > 0).all()
    # ref - logp = log 2: 2 - log 2 - 1; ref - logp = -log 2: 0.5 + log 2 - 1
    assert math.isclose(kl[2].item(), 1 - math.log(2.0), rel_tol=1e-6)
    assert math.isclose(kl[3].item(), math.log(2.0) - 0.5, rel_tol=1e-6)


# Episode 0: 3 valid steps, ratios [1, 1.1, 0.9], A = 1 -> per-step losses -1, -1.1, -0.9 (sum -3)
# Episode 1: 1 valid step, ratio 1.1, A = -2 -> 2.2 (inside the clip range: nothing clipped)
# Episode 2: no valid step. Padded positions hold garbage.
MASK = torch.tensor([[True, True, True], [True, False, False], [False, False, False]])
RATIOS = torch.tensor([[1.0, 1.1, 0.9], [1.1, 5.0, 0.1], [3.0, 3.0, 3.0]])
OLD = torch.tensor([[-1.0, -2.0, -0.5], [-0.7, -1.0, -3.0], [-1.0, -1.0, -1.0]])
ADV = torch.tensor([1.0, -2.0, 7.0])


@pytest.mark.parametrize(
    ("loss_type", "max_len", "expected"),
    [
        ("grpo", None, (-1.0 + 2.2) / 2),  # episode means -1 and 2.2; episode 2 excluded
        ("bnpo", None, (-3.0 + 2.2) / 4),  # 4 valid steps
        ("dapo", None, (-3.0 + 2.2) / 4),
        ("dr_grpo", None, (-3.0 + 2.2) / (3 * 3)),  # E = 3, T = 3
        ("dr_grpo", 4, (-3.0 + 2.2) / (3 * 4)),
    ],
)
def test_loss_types_hand_values(loss_type, max_len, expected):
    loss, diag = grpo_loss(
        OLD + RATIOS.log(), OLD, None, ADV, MASK, loss_type=loss_type, max_len=max_len
    )
    assert math.isclose(loss.item(), expected, rel_tol=1e-5)
    assert math.isclose(diag["ratio_mean"].item(), (1.0 + 1.1 + 0.9 + 1.1) / 4, rel_tol=1e-5)
    assert diag["clipfrac"].item() == 0.0 and diag["kl"].item() == 0.0


def test_unknown_loss_type_rejected():
    with pytest.raises(ValueError, match="loss_type"):
        grpo_loss(OLD, OLD, None, ADV, MASK, loss_type="mean")


def test_asymmetric_clipping():
    ratios = torch.tensor([[1.25, 1.5, 0.5, 0.5, 1.5]])
    adv = torch.tensor([[1.0, 1.0, -1.0, 1.0, -1.0]])
    mask = torch.ones(1, 5, dtype=torch.bool)
    old = torch.zeros(1, 5)
    loss, diag = grpo_loss(ratios.log(), old, None, adv, mask, epsilon_low=0.2, epsilon_high=0.28)
    # -min(r A, clip(r, 0.8, 1.28) A) per step:
    #   1.25, A=+1: below 1.28, not clipped -> -1.25
    #   1.5,  A=+1: clipped to 1.28 -> -1.28 (high clip)
    #   0.5,  A=-1: min(-0.5, -0.8) -> 0.8 (low clip)
    #   0.5,  A=+1: min(0.5, 0.8) -> -0.5 (unclipped, pessimistic)
    #   1.5,  A=-1: min(-1.5, -1.28) -> 1.5 (unclipped)
    assert math.isclose(loss.item(), (-1.25 - 1.28 + 0.8 - 0.5 + 1.5) / 5, rel_tol=1e-5)
    assert math.isclose(diag["clipfrac_low"].item(), 0.2, rel_tol=1e-6)
    assert math.isclose(diag["clipfrac_high"].item(), 0.2, rel_tol=1e-6)
    assert math.isclose(diag["clipfrac"].item(), 0.4, rel_tol=1e-6)
    assert math.isclose(diag["ratio_mean"].item(), 5.25 / 5, rel_tol=1e-6)
    # (r - 1) - log r: 0.25 - log 1.25, 2 * (0.5 - log 1.5), 2 * (-0.5 - log 0.5)
    approx_kl = (0.25 - math.log(1.25) + 2 * (0.5 - math.log(1.5)) + 2 * (-0.5 - math.log(0.5))) / 5
    assert math.isclose(diag["approx_kl"].item(), approx_kl, rel_tol=1e-5)
    # symmetric 0.2: the first two steps are both clipped to 1.2 -> -1.2 each
    loss_sym, diag_sym = grpo_loss(ratios.log(), old, None, adv, mask, epsilon_low=0.2)
    assert math.isclose(loss_sym.item(), (-1.2 - 1.2 + 0.8 - 0.5 + 1.5) / 5, rel_tol=1e-5)
    assert math.isclose(diag_sym["clipfrac_high"].item(), 0.4, rel_tol=1e-6)


@pytest.mark.parametrize("loss_type", ["grpo", "bnpo", "dapo", "dr_grpo"])
def test_padded_values_change_nothing(loss_type):
    mask = torch.tensor([[True, True, True, False], [True, False, False, False]])
    logp = torch.randn(2, 4)
    old, ref, adv = torch.randn(2, 4), torch.randn(2, 4), torch.randn(2, 4)

    def run(logp, old, ref, adv):
        logp = logp.clone().requires_grad_()
        loss, diag = grpo_loss(logp, old, ref, adv, mask, beta=0.1, loss_type=loss_type)
        loss.backward()
        return loss, diag, logp.grad

    base = run(logp, old, ref, adv)
    pad = ~mask
    garbage = [t.masked_fill(pad, v) for t, v in [(logp, 50.0), (old, -50.0), (ref, 80.0), (adv, 1e6)]]
    other = run(*garbage)
    assert torch.equal(base[0], other[0])
    assert all(torch.equal(base[1][k], other[1][k]) for k in base[1])
    assert torch.equal(base[2], other[2])
    assert torch.equal(base[2][pad], torch.zeros(int(pad.sum())))


def test_beta_adds_k3_kl():
    logp = torch.zeros(1, 2)
    ref = torch.tensor([[math.log(2.0), 0.0]])
    adv = torch.zeros(1)  # policy term is 0
    mask = torch.ones(1, 2, dtype=torch.bool)
    # k3 per step: [2 - log 2 - 1, 0]; dapo mean (1 - log 2) / 2
    kl = (1 - math.log(2.0)) / 2
    loss, diag = grpo_loss(logp, logp, ref, adv, mask, beta=0.1)
    assert math.isclose(loss.item(), 0.1 * kl, rel_tol=1e-5)
    assert math.isclose(diag["kl"].item(), kl, rel_tol=1e-5)
    # beta = 0: no KL in the loss, but the diagnostic still reports it
    loss0, diag0 = grpo_loss(logp, logp, ref, adv, mask)
    assert loss0.item() == 0.0 and math.isclose(diag0["kl"].item(), kl, rel_tol=1e-5)
    with pytest.raises(ValueError, match="ref_logp"):
        grpo_loss(logp, logp, None, adv, mask, beta=0.1)


@pytest.mark.parametrize(
    ("loss_type", "expected"),
    [
        # 4 valid steps: -A_i / 4
        ("dapo", [[-0.5, -0.5, -0.5], [0.25, 0.0, 0.0]]),
        # -A_i / (n_i * 2 episodes): -2 / 6 and 1 / 2
        ("grpo", [[-1 / 3, -1 / 3, -1 / 3], [0.5, 0.0, 0.0]]),
        # -A_i / (E * T) = -A_i / 6
        ("dr_grpo", [[-1 / 3, -1 / 3, -1 / 3], [1 / 6, 0.0, 0.0]]),
    ],
)
def test_gradient_at_ratio_one_is_policy_gradient(loss_type, expected):
    logp = torch.tensor([[-0.3, -1.2, -2.0], [-0.1, -0.5, -0.9]], requires_grad=True)
    mask = torch.tensor([[True, True, True], [True, False, False]])
    adv = torch.tensor([2.0, -1.0])
    loss, _ = grpo_loss(logp, logp.detach(), None, adv, mask, loss_type=loss_type)
    loss.backward()
    assert torch.allclose(logp.grad, torch.tensor(expected))
