"""Sampling reasoning traces under an episode budget, and forced termination after a prefix.

:func:`play` samples a group of traces per problem. After a trace's ``episodes``-th
delimiter the sampler writes ``!`` for it (forced termination: the budget is spent, answer
now), a token the model did not choose. :func:`forced_rewards` measures MRT's ``J``: for given
prefixes of given traces (the prompt and the first ``j`` episodes), the share of answers that
are right when the model is forced to answer right there.
"""

from __future__ import annotations

import dataclasses

import torch

from mrft.errors import MrftError
from mrft.reasoning.countdown import Problem, check
from mrft.reasoning.lm import Samples, TinyLM, sample
from mrft.reasoning.traces import (
    ANSWER,
    BOS,
    DELIMITER,
    END,
    FORCE,
    INDEX,
    PAD,
    answer_of,
    decode,
    encode,
    episodes_of,
    prompt,
)

ANSWER_TOKENS = 40
"""Longest forced answer sampled (a chain of three steps is under 30 characters)."""
PROMPT_TOKENS = 17
SAMPLER_BANS = (PAD, BOS, INDEX[FORCE])
"""Tokens the sampler never chooses: padding, BOS and ``!``, which only the episode budget
writes; the RL loss reads log-probabilities under the same ban."""
"""Longest prompt (``20,20,20,20/999:`` and BOS)."""


def check_fits(model: TinyLM, max_tokens: int) -> None:
    """A prompt, ``max_tokens`` of trace, the forced ``!`` and an answer must fit the context."""
    need = PROMPT_TOKENS + max_tokens + 1 + ANSWER_TOKENS
    if need > model.cfg.context:
        raise MrftError(f"traces of {max_tokens} tokens need a context of {need} with a prompt and a forced "
                        f"answer; the model has {model.cfg.context} (scoring with 2K episodes doubles it)")


@dataclasses.dataclass
class Traces:
    problems: list[Problem]
    """The problem of each trace (a group's traces share one)."""
    samples: Samples
    texts: list[str]
    """Each trace's text after the prompt."""
    correct: torch.Tensor
    """``[N]`` 1.0 where the answer is right."""
    episodes: torch.Tensor
    """``[N]`` complete episodes (attempts ended by a delimiter) before the answer."""
    token_episode: torch.Tensor
    """``[N, T]`` the episode (1, 2, ...) each token belongs to; 0 for the prompt and answer."""
    group_ids: torch.Tensor

    @property
    def lengths(self) -> torch.Tensor:
        """``[N]`` tokens the model sampled in each trace."""
        return self.samples.sampled.sum(1)


def budget_injector(batch: int, episodes: int):
    """``inject`` for :func:`mrft.reasoning.lm.sample`: ``!`` right after each sequence's
    ``episodes``-th delimiter (delimiters inside an answer do not count)."""
    delimiter, force = INDEX[DELIMITER], INDEX[FORCE]
    answer = INDEX[ANSWER]
    counts = torch.zeros(batch, dtype=torch.long)
    forced = torch.zeros(batch, dtype=torch.bool)
    pending = torch.zeros(batch, dtype=torch.bool)
    answering = torch.zeros(batch, dtype=torch.bool)

    def inject(t: int, sampled: torch.Tensor) -> torch.Tensor:
        out = torch.where(pending & ~forced & ~answering, force, -1)
        placed = torch.where(out >= 0, out, sampled)
        forced.logical_or_(out >= 0)
        answering.logical_or_((placed == answer) | (placed == force))
        pending.zero_()
        counts.add_(((placed == delimiter) & ~answering).long())
        pending.logical_or_((counts >= episodes) & ~forced & (placed == delimiter))
        return out

    return inject


def _token_episodes(tokens: torch.Tensor, start: int) -> torch.Tensor:
    """``[N, T]`` episode index per token (module docstring of :class:`Traces`)."""
    delimiter, answer, force = INDEX[DELIMITER], INDEX[ANSWER], INDEX[FORCE]
    out = torch.zeros_like(tokens)
    for row in range(tokens.shape[0]):
        episode, answering = 1, False
        for t in range(start, tokens.shape[1]):
            token = int(tokens[row, t])
            if token == 0:
                break
            if token in (answer, force):
                answering = True
            if not answering:
                out[row, t] = episode
                if token == delimiter:
                    episode += 1
    return out


def play(model: TinyLM, problems: list[Problem], group: int, episodes: int, max_tokens: int,
         generator: torch.Generator | None = None, temperature: float = 1.0) -> Traces:
    """``group`` traces per problem, each forced to answer after ``episodes`` episodes and cut
    after ``max_tokens`` tokens."""
    check_fits(model, max_tokens)
    repeated = [p for p in problems for _ in range(group)]
    prompts = [encode(prompt(p)) for p in repeated]
    samples = sample(model, prompts, max_tokens, INDEX[END], generator, temperature,
                     inject=budget_injector(len(prompts), episodes), banned=SAMPLER_BANS)
    texts = [decode(samples.tokens[i, samples.prompt_length:]) for i in range(len(prompts))]
    correct = torch.tensor([float(bool((a := answer_of(text)) and check(p, a)))
                            for p, text in zip(repeated, texts, strict=True)])
    counts = torch.tensor([len(episodes_of(text)) for text in texts])
    groups = torch.arange(len(problems)).repeat_interleave(group)
    return Traces(repeated, samples, texts, correct, counts,
                  _token_episodes(samples.tokens, samples.prompt_length), groups)


def prefix_tokens(traces: Traces, row: int, j: int) -> list[int]:
    """The prompt and the first ``j`` episodes of trace ``row``, then ``!``."""
    kept = "".join(part + DELIMITER for part in episodes_of(traces.texts[row])[:j])
    return encode(prompt(traces.problems[row]) + kept + FORCE)


def forced_rewards(model: TinyLM, traces: Traces, requests: list[tuple[int, int]], samples_each: int,
                   generator: torch.Generator | None = None) -> tuple[torch.Tensor, int]:
    """``J`` for each ``(row, j)`` request: the share of ``samples_each`` answers forced after
    the first ``j`` episodes of trace ``row`` that are right; and the tokens sampled for it."""
    if not requests:
        return torch.zeros(0), 0
    prompts = [prefix_tokens(traces, row, j) for row, j in requests for _ in range(samples_each)]
    room = model.cfg.context - max(len(p) for p in prompts)
    out = sample(model, prompts, min(ANSWER_TOKENS, room), INDEX[END], generator,
                 banned=SAMPLER_BANS)
    rights = []
    for i, (row, _) in enumerate(r for r in requests for _ in range(samples_each)):
        # the same reading as a trace's own answer: a forced answer must be written whole
        answer = answer_of(decode(out.tokens[i, out.prompt_length:]))
        rights.append(float(bool(answer and check(traces.problems[row], answer))))
    values = torch.tensor(rights).reshape(len(requests), samples_each).mean(1)
    return values, int(out.sampled.sum())
