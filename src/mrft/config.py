"""Configuration dataclasses: one per concern, parsed by tyro, reused as the library API.

Fields documented with "when unset, the family preset" are ``None`` until
:func:`mrft.presets.resolve_presets` fills them from the preset of the env family; the
resolved values are what the run logs and checkpoints store.

Sections: ``env`` (what is played), ``optim`` (how every algorithm steps its optimiser),
one section per registered algorithm (its :attr:`~mrft.algos.base.Algorithm.Config`, named
after it; an algorithm reads its own section and the shared ones, never another
algorithm's), and ``run`` (seeds, network, logging). ``TrainConfig`` is assembled from the
algorithm registry, so an algorithm registered by a plugin brings its flags with it.
"""

from __future__ import annotations

import dataclasses
import math
from typing import Annotated, Any, Literal

import tyro

from mrft.envs.family import DEFAULT_ENV
from mrft.errors import MrftError


@dataclasses.dataclass
class EnvConfig:
    env: str = DEFAULT_ENV
    """Task suite as FAMILY:NAME; mrft list prints every family (built-in or registered by a
    plugin) with examples: procgen:GAME, metaworld:TASK or ML1-TASK or ML10, gym:ID (any
    Gymnasium id, your own among them: docs/your-tasks.md), nav:point, bandit:armsK,
    shift:NAME, market:regimes, process:changeover, sim2real:NAME."""
    num_envs: int | None = None
    """Parallel environments; when unset, the family's default (mrft list): 64 Procgen, 16 Meta-World, 8 Gymnasium."""
    distribution_mode: Literal["easy", "hard"] = "easy"
    """Procgen difficulty."""
    num_levels: int = 200
    """Procgen training levels: levels [start_level, start_level + num_levels); test uses all."""
    start_level: int = 0
    """Procgen first training level."""
    hidden_goal: bool = False
    """Meta-World: hide the goal from the observation (the meta-RL setting; ML suites always do)."""
    oracle: bool = False
    """Append each instance's hidden parameters (goal, regime, plant, body) to every observation:
    the reference policy that needs no adaptation (nav, bandit, shift, market, process, sim2real,
    metaworld)."""
    max_episode_steps: int = 1000
    """Whole-episode collection (GRPO, MRFT trials, evaluation, adaptation) cuts episodes longer
    than this (they end as truncated)."""
    env_step_timeout: float | None = None
    """Seconds one reset or step of a Gymnasium env (gym:ID, your own) may take before the run
    stops with an error and a checkpoint; unset: no limit. Enforced by a SIGALRM timer, which
    interrupts Python code and blocking calls, not a C extension that never returns."""


@dataclasses.dataclass
class OptimConfig:
    """The optimiser step every algorithm shares (Adam, eps 1e-5)."""

    learning_rate: float | None = None
    """Adam learning rate; when unset, the family preset: 5e-4 Procgen, 3e-4 continuous, 2.5e-4 classic."""
    anneal_lr: bool = True
    """Decay the learning rate linearly to 0 over the run."""
    max_grad_norm: float = 0.5
    """Global gradient-norm clip."""
    target_kl: float | None = None
    """Stop the epochs of an update early when approx KL exceeds this (off when None)."""


@dataclasses.dataclass
class RunConfig:
    total_steps: int = 500_000
    """Environment steps to train for (all envs together)."""
    seed: int = 1
    """Seed for torch, numpy, Python and the environments."""
    torso: Literal["auto", "impala", "mlp"] = "auto"
    """Network torso: IMPALA CNN for images, MLP for vectors (auto picks by observation shape)."""
    hidden_sizes: tuple[int, ...] = (256, 256)
    """MLP torso layer widths."""
    normalize_obs: bool | None = None
    """Normalise vector observations with running statistics (part of the network, saved with
    it); when unset, on for continuous control."""
    runs_dir: str = "runs"
    """Folder that holds one sub-folder per run (TensorBoard, metrics.jsonl, checkpoints)."""
    run_name: str | None = None
    """Run folder name; when unset, ENV__ALGO__SEED__TIMESTAMP."""
    checkpoint_every: int = 10
    """Write the checkpoint every N updates (and always at the end and on Ctrl-C)."""
    keep_checkpoints: int = 0
    """Also keep the N latest checkpoints written every --checkpoint-every updates as milestones
    (checkpoints/step-<env step>.pt beside checkpoint.pt; older ones are deleted); 0: only
    checkpoint.pt, overwritten atomically."""
    device: str = "auto"
    """Torch device: auto, cpu, cuda, cuda:N."""
    threads: int | None = None
    """Torch CPU threads; when unset, torch's choice."""
    precision: Literal["fp32", "bf16"] = "fp32"
    """Network math precision: bf16 runs forward passes under bfloat16 autocast (about 2x faster
    IMPALA convolutions on CPUs with AVX-512 BF16 or AMX, and on GPUs); fp32 is exact."""
    max_nonfinite_updates: int = 5
    """Stop after this many consecutive updates with a NaN/inf loss or gradient."""
    exact_resume_max_steps: int = 2_000_000
    """Keep the action log needed to replay envs to their exact state on resume, up to this
    many env steps; longer runs resume with fresh episodes. It costs 1 byte per env step for
    discrete actions and 4 bytes per action dimension for continuous ones (2M steps: 2 MiB
    for CartPole, 32 MiB for a 4-D arm), in memory and in each checkpoint; 0 turns it off."""
    track: bool = False
    """Also log to Weights & Biases (needs `pip install wandb`)."""
    wandb_project: str = "mrft"
    """W&B project name when --track is on."""
    progress: bool = True
    """Show the live progress display."""
    eval_episodes: int = 0
    """After training, evaluate this many episodes on the suite's test tasks and print the mean
    return (and success) with 95% CIs; also written to eval.json in the run folder."""


