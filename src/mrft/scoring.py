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
        result = self._score(point, "", algo.evaluation_actor(False))
        if not self.points:  # before any update: how the first episode on the new instance unfolds
            point["reward_by_step"] = result.reward_by_step()
            if self.settings.protocol is not None and not final:
                # a protocol scores the most likely action after adaptation; "before" must too
                self._score(point, "deterministic/", algo.evaluation_actor(True))
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
        every point would cost several times the adaptation's own env steps. Returns what
        was added (nothing when the point already has it)."""
        point = self.points[-1]
        if "deterministic/return" in point:
            return {}
        added: dict[str, Any] = {}
        self._score(added, "deterministic/", algo.evaluation_actor(True))
        for name, actor in algo.scored_policies().items():
            self._score(added, f"{name}/", actor)
        added.update(self.distilled(algo))
        point.update(added)
        return added

    def _score(self, point: dict[str, Any], prefix: str, actor):
        """``actor``'s mean return (and success) on the evaluation episodes into ``point``
        under ``prefix``; returns the evaluation."""
        result = self._play(actor)
        point[f"{prefix}return"] = float(np.mean(result.returns))
        if result.successes is not None:
            point[f"{prefix}success"] = float(np.mean(result.successes))
        return result

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
        out = {"distilled/env_steps": result.env_steps}
        self._score(out, "distilled/", Actor(result.student))
        return out

    def _play(self, actor):
        return evaluate_instance(actor, self.task, self.instance, self.settings.eval_episodes,
                                 self.num_envs, self.max_episode_steps, seed=self.seed,
                                 device=self.device, cache=self._cache)

    def close(self) -> None:
        if self._cache.get("collector") is not None:
            self._cache.pop("collector").close()
