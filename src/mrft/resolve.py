"""From what a user asked for to what a run does: a train config checked, its suite parsed,
its family's presets filled in and its algorithm's derived values set; and the config of an
adaptation run, built the same way for every method from its pre-training's config."""

from __future__ import annotations

import dataclasses
from typing import Any

from mrft import algos, envs
from mrft.checkpoint import load_checkpoint
from mrft.config import (
    PROTOCOL_EPISODE_STEPS,
    AdaptSettings,
    RunConfig,
    TrainConfigBase,
    train_config_from_dict,
    validate,
)
from mrft.errors import MrftError
from mrft.presets import resolve_presets

RESUME_KEYS = ("config", "model", "optimizer", "counters", "rng", "generator", "collector")
"""What a checkpoint must hold to be resumed."""


def resolve_config(cfg: TrainConfigBase, adapting: bool = False) -> tuple[TrainConfigBase, envs.Suite]:
    """Validate, parse the suite, fill family presets into every ``None`` field, and let the
    algorithm derive what it needs for pre-training (``env.num_envs``); an adaptation run
    plays the envs it was given."""
    validate(cfg)
    algo = algos.get(cfg.algo)
    e = cfg.env
    suite = envs.parse_env(e.env, distribution_mode=e.distribution_mode, num_levels=e.num_levels,
                           start_level=e.start_level, hidden_goal=e.hidden_goal, oracle=e.oracle)
    task = suite.train[0]
    family = envs.family_of(task)
    resolved = resolve_presets(cfg, family.preset_kind(task, envs.action_is_continuous(task)))
    if not adapting:
        resolved = algo.resolve(resolved, len(suite.train), family.default_num_envs)
    validate(resolved)
    return resolved, suite


def starting_point(cfg, resume_from, adaptation):
    """``(cfg, adaptation, checkpoint state, pre-trained state, curve so far)`` of a run that
    starts afresh, adapts a pre-trained checkpoint, or resumes either."""
    if resume_from is not None:
        state = load_checkpoint(resume_from, required=RESUME_KEYS)
        saved = train_config_from_dict(state["config"])
        if cfg is not None and cfg.run.total_steps != RunConfig().total_steps:
            saved.run.total_steps = cfg.run.total_steps  # the one flag a resume may change
        if "adaptation" in state:
            try:
                settings = adapt_settings_from(state["adaptation"]["settings"])
            except TypeError as exc:  # a setting this version does not know
                raise MrftError(f"checkpoint {resume_from}: {exc}; was it written by a newer "
                                "mrft?") from None
            return saved, settings, state, None, list(state["adaptation"]["curve"])
        return saved, adaptation, state, None, []
    if adaptation is not None:
        check_adapt_settings(adaptation)
        pretrained = load_checkpoint(adaptation.checkpoint, required=("config", "model"))
        cfg = adaptation_config(train_config_from_dict(pretrained["config"]), adaptation)
        return cfg, adaptation, None, pretrained, []
    if cfg is None:
        raise ValueError("Trainer needs a config, a checkpoint to resume or adaptation settings")
    return cfg, None, None, None, []


def adaptation_seed(seed: int, instance: int) -> int:
    """The seed of one instance's adaptation run: distinct per (seed, instance)."""
    return (seed * 1_000_003 + instance) % 2**32


def option_flag(name: str, value: Any) -> str:
    """How a user writes an adaptation option on the command line."""
    flag = name.replace("_", "-")
    if isinstance(value, bool):
        return f"--{flag}" if value else f"--no-{flag}"
    return f"--{flag} {value}"


def adapt_options(algo: type[algos.Algorithm], values: dict[str, Any]) -> Any:
    """``algo``'s :attr:`~mrft.algos.base.Algorithm.AdaptOptions` with ``values`` set; an
    option ``algo`` does not have is one error line naming whose option it is."""
    known = {f.name for f in dataclasses.fields(algo.AdaptOptions)} if algo.AdaptOptions else set()
    for name, value in values.items():
        if name not in known:
            owners = [n for n, a in algos.REGISTRY.items() if a.AdaptOptions is not None
                      and name in {f.name for f in dataclasses.fields(a.AdaptOptions)}]
            whose = " and ".join(owners) or "no algorithm"
            raise MrftError(f"{option_flag(name, value)} is an option of {whose}'s adaptation; "
                            f"this checkpoint is {algo.name}'s")
    return algo.AdaptOptions(**values) if algo.AdaptOptions is not None else None


