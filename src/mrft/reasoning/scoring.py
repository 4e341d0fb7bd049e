"""Scoring one reasoning model on held-out problems: every measure of
:mod:`mrft.reasoning.metrics`, as one JSON-safe record."""

from __future__ import annotations

import numpy as np
import torch

from mrft.reasoning import countdown
from mrft.reasoning.lm import TinyLM
from mrft.reasoning.metrics import (
    forced_profile,
    normalised_regret,
    problem_accuracy_at_budgets,
    tokens_to_majority,
)

REGRET_BUDGETS = (50, 100, 200)
"""Token budgets the normalised regret is reported at."""
TOKEN_GRID_STEP = 10


def score_model(model: TinyLM, difficulty: str, problems: int, episodes: int, max_tokens: int,
                seed: int, majority_target: float | None = None, majority_problems: int = 100) -> dict:
    """The record of one model: per problem the forced accuracies (so intervals can be drawn
    over problems and seeds), the curves and the summary figures. The same ``seed`` gives the
    same problems and samples."""
    test = [p for p, _ in countdown.problems("test", difficulty, problems)]
    generator = torch.Generator().manual_seed(seed)
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        at_k = forced_profile(model, test, episodes, max_tokens, generator)
        at_2k = forced_profile(model, test, 2 * episodes, 2 * max_tokens, generator)
        majority = tokens_to_majority(model, test[:majority_problems], episodes, max_tokens,
                                      majority_target, generator)
    grid = np.arange(0, 2 * max_tokens + 1, TOKEN_GRID_STEP)
    by_tokens = problem_accuracy_at_budgets(at_k, grid)
    return {
        "difficulty": difficulty, "problems": problems, "episodes": episodes, "max_tokens": max_tokens,
        "seed": seed,
        "accuracy": float(at_k.final.mean()),
        "accuracy_2k": float(at_2k.final.mean()),
        "tokens": float(at_k.final_tokens.mean()),
        "tokens_2k": float(at_2k.final_tokens.mean()),
        "accuracy_by_episode": at_k.accuracy.mean(0).tolist(),
        "accuracy_by_episode_2k": at_2k.accuracy.mean(0).tolist(),
        "token_grid": grid.tolist(),
        "accuracy_by_tokens": by_tokens.mean(0).tolist(),
        "regret": {str(b): normalised_regret(at_k, b, TOKEN_GRID_STEP) for b in REGRET_BUDGETS},
        "per_problem": {"final": at_k.final.tolist(), "final_2k": at_2k.final.tolist(),
                        "tokens": at_k.final_tokens.tolist(),
                        "by_tokens": by_tokens.round(4).tolist()},
        "majority": majority,
    }
