"""Meta-World as the benchmark defines it: Farama's task objects, train and test tasks.

The ``metaworld`` family steps envpool, which draws a fresh goal from its own RNG at every
reset; an instance there is "the goal that env seed s draws". Published Meta-World numbers
(Yu et al. 2019; Farama's ``metaworld-algorithms``) instead use the fixed tasks that the
benchmark objects ``metaworld.ML1/ML10/ML45/MT10/MT50`` hand out (50 goals per task class,
set on an env with ``set_task``): pre-training samples the benchmark's *train* tasks,
held-out instances are its *test* tasks, and ML benchmarks hide the goal
(``partially_observable``). This family plays exactly those tasks, one Python MuJoCo env per
vector slot. It is several times slower than envpool (``benchmarks/metaworld_backends.py``
measures both), so ``metaworld`` stays the fast default for
development, and ``metaworld-official`` is the one to use for numbers set beside published
ones.

Names: ``ML1-TASK`` (any Meta-World task, e.g. ``ML1-reach``, ``ML1-pick-place``), ``ML10``,
``ML45`` (held-out task classes), ``MT10``, ``MT50`` (multi-task: the goal is shown, and the
test tasks are the train tasks). The benchmark objects are built with
:data:`BENCHMARK_SEED`, so every run and method sees the same tasks.

Instances. Env ``i`` with env seed ``s`` plays the split's task ``s mod 50`` of its class
from its first reset after a (re)seed, so held-out instance seeds ``0..49`` are the 50 test
tasks of a class, and a trial that re-seeds with the same seeds keeps its task. Later
auto-resets (multi-task PPO and GRPO, which never re-seed) draw the next train task from an
RNG seeded by ``s``, so envs with equal seeds see the same task sequence (Farama's
meta-learning envs cycle a shuffled list of the train tasks instead; both play train tasks
only)."""

from __future__ import annotations

import functools
import pickle
from collections.abc import Sequence

import numpy as np

from mrft.envs.family import SUCCESS, Family
from mrft.envs.metaworld import canonical_name, farama_benchmark
from mrft.envs.spaces import TaskSpaces, float32_box
from mrft.envs.spec import Suite, Task, make_task
from mrft.envs.vector import StepResult, check_seed_count
from mrft.errors import MrftError

FAMILY_NAME = "metaworld-official"
BENCHMARKS = ("ML10", "ML45", "MT10", "MT50")
BENCHMARK_SEED = 0
"""Seed of the benchmark objects (the goals of every train and test task)."""


def benchmark(name: str):
    """The Farama benchmark object of ``name`` (``ML1-reach-v3``, ``ML10``, ...) with
    :data:`BENCHMARK_SEED`."""
    return farama_benchmark(name, BENCHMARK_SEED)


def _reads_train_side(bench_name: str, split: str) -> bool:
    """Whether ``split`` reads the benchmark's train side: the train split, and every split of
    a multi-task benchmark (MT10, MT50), whose test tasks are its train tasks."""
    return split == "train" or bench_name.startswith("MT")


def holds_out_tasks(spec: str | Task) -> bool:
    """Whether ``spec`` (an env id or a task of this family) names a meta-learning benchmark
    (ML1-TASK, ML10, ML45), whose test tasks are not its train tasks; MT10 and MT50 test on
    the tasks they train on."""
    name = str(spec.option("benchmark")) if isinstance(spec, Task) else spec.partition(":")[2]
    return not name.upper().startswith("MT")


def official_tasks(bench_name: str, split: str, class_name: str) -> list:
    """The benchmark's tasks of ``class_name`` in ``split`` ('train' or 'test'), in its order."""
    bench = benchmark(bench_name)
    tasks = bench.train_tasks if _reads_train_side(bench_name, split) else bench.test_tasks
    chosen = [t for t in tasks if t.env_name == class_name]
    if not chosen:
        raise MrftError(f"{bench_name} has no {split} task of class {class_name}")
    return chosen


def class_names(bench_name: str, split: str) -> tuple[str, ...]:
    bench = benchmark(bench_name)
    return tuple(bench.train_classes if _reads_train_side(bench_name, split) else bench.test_classes)


def _task(bench_name: str, class_name: str, split: str) -> Task:
    return make_task(FAMILY_NAME, class_name, benchmark=bench_name, split=split)


def suite(name: str) -> Suite:
    """``ML1-TASK``, ``ML10``, ``ML45``, ``MT10`` or ``MT50``: one task per (split, class)."""
    if name.upper().startswith("ML1-"):
        bench_name = "ML1-" + canonical_name(name[4:])
        label = f"{FAMILY_NAME}:ML1-{bench_name[4:].removesuffix('-v3')}"
    elif name.upper() in BENCHMARKS:
        bench_name = name.upper()
        label = f"{FAMILY_NAME}:{bench_name}"
    else:
        raise MrftError(f"unknown {FAMILY_NAME} benchmark {name!r}; choose ML1-TASK (e.g. ML1-reach, "
                        f"ML1-pick-place), {', '.join(BENCHMARKS)}")
    train = tuple(_task(bench_name, c, "train") for c in class_names(bench_name, "train"))
    test = tuple(_task(bench_name, c, "test") for c in class_names(bench_name, "test"))
    return Suite(label, train, test)


def _shown(task, show_goal: bool):
    """``task`` with the goal in the observation (oracle, MT) or as the benchmark has it."""
    if not show_goal:
        return task
    data = pickle.loads(task.data)
    if not data.get("partially_observable", False):
        return task
    data["partially_observable"] = False
    return type(task)(env_name=task.env_name, data=pickle.dumps(data))