class TrainConfigBase:
    """What every train config is, whichever algorithms are registered: ``env``, ``algo``,
    ``optim``, one section per algorithm, ``run`` and ``resume``."""

    def sections(self) -> dict[str, Any]:
        """Every option section by name (shared ones and one per algorithm)."""
        return {f.name: getattr(self, f.name) for f in dataclasses.fields(self)
                if dataclasses.is_dataclass(getattr(self, f.name))}


_TRAIN_DOC = "Train a policy on a suite's train tasks ({names})."
_ALGO_DOC = ("Algorithm (a name in mrft.algos.REGISTRY; mrft list describes each): {names}.")
_RESUME_DOC = ("Continue the run saved in this checkpoint (its config is used; other flags are "
               "ignored except --total-steps, which may extend the run).")
_classes: dict[tuple, type] = {}


def train_config_class() -> type:
    """The ``TrainConfig`` dataclass for the algorithms registered now (cached)."""
    from mrft import algos

    key = tuple((name, cls.Config) for name, cls in algos.REGISTRY.items())
    if key not in _classes:
        names = ", ".join(algos.REGISTRY)
        fields: list[tuple] = [
            ("env", EnvConfig, dataclasses.field(default_factory=EnvConfig)),
            ("algo", Annotated[str, tyro.conf.arg(help=_ALGO_DOC.format(names=names))],
             dataclasses.field(default=algos.DEFAULT if algos.DEFAULT in algos.REGISTRY
                              else next(iter(algos.REGISTRY)))),
            ("optim", OptimConfig, dataclasses.field(default_factory=OptimConfig)),
        ]
        fields += [(name, config, dataclasses.field(default_factory=config))
                   for name, config in key if config is not None]
        fields += [("run", RunConfig, dataclasses.field(default_factory=RunConfig)),
                   ("resume", Annotated[str | None, tyro.conf.arg(help=_RESUME_DOC)],
                    dataclasses.field(default=None))]
        cls = dataclasses.make_dataclass("TrainConfig", fields, bases=(TrainConfigBase,))
        cls.__doc__ = _TRAIN_DOC.format(names=names)
        cls.__module__ = __name__
        _classes[key] = cls
    return _classes[key]


def __getattr__(name: str) -> Any:
    """``mrft.config.TrainConfig``: the train config of the registered algorithms."""
    if name == "TrainConfig":
        return train_config_class()
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


PROTOCOL_EPISODE_STEPS = {"official": 500}
"""Episode length of each meta-test protocol's tasks (Meta-World's ``max_path_length``;
:mod:`mrft.metatest`)."""


