"""Task families as a public API: one :class:`Family` spec per family, found by name.

A family is everything mrft needs to know about a kind of task: how ``FAMILY:NAME`` parses
into a suite (train and held-out test tasks), how to build a vector env over a task, its
spaces, its default env count and preset kind, how many distinct instances it has, which
hidden parameters an oracle may see, and the score a benchmark compares on it. Built-in
families each declare one at the end of their module; a user's family is one
:func:`register_family` call in a plugin (:mod:`mrft.plugins`), after which it is an
``--env`` like any other.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from typing import Any

from mrft.envs.spec import Suite, Task
from mrft.errors import MrftError

SUCCESS = "success rate"
NORMALISED = "normalised return"
REFERENCE = "fraction of the reference"
RETURN = "return"

DEFAULT_ENV = "gym:CartPole-v1"
"""``mrft train``'s env when none is named."""

KINDS = ("images", "mujoco", "continuous", "classic")
"""Preset kinds (:mod:`mrft.presets`): image games (CleanRL ppo_procgen.py), MuJoCo bodies, other continuous control,
classic discrete control."""


@dataclasses.dataclass(frozen=True)
class Family:
    """Everything mrft needs to know about one kind of task.

    The callables take a :class:`~mrft.envs.spec.Task` of this family (``task.family ==
    name``); ``make(task, num_envs, seed, env_seeds)`` must honour ``env_seeds`` (one RNG
    seed per env: equal seeds replay the same instance from their first reset) and the
    task's ``split_seed_offset`` option, which keeps held-out instances apart from training
    ones."""

    name: str
    summary: str
    """One line: what the tasks are and what is hidden."""
    examples: tuple[str, ...]
    """``FAMILY:NAME`` ids a user can try."""
    suite: Callable[[str, Any], Suite]
    """``suite(NAME, env_options)``: the suite of ``FAMILY:NAME``, or an ``MrftError`` naming
    the choices. ``env_options`` has the fields of :class:`mrft.config.EnvConfig`."""
    make: Callable[..., Any]
    """``make(task, num_envs, seed, env_seeds=None)`` -> a vector env (:mod:`mrft.envs.vector`)."""
    spaces: Callable[[Task], Any]
    """``spaces(task)`` -> :class:`mrft.envs.spaces.TaskSpaces`, without building a pool."""
    default_num_envs: int = 16
    preset: Callable[[Task, bool], str] | None = None
    """``preset(task, continuous)`` -> a preset kind (:data:`KINDS`); None: ``continuous`` or
    ``classic`` by the action space."""
    hidden_parameters: tuple[str, ...] = ()
    """Names of what an instance hides (for ``mrft list`` and the oracle)."""
    oracle: Callable[[Task], str | None] | str | None = None
    """How an oracle sees the hidden parameters: ``"wrap"`` appends the env's
    ``task_parameters()`` to every observation; ``"native"``: the family shows them itself
    when a task has the ``oracle`` option; None: no oracle. A callable decides per task."""
    oracle_train_options: tuple[tuple[str, Any], ...] = ()
    """Options of the oracle's pre-training tasks (``sim2real``: the real bodies)."""
    distinct_instances: Callable[[Task], int | None] | None = None
    """Number of distinct instances of a task (None: unbounded, every seed is new)."""
    instance_key: Callable[[Task, int], object] | None = None
    """What makes instance seeds equal where instances are finite (:mod:`mrft.envs.instances`)."""
    score_name: str = RETURN
    """What the benchmark compares: :data:`RETURN`, :data:`SUCCESS`, :data:`NORMALISED`
    (``scorer`` maps a return) or :data:`REFERENCE` (``scorer`` per instance)."""
    scorer: Callable[[Task, int], Callable[[float, float | None], float]] | None = None
    """``scorer(test_task, instance_seed)`` -> ``score(return, success)``."""
    sim_to_real: bool = False
    """Pre-trains in simulation and adapts on held-out "real" bodies (the report's transfer
    table reads each pre-training's in-sim score)."""
    parse_lazily: Callable[[str], bool] | None = None
    """Names a suite file may use without parsing them (building some suites takes minutes)."""

    def oracle_kind(self, task: Task) -> str | None:
        return self.oracle(task) if callable(self.oracle) else self.oracle

    def preset_kind(self, task: Task, continuous: bool) -> str:
        if self.preset is not None:
            return self.preset(task, continuous)
        return "continuous" if continuous else "classic"

    def score(self, test_task: Task, instance: int | None) -> Callable[[float, float | None], float]:
        if self.score_name == SUCCESS:
            return lambda ret, success: float(success)
        if self.score_name == RETURN or self.scorer is None:
            return lambda ret, success: float(ret)
        if self.score_name == REFERENCE and instance is None:
            raise ValueError(f"{self.name} is scored against a per-instance reference: give the instance")
        return self.scorer(test_task, instance)


REGISTRY: dict[str, Family] = {}


def register_family(family: Family) -> Family:
    """Make ``family`` available as ``--env NAME:...``; a later registration of the same
    name replaces the earlier one."""
    if not family.name or ":" in family.name or family.name != family.name.lower():
        raise MrftError(f"family name {family.name!r} must be lower case without ':'")
    REGISTRY[family.name] = family
    return family


def family_of(spec: str | Task) -> Family:
    """The family of an env id (``family:name``) or of a task."""
    name = spec.family if isinstance(spec, Task) else spec.partition(":")[0].lower()
    try:
        return REGISTRY[name]
    except KeyError:
        raise MrftError(f"unknown env family {name!r} in {spec if isinstance(spec, str) else name!r}; "
                        f"choose one of: {', '.join(REGISTRY)} (mrft list describes each)") from None
