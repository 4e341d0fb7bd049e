"""What MRT is about, measured on held-out problems: how accuracy grows with the episodes and
tokens a model spends, and how little it wastes.

One trace per problem is sampled under an episode budget; the model is then forced to answer
after each of its episode boundaries (MRT's meta-prover), which gives for every problem the
accuracy ``J_j`` after ``j`` episodes and the tokens those ``j`` episodes took. From these:

- **accuracy after each episode**: the mean of ``J_j`` over problems, for ``j = 0 .. K``; a trace
  that answered before episode ``j`` keeps its own answer;
- **accuracy against thinking tokens**: at a budget of ``b`` tokens, each problem scores ``J`` at
  its last episode boundary within ``b`` tokens (its own answer once the trace has ended
  within ``b``);
- **normalised cumulative regret** at budget ``B`` (MRT's regret, with the oracle at accuracy
  1): one minus the mean accuracy over budgets ``0 .. B``, the area under the accuracy curve
  over ``B``; lower is better;
- **budget extrapolation**: the final accuracy with the training episode budget ``K`` and with
  ``2K``;
- **tokens to a majority-vote accuracy**: with ``m = 1, 2, 4, ...`` traces per problem and a
  majority vote over the values their answers reach, the tokens per problem spent at the first
  ``m`` whose accuracy reaches the target (censored at the largest ``m``).
"""

from __future__ import annotations

import dataclasses
import itertools
from collections import Counter

import numpy as np
import torch

from mrft.reasoning.countdown import Problem, check, parse_chain
from mrft.reasoning.lm import TinyLM
from mrft.reasoning.rollout import Traces, forced_rewards, play
from mrft.reasoning.traces import DELIMITER, answer_of, episodes_of


@dataclasses.dataclass
class ForcedProfile:
    """Per problem: ``J [P, K + 1]`` (forced accuracy after ``j`` episodes) and ``tokens
    [P, K + 1]`` (tokens sampled up to that boundary), and the trace's own outcome."""

    accuracy: np.ndarray
    tokens: np.ndarray
    final: np.ndarray
    final_tokens: np.ndarray


def boundary_tokens(text: str, episodes: int) -> list[int]:
    """Characters (tokens) of ``text`` up to and including each of its first ``episodes``
    delimiters, with 0 for the prompt alone."""
    ends = [len(part) + len(DELIMITER) for part in episodes_of(text)[:episodes]]
    return [0, *itertools.accumulate(ends)]


def forced_profile(model: TinyLM, problems: list[Problem], episodes: int, max_tokens: int,
                   generator: torch.Generator, samples_each: int = 1) -> ForcedProfile:
    """One trace per problem with budget ``episodes``, forced to answer after each boundary."""
    traces = play(model, problems, 1, episodes, max_tokens, generator)
    requests = [(row, j) for row in range(len(problems)) for j in range(int(traces.episodes[row]) + 1)]
    values, _ = forced_rewards(model, traces, requests, samples_each, generator)
    n, width = len(problems), episodes + 1
    accuracy = np.zeros((n, width))
    tokens = np.zeros((n, width))
    final = traces.correct.numpy().astype(float)
    final_tokens = traces.lengths.numpy().astype(float)
    got = dict(zip(requests, values.tolist(), strict=True))
    for row in range(n):
        made = int(traces.episodes[row])
        marks = boundary_tokens(traces.texts[row], made)
        for j in range(width):
            if j <= made:
                accuracy[row, j], tokens[row, j] = got[row, j], marks[j]
            else:  # the trace answered before episode j: its own answer stands
                accuracy[row, j], tokens[row, j] = final[row], final_tokens[row]
    return ForcedProfile(accuracy, tokens, final, final_tokens)


def problem_accuracy_at_budgets(profile: ForcedProfile, budgets: np.ndarray) -> np.ndarray:
    """``[P, len(budgets)]`` each problem's score when it must answer within ``b`` tokens."""
    out = np.zeros((profile.accuracy.shape[0], len(budgets)))
    for row in range(profile.accuracy.shape[0]):
        for i, b in enumerate(budgets):
            if profile.final_tokens[row] <= b:
                out[row, i] = profile.final[row]
                continue
            within = np.flatnonzero(profile.tokens[row] <= b)
            out[row, i] = profile.accuracy[row, within[-1]] if within.size else 0.0
    return out


def accuracy_at_budgets(profile: ForcedProfile, budgets: np.ndarray) -> np.ndarray:
    """``[len(budgets)]`` accuracy when each problem must answer within ``b`` tokens."""
    return problem_accuracy_at_budgets(profile, budgets).mean(0)


def regret_of(by_tokens: np.ndarray, grid: np.ndarray, budget: int) -> float:
    """One minus the mean accuracy over the budgets of ``grid`` up to ``budget``, from scores
    ``by_tokens [..., problems, len(grid)]`` (:func:`problem_accuracy_at_budgets`)."""
    return float(1.0 - by_tokens[..., grid <= budget].mean())


def normalised_regret(profile: ForcedProfile, budget: int, step: int = 5) -> float:
    """One minus the mean accuracy over budgets ``0, step, ..., budget``."""
    grid = np.arange(0, budget + 1, step)
    return regret_of(problem_accuracy_at_budgets(profile, grid), grid, budget)


def answer_value(answer: str | None) -> int | None:
    steps = parse_chain(answer) if answer else None
    return steps[-1].result if steps else None


def majority_correct(problem: Problem, texts: list[str]) -> bool:
    """Whether the value most answers reach is the target and one of them checks (ties: the
    value met first)."""
    answers = [answer_of(t) for t in texts]
    values = [answer_value(a) for a in answers]
    counted = Counter(v for v in values if v is not None)
    if not counted:
        return False
    top = counted.most_common(1)[0][0]
    return top == problem.target and any(check(problem, a) for a, v in zip(answers, values, strict=True)
                                         if v == top and a)


def tokens_to_majority(model: TinyLM, problems: list[Problem], episodes: int, max_tokens: int,
                       target: float | None, generator: torch.Generator, largest: int = 8) -> dict:
    """Tokens per problem at the first ``m`` in ``1, 2, 4, ..., largest`` whose majority-vote
    accuracy reaches ``target``; ``reached`` False when none does (tokens at ``largest``). No
    ``target``: the whole curve, up to ``largest``."""
    traces: Traces = play(model, problems, largest, episodes, max_tokens, generator)
    lengths = traces.lengths.numpy().reshape(len(problems), largest)
    texts = np.asarray(traces.texts, dtype=object).reshape(len(problems), largest)
    curve = []
    m = 1
    while m <= largest:
        accuracy = float(np.mean([majority_correct(p, list(texts[i, :m])) for i, p in enumerate(problems)]))
        spent = float(lengths[:, :m].sum(1).mean())
        curve.append({"m": m, "accuracy": accuracy, "tokens": spent})
        if target is not None and accuracy >= target:
            return {"target": target, "reached": True, "tokens": spent, "curve": curve}
        m *= 2
    return {"target": target, "reached": False, "tokens": curve[-1]["tokens"], "curve": curve}