@dataclasses.dataclass
class AdaptSettings:
    """One adaptation run: a pre-trained checkpoint, a held-out instance, a budget."""

    checkpoint: str
    """Pre-trained checkpoint the run starts from."""
    task: int = 0
    """Held-out instance index K (see :func:`mrft.envs.held_out_instance`)."""
    steps: int = 20_000
    """Adaptation budget A in env steps; the run never exceeds it."""
    eval_every: int = 2_000
    eval_episodes: int = 16
    num_envs: int | None = None
    """Envs per adaptation batch, all on the instance; None: the checkpoint's --num-envs."""
    learning_rate: float | None = None
    """None: the checkpoint's learning rate (MRFT's ``adapt_lr_scale`` multiplies either)."""
    updates: bool = True
    """False: adapt in context only (play the instance, change no weight)."""
    seed: int = 1
    """Seed of the adaptation run; combined with the instance index so each instance's run
    has its own stream."""
    options: dict[str, Any] = dataclasses.field(default_factory=dict)
    """Options of the algorithm's own adaptation that differ from their defaults (fields of
    its :attr:`~mrft.algos.base.Algorithm.AdaptOptions`; ``{"adapt_kl": 0.02}`` for MRFT
    with a KL bound)."""
    protocol: str | None = None
    """The meta-test protocol that scores this run (``official``, :mod:`mrft.metatest`): its
    episodes must be allowed their full length, and the first evaluation also scores the most
    likely action, as the last one does, so that "before" and "after" count the same policy.
    None: the bench's adaptation curve."""


def to_dict(cfg: Any) -> dict[str, Any]:
    """A JSON- and checkpoint-safe dict (tuples become lists)."""
    return json_safe(dataclasses.asdict(cfg))


def json_safe(value: Any) -> Any:
    if isinstance(value, dict):
        return {k: json_safe(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [json_safe(v) for v in value]
    return value


def train_config_from_dict(data: dict[str, Any]) -> TrainConfigBase:
    """A saved config (checkpoint, suite); sections of algorithms not registered here are
    left out, sections missing from ``data`` take their defaults."""
    cls = train_config_class()
    try:
        values: dict[str, Any] = {}
        for field in dataclasses.fields(cls):
            if field.name in ("algo", "resume"):
                values[field.name] = data[field.name] if field.name == "algo" else data.get("resume")
                continue
            section = dict(data[field.name]) if field.name in ("env", "optim", "run") \
                else dict(data.get(field.name, {}))
            if field.name == "run":
                section["hidden_sizes"] = tuple(section["hidden_sizes"])
            values[field.name] = field.default_factory(**section)
        return cls(**values)
    except (KeyError, TypeError) as exc:
        raise MrftError(f"checkpoint config is not a valid mrft train config ({exc})") from None


def _check(cond: bool, message: str) -> None:
    if not cond:
        raise MrftError(message)


def validate(cfg: TrainConfigBase) -> None:
    """Reject numbers that cannot work, with the flag name in the message: the shared
    sections here, each algorithm's own section by its algorithm."""
    from mrft import algos

    run, env, optim = cfg.run, cfg.env, cfg.optim
    for section in cfg.sections().values():
        for field in dataclasses.fields(section):
            value = getattr(section, field.name)
            if isinstance(value, float) and not math.isfinite(value):
                raise MrftError(f"--{field.name.replace('_', '-')} must be a finite number, got {value}")
    _check(run.total_steps > 0, f"--total-steps must be > 0, got {run.total_steps}")
    _check(0 <= run.seed < 2**32, f"--seed must be in [0, 2^32), got {run.seed}")
    _check(env.num_envs is None or env.num_envs > 0, f"--num-envs must be > 0, got {env.num_envs}")
    _check(env.num_levels >= 0, f"--num-levels must be >= 0, got {env.num_levels}")
    _check(env.start_level >= 0, f"--start-level must be >= 0, got {env.start_level}")
    _check(run.checkpoint_every > 0, f"--checkpoint-every must be > 0, got {run.checkpoint_every}")
    _check(run.keep_checkpoints >= 0, f"--keep-checkpoints must be >= 0, got {run.keep_checkpoints}")
    _check(run.max_nonfinite_updates > 0, "--max-nonfinite-updates must be > 0")
    _check(all(h > 0 for h in run.hidden_sizes) and len(run.hidden_sizes) > 0,
           f"--hidden-sizes must be positive widths, got {run.hidden_sizes}")
    _check(run.eval_episodes >= 0, f"--eval-episodes must be >= 0, got {run.eval_episodes}")
    _check(run.threads is None or run.threads > 0, f"--threads must be > 0, got {run.threads}")
    _check(optim.learning_rate is None or optim.learning_rate > 0,
           f"--learning-rate must be > 0, got {optim.learning_rate}")
    _check(optim.max_grad_norm > 0, f"--max-grad-norm must be > 0, got {optim.max_grad_norm}")
    _check(optim.target_kl is None or optim.target_kl > 0, f"--target-kl must be > 0, got {optim.target_kl}")
    _check(env.max_episode_steps > 0, f"--max-episode-steps must be > 0, got {env.max_episode_steps}")
    for name, algo in algos.REGISTRY.items():
        if algo.Config is not None and hasattr(cfg, name):
            algo.validate_options(getattr(cfg, name))
