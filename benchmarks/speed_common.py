"""What the speed benchmarks share: each side in a fresh process, timed the same way.

A benchmark script starts itself again (``--side NAME``) for each side it measures; the
child measures one training call and prints one JSON line after a marker, which the parent
reads back (:func:`run_side`). :func:`measure_trainer` is the measurement of an mrft
:class:`mrft.trainer.Trainer`: wall clock and process CPU seconds of ``Trainer.train()``,
after imports and after the trainer (env, model) is built, plus the trainer's own phase
timings. ``import_s`` counts from this module's import (after the standard library's) to
the end of the heavy imports (torch, mrft).
"""

from __future__ import annotations

import json
import os
import platform
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

PROCESS_START = time.perf_counter()
REPO = Path(__file__).resolve().parent.parent


def timed(fn):
    """Run ``fn()``; return its value with wall and process CPU seconds."""
    wall, cpu = time.perf_counter(), time.process_time()
    value = fn()
    return value, time.perf_counter() - wall, time.process_time() - cpu


def loadavg() -> list[float] | None:
    try:
        return [round(x, 2) for x in os.getloadavg()]
    except OSError:
        return None


def since_start() -> float:
    """Seconds since this process imported this module (the imports' cost, when called
    right after them)."""
    return time.perf_counter() - PROCESS_START


def machine() -> dict:
    cpu = platform.processor()
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    return {"cpu": cpu, "cores": os.cpu_count(), "platform": platform.platform(),
            "python": platform.python_version()}


def git(*args: str) -> str:
    return subprocess.run(["git", *args], cwd=REPO, capture_output=True, text=True,
                          check=False).stdout.strip()


def provenance() -> dict:
    """The checkout's commit, whether tracked files differ from it, and which."""
    changed = git("diff", "--name-only", "HEAD").splitlines()
    return {"commit": git("rev-parse", "--short", "HEAD"), "worktree_dirty": bool(changed),
            "changed_files": changed}


def emit(prefix: str, row: dict) -> None:
    """A child's result: one line the parent finds by its prefix."""
    print(prefix + json.dumps(row), flush=True)


def checkout_env() -> dict[str, str]:
    """This process's environment with this checkout's ``src`` first on ``PYTHONPATH``, so a
    child process runs this checkout's mrft whichever interpreter starts it."""
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join(p for p in (str(REPO / "src"), env.get("PYTHONPATH")) if p)
    return env


def run_side(python: str, script: str, side: str, args: Sequence[str], prefix: str,
             label: str | None = None) -> dict:
    """Run ``python script --side SIDE ARGS`` in a fresh process with this checkout's ``src``
    first on ``PYTHONPATH``; return its result row plus ``process_wall_s`` and ``interpreter``."""
    label = label or side
    env = checkout_env()
    cmd = [python, str(Path(script).resolve()), "--side", side, *args]
    print(f"[{label}] {' '.join(cmd)}", flush=True)
    start = time.perf_counter()
    proc = subprocess.run(cmd, cwd=REPO, env=env, stdout=subprocess.PIPE, text=True, check=False)
    process_wall = time.perf_counter() - start
    lines = [ln for ln in proc.stdout.splitlines() if ln.startswith(prefix)]
    if proc.returncode != 0 or not lines:
        sys.stdout.write(proc.stdout)
        raise SystemExit(f"[{label}] failed (exit {proc.returncode})")
    row = json.loads(lines[-1][len(prefix):])
    row["process_wall_s"] = process_wall
    row["interpreter"] = python
    print(f"[{label}] {row['env_steps']:,} env steps in {row['train_wall_s']:.1f} s: "
          f"{row['sps']:.1f} steps/s (process {process_wall:.1f} s)", flush=True)
    return row


def command_line(script: str, args: dict[str, Any], skip: Sequence[str] = ()) -> str:
    """The command that reproduces a run: ``python SCRIPT --opt value ...`` for every option
    that is set (lists joined by spaces, flags bare)."""
    parts = [f"python {script}"]
    for key, value in args.items():
        if key in skip or value is None or value is False:
            continue
        flag = f"--{key.replace('_', '-')}"
        if value is True:
            parts.append(flag)
        elif isinstance(value, (list, tuple)):
            parts.append(f"{flag} {' '.join(map(str, value))}")
        else:
            parts.append(f"{flag} {value}")
    return " ".join(parts)


def measure_trainer(make_cfg: Callable[[str], Any]) -> tuple[dict, Any]:
    """Build ``Trainer(make_cfg(runs_dir))`` in a temporary runs folder and time its
    ``train()``; return the row every speed benchmark reports and the resolved config
    (family presets filled in)."""
    import numpy as np
    import torch

    from mrft.trainer import Trainer

    import_s = since_start()
    load_before = loadavg()
    with tempfile.TemporaryDirectory() as tmp:
        trainer, setup_s, _ = timed(lambda: Trainer(make_cfg(tmp)))
        result, wall, cpu = timed(trainer.train)
        resolved = trainer.cfg
        parameters = sum(p.numel() for p in trainer.policy.parameters())
        trained = sum(p.numel() for g in trainer.optimizer.param_groups for p in g["params"])
    steps = int(result.global_step)
    row = {
        "env_steps": steps, "train_wall_s": wall, "train_cpu_s": cpu, "sps": steps / wall,
        "cpu_s_per_1k_steps": 1000 * cpu / steps, "setup_s": setup_s, "import_s": import_s,
        "updates": result.updates, "env_steps_per_update": steps // max(result.updates, 1),
        "trainer_phase_s": result.timings, "parameters": parameters,
        "trained_parameters": trained,
        "recent_return_mean": result.recent_return, "recent_success_mean": result.recent_success,
        "versions": {"torch": torch.__version__, "numpy": np.__version__},
        "torch_threads": torch.get_num_threads(), "python": platform.python_version(),
        "loadavg_before": load_before, "loadavg_after": loadavg(),
    }
    return row, resolved


