"""One engine for every algorithm, for pre-training and for adaptation:
collect -> update -> log -> checkpoint.

The loop owns everything that is not an algorithm's math: seeding, network construction,
the optimiser step with gradient clipping, non-finite guards, autocast, timing, logging,
checkpoints, resume and Ctrl-C, and the env-step budget, which it never exceeds.
Algorithms plug in through :class:`mrft.algos.base.Algorithm` and are found by name in
:data:`mrft.algos.REGISTRY`. Adaptation to a held-out instance is a run of the same loop
started from a pre-trained checkpoint (:class:`mrft.config.AdaptSettings`), playing that
one instance, and scoring the adapted policy on a fixed schedule.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import functools
import math
import random
import resource
import signal
import sys
import time
from collections import defaultdict
from pathlib import Path
from typing import Any

import numpy as np
import torch

from mrft import algos, envs
from mrft.algos.base import AlgoContext
from mrft.checkpoint import (
    load_checkpoint,
    load_module_state,
    rng_state,
    save_checkpoint,
    set_rng_state,
)
from mrft.config import (
    AdaptSettings,
    RunConfig,
    TrainConfig,
    to_dict,
    train_config_from_dict,
    validate,
)
from mrft.distributed import SEED_STRIDE, Ranks, running_statistics, snapshot
from mrft.envs.spaces import task_spaces
from mrft.errors import MrftError, NonFiniteEnvError
from mrft.logging import RunLogger
from mrft.metrics import EntropyChangeRate
from mrft.presets import preset_name, resolve_presets
from mrft.progress import ProgressDisplay
from mrft.rollout import Episode

DEFAULT_NUM_ENVS = {"procgen": 64, "metaworld": 16, "gym": 8, "nav": 16, "bandit": 16,
                    "shift": 16, "market": 16, "process": 16,
                    "sim2real": 16}
CHECKPOINT_NAME = "checkpoint.pt"
RESUME_KEYS = ("config", "model", "optimizer", "counters", "rng", "generator", "collector")


def seed_everything(seed: int) -> None:
    random.seed(seed)
    np.random.seed(seed % 2**32)
    torch.manual_seed(seed)


def pick_device(name: str) -> torch.device:
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    try:
        device = torch.device(name)
    except RuntimeError as exc:
        raise MrftError(f"bad --device {name!r}: {exc}") from None
    if device.type == "cuda" and not torch.cuda.is_available():
        raise MrftError(f"--device {name} asked for CUDA but no GPU is available")
    return device


def resolve_config(cfg: TrainConfig, adapting: bool = False) -> tuple[TrainConfig, envs.Suite]:
    """Validate, parse the suite, fill family presets into every ``None`` field, and let the
    algorithm derive what it needs for pre-training (``env.num_envs``); an adaptation run
    plays the envs it was given."""
    validate(cfg)
    algo = algos.get(cfg.algo)
    e = cfg.env
    suite = envs.parse_env(e.env, distribution_mode=e.distribution_mode, num_levels=e.num_levels,
                           start_level=e.start_level, hidden_goal=e.hidden_goal, oracle=e.oracle)
    family = suite.train[0].family
    preset = preset_name(family, envs.action_is_continuous(suite.train[0]))
    resolved = resolve_presets(cfg, preset)
    if not adapting:
        resolved = algo.resolve(resolved, len(suite.train), DEFAULT_NUM_ENVS[family])
    validate(resolved)
    return resolved, suite


def adaptation_seed(seed: int, instance: int) -> int:
    """The seed of one instance's adaptation run: distinct per (seed, instance)."""
    return (seed * 1_000_003 + instance) % 2**32


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


class _StopFlag:
    """First Ctrl-C asks the loop to finish the current update, save and exit; a second
    one interrupts at once (the last periodic checkpoint is then the one to resume)."""

    def __init__(self):
        self.requested = False
        self._previous = None

    def __enter__(self):
        if _in_main_thread():
            self._previous = signal.signal(signal.SIGINT, self._handle)
        return self

    def _handle(self, signum, frame):
        if self.requested:
            raise KeyboardInterrupt
        self.requested = True
        print("\nstopping after this update to save a checkpoint (Ctrl-C again to quit now)",
              file=sys.stderr, flush=True)

    def __exit__(self, *exc):
        if self._previous is not None:
            signal.signal(signal.SIGINT, self._previous)
        return False


