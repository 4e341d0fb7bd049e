"""Meta-World v3 tasks through envpool, task sets from Farama's ``metaworld`` package.

envpool gives fast C++-driven MuJoCo stepping (39-d observation, 4-d action, 500-step
episodes ending in truncation). Each env draws a new goal at every reset from its own
RNG; giving several envs the same ``env_seed`` makes them see the same goal sequence,
which is how a group shares a goal. ``hidden_goal`` zeroes the goal in the
observation (Meta-World's ``partially_observable``), the meta-RL setting.

The official benchmark task *sets* (which task classes are train and which are test in
ML10, ML45, MT10, MT50) come from Farama's package so they match the published splits.
"""

from __future__ import annotations

import functools

import numpy as np

from mrft.envs.family import SUCCESS, Family
from mrft.envs.spaces import envpool_spaces
from mrft.envs.spec import Suite, Task, make_task
from mrft.envs.vector import EnvpoolVecEnv
from mrft.errors import MrftError

BENCHMARKS = ("ML10", "ML45", "MT10", "MT50")
TEST_SEED_OFFSET = 1_000_003
"""Added to the run seed for test-split envs so their goals are draws unseen in training."""


@functools.cache
def task_names() -> tuple[str, ...]:
    """All Meta-World v3 task names as Farama spells them ('reach-v3', ...)."""
    import envpool

    names = []
    for env_id in envpool.list_all_envs():
        if env_id.startswith("MetaWorld/"):
            camel = env_id.split("/", 1)[1].removesuffix("-v3")
            names.append(_dashed(camel) + "-v3")
    return tuple(sorted(names))


def _dashed(camel: str) -> str:
    return "".join("-" + c.lower() if c.isupper() else c for c in camel).lstrip("-")


def canonical_name(name: str) -> str:
    """Accepts 'reach', 'reach-v3' or 'Reach' and returns 'reach-v3'."""
    raw = name.strip()
    if any(c.isupper() for c in raw[1:]) and "-" not in raw:
        raw = _dashed(raw)
    raw = raw.lower()
    if not raw.endswith("-v3"):
        raw += "-v3"
    if raw not in task_names():
        raise MrftError(
            f"unknown Meta-World task {name!r}; examples: reach, push, pick-place "
            f"(all {len(task_names())}: {', '.join(n.removesuffix('-v3') for n in task_names())})"
        )
    return raw


def envpool_id(name: str) -> str:
    return "MetaWorld/" + "".join(w.capitalize() for w in name.removesuffix("-v3").split("-")) + "-v3"


def goal_task(name: str, goal_seed: int | None = None, hidden_goal: bool = True) -> Task:
    """One Meta-World task; with ``goal_seed`` every env of its pool shares one goal sequence."""
    opts = {"hidden_goal": hidden_goal}
    if goal_seed is not None:
        opts["goal_seed"] = int(goal_seed)
    return make_task("metaworld", canonical_name(name), **opts)


@functools.cache
def farama_benchmark(name: str, seed: int = 0):
    """Farama's benchmark object ``name`` (``ML10``, ``ML45``, ``MT10``, ``MT50`` or
    ``ML1-<task>-v3``) for ``seed``, built once per process (ML45 instantiates every class's env
    to draw its goals: several seconds)."""
    import metaworld as farama

    if name.startswith("ML1-"):
        return farama.ML1(name[4:], seed=seed)
    return getattr(farama, name)(seed=seed)


def official_task_set(benchmark: str, seed: int = 0) -> tuple[tuple[str, ...], tuple[str, ...]]:
    """Train and test task names of a Farama benchmark (ML10, ML45, MT10, MT50)."""
    key = benchmark.upper()
    if key not in BENCHMARKS:
        raise MrftError(f"unknown Meta-World benchmark {benchmark!r}; choose {', '.join(BENCHMARKS)}")
    bench = farama_benchmark(key, seed)
    train = tuple(bench.train_classes)
    test = tuple(getattr(bench, "test_classes", {}) or ())
    return train, test


