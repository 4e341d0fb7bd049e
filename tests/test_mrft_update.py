"""MRFT's update bookkeeping on hand-made tensors."""

import torch

from mrft.algos.mrft.algorithm import episode_means


def test_episode_means_average_each_episode_over_its_real_steps():
    x = torch.tensor([[1.0, 3.0, 10.0, 20.0, 99.0], [4.0, 6.0, 8.0, 0.0, 0.0]])
    episode = torch.tensor([[0, 0, 1, 1, 1], [0, 1, 1, 1, 1]])
    mask = torch.tensor([[True, True, True, True, False], [True, True, True, False, False]])
    means = episode_means(x, episode, mask, episodes=2)
    assert means.tolist() == [[2.0, 2.0, 15.0, 15.0, 0.0], [4.0, 7.0, 7.0, 0.0, 0.0]]


def _guarded(adapt_kl, target_kl=None):
    """An MRFT algorithm reduced to what the adaptation KL guard touches."""
    import types

    from torch import nn

    from mrft.algos.mrft.algorithm import MRFT

    algo = object.__new__(MRFT)
    algo.policy, algo.agent = nn.Linear(1, 1, bias=False), nn.Linear(1, 1, bias=False)
    algo.m = types.SimpleNamespace(adapt_kl=adapt_kl)
    algo.cfg = types.SimpleNamespace(optim=types.SimpleNamespace(target_kl=target_kl))
    algo.ctx = types.SimpleNamespace(adapting=True)
    algo.batch_stats = {}
    with torch.no_grad():
        algo.policy.weight.fill_(0.0)
    algo._accepted, algo._halted, algo._steps, algo._accepted_steps = algo._snapshot(), False, 0, 0
    return algo


def _step(algo, kl, value):
    """One minibatch: the guard sees ``kl`` for the current parameters, then a step sets them."""
    algo._guard(kl)
    with torch.no_grad():
        algo.policy.weight.fill_(value)


def test_the_adaptation_guard_keeps_the_steps_taken_within_the_bound():
    algo = _guarded(adapt_kl=0.05)
    algo._batch_kl = lambda: 0.01
    for kl, value in ((0.0, 1.0), (0.02, 2.0), (0.04, 3.0), (0.09, 4.0), (0.01, 5.0)):
        _step(algo, kl, value)
    # the 4th check saw the parameters after 3 steps past the bound: back to those after 2
    assert algo.stop_early({}) is True
    assert algo.policy.weight.item() == 2.0
    assert algo.batch_stats["mrft/adapt_accepted_steps"] == 2.0
    assert algo.batch_stats["mrft/adapt_halted"] == 1.0


def test_a_pass_within_the_bound_keeps_every_step_and_goes_on():
    algo = _guarded(adapt_kl=0.05)
    algo._batch_kl = lambda: 0.03
    for kl, value in ((0.0, 1.0), (0.02, 2.0)):
        _step(algo, kl, value)
    assert algo.stop_early({}) is False and algo.policy.weight.item() == 2.0
    assert algo.batch_stats["mrft/adapt_accepted_steps"] == 2.0
    # the whole-batch check after the next pass crosses the bound: back to the end of pass 1
    _step(algo, 0.04, 7.0)
    algo._batch_kl = lambda: 0.2
    assert algo.stop_early({}) is True and algo.policy.weight.item() == 2.0
    assert algo.batch_stats["mrft/adapt_accepted_steps"] == 2.0


def test_without_a_bound_no_kl_halts_the_update():
    algo = _guarded(adapt_kl=None)
    algo._batch_kl = lambda: 50.0
    for kl, value in ((0.0, 1.0), (9.0, 2.0), (40.0, 3.0)):
        _step(algo, kl, value)
    assert algo.stop_early({}) is False and algo.policy.weight.item() == 3.0
    assert algo.batch_stats["mrft/adapt_accepted_steps"] == 3.0
    assert "mrft/adapt_halted" not in algo.batch_stats
    # --target-kl still ends the epochs, as in PPO's adaptation; nothing is undone
    algo = _guarded(adapt_kl=None, target_kl=0.01)
    algo._batch_kl = lambda: 50.0
    _step(algo, 0.0, 1.0)
    assert algo.stop_early({"approx_kl": 0.02}) is True and algo.policy.weight.item() == 1.0
