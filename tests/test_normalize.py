import numpy as np
import torch

from mrft.normalize import RewardNormalizer, RunningMeanStd


def test_running_mean_std_matches_numpy_over_batches():
    rng = np.random.default_rng(0)
    data = rng.normal(3.0, 2.0, size=(1000, 4))
    rms = RunningMeanStd((4,), epsilon=0.0)
    for chunk in np.array_split(data, 7):
        rms.update(torch.from_numpy(chunk))
    assert np.allclose(rms.mean.numpy(), data.mean(0))
    assert np.allclose(rms.var.numpy(), data.var(0))


def test_reward_normalizer_ignores_reset_steps():
    norm = RewardNormalizer(num_envs=2, gamma=0.5)
    valid = torch.tensor([True, False])
    done = torch.tensor([False, False])
    norm(torch.tensor([2.0, 50.0]), valid, done)
    # only env 0's discounted return (2.0) entered the statistics
    assert torch.allclose(norm.returns, torch.tensor([2.0, 0.0], dtype=torch.float64))
    norm(torch.tensor([1.0, 0.0]), torch.tensor([True, True]), torch.tensor([True, False]))
    # env 0: 2*0.5 + 1 = 2 then reset at episode end
    assert torch.allclose(norm.returns, torch.tensor([0.0, 0.0], dtype=torch.float64))
