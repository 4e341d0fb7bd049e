"""Meta-World's official meta-test protocol: adapt on each test task, then count successes.

Published meta-RL numbers on Meta-World (Yu et al. 2019; Farama's ``metaworld-algorithms``
and its ``metaworld.evaluation.metalearning_evaluation``) score a method on the benchmark's
test tasks like this: on each test task (a task class with one of its goals), the method
plays ``adaptation_episodes`` episodes (10) and adapts in its own way, then plays
``evaluation_episodes`` episodes (3) with the mode of its policy; an episode succeeds if the
success flag is 1 at *any* step; a class's success rate is the share of successful
evaluation episodes over its goals, and the benchmark's figure is the mean over test classes.

Here every method adapts with its own algorithm (:mod:`mrft.adapt`) on a budget of
``adaptation_episodes`` whole episodes:

- a method that learns from a group of episodes started alike (GRPO,
  :attr:`~mrft.algos.base.Algorithm.adapts_in_groups`) plays them as one group in parallel;
- every other method plays them one after another in one env, as Farama's protocol does: a
  method that adapts in context carries what it learnt into later episodes, within the span
  it was pre-trained on (RL2's memory within its trials of K episodes; MRFT's belief as episode
  K - 1 began, :class:`~mrft.algos.mrft.belief_actor.BeliefActor`), and a method that adapts
  by gradient steps updates on them (PPO: one update per episode);
- a method that does not adapt (the context-free policy, the oracle) plays them unchanged.

Each evaluation episode starts from the adapted state (the weights after the updates, the
context kept by an in-context method) and never from another evaluation episode's, as
Farama's RL2 agent resets its memory to the adapted state at every episode end.

Where Farama's helper (``metaworld.evaluation.evaluation``, metaworld 3.1.1) counts
differently, and why the figures here follow the definition instead:

1. It counts, per task *class*, the first ``evaluation_episodes`` episodes to *finish* in any
   env of that class, and ends an episode at its first success. Envs whose episodes succeed
   early therefore finish more episodes and fill the count: with one env that always
   succeeds at once and one that never does, its score is 1.0, where every goal's episodes
   counted once give 0.5 (raised in ``metaworld-algorithms`` issue 10, closed as intended;
   Metaworld PR 577, open, proposes a change). Its count is per class and round, so where a
   class has more goals in a round than ``evaluation_episodes`` (ML10: 4 envs of each test
   class in a meta-batch of 20), some goals are adapted to and never scored.
   Here each goal's ``evaluation_episodes`` episodes are counted, once each.
2. Its episodes end at the first success, so its returns are shorter; the success flag is
   the same (any step), and returns are not part of the figure.
3. Its registered ``Meta-World/ML1-train`` id builds the *test* goals in 3.1.1 (Metaworld PR
   573, open); the ``metaworld-official`` family reads the benchmark objects directly, so
   pre-training plays the train goals.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping, Sequence

import numpy as np

from mrft.config import PROTOCOL_EPISODE_STEPS as EPISODE_STEPS
from mrft.errors import MrftError

PROTOCOLS = tuple(EPISODE_STEPS)


@dataclasses.dataclass(frozen=True)
class MetaTestProtocol:
    """The official protocol's sizes: 10 adaptation episodes per test task, as Farama's
    helper plays them, and 3 evaluation episodes per test task (its default of 3, which it
    counts per test class and round; see the module docstring)."""

    name: str = "official"
    adaptation_episodes: int = 10
    evaluation_episodes: int = 3

    def __post_init__(self) -> None:
        if self.name not in PROTOCOLS:
            raise MrftError(f"unknown meta-test protocol {self.name!r}; choose {', '.join(PROTOCOLS)}")
        for field in ("adaptation_episodes", "evaluation_episodes"):
            if getattr(self, field) < 1:
                raise MrftError(f"protocol {field} must be >= 1, got {getattr(self, field)}")

    @property
    def adaptation_steps(self) -> int:
        """The env steps of a test task's adaptation episodes."""
        return self.adaptation_episodes * EPISODE_STEPS[self.name]


@dataclasses.dataclass(frozen=True)
class AdaptationPlan:
    """What one test task's adaptation gets under the protocol (:class:`mrft.config.AdaptSettings` fields)."""

    steps: int
    eval_every: int
    eval_episodes: int
    num_envs: int


def check_group(protocol: MetaTestProtocol, adapts_in_groups: bool, who: str, remedy: str) -> None:
    """Refuse a method that adapts on a group of episodes (GRPO) where the protocol gives it
    one adaptation episode: a group of one has no relative advantage to learn from."""
    if adapts_in_groups and protocol.adaptation_episodes < 2:
        raise MrftError(f"{who} adapts on a group of episodes, and the protocol gives "
                        f"{protocol.adaptation_episodes} adaptation episode; {remedy}")


def adaptation_plan(protocol: MetaTestProtocol, adapts_in_groups: bool,
                    horizon: int | None) -> AdaptationPlan:
    """The adaptation budget of one test task: ``adaptation_episodes`` whole episodes (in
    one group, or one after another in one env), scored at the start and after the last of
    them on ``evaluation_episodes`` episodes. ``horizon`` is the task's episode length, which
    must be the protocol's."""
    if horizon != EPISODE_STEPS[protocol.name]:
        raise MrftError(f"the {protocol.name} meta-test protocol scores episodes of "
                        f"{EPISODE_STEPS[protocol.name]} steps; this task's last {horizon}")
    check_group(protocol, adapts_in_groups, "this method", "use --adaptation-episodes 2 or more")
    steps = protocol.adaptation_steps
    envs = protocol.adaptation_episodes if adapts_in_groups else 1
    return AdaptationPlan(steps, steps, protocol.evaluation_episodes, envs)


