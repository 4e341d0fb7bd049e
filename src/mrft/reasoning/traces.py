"""Reasoning traces as text: a prompt, attempts separated by an episode delimiter, an answer.

A trace is ``PROMPT ATTEMPT| ATTEMPT| ... #ANSWER.``:

- the prompt ``3,5,7/22:`` gives the numbers and the target;
- each *attempt* is a chain (:mod:`mrft.reasoning.countdown`) and ends with the episode
  delimiter ``|``: an attempt is one *episode* of the trace in MRT's sense (Qu et al. 2025);
- ``#`` starts the answer, a chain, and ``.`` ends the trace.

*Forced termination* (MRT's meta-prover): after any delimiter the trace may be cut and ``!``
appended, and the model must then answer at once (``!#ANSWER.``): with a correct attempt it
has made, or else its best guess. The reward of forcing after episode ``j`` measures what the
trace has found by then, and its change from one episode to the next is the progress MRT pays.

The warm start learns from generated *search traces*: up to ``max_attempts`` attempts, each
the known solution with probability ``hit`` and otherwise a random chain, stopping at the first
attempt that reaches the target (then answering it) or after the last (answering the attempt
whose value came closest). A share of the traces are cut after a random attempt and end in a
forced answer, so the model learns to answer when forced.

Text is encoded one character per token over :data:`VOCAB`.
"""

from __future__ import annotations

import numpy as np

from mrft.reasoning.countdown import Problem, Step, chain_text, check, parse_chain, random_chain

PAD, BOS = 0, 1
SYMBOLS = "0123456789+-*=,/:|#.!"
VOCAB = ("<pad>", "<bos>", *SYMBOLS)
INDEX = {c: i + 2 for i, c in enumerate(SYMBOLS)}
DELIMITER, ANSWER, END, FORCE = "|", "#", ".", "!"


def prompt(problem: Problem) -> str:
    return ",".join(str(n) for n in problem.numbers) + f"/{problem.target}:"


def encode(text: str) -> list[int]:
    return [BOS] + [INDEX[c] for c in text]


def decode(tokens) -> str:
    return "".join(VOCAB[int(t)] for t in tokens if int(t) > BOS)


def search_trace(problem: Problem, solution: list[Step], rng: np.random.Generator,
                 max_attempts: int = 6, hit: float = 0.3) -> tuple[str, list[str]]:
    """The text after the prompt of one search trace, and its attempts."""
    attempts: list[list[Step]] = []
    for _ in range(max_attempts):
        if rng.random() < hit:
            chain = solution
        else:
            chain = random_chain(problem.numbers, int(rng.integers(2, len(problem.numbers) + 1)), rng)
        attempts.append(chain)
        if check(problem, chain_text(chain)):
            break
    texts = [chain_text(c) for c in attempts]
    answer = best_attempt(problem, texts)
    return "".join(t + DELIMITER for t in texts) + ANSWER + answer + END, texts


def best_attempt(problem: Problem, attempts: list[str]) -> str:
    """The attempt to answer with: a correct one if any, else the one whose last value came
    closest to the target (the first of equals)."""
    for text in attempts:
        if check(problem, text):
            return text

    def distance(text: str) -> int:
        steps = parse_chain(text)
        return abs(steps[-1].result - problem.target) if steps else 10**9

    return min(attempts, key=distance)


def forced_trace(problem: Problem, attempts: list[str], after: int) -> str:
    """The text after the prompt of a trace cut after its first ``after`` attempts and forced
    to answer: with the best of them, or, forced before any (``after == 0``), with the attempt
    it would have made first."""
    kept = attempts[:after]
    answer = best_attempt(problem, kept) if kept else attempts[0]
    return "".join(t + DELIMITER for t in kept) + FORCE + ANSWER + answer + END


def episodes_of(text: str) -> list[str]:
    """The attempts (episodes) of a trace's text after the prompt: the parts ended by a
    delimiter before the answer (or the forced-termination token)."""
    return text.split(ANSWER, 1)[0].split(FORCE, 1)[0].split(DELIMITER)[:-1]


def answer_of(text: str) -> str | None:
    """The answer chain of a trace's text (None without a finished answer)."""
    if ANSWER not in text:
        return None
    answer = text.split(ANSWER, 1)[1]
    return answer.split(END, 1)[0] if END in answer else None
