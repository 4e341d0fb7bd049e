"""Rewards and advantages of sequence RL (GRPO, MRT in both forms, a length penalty) on
hand-computed values."""

import math

import pytest
import torch

from mrft.algos.token_rl import (
    SequenceRLOptions,
    draw_prefixes,
    episode_progress,
    length_penalized,
    mrt_prefix_rewards,
    token_advantages,
)


def test_the_paper_form_pays_the_outcome_plus_progress_from_the_drawn_prefix():
    correct = torch.tensor([1.0, 1.0, 0.0, 0.0])
    forced = torch.tensor([0.0, 1.0, 0.0, 1.0])  # J after each trace's drawn prefix
    # r + alpha (r - J): a trace that was already right at its prefix earns no progress, one
    # that was right there and is wrong at the end loses
    assert mrt_prefix_rewards(correct, forced, 0.5).tolist() == [1.5, 1.0, 0.0, -0.5]


def test_episode_progress_is_the_change_of_the_forced_reward_and_stops_at_the_last_episode():
    forced = torch.tensor([[0.0, 0.0, 1.0, 1.0],
                           [0.5, 0.0, 0.0, 0.0]])
    episodes = torch.tensor([3, 1])
    assert episode_progress(forced, episodes).tolist() == [[0.0, 1.0, 0.0], [-0.5, 0.0, 0.0]]


def test_drawn_prefixes_lie_before_each_traces_last_episode():
    episodes = torch.tensor([1, 2, 5, 0] * 250)
    picked = draw_prefixes(episodes, torch.Generator().manual_seed(0))
    assert (picked >= 0).all() and (picked <= (episodes - 1).clamp_min(0)).all()
    fives = picked[episodes == 5]
    assert set(fives.tolist()) == {0, 1, 2, 3, 4}


def test_the_length_penalty_shortens_right_answers_and_never_pays_a_wrong_one_for_brevity():
    lengths = torch.tensor([50, 100, 5, 150])
    rewards = length_penalized(torch.tensor([1.0, 1.0, 0.0, 0.0]), lengths, 200, 0.4)
    assert rewards.tolist() == pytest.approx([0.9, 0.8, 0.0, 0.0])


def _batch():
    """Two problems, two traces each; trace 0 has episodes 1, 2 and its answer (0)."""
    correct = torch.tensor([1.0, 0.0, 1.0, 1.0])
    groups = torch.tensor([0, 0, 1, 1])
    token_episode = torch.tensor([[1, 1, 2, 2, 0],
                                  [1, 1, 1, 0, 0],
                                  [1, 2, 2, 0, 0],
                                  [1, 1, 2, 0, 0]])
    mask = torch.tensor([[1, 1, 1, 1, 1], [1, 1, 1, 1, 0], [1, 1, 1, 1, 0], [1, 1, 1, 1, 0]], dtype=torch.bool)
    forced = torch.tensor([[0.0, 0.0, 1.0], [0.0, 0.5, 0.0], [0.0, 0.0, 1.0], [0.0, 1.0, 0.0]])
    episodes = torch.tensor([2, 1, 2, 1])
    return correct, groups, token_episode, mask, forced, episodes


def test_grpo_gives_every_sampled_token_its_traces_group_normalised_outcome():
    correct, groups, token_episode, mask, _, _ = _batch()
    adv = token_advantages(SequenceRLOptions("grpo"), correct, groups, token_episode, mask,
                           lengths=mask.sum(1), max_tokens=5)
    std = math.sqrt(0.5)  # group 0: outcomes 1 and 0, Bessel-corrected
    expected_first = 0.5 / (std + 1e-4)
    assert adv[0, 0].item() == pytest.approx(expected_first)
    assert adv[1, 0].item() == pytest.approx(-expected_first)
    assert (adv[2:] == 0).all()  # group 1 agrees: nothing to learn from the outcome
    assert (adv[~mask] == 0).all()


def test_the_episode_form_adds_each_episodes_own_progress_to_its_tokens():
    correct, groups, token_episode, mask, forced, episodes = _batch()
    adv = token_advantages(SequenceRLOptions("mrt-episode", alpha=0.5), correct, groups,
                           token_episode, mask, lengths=mask.sum(1), max_tokens=5,
                           forced=forced, episodes=episodes)
    outcome = 0.5 / (math.sqrt(0.5) + 1e-4)
    scale = math.sqrt(0.5) + 1e-4
    # trace 0: episode 1 made no progress, episode 2 made 1 (0 -> 1); the answer gets the outcome alone
    assert adv[0].tolist() == pytest.approx([outcome, outcome, outcome + 0.5 / scale, outcome + 0.5 / scale,
                                             outcome])
    # trace 1: its one episode made 0.5
    assert adv[1, :3].tolist() == pytest.approx([-outcome + 0.25 / scale] * 3)
    # group 1 agrees on the outcome (std 0): progress enters unscaled; trace 3's episode-2 tokens
    # are an unfinished tail (it has 1 complete episode): no bonus
    assert adv[2].tolist() == pytest.approx([0.0, 0.5, 0.5, 0.0, 0.0])
    assert adv[3].tolist() == pytest.approx([0.5, 0.5, 0.0, 0.0, 0.0])  # the tail at index 2 gets none


def test_the_paper_form_is_one_group_normalised_scalar_per_trace():
    correct, groups, token_episode, mask, forced, episodes = _batch()
    prefixes = torch.tensor([1, 0, 0, 1])
    adv = token_advantages(SequenceRLOptions("mrt", alpha=1.0), correct, groups, token_episode, mask,
                           lengths=mask.sum(1), max_tokens=5, forced=forced, prefixes=prefixes,
                           episodes=episodes)
    # rewards: 1 + (1 - 0) = 2, 0 + (0 - 0) = 0, 1 + (1 - 0) = 2, 1 + (1 - 1) = 1
    for row, value in ((0, 1.0 / (math.sqrt(2.0) + 1e-4)), (2, 0.5 / (math.sqrt(0.5) + 1e-4))):
        assert adv[row][mask[row]].tolist() == pytest.approx([value] * int(mask[row].sum()))
    assert adv[1, 0].item() == pytest.approx(-adv[0, 0].item())


def test_an_unknown_method_is_refused():
    with pytest.raises(ValueError):
        SequenceRLOptions("ppo-for-tokens")


def test_traces_without_any_episode_get_the_outcome_alone():
    correct = torch.tensor([1.0, 0.0])
    mask = torch.ones(2, 3, dtype=torch.bool)
    adv = token_advantages(SequenceRLOptions("mrt-episode"), correct, torch.tensor([0, 0]),
                           torch.zeros(2, 3, dtype=torch.long), mask, lengths=torch.tensor([3, 3]),
                           max_tokens=3, forced=torch.zeros(2, 1), episodes=torch.tensor([0, 0]))
    outcome = 0.5 / (math.sqrt(0.5) + 1e-4)
    assert adv.flatten().tolist() == pytest.approx([outcome] * 3 + [-outcome] * 3)