def make_sb3_vec_env(spec: str, num_envs: int, seed: int):
    """mrft's vector env as a ``stable_baselines3`` ``VecEnv`` (imports SB3 lazily, so the
    mrft side never needs it)."""
    import gymnasium as gym
    import numpy as np
    from stable_baselines3.common.vec_env import VecEnv

    from mrft.envs import make_vec_env, parse_env

    class MrftSB3VecEnv(VecEnv):
        """SB3's vector-env contract over an mrft ``VecEnv``.

        SB3 wants the next episode's first observation in the step that ends an episode,
        with the final one in ``info["terminal_observation"]``; mrft's envs return the final
        observation and reset on the *next* step. Meta-World episodes all end together (by
        truncation at 500 steps, in every env), so when they end the whole pool is reset at
        once; a step that ends only some envs' episodes cannot be served this way and is an
        error. Each reset draws fresh hidden goals from each env's own RNG (the pool is
        seeded when built; SB3's ``seed()`` is not used).
        """

        def __init__(self):
            self.env = make_vec_env(parse_env(spec).train, num_envs, seed=seed)
            space = self.env.observation_space
            observation_space = gym.spaces.Box(-np.inf, np.inf, space.shape, np.float32)
            super().__init__(num_envs, observation_space, self.env.action_space)
            self._actions: np.ndarray | None = None
            self.pool_resets = 0

        def reset(self):
            self._reset_seeds()
            self._reset_options()
            self.pool_resets += 1
            return self.env.reset().astype(np.float32, copy=False)

        def step_async(self, actions: np.ndarray) -> None:
            self._actions = np.asarray(actions, dtype=np.float32)

        def step_wait(self):
            result = self.env.step(self._actions)
            obs = result.obs.astype(np.float32, copy=False)
            dones = result.terminated | result.truncated
            infos: list[dict[str, Any]] = [{} for _ in range(self.num_envs)]
            if result.success is not None:
                for i, s in enumerate(result.success):
                    infos[i]["is_success"] = bool(s)
            if dones.any():
                if not dones.all():
                    raise RuntimeError(
                        f"{spec}: episodes ended in only some envs ({int(dones.sum())} of "
                        f"{self.num_envs}); this wrapper resets the whole pool at once")
                for i in range(self.num_envs):
                    infos[i]["terminal_observation"] = obs[i].copy()
                    infos[i]["TimeLimit.truncated"] = bool(result.truncated[i]
                                                           and not result.terminated[i])
                obs = self.reset()
            return obs, result.reward.astype(np.float32, copy=False), dones, infos

        def close(self) -> None:
            self.env.close()

        def get_attr(self, attr_name: str, indices=None) -> list[Any]:
            value = None if attr_name == "render_mode" else getattr(self.env, attr_name)
            return [value for _ in self._get_indices(indices)]

        def set_attr(self, attr_name: str, value: Any, indices=None) -> None:
            setattr(self.env, attr_name, value)

        def env_method(self, method_name: str, *method_args, indices=None, **method_kwargs):
            raise NotImplementedError(f"{type(self).__name__} has no per-env methods")

        def env_is_wrapped(self, wrapper_class, indices=None) -> list[bool]:
            return [False for _ in self._get_indices(indices)]

    return MrftSB3VecEnv()


def raw_sps(spec: str, num_envs: int, seconds: float = 10.0) -> float:
    """Random actions, no policy: the ceiling a training loop can approach."""
    steps, elapsed = raw_stepping(spec, num_envs, seconds)
    return steps / elapsed


def raw_stepping(spec: str, num_envs: int, seconds: float) -> tuple[int, float]:
    """``(env steps, seconds)`` of stepping ``spec`` with random actions for about ``seconds``."""
    import numpy as np

    from mrft.envs import make_vec_env, parse_env

    env = make_vec_env(parse_env(spec).train, num_envs, seed=0)
    env.reset()
    space = env.action_space
    rng = np.random.default_rng(0)

    def sample() -> np.ndarray:
        if hasattr(space, "n"):
            return rng.integers(0, space.n, size=num_envs, dtype=np.int32)
        return rng.uniform(space.low, space.high, size=(num_envs, *space.shape)).astype(np.float32)

    steps, start = 0, time.perf_counter()
    while time.perf_counter() - start < seconds:
        env.step(sample())
        steps += num_envs
    elapsed = time.perf_counter() - start
    env.close()
    return steps, elapsed
