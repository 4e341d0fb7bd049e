"""Countdown problems, the checker and the trace format, on hand-made answers."""

import numpy as np
import pytest
import torch

from mrft.reasoning import countdown as cd
from mrft.reasoning.traces import (
    VOCAB,
    answer_of,
    best_attempt,
    decode,
    encode,
    episodes_of,
    forced_trace,
    prompt,
    search_trace,
)

PROBLEM = cd.Problem((3, 5, 7), 22, "easy")


@pytest.mark.parametrize("answer, right", [
    ("5*3=15,15+7=22", True),
    ("3*5=15,15+7=22", True),
    ("7+3=10,10*5=50", False),         # a valid chain to another value
    ("5*3=15,15+7=23", False),         # wrong arithmetic
    ("5*3=15,16+6=22", False),         # does not continue from the step before
    ("5*3=15,15+7=22,22-7=15", False),  # 7 used twice, and the last value is not the target
    ("5*5=25,25-3=22", False),         # 5 used twice
    ("22", False),                     # no step
    ("5*3=15,", False),                # malformed
    ("", False),
])
def test_the_checker_accepts_exactly_the_chains_that_reach_the_target(answer, right):
    assert cd.check(PROBLEM, answer) is right


def test_a_number_that_appears_twice_may_be_used_twice():
    assert cd.check(cd.Problem((4, 4, 9), 16, "easy"), "4*4=16")
    assert not cd.check(cd.Problem((4, 2, 9), 16, "easy"), "4*4=16")


def test_generated_problems_are_solved_by_their_solution_and_splits_never_share_a_problem():
    for difficulty, (count, used) in cd.DIFFICULTIES.items():
        train = cd.problems("train", difficulty, 300)
        test = cd.problems("test", difficulty, 60)
        for problem, solution in train + test:
            assert len(problem.numbers) == count and len(solution) == used - 1
            assert cd.check(problem, cd.chain_text(solution))
            assert problem.target not in problem.numbers
        assert not {p.key for p, _ in train} & {p.key for p, _ in test}
        assert all(cd.split_of(p) == "test" for p, _ in test)
    assert cd.problems("test", "easy", 5) == cd.problems("test", "easy", 5)  # seeded


def test_a_search_trace_stops_at_the_first_correct_attempt_and_answers_it():
    problem, solution = cd.generate(3, "easy")
    rng = np.random.default_rng(0)
    for _ in range(50):
        text, attempts = search_trace(problem, solution, rng, max_attempts=6, hit=0.3)
        assert episodes_of(text) == attempts and 1 <= len(attempts) <= 6
        correct = [cd.check(problem, a) for a in attempts]
        assert not any(correct[:-1])  # nothing after a success
        assert answer_of(text) == best_attempt(problem, attempts)
        assert cd.check(problem, answer_of(text)) == correct[-1]


def test_forced_termination_answers_the_best_attempt_so_far():
    attempts = ["7+3=10,10*5=50", "7*3=21", "5*3=15,15+7=22"]
    assert forced_trace(PROBLEM, attempts, 2) == "7+3=10,10*5=50|7*3=21|!#7*3=21."  # 21 is closest
    assert forced_trace(PROBLEM, attempts, 3).endswith("|!#5*3=15,15+7=22.")
    assert forced_trace(PROBLEM, attempts, 0) == "!#7+3=10,10*5=50."  # at once: the first guess
    assert episodes_of("7*3=21|!#7*3=21.") == ["7*3=21"]


def test_text_round_trips_through_tokens():
    text = prompt(PROBLEM) + "5*3=15,15+7=22|#5*3=15,15+7=22."
    tokens = encode(text)
    assert tokens[0] == 1 and decode(tokens) == text and max(tokens) < len(VOCAB)
    assert decode(torch.tensor([0, 0, *tokens, 0])) == text


def test_accuracy_against_tokens_and_regret_on_a_hand_made_profile():
    from mrft.reasoning.metrics import (
        ForcedProfile,
        accuracy_at_budgets,
        boundary_tokens,
        normalised_regret,
    )

    assert boundary_tokens("7*3=21|5*3=15,15+7=22|#5*3=15,15+7=22.", 2) == [0, 7, 22]
    # problem 0: wrong after 0 and 1 episodes, right after 2 (at 20 tokens); its trace ends at 30
    # problem 1: never right; its trace ends at 10 tokens
    profile = ForcedProfile(accuracy=np.array([[0.0, 0.0, 1.0], [0.0, 0.0, 0.0]]),
                            tokens=np.array([[0, 10, 20], [0, 10, 10]]),
                            final=np.array([1.0, 0.0]), final_tokens=np.array([30, 10]))
    assert accuracy_at_budgets(profile, np.array([0, 10, 19, 20, 30])).tolist() == [0, 0, 0, 0.5, 0.5]
    # budgets 0, 10, 20, 30: accuracies 0, 0, 0.5, 0.5 -> regret 1 - 0.25
    assert normalised_regret(profile, 30, step=10) == 0.75


