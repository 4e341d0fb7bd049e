"""MRFT's update bookkeeping on hand-made tensors."""

import torch

from mrft.algos.mrft.algorithm import episode_means


def test_episode_means_average_each_episode_over_its_real_steps():
    x = torch.tensor([[1.0, 3.0, 10.0, 20.0, 99.0], [4.0, 6.0, 8.0, 0.0, 0.0]])
    episode = torch.tensor([[0, 0, 1, 1, 1], [0, 1, 1, 1, 1]])
    mask = torch.tensor([[True, True, True, True, False], [True, True, True, False, False]])
    means = episode_means(x, episode, mask, episodes=2)
    assert means.tolist() == [[2.0, 2.0, 15.0, 15.0, 0.0], [4.0, 7.0, 7.0, 0.0, 0.0]]
