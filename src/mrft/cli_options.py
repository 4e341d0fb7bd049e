"""The options of ``mrft adapt``, ``eval``, ``export``, ``bench``, ``report`` and ``list``: one
dataclass per sub-command, each field a flag whose docstring is its help (``mrft train``'s
options are the train config itself, :mod:`mrft.config`)."""

from __future__ import annotations

import dataclasses
from typing import Literal

import tyro

from mrft.algos.token_rl import METHODS
from mrft.export import EXPORT_DISTILL_STEPS


@dataclasses.dataclass
class EvalConfig:
    """Evaluate a checkpoint: mean return (and success rate where defined) with 95% CIs."""

    checkpoint: tyro.conf.Positional[str]
    """Path of an mrft checkpoint (runs/<run>/checkpoint.pt)."""
    episodes: int = 20
    """Number of evaluation episodes."""
    split: Literal["train", "test"] = "test"
    """Which tasks of the checkpoint's suite to evaluate on."""
    num_envs: int = 8
    """Parallel evaluation envs."""
    seed: int = 12345
    """Env seed for evaluation (different from training seeds by default)."""
    deterministic: bool = False
    """Take the most likely action instead of sampling."""
    json_out: str | None = None
    """Also write the per-episode results and summary to this JSON file."""
    probe: bool = False
    """Also measure the context the policy infers (algorithms that support it, mrft list; MRFT's
    task belief): R^2 of a linear probe of the hidden task parameters (where the family
    exposes them), the context gain (next episode with its own context minus with another
    instance's) and the return by step. The probe is fitted on half of --episodes trials:
    give it a few hundred."""
    protocol: Literal["official"] | None = None
    """Score by Meta-World's official meta-test protocol instead (docs/metaworld-official.md): on
    --goals goals of every test class, --adaptation-episodes episodes adapted to in the
    checkpoint's algorithm's own way, then --evaluation-episodes episodes with the most likely
    action, success if any step succeeds; per-class rates and their mean. Each test task's run is
    kept beside the checkpoint, so the same command continues an interrupted scoring."""
    goals: int = 10
    """With --protocol: goals of each test class to score (at most the benchmark's 50)."""
    adaptation_episodes: int = 10
    """With --protocol: adaptation episodes per test task (Farama's 10)."""
    evaluation_episodes: int = 3
    """With --protocol: evaluation episodes per test task (Farama's helper counts 3 per test
    class and round, docs/metaworld-official.md)."""


@dataclasses.dataclass
class AdaptConfig:
    """Adapt a pre-trained checkpoint to one held-out task instance with the method's own
    algorithm through the training engine, and record its evaluation curve. Running the same
    command again continues an interrupted adaptation."""

    checkpoint: tyro.conf.Positional[str]
    """Path of a checkpoint written by mrft train."""
    task: int = 0
    """Held-out task instance K: test task K mod (number of test tasks), instance seed K
    (a hidden Meta-World goal, a Procgen level, a nav goal from the test seed range)."""
    steps: int = 20_000
    """Adaptation budget A in env steps (every step counts; the run never exceeds it)."""
    eval_every: int = 2_000
    """Evaluate after every this many adaptation env steps (and at 0 and at the end)."""
    eval_episodes: int = 16
    """Evaluation episodes at each point (fresh episodes of the same instance)."""
    num_envs: int | None = None
    """Envs per adaptation batch, all on the instance; when unset, the checkpoint's --num-envs."""
    learning_rate: float | None = None
    """Adaptation learning rate; when unset, the checkpoint's (MRFT's --adapt-lr-scale
    multiplies either)."""
    updates: bool = True
    """--no-updates: adapt in context only (the instance is played, no weight changes): what
    a context-based method gets from its memory or belief alone."""
    seed: int = 1
    """Seed of the adaptation run (sampling and env seeds)."""
    out: str | None = None
    """JSON file for the curve; when unset, RUN_DIR/adapt/task<K>__seed<S>.json, with a suffix
    for an ablation (__in-context, __no-kl-bound) (the run's logs and checkpoint go to the
    folder of the same name without .json)."""


@dataclasses.dataclass
class ExportConfig:
    """Export a policy adapted to one held-out instance as a context-free network (algorithms
    that support it, mrft list; MRFT: its belief folded into the weights, exact for FiLM and
    the head deltas, then distilled from the adapted policy on --distill-steps env steps), so it
    loads and runs as a plain actor-critic (mrft eval, or any PyTorch code)."""

    checkpoint: tyro.conf.Positional[str]
    """An mrft adapt checkpoint (its adapted weights and belief), or an MRFT pre-training
    checkpoint (then one trial on --task adapts the belief in context first)."""
    task: int = 0
    """Held-out instance K when exporting from a pre-training checkpoint (an adaptation
    checkpoint knows its own)."""
    seed: int = 1
    """Seed of the in-context trial and of the distillation."""
    out: str | None = None
    """Where to write it; when unset, CHECKPOINT_DIR/export/task<K>.pt."""
    distill_steps: int = EXPORT_DISTILL_STEPS
    """Env steps on the instance for progressive distillation of the adapted policy (belief in
    the loop) into the exported network, starting from the fold (MRFT); spent exactly, split
    25/25/50% over the stages that run (a skipped stage's share goes to the others). The
    default is the `cpu` suite's export budget. 0: the fold alone (also what an MRFT without
    its meta-learner writes: its belief changes nothing)."""
    distill_stages: str = "align,kl,search"
    """The stages of the distillation, comma-separated: align (hidden activations matched to
    the teacher's on its states), kl (KL(teacher || student) on the student's own states
    too, DAgger), search (clipped-surrogate updates bounded in KL to the student kl left)."""