def _in_main_thread() -> bool:
    import threading

    return threading.current_thread() is threading.main_thread()


class Trainer:
    """The engine. ``Trainer(cfg)`` pre-trains; ``Trainer(adaptation=AdaptSettings(...))``
    adapts a pre-trained checkpoint to one held-out instance; ``resume_from`` continues either."""

    def __init__(self, cfg: TrainConfig | None = None, resume_from: str | None = None,
                 adaptation: AdaptSettings | None = None, run_dir: str | Path | None = None):
        state: dict[str, Any] | None = None
        pretrained: dict[str, Any] | None = None
        self.curve: list[dict[str, float]] = []
        if resume_from is not None:
            state = load_checkpoint(resume_from, required=RESUME_KEYS)
            saved = train_config_from_dict(state["config"])
            if cfg is not None and cfg.run.total_steps != RunConfig().total_steps:
                saved.run.total_steps = cfg.run.total_steps  # the one flag a resume may change
            cfg = saved
            if "adaptation" in state:
                adaptation = adapt_settings_from(state["adaptation"]["settings"])
                self.curve = list(state["adaptation"]["curve"])
        elif adaptation is not None:
            check_adapt_settings(adaptation)
            pretrained = load_checkpoint(adaptation.checkpoint, required=("config", "model"))
            cfg = adaptation_config(train_config_from_dict(pretrained["config"]), adaptation)
        if cfg is None:
            raise ValueError("Trainer needs a config, a checkpoint to resume or adaptation settings")
        self.adaptation = adaptation
        self.cfg, self.suite = resolve_config(cfg, adapting=adaptation is not None)
        run = self.cfg.run
        self.device = pick_device(run.device)
        if run.threads is not None:
            torch.set_num_threads(run.threads)
        self.ranks = Ranks.from_env()
        """The torchrun job this process is a rank of (None: a single process)."""
        rank_offset = SEED_STRIDE * self.ranks.rank if self.ranks else 0
        seed_everything(run.seed + rank_offset)

        self.global_step = 0
        self.update = 0
        self.nonfinite_streak = 0
        self.finished = False
        exact_replay = False
        if state is not None:
            self.global_step = int(state["counters"]["global_step"])
            self.update = int(state["counters"]["update"])
            self.nonfinite_streak = int(state["counters"]["nonfinite_streak"])
            # a resume with a larger --total-steps continues a finished run
            self.finished = (bool(state["counters"].get("finished", False))
                             and self.global_step >= cfg.run.total_steps)
            exact_replay = bool(state["collector"].get("action_log_complete")
                                or state["collector"].get("exact"))
        if self.ranks and not self.ranks.is_main:
            exact_replay = False  # the checkpoint holds rank 0's env state: continue afresh
        env_seed = run.seed if (state is None or exact_replay) else run.seed + self.global_step
        env_seed += rank_offset
        if adaptation is not None:
            from mrft.adapt import held_out_instance

            task, instance = held_out_instance(self.suite, adaptation.task)
            tasks, self.instance = (task,), instance
        else:
            tasks, self.instance = self.suite.train, None
        spaces = task_spaces(tasks[0])
        algo_class = algos.get(self.cfg.algo)
        self.policy: torch.nn.Module = algo_class.build_policy(
            self.cfg, spaces.observation_space, spaces.action_space).to(self.device)
        if pretrained is not None:
            load_module_state(self.policy, pretrained["model"], adaptation.checkpoint)
        ctx = AlgoContext(tasks=tuple(tasks), num_envs=self.cfg.env.num_envs, env_seed=env_seed,
                          device=self.device, num_train_tasks=len(self.suite.train),
                          instance=self.instance, action_log_limit=run.exact_resume_max_steps)
        self.algo = algo_class.create(self.cfg, self.policy, ctx)
        if pretrained is not None:
            self.algo.load_pretrained(pretrained.get("algo", {}), adaptation.checkpoint)
        if adaptation is not None and not adaptation.updates:
            self.algo.update_epochs = 0  # in context only: played, counted, no weight changes
        self.collector = self.algo.make_collector()
        params: list[torch.nn.Parameter] = []
        for module in self.algo.modules():
            params += [p for p in module.parameters() if all(p is not q for q in params)]
        # the fused kernel: one pass over every parameter instead of a loop of small ops
        # (a quarter of the optimiser's time for a 256 x 256 MLP on a CPU)
        self.optimizer = torch.optim.Adam(params, lr=self.cfg.optim.learning_rate, eps=1e-5,
                                          fused=True)
        self.budget = run.total_steps
        self.generator = torch.Generator().manual_seed(run.seed + rank_offset)
        self.entropy_rate = EntropyChangeRate()
        self.resumed_exactly: bool | None = None
        self.autocast = functools.partial(torch.autocast, self.device.type, dtype=torch.bfloat16,
                                          enabled=run.precision == "bf16")

        if state is not None:
            self.run_dir = Path(resume_from).resolve().parent
            load_module_state(self.policy, state["model"], resume_from)
            try:
                self.optimizer.load_state_dict(state["optimizer"])
            except (ValueError, KeyError) as exc:
                raise MrftError(f"checkpoint {resume_from}: optimiser state does not fit ({exc})") from None
            self.generator.set_state(state["generator"])
            self.entropy_rate.load_state_dict(state.get("monitor", {}))
            self.algo.load_state_dict(state.get("algo", {}))
            if not self.ranks or self.ranks.is_main:
                self.resumed_exactly = self.collector.load_state_dict(state["collector"])
                set_rng_state(state["rng"])
        else:
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
        self.checkpoint_path = self.run_dir / CHECKPOINT_NAME
        if self.ranks:  # every rank starts from rank 0's weights and normaliser statistics
            trained = [*self.algo.modules(), *(v for v in vars(self.algo).values()
                                                 if isinstance(v, torch.nn.Module))]
            self.ranks.copy_from_main(trained)
            self._statistics = running_statistics(trained)
            self._statistics_before = snapshot(self._statistics)
        self.logger: RunLogger | None = None
        self._evaluation_cache: dict[str, Any] = {}
        """The evaluation env pool, kept between evaluation points."""

    # -- one update -----------------------------------------------------------------------
    def _set_learning_rate(self) -> float:
        lr = self.cfg.optim.learning_rate
        if self.cfg.optim.anneal_lr:
            lr = lr * max(0.0, 1.0 - self.global_step / self.budget)
        for group in self.optimizer.param_groups:
            group["lr"] = lr
        return lr

    def _learn(self, batch) -> dict[str, float]:
        data = self.algo.prepare(batch)
        sums: dict[str, float] = defaultdict(float)
        counts: dict[str, int] = defaultdict(int)
        skipped = 0
        params = [p for g in self.optimizer.param_groups for p in g["params"]]
        for _ in range(self.algo.update_epochs):
            epoch_sums: dict[str, float] = defaultdict(float)
            epoch_counts: dict[str, int] = defaultdict(int)
            for mb in self._minibatches(data):
                out = None
                # cleared before the loss: an algorithm may fill .grad while computing it
                # (PPO's micro-batches)
                self.optimizer.zero_grad(set_to_none=True)
                if mb is not None:
                    with self.autocast():
                        out = self.algo.loss(mb)
                finite = out is not None and bool(torch.isfinite(out["loss"]))
                if not self.ranks and not finite:
                    skipped += 1
                    continue
                extra = self.algo.backward(out) if finite else {}
                if self.ranks and not self.ranks.average_gradients(params, finite):
                    skipped += 1  # no rank had a finite loss for this step
                    continue
                if out is None or not finite:
                    out = {}
                grad_norm = torch.nn.utils.clip_grad_norm_(params, self.cfg.optim.max_grad_norm)
                if not torch.isfinite(grad_norm):
                    self.optimizer.zero_grad(set_to_none=True)
                    skipped += 1
                    continue
                self.optimizer.step()
                # a diagnostic only some minibatches report is averaged over those
                scalars = {k: v.detach().item() for k, v in out.items() if v.numel() == 1}
                scalars.update(extra)
                scalars["grad_norm"] = grad_norm.item()
                for key, value in scalars.items():
                    epoch_sums[key] += value
                    epoch_counts[key] += 1
            for key, value in epoch_sums.items():
                sums[key] += value
                counts[key] += epoch_counts[key]
            epoch_means = {k: v / epoch_counts[k] for k, v in epoch_sums.items()}
            if self.ranks:  # every rank stops on the same evidence
                epoch_means = self.ranks.mean_scalars(epoch_means)
            if epoch_means and self.algo.stop_early(epoch_means):
                break
        diagnostics = {k: v / counts[k] for k, v in sums.items()}
        diagnostics["nonfinite_skips"] = float(skipped)
        return diagnostics

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
                         "nonfinite_streak": self.nonfinite_streak, "finished": self.finished},
            "rng": rng_state(),
            "generator": self.generator.get_state(),
            "collector": self.collector.state_dict(),
            "monitor": self.entropy_rate.state_dict(),
            "algo": self.algo.state_dict(),
        }
        if self.adaptation is not None:
            state["adaptation"] = {"settings": to_dict(self.adaptation), "curve": self.curve}
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
        """Score the current adapted policy on fresh episodes of the instance, with the
        stochastic policy (the headline) and the deterministic one (mean action / argmax).
        Evaluation changes nothing: no normaliser update, its own RNG stream, its own envs."""
        from mrft.evaluate import evaluate_instance

        point: dict[str, Any] = {"step": int(self.global_step)}
        for deterministic in (False, True):
            result = evaluate_instance(
                self.algo.evaluation_actor(deterministic), self.algo.ctx.tasks[0], self.instance,
                self.adaptation.eval_episodes, self.cfg.env.num_envs,
                self.cfg.env.max_episode_steps, seed=self.cfg.run.seed + 7, device=self.device,
                cache=self._evaluation_cache)
            prefix = "deterministic/" if deterministic else ""
            point[f"{prefix}return"] = float(np.mean(result.returns))
            if result.successes is not None:
                point[f"{prefix}success"] = float(np.mean(result.successes))
            if not self.curve and not deterministic:
                # before any update: how the first episode on the new instance unfolds
                point["reward_by_step"] = result.reward_by_step()
        for name, actor in self.algo.scored_policies().items():
            result = evaluate_instance(
                actor, self.algo.ctx.tasks[0], self.instance, self.adaptation.eval_episodes,
                self.cfg.env.num_envs, self.cfg.env.max_episode_steps, seed=self.cfg.run.seed + 7,
                device=self.device, cache=self._evaluation_cache)
            point[f"{name}/return"] = float(np.mean(result.returns))
            if result.successes is not None:
                point[f"{name}/success"] = float(np.mean(result.successes))
        point.update(self.algo.evaluation_stats())
        self.curve.append(point)
        if self.logger is not None:
            self.logger.log(self.global_step, {f"eval/{k}": v for k, v in point.items()
                                               if k != "step" and np.isscalar(v)})
        return point

    def _evaluation_due(self) -> bool:
        if self.adaptation is None or not self.is_main:
            return False
        if not self.curve:
            return True
        last = self.curve[-1]["step"]
        every = self.adaptation.eval_every
        return self.global_step // every > last // every

    # -- the loop -------------------------------------------------------------------------
    def train(self, max_updates: int | None = None) -> TrainResult:
        """Run until the budget is spent (or ``max_updates`` more updates, then checkpoint)."""
        run = self.cfg.run
        stop_at = math.inf if max_updates is None else self.update + max_updates
        self.logger = RunLogger(
            self.run_dir, to_dict(self.cfg), track=run.track, project=run.wandb_project,
            run_name=self.run_dir.name, resume_step=self.global_step if self.update else None,
        ) if self.is_main else _SilentLogger()
        if self.resumed_exactly is False:
            print("note: resumed with fresh episodes (the env could not be replayed to its saved "
                  "state)", file=sys.stderr)
        label = f"{'adapt ' if self.adaptation else ''}{self.cfg.algo} {self.suite.name}"
        progress = ProgressDisplay(self.budget, label, run.progress and self.is_main,
                                   start_step=self.global_step)
        timings: dict[str, float] = defaultdict(float)
        recent: list[Episode] = []
        start_time, start_step = time.time(), self.global_step
        interrupted = False
        ended_normally = False
        try:
            with _StopFlag() as stop:
                if self._evaluation_due() and not self.finished:
                    self.evaluate_now()
                while not self.finished and self.update < stop_at:
                    t0 = time.perf_counter()
                    try:
                        with self.autocast():
                            batch = self.collector.collect(max_env_steps=self._share_of_budget())
                    except NonFiniteEnvError as exc:
                        # keep what was learned before the bad step, then stop in one line
                        path = self.save()
                        raise NonFiniteEnvError(
                            f"{self.suite.name} at env step {self.global_step:,}, {exc}; weights "
                            f"learned so far are in {path}") from None
                    if self.ranks and self.ranks.any(batch is None):
                        batch = None  # one rank's share cannot pay for a batch: the job ends
                    if batch is None:  # the budget left cannot pay for another batch
                        self.finished = True
                        if self.adaptation is not None and self.is_main \
                                and self.curve[-1]["step"] != self.global_step:
                            self.evaluate_now()
                        self.save()
                        break
                    t1 = time.perf_counter()
                    self._merge_statistics()
                    lr = self._set_learning_rate()
                    diagnostics = self._learn(batch)
                    t2 = time.perf_counter()
                    self.update += 1
                    self.global_step += (int(self.ranks.total(batch.env_steps)) if self.ranks
                                         else batch.env_steps)
                    self.algo.after_update(self.update, batch, diagnostics)
                    self.finished = self.global_step >= self.budget
                    if batch.episodes:
                        recent = (recent + batch.episodes)[-100:]
                    timings["rollout"] += t1 - t0
                    timings["update"] += t2 - t1
                    scalars = self._scalars(batch, diagnostics, lr, start_time, start_step, timings)
                    self.logger.log(self.global_step, scalars)
                    self._check_nonfinite(diagnostics)
                    progress.update(self.global_step, self._progress_stats(scalars, recent))
                    timings["logging"] += time.perf_counter() - t2
                    if self._evaluation_due() or (self.finished and self.adaptation is not None
                                                  and self.is_main):
                        t4 = time.perf_counter()
                        self.evaluate_now()
                        timings["evaluation"] += time.perf_counter() - t4
                    if self.ranks:  # a Ctrl-C on any rank stops every rank after this update
                        stop.requested = self.ranks.any(stop.requested)
                    if stop.requested or self.finished or self.update >= stop_at \
                            or self.update % run.checkpoint_every == 0:
                        t4 = time.perf_counter()
                        self.save()
                        timings["checkpoint"] += time.perf_counter() - t4
                    if stop.requested:
                        interrupted = True
                        break
            ended_normally = True
        finally:
            progress.close()
            self.logger.close()
            if self.ranks:
                self.ranks.close(wait_for_all=ended_normally)
            self.collector.close()
            if self._evaluation_cache.get("collector") is not None:
                self._evaluation_cache.pop("collector").close()
        elapsed = time.time() - start_time
        returns = [e.ret for e in recent]
        successes = [e.success for e in recent if e.success is not None]
        return TrainResult(
            run_dir=self.run_dir, checkpoint=self.checkpoint_path, global_step=self.global_step,
            updates=self.update, interrupted=interrupted,
            recent_return=float(np.mean(returns)) if returns else None,
            recent_success=float(np.mean(successes)) if successes else None,
            timings=dict(timings), sps=(self.global_step - start_step) / max(elapsed, 1e-9),
            curve=list(self.curve) if self.adaptation is not None else None,
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

    def _scalars(self, batch, diagnostics, lr, start_time, start_step, timings) -> dict[str, float]:
        scalars: dict[str, float] = {
            "charts/learning_rate": lr,
            "charts/SPS": (self.global_step - start_step) / max(time.time() - start_time, 1e-9),
        }
        if batch.episodes:
            scalars["charts/episodic_return"] = float(np.mean([e.ret for e in batch.episodes]))
            scalars["charts/episodic_length"] = float(np.mean([e.length for e in batch.episodes]))
            successes = [e.success for e in batch.episodes if e.success is not None]
            if successes:
                scalars["charts/success_rate"] = float(np.mean(successes))
        for key, value in diagnostics.items():
            scalars[key if "/" in key else f"losses/{key}"] = value
        scalars.update(self.algo.batch_stats)
        if "entropy" in diagnostics:
            rate = self.entropy_rate.update(diagnostics["entropy"], self.global_step)
            if rate is not None:
                scalars["monitor/entropy_change_rate"] = rate
        for key, value in timings.items():
            scalars[f"perf/{key}_s"] = value
        scalars["perf/peak_rss_mb"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0
        return scalars

    @staticmethod
    def _progress_stats(scalars: dict[str, float], recent: list[Episode]) -> dict[str, float]:
        stats = {"SPS": scalars["charts/SPS"]}
        if recent:
            stats["return"] = float(np.mean([e.ret for e in recent]))
            succ = [e.success for e in recent if e.success is not None]
            if succ:
                stats["success"] = float(np.mean(succ))
        return stats


class _SilentLogger:
    """What ranks other than 0 of a torchrun job log to: nothing."""

    def log(self, step: int, scalars: dict[str, float]) -> None:
        pass

    def close(self) -> None:
        pass


def adaptation_config(pretrained: TrainConfig, settings: AdaptSettings) -> TrainConfig:
    """The config of an adaptation run: the pre-trained run's, with the adaptation's budget,
    seed, envs and overrides. Every method's adaptation is built the same way."""
    check_adapt_settings(settings)
    cfg = pretrained
    if not settings.kl_bound and cfg.algo != "mrft":
        raise MrftError(f"--no-kl-bound lifts MRFT's adaptation bound; this checkpoint is {cfg.algo}'s")
    optim = cfg.optim
    if settings.learning_rate is not None:
        optim = dataclasses.replace(optim, learning_rate=settings.learning_rate)
    run = dataclasses.replace(cfg.run, total_steps=settings.steps,
                              seed=adaptation_seed(settings.seed, settings.task), progress=False,
                              eval_episodes=0)
    env = dataclasses.replace(cfg.env, num_envs=settings.num_envs or cfg.env.num_envs)
    mrft = cfg.mrft if settings.kl_bound else dataclasses.replace(cfg.mrft, adapt_kl=None)
    return dataclasses.replace(cfg, env=env, optim=optim, run=run, mrft=mrft, resume=None)


def check_adapt_settings(settings: AdaptSettings) -> None:
    """Reject impossible adaptation settings before anything is loaded."""
    if settings.steps <= 0 or settings.eval_every <= 0 or settings.eval_episodes <= 0:
        raise MrftError("--steps, --eval-every and --eval-episodes must be > 0")
    if settings.task < 0:
        raise MrftError(f"--task must be >= 0, got {settings.task}")
    if settings.seed < 0:
        raise MrftError(f"--seed must be >= 0, got {settings.seed}")
    if settings.num_envs is not None and settings.num_envs < 2:
        raise MrftError(f"--num-envs must be >= 2 (a group), got {settings.num_envs}")
    if settings.learning_rate is not None and not settings.learning_rate > 0:
        raise MrftError(f"--learning-rate must be > 0, got {settings.learning_rate}")


def adapt_settings_from(data: dict[str, Any]) -> AdaptSettings:
    """Adaptation settings saved in a checkpoint; a setting added since takes its default."""
    return AdaptSettings(**data)


def train(cfg: TrainConfig) -> TrainResult:
    """Library entry point: build a :class:`Trainer` (resuming when ``cfg.resume`` is set) and run it."""
    return Trainer(cfg, resume_from=cfg.resume).train()