def played_tasks(task: Task) -> list:
    """The benchmark's tasks that envs of ``task`` play (its class and split), the goal shown
    to an oracle and on the multi-task benchmarks."""
    bench_name = str(task.option("benchmark"))
    show_goal = bool(task.option("oracle", False)) or bench_name.startswith("MT")
    return [_shown(t, show_goal)
            for t in official_tasks(bench_name, str(task.option("split", "train")), task.name)]


class OfficialMetaWorldVecEnv:
    """``num_envs`` Meta-World envs of one class stepped in turn, each on a task the benchmark
    made (module docstring), with next-step auto-reset like every vector env here."""

    def __init__(self, task: Task, num_envs: int, seed: int, env_seeds: list[int] | None = None):
        import metaworld as farama

        self.tasks = played_tasks(task)
        env_cls = farama.env_dict.ALL_V3_ENVIRONMENTS[task.name]
        self.num_envs = num_envs
        self._envs = [env_cls() for _ in range(num_envs)]
        for env in self._envs:
            env.set_task(self.tasks[0])
        self.horizon = int(self._envs[0].max_path_length)
        self.observation_space = float32_box(self._envs[0].observation_space)
        self.action_space = self._envs[0].action_space
        self.task_ids = np.zeros(num_envs, dtype=np.int64)
        self.reseed([seed + i for i in range(num_envs)] if env_seeds is None else env_seeds)

    # -- instances ------------------------------------------------------------------------
    def reseed(self, env_seeds: Sequence[int]) -> None:
        """Next reset: env ``i`` plays task ``env_seeds[i] mod 50`` (seeds carry no split
        offset here: the split is the task list itself)."""
        self._seeds = check_seed_count(env_seeds, self.num_envs)
        self._rngs = [np.random.default_rng(s) for s in self._seeds]
        self._resets = [0] * self.num_envs
        self._current = [0] * self.num_envs
        self._needs_reset = np.zeros(self.num_envs, dtype=bool)

    def task_index(self, i: int) -> int:
        """The index of the task env ``i``'s next reset plays (:meth:`_reset_one` advances)."""
        if self._resets[i] == 0:
            return self._seeds[i] % len(self.tasks)
        return int(self._rngs[i].integers(len(self.tasks)))

    def _reset_one(self, i: int) -> np.ndarray:
        index = self.task_index(i)
        self._resets[i] += 1
        self._current[i] = index
        env = self._envs[i]
        env.set_task(self.tasks[index])
        obs, _ = env.reset()
        return obs

    # -- the vector API -------------------------------------------------------------------
    def reset(self) -> np.ndarray:
        obs = np.stack([self._reset_one(i) for i in range(self.num_envs)])
        self._needs_reset[:] = False
        return obs.astype(np.float32)

    def step(self, actions: np.ndarray) -> StepResult:
        n = self.num_envs
        obs = np.empty((n, *self.observation_space.shape), np.float32)
        reward = np.zeros(n, np.float32)
        terminated = np.zeros(n, bool)
        truncated = np.zeros(n, bool)
        success = np.zeros(n, np.float32)
        actions = np.asarray(actions, dtype=np.float32)
        for i, env in enumerate(self._envs):
            if self._needs_reset[i]:  # the step after an episode's end starts the next one
                obs[i] = self._reset_one(i)
                self._needs_reset[i] = False
                continue
            o, r, term, trunc, info = env.step(actions[i])
            obs[i], reward[i], terminated[i], truncated[i] = o, r, term, trunc
            success[i] = float(info.get("success", 0.0))
            self._needs_reset[i] = term or trunc
        return StepResult(obs, reward, terminated, truncated, success)

    def task_parameters(self) -> np.ndarray:
        """``[n, 3]`` the goal of each env's current task (diagnostics and the oracle check)."""
        return np.stack([np.asarray(env._target_pos, dtype=np.float32) for env in self._envs])

    def current_tasks(self) -> list[int]:
        """The index, in the split's task list, of the task each env plays now."""
        return list(self._current)

    def close(self) -> None:
        for env in self._envs:
            env.close()
        self._envs = []


def make(task: Task, num_envs: int, seed: int, env_seeds: list[int] | None = None) -> OfficialMetaWorldVecEnv:
    return OfficialMetaWorldVecEnv(task, num_envs, seed, env_seeds)


@functools.cache
def spaces(task: Task) -> TaskSpaces:
    import metaworld as farama

    env = farama.env_dict.ALL_V3_ENVIRONMENTS[task.name]()
    try:
        env.set_task(played_tasks(task)[0])
        return TaskSpaces(float32_box(env.observation_space), env.action_space, int(env.max_path_length))
    finally:
        env.close()


FAMILY = Family(
    name=FAMILY_NAME,
    summary="Meta-World v3 the official way (Farama's benchmark objects, Python MuJoCo): the "
            "benchmark's train tasks for pre-training and its test tasks held out, ML1-TASK, ML10, "
            "ML45 with hidden goals, MT10/MT50",
    examples=(f"{FAMILY_NAME}:ML1-reach", f"{FAMILY_NAME}:ML10"),
    suite=lambda name, o: suite(name),
    make=make,
    spaces=spaces,
    hidden_parameters=("goal position",),
    oracle="native",
    distinct_instances=lambda task: len(played_tasks(task)),
    score_name=SUCCESS,
    parse_lazily=lambda name: name.upper() in BENCHMARKS,
)
