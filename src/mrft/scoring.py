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

    def evaluate(self, algo, global_step: int, final: bool = False) -> dict[str, Any]:
        """Score the current adapted policy, stochastic (the headline), as a new point; a
        ``final`` point also gets :meth:`finalise`'s scores. Evaluation changes nothing: no
        normaliser update, its own RNG stream, its own envs."""
        point: dict[str, Any] = {"step": int(global_step)}
        result = self._play(algo.evaluation_actor(False))
        point["return"] = float(np.mean(result.returns))
        if result.successes is not None:
            point["success"] = float(np.mean(result.successes))
        if not self.points:  # before any update: how the first episode on the new instance unfolds
            point["reward_by_step"] = result.reward_by_step()
        point.update(algo.evaluation_stats())
        self.points.append(point)
        if final:
            self.finalise(algo)
        return point

    def finalise(self, algo) -> dict[str, Any]:
        """Add to the last point, once, what is scored at the end only: the deterministic
        policy (mean action / argmax), the algorithm's other scored policies and the student
        of its :meth:`~mrft.algos.base.Algorithm.final_distillation` (:meth:`distilled`).
        The curve is the stochastic score; these are read at the end, where scoring them at
        every point would cost several times the adaptation's own env steps."""
        point = self.points[-1]
        if point.get("final"):
            return point
        result = self._play(algo.evaluation_actor(True))
        point["deterministic/return"] = float(np.mean(result.returns))
        if result.successes is not None:
            point["deterministic/success"] = float(np.mean(result.successes))
        for name, actor in algo.scored_policies().items():
            result = self._play(actor)
            point[f"{name}/return"] = float(np.mean(result.returns))
            if result.successes is not None:
                point[f"{name}/success"] = float(np.mean(result.successes))
        point.update(self.distilled(algo))
        point["final"] = True
        return point

    def distilled(self, algo) -> dict[str, float]:
        """``distilled/return`` (and ``distilled/success``) of the context-free student that
        progressive distillation (:mod:`mrft.distillation`) trains from the adapted policy,
        scored on the same evaluation episodes, and ``distilled/env_steps``, the steps it
        played on the instance (the export's, outside the adaptation's budget); nothing when
        the algorithm asks for no distillation."""
        from mrft.batches import Actor
        from mrft.distillation import distill
        from mrft.resolve import adapt_options

        request = algo.final_distillation(adapt_options(type(algo), self.settings.options))
        if request is None:
            return {}
        result = distill(request, self.task, self.instance, self.max_episode_steps,
                         seed=self.seed + 1, device=self.device)
        scores = self._play(Actor(result.student))
        out = {"distilled/return": float(np.mean(scores.returns)),
               "distilled/env_steps": result.env_steps}
        if scores.successes is not None:
            out["distilled/success"] = float(np.mean(scores.successes))
        return out

    def _play(self, actor):
        return evaluate_instance(actor, self.task, self.instance, self.settings.eval_episodes,
                                 self.num_envs, self.max_episode_steps, seed=self.seed,
                                 device=self.device, cache=self._cache)

    def close(self) -> None:
        if self._cache.get("collector") is not None:
            self._cache.pop("collector").close()
