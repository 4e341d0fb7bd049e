"""Scoring an adaptation run: the adapted policy on fresh episodes of its instance, at step 0,
every ``eval_every`` env steps and at the end, as the points of its adaptation curve."""

from __future__ import annotations

from typing import Any

import numpy as np
import torch

from mrft.config import AdaptSettings
from mrft.envs import Task
from mrft.evaluate import evaluate_instance


class AdaptationCurve:
    """The evaluation points of one adaptation run, and when the next one is due."""

    def __init__(self, settings: AdaptSettings, task: Task, instance: int, num_envs: int,
                 max_episode_steps: int, seed: int, device: torch.device,
                 points: list[dict[str, Any]] | None = None):
        self.settings = settings
        self.task = task
        self.instance = instance
        self.num_envs = num_envs
        self.max_episode_steps = max_episode_steps
        self.seed = seed
        self.device = device
        self.points: list[dict[str, Any]] = list(points or [])
        self._cache: dict[str, Any] = {}
        """The evaluation env pool, kept between evaluation points."""

    def due(self, global_step: int) -> bool:
        """No point yet, or a multiple of ``eval_every`` passed since the last one."""
        if not self.points:
            return True
        every = self.settings.eval_every
        return global_step // every > self.points[-1]["step"] // every

    def evaluate(self, algo, global_step: int) -> dict[str, Any]:
        """Score the current adapted policy, stochastic (the headline) and deterministic (mean
        action / argmax), and the algorithm's other scored policies. Evaluation changes
        nothing: no normaliser update, its own RNG stream, its own envs."""
        point: dict[str, Any] = {"step": int(global_step)}
        for deterministic in (False, True):
            result = self._play(algo.evaluation_actor(deterministic))
            prefix = "deterministic/" if deterministic else ""
            point[f"{prefix}return"] = float(np.mean(result.returns))
            if result.successes is not None:
                point[f"{prefix}success"] = float(np.mean(result.successes))
            if not self.points and not deterministic:
                # before any update: how the first episode on the new instance unfolds
                point["reward_by_step"] = result.reward_by_step()
        for name, actor in algo.scored_policies().items():
            result = self._play(actor)
            point[f"{name}/return"] = float(np.mean(result.returns))
            if result.successes is not None:
                point[f"{name}/success"] = float(np.mean(result.successes))
        point.update(algo.evaluation_stats())
        self.points.append(point)
        return point

    def _play(self, actor):
        return evaluate_instance(actor, self.task, self.instance, self.settings.eval_episodes,
                                 self.num_envs, self.max_episode_steps, seed=self.seed,
                                 device=self.device, cache=self._cache)

    def close(self) -> None:
        if self._cache.get("collector") is not None:
            self._cache.pop("collector").close()
