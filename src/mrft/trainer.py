"""One engine for every algorithm, for pre-training and for adaptation:
collect -> update -> log -> checkpoint.

The loop owns everything that is not an algorithm's math: seeding, network construction,
the collectors (an algorithm says what data it wants; :mod:`mrft.collectors` builds it), the
optimiser step with gradient clipping, non-finite guards, autocast, timing, logging,
checkpoints, resume and Ctrl-C, and the env-step budget, which it never exceeds.
Algorithms plug in through :class:`mrft.algos.base.Algorithm` and are found by name in
:data:`mrft.algos.REGISTRY`. Adaptation to a held-out instance is a run of the same loop
started from a pre-trained checkpoint (:class:`mrft.config.AdaptSettings`), playing that
one instance, and scoring the adapted policy on a fixed schedule (:mod:`mrft.scoring`).
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import functools
import math
import sys
import time
from collections import defaultdict
from pathlib import Path
from typing import Any

import numpy as np
import torch

from mrft import algos, envs
from mrft.algos.base import AlgoContext, UpdateGuard
from mrft.checkpoint import (
    MILESTONES,
    keep_milestone,
    load_module_state,
    rng_state,
    save_checkpoint,
    set_rng_state,
)
from mrft.collectors import build_collector
from mrft.config import AdaptSettings, RunConfig, TrainConfigBase, to_dict
from mrft.device import pick_device, seed_everything
from mrft.distributed import (
    SEED_STRIDE,
    Ranks,
    running_statistics,
    snapshot,
    stop_quietly_when_the_launcher_ends_the_job,
)
from mrft.envs.guard import set_step_timeout
from mrft.errors import EnvFaultError, MrftError, RankLostError
from mrft.interrupt import StopFlag
from mrft.logging import RunLogger, SilentLogger
from mrft.metrics import EntropyChangeRate
from mrft.progress import ProgressDisplay
from mrft.resolve import resolve_config, starting_point
from mrft.run_faults import env_fault, resume_hint
from mrft.run_scalars import TrainLoop, progress_stats, update_scalars
from mrft.scoring import AdaptationCurve

CHECKPOINT_NAME = "checkpoint.pt"


@dataclasses.dataclass
class TrainResult:
    run_dir: Path
    checkpoint: Path
    global_step: int
    updates: int
    interrupted: bool
    recent_return: float | None
    recent_success: float | None
    timings: dict[str, float]
    sps: float
    curve: list[dict[str, float]] | None = None
    """Adaptation only: the evaluation curve."""
    optimizer_steps: int = 0
    """Optimiser steps the run took (a trust region's undone ones included)."""
    parameters: int = 0
    """Parameters the optimiser trains."""


class Trainer:
    """The engine. ``Trainer(cfg)`` pre-trains; ``Trainer(adaptation=AdaptSettings(...))``
    adapts a pre-trained checkpoint to one held-out instance; ``resume_from`` continues either."""

    def __init__(self, cfg: TrainConfigBase | None = None, resume_from: str | None = None,
                 adaptation: AdaptSettings | None = None, run_dir: str | Path | None = None):
        cfg, adaptation, state, pretrained, curve = starting_point(cfg, resume_from, adaptation)
        self.adaptation = adaptation
        self.cfg, self.suite = resolve_config(cfg, adapting=adaptation is not None)
        set_step_timeout(self.cfg.env.env_step_timeout)
        run = self.cfg.run
        self.device = pick_device(run.device)
        if run.threads is not None:
            torch.set_num_threads(run.threads)
        self.ranks = Ranks.from_env()
        """The torchrun job this process is a rank of (None: a single process)."""
        rank_offset = SEED_STRIDE * self.ranks.rank if self.ranks else 0
        seed_everything(run.seed + rank_offset)
        env_seed = self._restore_counters(state, cfg) + rank_offset
        self._build(env_seed, pretrained, curve)
        self.budget = run.total_steps
        self.generator = torch.Generator().manual_seed(run.seed + rank_offset)
        self.entropy_rate = EntropyChangeRate()
        self.resumed_exactly: bool | None = None
        self.autocast = functools.partial(torch.autocast, self.device.type, dtype=torch.bfloat16,
                                          enabled=run.precision == "bf16")
        if state is not None:
            self._resume(state, resume_from)
        else:
            self._open_run_dir(run, run_dir)
        self.checkpoint_path = self.run_dir / CHECKPOINT_NAME
        if self.ranks:  # every rank starts from rank 0's weights and normaliser statistics
            stop_quietly_when_the_launcher_ends_the_job(self.ranks, self.checkpoint_path)
            shared = self.algo.state_modules()
            self.ranks.copy_from_main(shared)
            self._statistics = running_statistics(shared)
            self._statistics_before = snapshot(self._statistics)
        self.logger: RunLogger | None = None

    def _restore_counters(self, state: dict[str, Any] | None, cfg: TrainConfigBase) -> int:
        """Counters of a resumed run (zero for a new one); returns the env seed: the run's
        seed, or a fresh stream where the envs cannot be replayed to the saved state."""
        self.global_step = self.update = self.nonfinite_streak = self.optimizer_steps = 0
        self.finished = False
        if state is None:
            return self.cfg.run.seed
        counters = state["counters"]
        self.global_step = int(counters["global_step"])
        self.update = int(counters["update"])
        self.nonfinite_streak = int(counters["nonfinite_streak"])
        self.optimizer_steps = int(counters.get("optimizer_steps", 0))
        # a resume with a larger --total-steps continues a finished run
        self.finished = bool(counters.get("finished", False)) and self.global_step >= cfg.run.total_steps
        exact_replay = bool(state["collector"].get("action_log_complete")
                            or state["collector"].get("exact"))
        if self.ranks and not self.ranks.is_main:
            exact_replay = False  # the checkpoint holds rank 0's env state: continue afresh
        return self.cfg.run.seed if exact_replay else self.cfg.run.seed + self.global_step

    def _build(self, env_seed: int, pretrained: dict[str, Any] | None,
               curve: list[dict[str, Any]]) -> None:
        """The network, the algorithm, its collector and the optimiser (in that order: each
        draws from the seeded generators), and the adaptation's scoring."""
        run, adaptation = self.cfg.run, self.adaptation
        if adaptation is not None:
            task, self.instance = envs.held_out_instance(self.suite, adaptation.task)
            tasks = (task,)
        else:
            tasks, self.instance = self.suite.train, None
        spaces = envs.task_spaces(tasks[0])
        algo_class = algos.get(self.cfg.algo)
        self.policy: torch.nn.Module = algo_class.build_policy(
            self.cfg, spaces.observation_space, spaces.action_space).to(self.device)
        if pretrained is not None:
            load_module_state(self.policy, pretrained["model"], adaptation.checkpoint)
        ctx = AlgoContext(num_envs=self.cfg.env.num_envs, device=self.device,
                          num_train_tasks=len(self.suite.train), adapting=adaptation is not None,
                          seed=run.seed)
        self.algo = algo_class.create(self.cfg, self.policy, ctx)
        if pretrained is not None:
            self.algo.load_pretrained(pretrained.get("algo", {}), adaptation.checkpoint)
        self.learning = adaptation is None or adaptation.updates
        """False: in context only (played, counted, no weight changes)."""
        self.collector = build_collector(
            self.algo.collection(), tuple(tasks), self.policy, self.cfg.env.num_envs,
            self.cfg.env.max_episode_steps, env_seed, self.device, self.instance,
            run.exact_resume_max_steps)
        params: list[torch.nn.Parameter] = []
        for module in self.algo.modules():
            params += [p for p in module.parameters() if all(p is not q for q in params)]
        # the fused kernel: one pass over every parameter instead of a loop of small ops
        # (a quarter of the optimiser's time for a 256 x 256 MLP on a CPU)
        self.optimizer = torch.optim.Adam(params, lr=self.cfg.optim.learning_rate, eps=1e-5,
                                          fused=True)
        self.scoring = None if adaptation is None else AdaptationCurve(
            adaptation, tasks[0], self.instance, self.cfg.env.num_envs,
            self.cfg.env.max_episode_steps, run.seed + 7, self.device, curve)

    def _resume(self, state: dict[str, Any], resume_from: str) -> None:
        self.run_dir = Path(resume_from).resolve().parent
        if self.run_dir.name == MILESTONES:  # a --keep-checkpoints milestone: its run's folder
            self.run_dir = self.run_dir.parent
        load_module_state(self.policy, state["model"], resume_from)
        try:
            self.optimizer.load_state_dict(state["optimizer"])
        except (ValueError, KeyError) as exc:
            raise MrftError(f"checkpoint {resume_from}: optimiser state does not fit ({exc})") from None
        self.generator.set_state(state["generator"])
        self.entropy_rate.load_state_dict(state.get("monitor", {}))
        self.algo.load_state_dict(state.get("algo", {}))
        if self.is_main:
            self.resumed_exactly = self.collector.load_state_dict(state["collector"])
            set_rng_state(state["rng"])

    def _open_run_dir(self, run: RunConfig, run_dir: str | Path | None) -> None:
        name = run.run_name or (
            f"{self.suite.name.replace(':', '_').replace('/', '_')}__{self.cfg.algo}__{run.seed}"
            f"__{dt.datetime.now().strftime('%Y%m%d-%H%M%S')}"
        )
        if self.ranks:  # one run folder for the job, named by rank 0
            name = self.ranks.from_main(name)
        self.run_dir = Path(run_dir) if run_dir is not None else Path(run.runs_dir) / name
        if (self.run_dir / CHECKPOINT_NAME).exists():
            raise MrftError(
                f"run folder {self.run_dir} already holds a run; continue it with --resume "
                f"{self.run_dir / CHECKPOINT_NAME} or pick another --run-name"
            )

    @property
    def curve(self) -> list[dict[str, Any]]:
        """Adaptation: the evaluation points so far."""
        return self.scoring.points if self.scoring is not None else []

    # -- one update -----------------------------------------------------------------------
    def _set_learning_rate(self) -> float:
        lr = self.algo.learning_rate
        if self.cfg.optim.anneal_lr:
            lr = lr * max(0.0, 1.0 - self.global_step / self.budget)
        for group in self.optimizer.param_groups:
            group["lr"] = lr
        return lr

    def _learn(self, batch) -> tuple[dict[str, float], dict[str, float]]:
        """One update on ``batch``; returns the loss diagnostics (means over the optimiser
        steps) and the scalars about the batch and what the update's guard did."""
        plan = self.algo.prepare(batch)
        guard = plan.guard or UpdateGuard(self.cfg.optim.target_kl)
        if self.ranks:
            guard.share(self.ranks)
        sums: dict[str, float] = defaultdict(float)
        counts: dict[str, int] = defaultdict(int)
        skipped = 0
        params = [p for g in self.optimizer.param_groups for p in g["params"]]
        for _ in range(plan.epochs if self.learning else 0):
            epoch_sums: dict[str, float] = defaultdict(float)
            epoch_counts: dict[str, int] = defaultdict(int)
            for mb in self._minibatches(plan.data):
                scalars = self._step(mb, guard, params)
                if guard.halted:  # a trust region crossed: no more steps in this update
                    break
                if scalars is None:
                    skipped += 1
                    continue
                for key, value in scalars.items():
                    epoch_sums[key] += value
                    epoch_counts[key] += 1
            for key, value in epoch_sums.items():
                sums[key] += value
                counts[key] += epoch_counts[key]
            epoch_means = {k: v / epoch_counts[k] for k, v in epoch_sums.items()}
            if self.ranks:  # every rank stops on the same evidence
                epoch_means = self.ranks.mean_scalars(epoch_means)
            stop = bool(epoch_means or guard.halted) and guard.after_epoch(epoch_means)
            if stop or guard.halted:
                break
        diagnostics = {k: v / counts[k] for k, v in sums.items()}
        diagnostics["nonfinite_skips"] = float(skipped)
        return diagnostics, {**plan.stats, **guard.stats()}

    def _step(self, mb, guard: UpdateGuard, params: list[torch.nn.Parameter]) -> dict[str, float] | None:
        """One optimiser step on minibatch ``mb`` (None: a padding step of a torchrun rank);
        returns its scalars, or None when the step was skipped (non-finite loss or gradient)."""
        out = None
        # cleared before the loss: an algorithm may fill .grad while computing it
        # (PPO's micro-batches)
        self.optimizer.zero_grad(set_to_none=True)
        if mb is not None:
            with self.autocast():
                out = self.algo.loss(mb)
        guard.before_step(out if out is not None else {})
        if guard.halted:
            return None
        finite = out is not None and bool(torch.isfinite(out["loss"]))
        if not self.ranks and not finite:
            return None
        extra = self.algo.backward(out) if finite else {}
        if self.ranks and not self.ranks.average_gradients(params, finite):
            return None  # no rank had a finite loss for this step
        if out is None or not finite:
            out = {}
        grad_norm = torch.nn.utils.clip_grad_norm_(params, self.cfg.optim.max_grad_norm)
        if not torch.isfinite(grad_norm):
            self.optimizer.zero_grad(set_to_none=True)
            return None
        self.optimizer.step()
        self.optimizer_steps += 1
        # a diagnostic only some minibatches report is averaged over those
        scalars = {k: v.detach().item() for k, v in out.items() if v.numel() == 1}
        scalars.update(extra)
        scalars["grad_norm"] = grad_norm.item()
        return scalars

    def _minibatches(self, data):
        """The algorithm's minibatches; in a torchrun job, as many as the rank with the most
        has, padded with ``None`` (a step this rank contributes no gradient to)."""
        if not self.ranks:
            yield from self.algo.minibatches(data, self.generator)
            return
        own = list(self.algo.minibatches(data, self.generator))
        steps = self.ranks.largest(len(own))
        yield from own
        yield from [None] * (steps - len(own))

    def _share_of_budget(self) -> int:
        """Env steps this process may still collect: the budget left, split over the ranks."""
        left = self.budget - self.global_step
        return left // self.ranks.world if self.ranks else left

    # -- checkpoints ----------------------------------------------------------------------
    def state_dict(self) -> dict[str, Any]:
        state = {
            "config": to_dict(self.cfg),
            "model": self.policy.state_dict(),
            "optimizer": self.optimizer.state_dict(),
            "counters": {"global_step": self.global_step, "update": self.update,
                         "nonfinite_streak": self.nonfinite_streak, "finished": self.finished,
                         "optimizer_steps": self.optimizer_steps},
            "rng": rng_state(),
            "generator": self.generator.get_state(),
            "collector": self.collector.state_dict(),
            "monitor": self.entropy_rate.state_dict(),
            "algo": self.algo.state_dict(),
        }
        if self.adaptation is not None:
            state["adaptation"] = {"settings": to_dict(self.adaptation), "curve": self.scoring.points}
        return state

    def save(self) -> Path:
        """Write the checkpoint (rank 0 of a torchrun job alone writes it)."""
        if self.ranks and not self.ranks.is_main:
            return self.checkpoint_path
        return save_checkpoint(self.checkpoint_path, self.state_dict())

    @property
    def is_main(self) -> bool:
        """This process logs, evaluates and writes checkpoints (always true without torchrun)."""
        return not self.ranks or self.ranks.is_main

    def _merge_statistics(self) -> None:
        """Running normalisers of all ranks merged after a collection (torchrun only)."""
        if self.ranks:
            self.ranks.merge_statistics(self._statistics, self._statistics_before)
            self._statistics_before = snapshot(self._statistics)

    # -- adaptation: scoring the adapted policy -----------------------------------------
    def evaluate_now(self) -> dict[str, Any]:
        """Score the current adapted policy on fresh episodes of the instance
        (:class:`mrft.scoring.AdaptationCurve`) and log the point."""
        point = self.scoring.evaluate(self.algo, self.global_step, final=self.finished)
        self._log_point(point)
        return point

    def _finalise_scoring(self) -> None:
        """The end-only scores of a last point scored before the run knew it was the last."""
        self._log_point(self.scoring.finalise(self.algo))

    def _log_point(self, point: dict[str, Any]) -> None:
        if self.logger is not None:
            self.logger.log(self.global_step, {f"eval/{k}": v for k, v in point.items()
                                               if k != "step" and np.isscalar(v)})

    def _evaluation_due(self) -> bool:
        return self.scoring is not None and self.is_main and self.scoring.due(self.global_step)

    # -- the loop -------------------------------------------------------------------------
    def train(self, max_updates: int | None = None) -> TrainResult:
        """Run until the budget is spent (or ``max_updates`` more updates, then checkpoint)."""
        run = self.cfg.run
        stop_at = math.inf if max_updates is None else self.update + max_updates
        self.logger = RunLogger(
            self.run_dir, to_dict(self.cfg), track=run.track, project=run.wandb_project,
            run_name=self.run_dir.name, resume_step=self.global_step if self.update else None,
        ) if self.is_main else SilentLogger()
        if self.resumed_exactly is False:
            print("note: resumed with fresh episodes (the env could not be replayed to its saved "
                  "state)", file=sys.stderr)
        label = f"{'adapt ' if self.adaptation else ''}{self.cfg.algo} {self.suite.name}"
        progress = ProgressDisplay(self.budget, label, run.progress and self.is_main,
                                   start_step=self.global_step)
        loop = TrainLoop(time.time(), self.global_step)
        ended_normally = False
        try:
            with StopFlag() as stop:
                if self._evaluation_due() and not self.finished:
                    self.evaluate_now()
                while not self.finished and self.update < stop_at:
                    if not self._iterate(loop, progress, stop, stop_at):
                        break
            ended_normally = True
        except EnvFaultError as exc:  # collecting or scoring: the weights are an update's
            raise env_fault(exc, self.suite.name, self.global_step,
                            self.ranks.rank if self.ranks else None, self.save()) from exc
        except RankLostError as exc:  # mid-update: the last checkpoint stays the one to resume
            raise RankLostError(f"{exc}; {resume_hint(self.checkpoint_path)}") from exc
        finally:
            progress.close()
            self.logger.close()
            if self.ranks:
                self.ranks.close(wait_for_all=ended_normally)
            self.collector.close()
            if self.scoring is not None:
                self.scoring.close()
        return self._result(loop)

    def _iterate(self, loop: TrainLoop, progress: ProgressDisplay, stop: StopFlag, stop_at: float) -> bool:
        """Collect, learn, log, evaluate and checkpoint once; False ends the loop."""
        t0 = time.perf_counter()
        batch = self._collect()
        if batch is None:  # the budget left cannot pay for another batch
            self.finished = True
            if self.scoring is not None and self.is_main:
                if self.curve[-1]["step"] != self.global_step:
                    self.evaluate_now()
                else:
                    self._finalise_scoring()
            self.save()
            return False
        t1 = time.perf_counter()
        self._merge_statistics()
        lr = self._set_learning_rate()
        diagnostics, stats = self._learn(batch)
        t2 = time.perf_counter()
        self.update += 1
        self.global_step += int(self.ranks.total(batch.env_steps)) if self.ranks else batch.env_steps
        self.algo.after_update(self.update, batch, diagnostics)
        self.finished = self.global_step >= self.budget
        if batch.episodes:
            loop.recent = (loop.recent + batch.episodes)[-100:]
        loop.timings["rollout"] += t1 - t0
        loop.timings["update"] += t2 - t1
        sps = (self.global_step - loop.start_step) / max(time.time() - loop.start_time, 1e-9)
        scalars = update_scalars(batch, diagnostics, stats, lr, sps, loop.timings)
        if "entropy" in diagnostics:
            rate = self.entropy_rate.update(diagnostics["entropy"], self.global_step)
            if rate is not None:
                scalars["monitor/entropy_change_rate"] = rate
        self.logger.log(self.global_step, scalars)
        self._check_nonfinite(diagnostics)
        progress.update(self.global_step, progress_stats(scalars, loop.recent))
        loop.timings["logging"] += time.perf_counter() - t2
        if self._evaluation_due() or (self.finished and self.scoring is not None and self.is_main):
            t4 = time.perf_counter()
            self.evaluate_now()
            loop.timings["evaluation"] += time.perf_counter() - t4
        if self.ranks:  # a Ctrl-C on any rank stops every rank after this update
            stop.requested = self.ranks.any(stop.requested)
        periodic = self.update % self.cfg.run.checkpoint_every == 0
        if stop.requested or self.finished or self.update >= stop_at or periodic:
            t4 = time.perf_counter()
            path = self.save()
            if (periodic or self.finished) and self.cfg.run.keep_checkpoints and self.is_main:
                keep_milestone(path, self.global_step, self.cfg.run.keep_checkpoints)
            loop.timings["checkpoint"] += time.perf_counter() - t4
        loop.interrupted = stop.requested
        return not stop.requested

    def _collect(self):
        """The next batch (None: the budget is spent, on any rank of a torchrun job); an env
        fault (:class:`EnvFaultError`) reaches :meth:`train`, which saves what was learned."""
        with self.autocast():
            batch = self.collector.collect(max_env_steps=self._share_of_budget())
        if self.ranks and self.ranks.any(batch is None):
            return None  # one rank's share cannot pay for a batch: the job ends
        return batch

    def _result(self, loop: TrainLoop) -> TrainResult:
        elapsed = time.time() - loop.start_time
        returns = [e.ret for e in loop.recent]
        successes = [e.success for e in loop.recent if e.success is not None]
        return TrainResult(
            run_dir=self.run_dir, checkpoint=self.checkpoint_path, global_step=self.global_step,
            updates=self.update, interrupted=loop.interrupted,
            recent_return=float(np.mean(returns)) if returns else None,
            recent_success=float(np.mean(successes)) if successes else None,
            timings=dict(loop.timings), sps=(self.global_step - loop.start_step) / max(elapsed, 1e-9),
            curve=list(self.curve) if self.adaptation is not None else None,
            optimizer_steps=self.optimizer_steps,
            parameters=sum(p.numel() for g in self.optimizer.param_groups for p in g["params"]),
        )

    def _check_nonfinite(self, diagnostics: dict[str, float]) -> None:
        if diagnostics.get("nonfinite_skips", 0.0) > 0:
            self.nonfinite_streak += 1
            print(f"warning: update {self.update} skipped {int(diagnostics['nonfinite_skips'])} "
                  "minibatch steps with a non-finite loss or gradient", file=sys.stderr)
        else:
            self.nonfinite_streak = 0
        if self.nonfinite_streak >= self.cfg.run.max_nonfinite_updates:
            path = self.save()
            raise MrftError(
                f"training diverged: non-finite loss or gradient in {self.nonfinite_streak} "
                f"consecutive updates (step {self.global_step}); weights before the bad updates "
                f"are in {path}", exit_code=1,
            )


def train(cfg: TrainConfigBase) -> TrainResult:
    """Library entry point: build a :class:`Trainer` (resuming when ``cfg.resume`` is set) and run it."""
    return Trainer(cfg, resume_from=cfg.resume).train()