def test_majority_vote_over_answer_values():
    from mrft.reasoning.metrics import majority_correct

    right, wrong = "#5*3=15,15+7=22.", "#7*3=21."
    assert majority_correct(PROBLEM, [right, right, wrong])
    assert not majority_correct(PROBLEM, [wrong, wrong, right])
    assert not majority_correct(PROBLEM, ["#5*3=15,15+7=23.", "#bad."])  # no checked answer
    assert majority_correct(PROBLEM, ["#7+3=10,10*5=50.", right, "#3*5=15,15+7=22."])


def test_the_warm_start_never_learns_to_write_the_forced_termination_token():
    from mrft.reasoning.sft import batch_tensors
    from mrft.reasoning.traces import INDEX

    head = encode(prompt(PROBLEM))
    forced = encode(prompt(PROBLEM) + "7*3=21|!#7*3=21.")
    _, learned = batch_tensors([(forced, len(head))])
    at = forced.index(INDEX["!"])
    assert not learned[0, at] and learned[0, at + 1]  # what follows the token is learned
    assert not learned[0, :len(head)].any() and learned[0, len(head):at].all()


def _record(final, by_tokens, seed=1):
    """A scored record of hand-made per-problem figures on a token grid 0, 10, 20."""
    final = np.asarray(final, dtype=float)
    return {"seed": seed, "accuracy": final.mean(), "accuracy_2k": final.mean(), "tokens": 15.0,
            "token_grid": [0, 10, 20],
            "per_problem": {"final": final.tolist(), "final_2k": final.tolist(),
                            "tokens": [15.0] * len(final), "by_tokens": by_tokens},
            "majority": {"tokens": 30.0, "reached": True}, "accuracy_by_episode": [0.0, final.mean()]}


def test_a_gain_ratio_over_a_gain_not_above_zero_is_not_measurable():
    from mrft.reasoning.study import StudyConfig, summarise

    flat = [[0, 0, 0]] * 4
    base = [_record([1, 0, 0, 0], flat, s) for s in (1, 2)]
    grpo = [_record([1, 0, 0, 0], flat, s) for s in (1, 2)]  # no gain at all
    mrt = [_record([1, 1, 0, 0], flat, s) for s in (1, 2)]
    summary = summarise(base, {"grpo": grpo, "mrt": mrt}, StudyConfig(seeds=2))
    verdicts = {c["claim"].split(" ")[0] + str(i): c["verdict"] for i, c in enumerate(summary["claims"])}
    assert verdicts["MRT's0"].startswith("not measurable: GRPO's gain")
    assert {c["method"] for c in summary["claims"]} == {"mrt"}  # the per-episode form was not run
    assert summary["methods"]["mrt"]["gain"][0] == pytest.approx(0.25)
    assert summary["methods"]["grpo"]["gain"] == [0.0, 0.0, 0.0]


def test_token_efficiency_compares_the_tokens_each_method_needs_for_the_same_accuracy():
    from mrft.reasoning.study import StudyConfig, summarise, tokens_to_reach

    grid = np.array([0, 10, 20])
    # GRPO reaches 0.5 at 20 tokens, MRT at 10 and then 1.0 at 20: the common level is GRPO's 0.5
    grpo_curve = [[0, 0, 1], [0, 0, 0]]
    mrt_curve = [[0, 1, 1], [0, 0, 1]]
    assert tokens_to_reach(np.array([grpo_curve]), grid, 0.5) == 20
    assert tokens_to_reach(np.array([mrt_curve]), grid, 0.5) == 10
    assert np.isnan(tokens_to_reach(np.array([grpo_curve]), grid, 0.75))
    base = [_record([0, 0], [[0, 0, 0]] * 2)]
    summary = summarise(base, {"grpo": [_record([1, 0], grpo_curve)], "mrt": [_record([1, 1], mrt_curve)]},
                        StudyConfig(seeds=1))
    tokens = summary["claims"][2]
    assert tokens["ours"].startswith("2") and "thinking tokens" in tokens["claim"]
    # regret at 50 tokens (the whole grid here): one minus the mean accuracy over its budgets
    assert summary["methods"]["mrt"]["regret"]["50"][0] == pytest.approx(1 - np.mean(mrt_curve))