def protocol_settings(settings, protocol: MetaTestProtocol, task, adapts_in_groups: bool):
    """Adaptation settings (:class:`mrft.config.AdaptSettings`) with the budget, envs and
    evaluation that :func:`adaptation_plan` gives one test ``task``, marked as scored by
    ``protocol`` (full-length episodes; the most likely action scored before and after)."""
    from mrft.envs import task_spaces

    plan = adaptation_plan(protocol, adapts_in_groups, task_spaces(task).horizon)
    return dataclasses.replace(settings, steps=plan.steps, eval_every=plan.eval_every,
                               eval_episodes=plan.eval_episodes, num_envs=plan.num_envs,
                               protocol=protocol.name)


def refusal(protocol: MetaTestProtocol, spec) -> str | None:
    """Why ``protocol`` cannot score ``spec`` (an env id or a task): it scores a meta-learning
    benchmark's own held-out test tasks, which only the ``metaworld-official`` family's ML
    benchmarks play (the envpool ``metaworld`` family's goals are its RNG's draws, and MT10
    and MT50 test on their train tasks); None when it can."""
    from mrft.envs import family_of
    from mrft.envs.metaworld_official import FAMILY_NAME as OFFICIAL
    from mrft.envs.metaworld_official import holds_out_tasks

    family = family_of(spec).name
    if family == OFFICIAL and holds_out_tasks(spec):
        return None
    said = (f"this family is {family}" if family != OFFICIAL
            else "MT10 and MT50 test on the tasks they train on")
    return (f"the {protocol.name} meta-test protocol scores a meta-learning benchmark's held-out "
            f"test tasks, which only {OFFICIAL}:ML1-TASK, ML10 and ML45 play; {said}")


def meta_test_success(goal_rates: Mapping[str, Sequence[float]]) -> dict:
    """``{class: [success rate of each of its goals]}`` -> the protocol's figure: ``per_class``
    (the mean over a class's goals, every goal counted once), ``mean`` (the mean over classes,
    each class weighing the same whatever its number of goals) and ``goals`` per class."""
    if not goal_rates or any(len(rates) == 0 for rates in goal_rates.values()):
        raise ValueError("every test class needs at least one scored goal")
    per_class = {name: float(np.mean(rates)) for name, rates in goal_rates.items()}
    return {"per_class": per_class, "mean": float(np.mean(list(per_class.values()))),
            "goals": {name: len(rates) for name, rates in goal_rates.items()}}


def score_checkpoint(checkpoint: str, protocol: MetaTestProtocol, goals: int, seed: int = 1,
                     progress=print) -> dict:
    """The protocol's figure for a pre-trained ``checkpoint`` on its suite's test tasks:
    ``goals`` goals of every test class, each adapted to by the checkpoint's algorithm in its
    own way (:func:`mrft.adapt.adapt`) and scored after it. Each test task's run lives in
    ``<checkpoint folder>/metatest/<protocol and sizes>/task<K>`` (K: the held-out instance
    index), so an interrupted scoring continues where it stopped when run again."""
    from pathlib import Path

    from mrft import algos, envs
    from mrft.adapt import adapt
    from mrft.config import AdaptSettings
    from mrft.evaluate import load_policy_and_state

    _, train_cfg, suite, _ = load_policy_and_state(checkpoint)
    refused = refusal(protocol, suite.test[0])
    if refused:
        raise MrftError(f"{suite.name}: {refused}")
    classes = len(suite.test)
    available = envs.distinct_instances(suite.test[0])
    if goals < 1 or (available is not None and goals > available):
        raise MrftError(f"--goals must be between 1 and {available} (the test goals of a class), got {goals}")
    folder = (Path(checkpoint).resolve().parent / "metatest" /
              f"{protocol.name}__adapt{protocol.adaptation_episodes}__eval{protocol.evaluation_episodes}"
              f"__seed{seed}")
    rates: dict[str, list[float]] = {}
    adapts_in_groups = algos.get(train_cfg.algo).adapts_in_groups
    for goal in range(goals):
        for c in range(classes):
            index = goal * classes + c
            task, _ = envs.held_out_instance(suite, index)
            settings = protocol_settings(AdaptSettings(checkpoint=checkpoint, task=index, seed=seed),
                                         protocol, task, adapts_in_groups)
            record = adapt(checkpoint, settings, run_dir=folder / f"task{index}")
            final = record["curve"][-1]
            rates.setdefault(task.name, []).append(float(final["deterministic/success"]))
            progress(f"{task.name} goal {goal}: success {final['deterministic/success']:.2f} "
                     f"after {protocol.adaptation_episodes} adaptation episodes "
                     f"({len(rates[task.name])}/{goals} goals of this class)")
    return {"checkpoint": checkpoint, "suite": suite.name, "protocol": dataclasses.asdict(protocol),
            "algo": train_cfg.algo, **meta_test_success(rates)}
