"""The warm start: supervised learning of search traces (:mod:`mrft.reasoning.traces`).

Each example is one train problem's prompt and one generated trace; a share ``forced`` of
them is cut after a random attempt and ends in a forced answer, so the model can play MRT's
meta-prover. The loss is the cross-entropy of every token after the prompt (the prompt is
given, never predicted). Examples are drawn fresh at every step from a seeded stream over the
train problems, so the model never sees a test problem.
"""

from __future__ import annotations

import dataclasses
import math
import time
from collections.abc import Callable

import numpy as np
import torch
import torch.nn.functional as F

from mrft.reasoning.countdown import Problem, Step
from mrft.reasoning.lm import TinyLM
from mrft.reasoning.traces import FORCE, INDEX, encode, forced_trace, prompt, search_trace


@dataclasses.dataclass(frozen=True)
class SFTConfig:
    steps: int = 3000
    batch: int = 64
    learning_rate: float = 1e-3
    warmup: int = 100
    forced: float = 0.3
    """Share of examples cut after a random attempt and forced to answer."""
    max_attempts: int = 6
    hit: float = 0.3
    """Chance that an attempt of a generated trace is the known solution."""
    seed: int = 0


def example(problem: Problem, solution: list[Step], rng: np.random.Generator,
            cfg: SFTConfig) -> tuple[list[int], int]:
    """Tokens of one training trace and the length of its prompt (with the BOS token)."""
    text, attempts = search_trace(problem, solution, rng, cfg.max_attempts, cfg.hit)
    if rng.random() < cfg.forced:
        text = forced_trace(problem, attempts, int(rng.integers(0, len(attempts) + 1)))
    head = prompt(problem)
    return encode(head + text), len(encode(head))


def batch_tensors(examples: list[tuple[list[int], int]]) -> tuple[torch.Tensor, torch.Tensor]:
    """Right-padded tokens ``[B, T]`` and the mask ``[B, T]`` of the tokens that are learned:
    after the prompt, not padding, and not the forced-termination token, which the sampler
    writes and the model never chooses (it learns what to do after it, not to write it)."""
    longest = max(len(t) for t, _ in examples)
    tokens = torch.zeros(len(examples), longest, dtype=torch.long)
    learned = torch.zeros(len(examples), longest, dtype=torch.bool)
    for i, (toks, head) in enumerate(examples):
        tokens[i, :len(toks)] = torch.tensor(toks)
        learned[i, head:len(toks)] = True
    learned &= tokens != INDEX[FORCE]
    return tokens, learned


def sft_loss(model: TinyLM, tokens: torch.Tensor, learned: torch.Tensor) -> torch.Tensor:
    """Mean cross-entropy of the learned tokens given the tokens before them."""
    logits = model(tokens)[:, :-1]
    target, mask = tokens[:, 1:], learned[:, 1:]
    return F.cross_entropy(logits[mask], target[mask])


def train_sft(model: TinyLM, train: list[tuple[Problem, list[Step]]], cfg: SFTConfig,
              progress: Callable[[dict], None] | None = None, start_step: int = 0,
              optimizer: torch.optim.Optimizer | None = None,
              stop_step: int | None = None) -> torch.optim.Optimizer:
    """Optimiser steps ``start_step .. stop_step`` (default: to ``cfg.steps``) of AdamW with a
    linear warm-up and a cosine decay over ``cfg.steps``; ``progress`` gets ``{step, loss,
    seconds}`` every step."""
    optimizer = optimizer or torch.optim.AdamW(model.parameters(), lr=cfg.learning_rate, weight_decay=0.01)
    model.train()
    start = time.time()
    for step in range(start_step, cfg.steps if stop_step is None else stop_step):
        rng = np.random.default_rng([cfg.seed, step])  # the stream depends on the step alone
        picks = rng.integers(len(train), size=cfg.batch)
        tokens, learned = batch_tensors([example(*train[i], rng, cfg) for i in picks])
        scale = min(1.0, (step + 1) / cfg.warmup) * 0.5 * (1 + math.cos(math.pi * step / cfg.steps))
        for group in optimizer.param_groups:
            group["lr"] = cfg.learning_rate * scale
        loss = sft_loss(model, tokens, learned)
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        optimizer.step()
        if progress is not None:
            progress({"step": step + 1, "loss": float(loss.detach()), "seconds": time.time() - start})
    return optimizer