def adaptation_config(pretrained: TrainConfigBase, settings: AdaptSettings) -> TrainConfigBase:
    """The config of an adaptation run: the pre-trained run's, with the adaptation's budget,
    seed, envs and overrides, and the algorithm's own adaptation options applied. Every
    method's adaptation is built the same way."""
    check_adapt_settings(settings)
    algo = algos.get(pretrained.algo)
    envs = settings.num_envs or pretrained.env.num_envs
    if algo.adapts_in_groups and envs < 2:
        raise MrftError(f"--num-envs must be >= 2 for {algo.name}, whose adaptation learns from a "
                        f"group of episodes, got {envs}")
    options = adapt_options(algo, settings.options)
    cfg = algo.adaptation_config(pretrained, options) if options is not None else pretrained
    optim = cfg.optim
    if settings.learning_rate is not None:
        optim = dataclasses.replace(optim, learning_rate=settings.learning_rate)
    run = dataclasses.replace(cfg.run, total_steps=settings.steps,
                              seed=adaptation_seed(settings.seed, settings.task), progress=False,
                              eval_episodes=0)
    env = dataclasses.replace(cfg.env, num_envs=settings.num_envs or cfg.env.num_envs)
    if settings.protocol is not None:
        length = PROTOCOL_EPISODE_STEPS[settings.protocol]
        if env.max_episode_steps < length:
            raise MrftError(f"the {settings.protocol} meta-test protocol plays episodes of {length} "
                            f"steps; this checkpoint cuts them at {env.max_episode_steps} "
                            "(--max-episode-steps)")
        episodes, per_trial = settings.steps // length, algo.adaptation_episodes_per_trial(cfg)
        if episodes % per_trial:
            # the last, partial trial would never be played: fewer episodes than the protocol's
            raise MrftError(f"{algo.name} adapts in trials of {per_trial} episodes, which do not "
                            f"divide the protocol's {episodes} adaptation episodes; choose "
                            f"--adaptation-episodes as a multiple of {per_trial}")
    return dataclasses.replace(cfg, env=env, optim=optim, run=run, resume=None)


def check_adapt_settings(settings: AdaptSettings) -> None:
    """Reject impossible adaptation settings before anything is loaded."""
    if settings.steps <= 0 or settings.eval_every <= 0 or settings.eval_episodes <= 0:
        raise MrftError("--steps, --eval-every and --eval-episodes must be > 0")
    if settings.task < 0:
        raise MrftError(f"--task must be >= 0, got {settings.task}")
    if settings.seed < 0:
        raise MrftError(f"--seed must be >= 0, got {settings.seed}")
    if settings.num_envs is not None and settings.num_envs < 1:
        raise MrftError(f"--num-envs must be >= 1, got {settings.num_envs}")
    if settings.learning_rate is not None and not settings.learning_rate > 0:
        raise MrftError(f"--learning-rate must be > 0, got {settings.learning_rate}")
    if settings.protocol is not None and settings.protocol not in PROTOCOL_EPISODE_STEPS:
        raise MrftError(f"unknown meta-test protocol {settings.protocol!r}; choose "
                        f"{', '.join(PROTOCOL_EPISODE_STEPS)}")


def adapt_settings_from(data: dict[str, Any]) -> AdaptSettings:
    """Adaptation settings saved in a checkpoint; a setting added since takes its default, and
    an algorithm's adaptation option saved beside the settings (as older versions did) moves
    into ``options`` (kept only where it differs from its default). Anything else unknown is
    a ``TypeError``."""
    own = {f.name for f in dataclasses.fields(AdaptSettings)}
    options = dict(data.get("options", {}))
    for name, value in data.items():
        if name in own:
            continue
        default = _option_default(name)
        if default is _UNKNOWN:
            raise TypeError(f"unknown adaptation setting {name!r}")
        if value != default:
            options[name] = value
    return AdaptSettings(**{k: v for k, v in data.items() if k in own and k != "options"},
                         options=options)


_UNKNOWN = object()


def _option_default(name: str) -> Any:
    for algo in algos.REGISTRY.values():
        if algo.AdaptOptions is not None:
            for field in dataclasses.fields(algo.AdaptOptions):
                if field.name == name:
                    return field.default
    return _UNKNOWN
