"""Countdown: reach a target from a few numbers with + - x, a reasoning task with a checker.

A problem is a handful of small numbers and a target that some of them reach when combined
left to right (``5*3=15,15+7=22``: start from one number, then each step applies an operation
to the running value and a number not used yet). An answer is such a chain of steps; the
checker accepts it when every step's arithmetic is right, every number it uses comes from the
problem (each at most as often as the problem has it), each step continues from the one
before, and the last value is the target. Generated locally from seeds; no data is
downloaded.

Difficulty: ``easy`` problems have 3 numbers and a target reached with 2 of them; ``hard``
ones have 4 numbers and a target reached with 3. Train and test problems are told apart by a
hash of the problem itself (numbers as a multiset and target), so no test problem is ever a
train problem, whichever seeds drew them.
"""

from __future__ import annotations

import dataclasses
import hashlib
import re

import numpy as np

from mrft.errors import MrftError

OPS = ("+", "-", "*")
DIFFICULTIES = {"easy": (3, 2), "hard": (4, 3)}
"""``difficulty: (numbers in the problem, numbers the generated solution uses)``."""
MAX_NUMBER = 20
MAX_VALUE = 999
"""Every running value of a chain stays in ``[0, MAX_VALUE]`` (three digits)."""
TEST_SHARE = 10
"""One problem in this many (by hash) belongs to the test split."""

STEP = re.compile(r"^(\d{1,3})([+\-*])(\d{1,3})=(\d{1,3})$")


@dataclasses.dataclass(frozen=True)
class Problem:
    numbers: tuple[int, ...]
    target: int
    difficulty: str

    @property
    def key(self) -> tuple[tuple[int, ...], int]:
        return tuple(sorted(self.numbers)), self.target


@dataclasses.dataclass(frozen=True)
class Step:
    left: int
    op: str
    right: int
    result: int

    def text(self) -> str:
        return f"{self.left}{self.op}{self.right}={self.result}"


def apply(left: int, op: str, right: int) -> int:
    if op == "+":
        return left + right
    if op == "-":
        return left - right
    return left * right


def chain_text(steps: list[Step]) -> str:
    return ",".join(s.text() for s in steps)


def split_of(problem: Problem) -> str:
    """``"test"`` for one problem in :data:`TEST_SHARE` by a hash of the problem, else ``"train"``."""
    digest = hashlib.sha256(repr(problem.key).encode()).digest()
    return "test" if int.from_bytes(digest[:4], "little") % TEST_SHARE == 0 else "train"


def random_chain(numbers: tuple[int, ...], length: int, rng: np.random.Generator) -> list[Step]:
    """A chain over ``length`` of ``numbers`` in a random order with random operations, every
    running value kept in ``[0, MAX_VALUE]`` (a subtraction that would go below 0 or a product
    above the cap is replaced by an addition)."""
    order = rng.permutation(len(numbers))[:length]
    value = numbers[order[0]]
    steps = []
    for index in order[1:]:
        right = numbers[index]
        op = OPS[int(rng.integers(len(OPS)))]
        result = apply(value, op, right)
        if not 0 <= result <= MAX_VALUE:
            op, result = "+", value + right
        steps.append(Step(value, op, right, result))
        value = result
    return steps


def generate(seed: int, difficulty: str) -> tuple[Problem, list[Step]]:
    """The problem of ``seed`` and the solution it was made from. The target is never one of
    the numbers, so no problem is solved without a step."""
    if difficulty not in DIFFICULTIES:
        raise ValueError(f"difficulty must be one of {tuple(DIFFICULTIES)}, got {difficulty!r}")
    count, used = DIFFICULTIES[difficulty]
    rng = np.random.default_rng(seed)
    while True:
        numbers = tuple(int(n) for n in rng.integers(1, MAX_NUMBER + 1, size=count))
        solution = random_chain(numbers, used, rng)
        target = solution[-1].result
        if target >= 1 and target not in numbers:
            return Problem(numbers, target, difficulty), solution


def problems(split: str, difficulty: str, count: int, start_seed: int = 0) -> list[tuple[Problem, list[Step]]]:
    """``count`` distinct problems of ``split`` drawn from seeds ``start_seed, start_seed + 1, ...``."""
    found: dict[tuple, tuple[Problem, list[Step]]] = {}
    seed = last_new = start_seed
    while len(found) < count:
        problem, solution = generate(seed, difficulty)
        if split_of(problem) == split and problem.key not in found:
            found[problem.key] = (problem, solution)
            last_new = seed
        seed += 1
        if seed - last_new > 100_000:
            raise MrftError(f"only {len(found)} distinct {difficulty} {split} problems were found; "
                            f"asked for {count}")
    return list(found.values())


def parse_chain(text: str) -> list[Step] | None:
    """The steps of ``a op b=c,c op d=e,...``; None when the text is not of that form."""
    if not text:
        return None
    steps = []
    for part in text.split(","):
        match = STEP.match(part)
        if match is None:
            return None
        left, op, right, result = match.groups()
        steps.append(Step(int(left), op, int(right), int(result)))
    return steps


def check(problem: Problem, answer: str) -> bool:
    """Whether ``answer`` (a chain's text) reaches the target by the rules in the module
    docstring."""
    steps = parse_chain(answer)
    if steps is None:
        return False
    available = list(problem.numbers)

    def take(n: int) -> bool:
        if n in available:
            available.remove(n)
            return True
        return False

    if not take(steps[0].left):
        return False
    previous = steps[0].left
    for step in steps:
        if step.left != previous or apply(step.left, step.op, step.right) != step.result:
            return False
        if not take(step.right):
            return False
        previous = step.result
    return previous == problem.target