def suite(name: str, hidden_goal: bool = False) -> Suite:
    """``reach`` -> one task, fresh goals each episode; ``ML10`` etc. -> the official split;
    ``ML1-reach`` -> ML1: one task with hidden goals, test goals from unseen seeds.

    Single-task suites test on the same task with goals drawn from unseen env seeds.
    Multi-task (MT) benchmarks have no held-out classes: train and test are the same set.
    """
    if name.upper().startswith("ML1-"):
        task = make_task("metaworld", canonical_name(name[4:]), hidden_goal=True)
        return Suite(
            f"metaworld:ML1-{task.name.removesuffix('-v3')}",
            (task,),
            (task.with_options(split_seed_offset=TEST_SEED_OFFSET),),
        )
    if name.upper() in BENCHMARKS:
        train_names, test_names = official_task_set(name)
        hidden = hidden_goal or name.upper().startswith("ML")
        train = tuple(make_task("metaworld", n, hidden_goal=hidden) for n in train_names)
        test = tuple(
            make_task("metaworld", n, hidden_goal=hidden, split_seed_offset=TEST_SEED_OFFSET)
            for n in (test_names or train_names)
        )
        return Suite(f"metaworld:{name.upper()}", train, test)
    task = make_task("metaworld", canonical_name(name), hidden_goal=hidden_goal)
    return Suite(
        f"metaworld:{task.name.removesuffix('-v3')}",
        (task,),
        (task.with_options(split_seed_offset=TEST_SEED_OFFSET),),
    )


class MetaWorldVecEnv(EnvpoolVecEnv):
    """A Meta-World pool that can also say where its hidden goals are (diagnostics only)."""

    def task_parameters(self) -> np.ndarray:
        """``[n, 3]`` the goal of each env's first episode since the last (re)seed: what the
        episodes of a trial replay. Read from a twin pool with the same seeds and the goal
        left in the observation (its last three entries), built for the purpose (about
        200 ms), so the pool that plays is never touched."""
        twin = EnvpoolVecEnv(self._env_id, self.num_envs, self._seed, self._seed_offset,
                             **{**self._kwargs, "partially_observable": False})
        try:
            return twin.reset()[:, -3:].astype(np.float32)
        finally:
            twin.close()


def make(task: Task, num_envs: int, seed: int, env_seeds: list[int] | None = None) -> EnvpoolVecEnv:
    """``env_seeds``: one RNG seed per env; envs with equal seeds see the same goal sequence."""
    # an oracle sees the goal that the task otherwise hides (mrft.envs.oracle)
    hidden = bool(task.option("hidden_goal", True)) and not task.option("oracle", False)
    kwargs = {"partially_observable": hidden}
    offset = int(task.option("split_seed_offset", 0))
    goal_seed = task.option("goal_seed")
    if env_seeds is not None:
        kwargs["env_seed"] = [s + offset for s in env_seeds]
    elif goal_seed is not None:
        kwargs["env_seed"] = [int(goal_seed)] * num_envs
    seed = seed + offset
    return MetaWorldVecEnv(envpool_id(task.name), num_envs, seed, seed_offset=offset, **kwargs)


FAMILY = Family(
    name="metaworld",
    summary="Meta-World v3 (envpool): a task with goals drawn per episode, ML1-TASK hidden goals, "
            "the official ML10/ML45/MT10/MT50 task sets",
    examples=("metaworld:ML1-reach", "metaworld:reach", "metaworld:ML10"),
    suite=lambda name, o: suite(name, o.hidden_goal),
    make=make,
    spaces=lambda task: envpool_spaces(envpool_id(task.name)),
    hidden_parameters=("goal position",),
    oracle="native",
    score_name=SUCCESS,
    parse_lazily=lambda name: name.upper() in BENCHMARKS,
)