@dataclasses.dataclass
class BenchConfig:
    """Run a benchmark suite: pre-train every method on the suite's train tasks, adapt to every
    held-out task, evaluate on a fixed schedule, for every seed, with the same budgets; then
    write the report. Resumable: run the same command again after a kill or Ctrl-C."""

    suite: str = "demo"
    """A built-in suite (smoke, demo, cpu, cpu-quick, eval, procgen, metaworld,
    metaworld-official, metaworld-official-ml10, market, process, sim2real, mt10-transfer; mrft
    list describes them) or a path to a suite .toml file (schema: docs/benchmark.md in the
    source repository)."""
    methods: str | None = None
    """Comma-separated methods: every registered algorithm, its ablations and the reference rows
    (mrft list prints them); when unset, the default set (mrft list)."""
    baseline: str | None = None
    """The method every comparison is against; when unset, the default baseline (mrft list)."""
    focus: str | None = None
    """The method the verdict is about; when unset, the default focus method (mrft list)."""
    seeds: int | None = None
    """Number of seeds (1..S); when unset, the suite's."""
    out: str | None = None
    """Bench folder; when unset, bench/<suite name>."""
    report: bool = True
    """Write report.md/report.html and print the headline table when the sweep ends."""
    ray: str | None = None
    """Run the sweep on Ray, every (family, pre-training, seed) chain one Ray task: a bare
    --ray (or --ray local) starts Ray on this machine, --ray ADDRESS joins a cluster (started
    with ray start --head / ray start --address). Needs pip install 'mrft[ray]'."""
    ray_cpus_per_run: float = 1.0
    """CPUs each chain asks Ray for (and torch threads it uses)."""
    ray_gpus_per_run: float | None = None
    """GPUs each chain asks Ray for; when unset, 1 on a cluster that has GPUs, else 0."""


@dataclasses.dataclass
class ReportConfig:
    """Write report.md, report.html, analysis.json and the plots of a bench folder (finished or
    not), and print the headline table."""

    folder: tyro.conf.Positional[str]
    """Bench folder written by mrft bench, or its run archive (FOLDER/runs.tar.xz); the
    report is written into the folder."""
    skip_broken: bool = False
    """Report without run files that cannot be read (listed in the report's notes) instead of
    stopping at the first one."""
    baseline: str | None = None
    """The method every comparison is against; when unset, the bench's."""
    focus: str | None = None
    """The method the verdict is about; when unset, the bench's."""
    pack: bool = False
    """After the report, pack the run files under runs/ into FOLDER/runs.tar.xz (with what
    the archive already held) and delete them once the archive reads back the same;
    checkpoints and TensorBoard files stay in runs/."""


@dataclasses.dataclass
class ListConfig:
    """Print the task families (their hidden parameters and whether an oracle exists), the
    algorithms, the bench methods and the built-in suites, one line each."""


@dataclasses.dataclass
class ReasonConfig:
    """Reasoning with a small language model on Countdown (docs/sequences.md): the supervised
    warm start (sft), RL fine-tuning of it (rl), scoring a model on held-out problems (eval),
    or the whole study of every RL method over seeds with its report (study). Every stage
    continues where it stopped when run again on the same folder."""

    stage: tyro.conf.Positional[Literal["sft", "rl", "eval", "study"]]
    out: str = "runs/reasoning"
    """Folder of the run (sft, rl, study); eval writes nothing unless --json-out is given."""
    init: str | None = None
    """rl: the warm start's checkpoint; eval: the checkpoint to score."""
    difficulty: Literal["easy", "hard"] = "easy"
    """sft, study: easy (3 numbers, 2 used) or hard (4 numbers, 3 used)."""
    method: str = METHODS[0]
    """rl: grpo, mrt (MRT's progress from a drawn prefix, one scalar per trace), mrt-episode
    (each episode's progress as a dense bonus) or length-penalty."""
    alpha: float = 1.0
    """rl: weight of MRT's progress term."""
    length_coef: float = 0.5
    """rl, length-penalty: weight of the penalty per whole token budget."""
    token_budget: int = 1_500_000
    """rl, study: sampled tokens per RL run, forced-termination answers included."""
    episodes: int = 6
    """rl, eval, study: episodes (attempts) before the answer is forced; eval also scores 2x."""
    max_tokens: int = 200
    """rl, eval, study: tokens a trace may sample."""
    sft_steps: int = 3000
    """sft, study: optimiser steps of the warm start."""
    problems: int = 500
    """eval, study: held-out problems scored."""
    seeds: int = 3
    """study: RL seeds per method."""
    seed: int = 1
    """sft, rl, eval: the run's seed."""
    json_out: str | None = None
    """eval: write the record to this JSON file."""
    threads: int = 0
    """Torch intra-op threads (0: torch's own choice); 1 leaves the other cores to other work,
    where more threads than free cores slow small operations erratically."""
