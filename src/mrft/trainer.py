"""One training loop for every algorithm: collect -> update -> log -> checkpoint.

The loop owns everything that is not an algorithm's math: seeding, env and network
construction, the optimiser step with gradient clipping, non-finite guards, timing,
logging, checkpoints, resume and Ctrl-C. Algorithms plug in through the interface
documented in :mod:`mrft.algos`.
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

from mrft import envs
from mrft.algos.grpo import GRPO
from mrft.algos.mrft.algorithm import MRFT
from mrft.algos.ppo import PPO, preset_name, resolve_ppo
from mrft.checkpoint import (
    load_checkpoint,
    load_module_state,
    rng_state,
    save_checkpoint,
    set_rng_state,
)
from mrft.config import RunConfig, TrainConfig, to_dict, train_config_from_dict, validate
from mrft.episodes import EpisodeCollector
from mrft.errors import MrftError
from mrft.logging import RunLogger
from mrft.metrics import EntropyChangeRate
from mrft.nets import ActorCritic, build_actor_critic
from mrft.normalize import RewardNormalizer
from mrft.progress import ProgressDisplay
from mrft.rollout import Episode, RolloutCollector
from mrft.trials import TrialCollector

DEFAULT_NUM_ENVS = {"procgen": 64, "metaworld": 16, "gym": 8, "nav": 16, "bandit": 16,
                    "shift": 16}
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


def resolve_config(cfg: TrainConfig) -> tuple[TrainConfig, envs.Suite]:
    """Validate, parse the suite, and fill family presets into every ``None`` field."""
    validate(cfg)
    e = cfg.env
    suite = envs.parse_env(e.env, distribution_mode=e.distribution_mode, num_levels=e.num_levels,
                           start_level=e.start_level, hidden_goal=e.hidden_goal)
    family = suite.train[0].family
    preset = preset_name(family, envs.action_is_continuous(suite.train[0]))
    num_envs = e.num_envs if e.num_envs is not None else DEFAULT_NUM_ENVS[family]
    num_envs = max(num_envs, len(suite.train))
    if cfg.algo == "grpo" and e.num_envs is None:
        unit = cfg.grpo.group_size * len(suite.train)
        num_envs = -(-num_envs // unit) * unit
    if cfg.algo == "mrft":
        if e.num_envs is None:
            num_envs = cfg.mrft.tasks_per_batch * cfg.grpo.group_size
        elif e.num_envs % cfg.grpo.group_size:
            raise MrftError(f"--num-envs {e.num_envs} must be a multiple of --group-size "
                            f"{cfg.grpo.group_size} (MRFT plays each task instance in a group)")
    resolved = dataclasses.replace(
        cfg, env=dataclasses.replace(e, num_envs=num_envs), ppo=resolve_ppo(cfg.ppo, preset)
    )
    validate(resolved)
    if cfg.algo == "ppo" and resolved.ppo.num_minibatches > num_envs * resolved.ppo.num_steps:
        raise MrftError(
            f"--num-minibatches {resolved.ppo.num_minibatches} exceeds the rollout size "
            f"{num_envs * resolved.ppo.num_steps} (num_envs x num_steps)"
        )
    return resolved, suite


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
    def __init__(self, cfg: TrainConfig, resume_from: str | None = None):
        state: dict[str, Any] | None = None
        if resume_from is not None:
            state = load_checkpoint(resume_from, required=RESUME_KEYS)
            saved = train_config_from_dict(state["config"])
            if cfg.run.total_steps != RunConfig().total_steps:
                saved.run.total_steps = cfg.run.total_steps  # the one flag a resume may change
            cfg = saved
        self.cfg, self.suite = resolve_config(cfg)
        run = self.cfg.run
        self.device = pick_device(run.device)
        if run.threads is not None:
            torch.set_num_threads(run.threads)
        seed_everything(run.seed)

        self.global_step = 0
        self.update = 0
        self.nonfinite_streak = 0
        exact_replay = False
        if state is not None:
            self.global_step = int(state["counters"]["global_step"])
            self.update = int(state["counters"]["update"])
            self.nonfinite_streak = int(state["counters"]["nonfinite_streak"])
            exact_replay = bool(state["collector"].get("action_log_complete"))
        env_seed = run.seed if (state is None or exact_replay) else run.seed + self.global_step
        grouped = self.cfg.algo == "grpo"
        group_size = self.cfg.grpo.group_size if grouped else 1
        trials = self.cfg.algo == "mrft"
        # MRFT builds a fresh env per trial episode; this one only gives the spaces.
        self.env = envs.make_vec_env(self.suite.train[:1] if trials else self.suite.train,
                                     1 if trials else self.cfg.env.num_envs, env_seed, group_size)
        ppo = self.cfg.ppo
        self.policy: ActorCritic = build_actor_critic(
            self.env.observation_space, self.env.action_space, run.torso, run.hidden_sizes,
            bool(ppo.normalize_obs),
        ).to(self.device)
        if trials:
            self.env.close()
            mrft_algo = MRFT(self.cfg.mrft, self.cfg.grpo, ppo, self.policy, len(self.suite.train),
                             run.seed, self.device)
            self.algo: PPO | GRPO | MRFT = mrft_algo
            self.collector: RolloutCollector | EpisodeCollector | TrialCollector = TrialCollector(
                self.suite.train, mrft_algo.agent, self.cfg.env.num_envs, self.cfg.grpo.group_size,
                self.cfg.mrft.trial_episodes, self.cfg.mrft.context_length,
                self.cfg.grpo.max_episode_steps, env_seed, self.device)
            self.budget = run.total_steps
        elif grouped:
            self.algo = GRPO(self.cfg.grpo, ppo, self.policy)
            self.collector = EpisodeCollector(
                self.env, self.policy, group_size, self.cfg.grpo.max_episode_steps, self.device)
            self.budget = run.total_steps
        else:
            self.algo = PPO(ppo, self.policy)
            reward_norm = (RewardNormalizer(self.env.num_envs, ppo.gamma).to(self.device)
                           if ppo.normalize_reward else None)
            self.collector = RolloutCollector(
                self.env, self.policy, ppo.num_steps, self.device, reward_norm,
                action_log_limit=run.exact_resume_max_steps,
            )
            steps_per_update = self.env.num_envs * ppo.num_steps
            self.budget = math.ceil(run.total_steps / steps_per_update) * steps_per_update
        params = list(self.policy.parameters())
        for module in getattr(self.algo, "extra_modules", list)():
            params += list(module.parameters())
        self.optimizer = torch.optim.Adam(params, lr=ppo.learning_rate, eps=1e-5)
        self.generator = torch.Generator().manual_seed(run.seed)
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
            self.resumed_exactly = self.collector.load_state_dict(state["collector"])
            set_rng_state(state["rng"])
        else:
            name = run.run_name or (
                f"{self.suite.name.replace(':', '_').replace('/', '_')}__{self.cfg.algo}__{run.seed}"
                f"__{dt.datetime.now().strftime('%Y%m%d-%H%M%S')}"
            )
            self.run_dir = Path(run.runs_dir) / name
            if (self.run_dir / CHECKPOINT_NAME).exists():
                raise MrftError(
                    f"run folder {self.run_dir} already holds a run; continue it with --resume "
                    f"{self.run_dir / CHECKPOINT_NAME} or pick another --run-name"
                )
        self.checkpoint_path = self.run_dir / CHECKPOINT_NAME
        self.logger: RunLogger | None = None

    # -- one update -----------------------------------------------------------------------
    def _set_learning_rate(self) -> float:
        lr = self.cfg.ppo.learning_rate
        if self.cfg.ppo.anneal_lr:
            lr = lr * max(0.0, 1.0 - self.global_step / self.budget)
        for group in self.optimizer.param_groups:
            group["lr"] = lr
        return lr

    def _learn(self, batch) -> dict[str, float]:
        data = self.algo.prepare(batch)
        sums: dict[str, float] = defaultdict(float)
        count = 0
        skipped = 0
        params = [p for g in self.optimizer.param_groups for p in g["params"]]
        for _ in range(self.algo.update_epochs):
            epoch_sums: dict[str, float] = defaultdict(float)
            epoch_count = 0
            for mb in self.algo.minibatches(data, self.generator):
                with self.autocast():
                    out = self.algo.loss(mb)
                loss = out["loss"]
                if not torch.isfinite(loss):
                    skipped += 1
                    continue
                self.optimizer.zero_grad(set_to_none=True)
                if hasattr(self.algo, "backward"):  # algorithms that combine gradients themselves
                    extra = self.algo.backward(out)
                else:
                    loss.backward()
                    extra = {}
                grad_norm = torch.nn.utils.clip_grad_norm_(params, self.cfg.ppo.max_grad_norm)
                if not torch.isfinite(grad_norm):
                    self.optimizer.zero_grad(set_to_none=True)
                    skipped += 1
                    continue
                self.optimizer.step()
                for key, value in out.items():
                    if value.numel() == 1:
                        epoch_sums[key] += value.detach().item()
                for key, value in extra.items():
                    epoch_sums[key] += value
                epoch_sums["grad_norm"] += grad_norm.item()
                epoch_count += 1
            for key, value in epoch_sums.items():
                sums[key] += value
            count += epoch_count
            if epoch_count and self.algo.stop_early({k: v / epoch_count for k, v in epoch_sums.items()}):
                break
        diagnostics = {k: v / count for k, v in sums.items()} if count else {}
        diagnostics["nonfinite_skips"] = float(skipped)
        return diagnostics

    # -- checkpoints ----------------------------------------------------------------------
    def state_dict(self) -> dict[str, Any]:
        return {
            "config": to_dict(self.cfg),
            "model": self.policy.state_dict(),
            "optimizer": self.optimizer.state_dict(),
            "counters": {"global_step": self.global_step, "update": self.update,
                         "nonfinite_streak": self.nonfinite_streak},
            "rng": rng_state(),
            "generator": self.generator.get_state(),
            "collector": self.collector.state_dict(),
            "monitor": self.entropy_rate.state_dict(),
            "algo": self.algo.state_dict(),
        }

    def save(self) -> Path:
        return save_checkpoint(self.checkpoint_path, self.state_dict())

    # -- the loop -------------------------------------------------------------------------
    def train(self, max_updates: int | None = None) -> TrainResult:
        """Run until the budget is spent (or ``max_updates`` more updates, then checkpoint)."""
        run = self.cfg.run
        stop_at = math.inf if max_updates is None else self.update + max_updates
        self.logger = RunLogger(
            self.run_dir, to_dict(self.cfg), track=run.track, project=run.wandb_project,
            run_name=self.run_dir.name, resume_step=self.global_step if self.update else None,
        )
        if self.resumed_exactly is False:
            print("note: resumed with fresh episodes (the env could not be replayed to its saved "
                  "state)", file=sys.stderr)
        progress = ProgressDisplay(self.budget,
                                   f"{self.cfg.algo} {self.suite.name}", run.progress,
                                   start_step=self.global_step)
        timings: dict[str, float] = defaultdict(float)
        recent: list[Episode] = []
        start_time, start_step = time.time(), self.global_step
        interrupted = False
        try:
            with _StopFlag() as stop:
                while self.global_step < self.budget and self.update < stop_at:
                    t0 = time.perf_counter()
                    with self.autocast():
                        batch = self.collector.collect()
                    t1 = time.perf_counter()
                    lr = self._set_learning_rate()
                    diagnostics = self._learn(batch)
                    t2 = time.perf_counter()
                    self.update += 1
                    self.global_step += batch.env_steps
                    self.algo.after_update(self.update)
                    if batch.episodes:
                        recent = (recent + batch.episodes)[-100:]
                    scalars = self._scalars(batch, diagnostics, lr, start_time, start_step, timings)
                    self.logger.log(self.global_step, scalars)
                    self._check_nonfinite(diagnostics)
                    progress.update(self.global_step, self._progress_stats(scalars, recent))
                    t3 = time.perf_counter()
                    timings["rollout"] += t1 - t0
                    timings["update"] += t2 - t1
                    timings["logging"] += t3 - t2
                    last_update = self.global_step >= self.budget or self.update >= stop_at
                    if stop.requested or last_update or self.update % run.checkpoint_every == 0:
                        t4 = time.perf_counter()
                        self.save()
                        timings["checkpoint"] += time.perf_counter() - t4
                    if stop.requested:
                        interrupted = True
                        break
        finally:
            progress.close()
            self.logger.close()
            if self.cfg.algo != "mrft":
                self.env.close()
        elapsed = time.time() - start_time
        returns = [e.ret for e in recent]
        successes = [e.success for e in recent if e.success is not None]
        return TrainResult(
            run_dir=self.run_dir, checkpoint=self.checkpoint_path, global_step=self.global_step,
            updates=self.update, interrupted=interrupted,
            recent_return=float(np.mean(returns)) if returns else None,
            recent_success=float(np.mean(successes)) if successes else None,
            timings=dict(timings), sps=(self.global_step - start_step) / max(elapsed, 1e-9),
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


def train(cfg: TrainConfig) -> TrainResult:
    """Library entry point: build a :class:`Trainer` (resuming when ``cfg.resume`` is set) and run it."""
    return Trainer(cfg, resume_from=cfg.resume).train()
