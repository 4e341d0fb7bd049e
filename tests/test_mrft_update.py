"""MRFT's update bookkeeping on hand-made tensors."""

import pytest
import torch

from mrft.algos.mrft.algorithm import episode_means


def test_episode_means_average_each_episode_over_its_real_steps():
    x = torch.tensor([[1.0, 3.0, 10.0, 20.0, 99.0], [4.0, 6.0, 8.0, 0.0, 0.0]])
    episode = torch.tensor([[0, 0, 1, 1, 1], [0, 1, 1, 1, 1]])
    mask = torch.tensor([[True, True, True, True, False], [True, True, True, False, False]])
    means = episode_means(x, episode, mask, episodes=2)
    assert means.tolist() == [[2.0, 2.0, 15.0, 15.0, 0.0], [4.0, 7.0, 7.0, 0.0, 0.0]]


def _guarded(bound, target_kl=None):
    """The adaptation's trust region over one made-up parameter."""
    from torch import nn

    from mrft.algos.mrft.trust_region import KLTrustRegion

    weight = nn.Parameter(torch.zeros(1))
    kl = {"batch": 0.0}
    return KLTrustRegion([weight], bound, lambda: kl["batch"], target_kl), weight, kl


def _step(guard, weight, kl, value, batch=None):
    """One minibatch: the guard sees the whole batch's KL ``kl`` for the current parameters,
    then a step sets them (``batch``: the guard's KL measurement, set to ``kl``)."""
    if batch is not None:
        batch["batch"] = kl
    guard.before_step({"approx_kl": torch.tensor(0.0)})
    with torch.no_grad():
        weight.fill_(value)


def test_the_adaptation_guard_keeps_the_steps_taken_within_the_bound():
    guard, weight, kl = _guarded(bound=0.05)
    for step_kl, value in ((0.0, 1.0), (0.02, 2.0), (0.04, 3.0), (0.09, 4.0), (0.01, 5.0)):
        _step(guard, weight, step_kl, value, kl)
    # the 4th check saw the parameters after 3 steps past the bound (on the whole batch): back
    # to those after 2, whatever a later step would have measured
    assert guard.halted
    assert guard.after_epoch({}) is True
    assert weight.item() == 2.0
    assert guard.stats()["mrft/adapt_accepted_steps"] == 2.0
    assert guard.stats()["mrft/adapt_halted"] == 1.0
    # the engine takes no step once the guard halts: three were taken, the 4th check halted
    assert guard.stats()["mrft/adapt_steps"] == 3.0


def test_a_pass_within_the_bound_keeps_every_step_and_goes_on():
    guard, weight, kl = _guarded(bound=0.05)
    for step_kl, value in ((0.0, 1.0), (0.02, 2.0)):
        _step(guard, weight, step_kl, value, kl)
    kl["batch"] = 0.03
    assert guard.after_epoch({}) is False and weight.item() == 2.0
    assert guard.stats()["mrft/adapt_accepted_steps"] == 2.0
    # the whole-batch check after the next pass crosses the bound: back to the end of pass 1
    _step(guard, weight, 0.04, 7.0, kl)
    kl["batch"] = 0.2
    assert guard.after_epoch({}) is True and weight.item() == 2.0
    assert guard.stats()["mrft/adapt_accepted_steps"] == 2.0


def test_without_a_bound_no_kl_halts_the_update():
    from mrft.algos.mrft.trust_region import KLTrustRegion

    weight = torch.nn.Parameter(torch.zeros(1))
    measured = []
    guard = KLTrustRegion([weight], None, lambda: measured.append(weight.item()) or 50.0)
    for value in (1.0, 2.0, 3.0):
        _step(guard, weight, 0.0, value)
        if value == 2.0:
            assert guard.after_epoch({}) is False  # a pass ends: nothing measured, nothing undone
    assert guard.after_epoch({}) is False and weight.item() == 3.0
    assert measured == []  # the KL is for the log: measured once, when the update has ended
    stats = guard.stats()
    assert stats["mrft/adapt_kl"] == 50.0 and measured == [3.0]
    assert stats["mrft/adapt_accepted_steps"] == 3.0 and "mrft/adapt_halted" not in stats
    assert guard.stats()["mrft/adapt_kl"] == 50.0 and measured == [3.0]
    # an update that took no pass has no KL to log
    assert "mrft/adapt_kl" not in KLTrustRegion([weight], None, lambda: 1.0).stats()
    # --target-kl still ends the epochs, as in PPO's adaptation; nothing is undone
    guard, weight, kl = _guarded(bound=None, target_kl=0.01)
    kl["batch"] = 50.0
    _step(guard, weight, 0.0, 1.0)
    assert guard.after_epoch({"approx_kl": 0.02}) is True and weight.item() == 1.0


def test_in_a_torchrun_job_the_bound_reads_the_ranks_mean_kl():
    from types import SimpleNamespace

    guard, weight, kl = _guarded(bound=0.04)
    # the other rank's batch KL is 0.08: rank-local 0.02 would pass, their mean 0.05 does not
    guard.share(SimpleNamespace(world=2, total=lambda value: value + 0.08))
    _step(guard, weight, 0.0, 1.0, kl)  # mean 0.04: within the bound, accepted
    _step(guard, weight, 0.02, 2.0, kl)
    assert guard.halted and guard.after_epoch({}) is True and weight.item() == 0.0
    assert guard.stats()["mrft/adapt_kl"] == 0.05 and guard.stats()["mrft/adapt_steps"] == 1.0


def test_scale_gradient_keeps_the_value_and_scales_the_gradient():
    from mrft.algos.mrft.algorithm import scale_gradient

    x = torch.tensor([1.5, -2.0], requires_grad=True)
    y = scale_gradient(x, 0.25)
    (y * torch.tensor([2.0, 4.0])).sum().backward()
    assert y.tolist() == [1.5, -2.0] and x.grad.tolist() == [0.5, 1.0]
    assert scale_gradient(x, 1.0) is x


def test_an_adaptation_is_bounded_at_the_default_unless_the_checkpoint_or_the_options_say_otherwise():
    from mrft.algos.mrft.options import ADAPT_KL, MRFTAdaptOptions, MRFTConfig, adapted_options
    from mrft.errors import MrftError

    def bound(stored, **options):
        return adapted_options(MRFTConfig(adapt_kl=stored), MRFTAdaptOptions(**options)).adapt_kl

    assert ADAPT_KL == 0.2
    assert bound(None) == 0.2  # a checkpoint that set none takes the default
    assert bound(0.02) == 0.02  # one that set a bound keeps it
    assert bound(0.02, adapt_kl=0.5) == bound(None, adapt_kl=0.5) == 0.5  # mrft adapt --adapt-kl
    assert bound(0.02, kl_bound=False) is None and bound(None, kl_bound=False) is None
    with pytest.raises(MrftError, match="--no-kl-bound lifts the bound"):
        bound(None, kl_bound=False, adapt_kl=0.5)
    # the other settings: the options narrow what the checkpoint set
    m = adapted_options(MRFTConfig(adapt_lr_scale=0.5), MRFTAdaptOptions(meta_policy_updates=False,
                                                                        normalise_advantages=True))
    assert (m.adapt_lr_scale, m.adapt_meta_policy, m.adapt_norm_adv) == (0.5, False, True)
    assert adapted_options(MRFTConfig(adapt_lr_scale=0.5), MRFTAdaptOptions(adapt_lr_scale=0.1)).adapt_lr_scale == 0.1
