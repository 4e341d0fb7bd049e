"""Configuration dataclasses: one per concern, parsed by tyro, reused as the library API.

Fields documented with "when unset, the family preset" are ``None`` until
:func:`mrft.presets.resolve_presets` fills them from the preset of the env family; the
resolved values are what the run logs and checkpoints store.

Sections: ``env`` (what is played), ``optim`` (how every algorithm steps its optimiser),
one section per algorithm (``ppo``, ``grpo``, ``mrft``, ``rl2``; an algorithm reads its own section
and the shared ones, never another algorithm's), and ``run`` (seeds, network, logging).
"""

from __future__ import annotations

import dataclasses
import math
from typing import Any, Literal

from mrft.errors import MrftError


@dataclasses.dataclass
class EnvConfig:
    env: str = "gym:CartPole-v1"
    """Task suite as FAMILY:NAME: procgen:GAME (16 games), metaworld:TASK (reach, push, ...),
    metaworld:ML1-TASK (hidden goals), metaworld:ML10|ML45|MT10|MT50 (official Farama task
    sets), gym:ID (any Gymnasium id; gym:package.module:Id-v0 imports the module first),
    nav:point (2-D navigation to a hidden goal), bandit:armsK (K arms, one hidden paying arm),
    shift:NAME (a MuJoCo body with hidden random masses and damping: inverted-pendulum, reacher,
    hopper, half-cheetah, inverted-double-pendulum), market:regimes|switching (trading under a
    hidden return regime), process:changeover (setpoint tracking on a hidden plant), sim2real:NAME (a MuJoCo body
    randomised in training, adapted to on a held-out "real" body with effects the sim lacks)."""
    num_envs: int | None = None
    """Parallel environments; when unset, the family preset: 64 Procgen, 16 Meta-World, 8 Gymnasium."""
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
class PPOConfig:
    """PPO options (CleanRL names; presets per env family)."""

    num_steps: int | None = None
    """Steps per env per rollout; when unset, the family preset: 256 Procgen and continuous, 128 classic."""
    gamma: float | None = None
    """Discount factor; when unset, the family preset: 0.999 Procgen, 0.99 otherwise."""
    gae_lambda: float = 0.95
    """GAE lambda."""
    num_minibatches: int | None = None
    """Minibatches per epoch; when unset, the family preset: 8 Procgen and continuous, 4 classic."""
    update_epochs: int | None = None
    """Passes over each rollout; when unset, the family preset: 3 Procgen, 5 continuous, 4 classic."""
    norm_adv: bool = True
    """Normalise advantages inside each minibatch."""
    clip_coef: float = 0.2
    """Surrogate clipping range epsilon."""
    clip_vloss: bool = True
    """Clip the value update around the old value estimate."""
    ent_coef: float | None = None
    """Entropy bonus coefficient; when unset, the family preset: 0.01 discrete, 0.0 continuous."""
    vf_coef: float = 0.5
    """Value loss coefficient."""
    normalize_reward: bool | None = None
    """Scale rewards by the running std of the discounted return; when unset, the family preset: off
    for classic control, on otherwise."""
    microbatch_size: int | None = None
    """Run each minibatch's forward and backward passes in micro-batches of at most this many
    steps, adding up their gradients: the same update with a fraction of the activation memory
    (Procgen preset: 256 of a 2,048-frame minibatch); unset: the whole minibatch at once."""


@dataclasses.dataclass
class GRPOConfig:
    """GRPO options (names follow Hugging Face TRL's GRPOConfig where one exists; docs/grpo.md in the source repository)."""

    group_size: int = 8
    """Episodes per group, all started identically (TRL: num_generations)."""
    beta: float = 0.0
    """Weight of the k3 KL to the frozen reference policy (TRL: beta)."""
    loss_type: Literal["grpo", "bnpo", "dapo", "dr_grpo"] = "dapo"
    """How per-step losses are averaged (TRL: loss_type)."""
    scale_rewards: Literal["group", "batch", "none"] = "group"
    """Divide group-centred returns by the group std, the batch std, or not at all (TRL: scale_rewards)."""
    num_iterations: int = 1
    """Optimisation passes over each batch (TRL: num_iterations)."""
    epsilon: float = 0.2
    """Lower clip range of the ratio, 1 - epsilon (TRL: epsilon)."""
    epsilon_high: float | None = None
    """Upper clip range; unset means --epsilon (TRL: epsilon_high, DAPO uses 0.28)."""
    advantage: Literal["outcome", "process"] = "outcome"
    """outcome: every step gets its episode's group-normalised return; process: normalised step
    rewards summed from each step to the episode's end."""
    ref_reset_every: int = 0
    """Copy the policy into the reference every K updates (0: never; TRL: ref_model_sync_steps)."""
    episode_minibatches: int = 1
    """Optimiser steps per pass: the batch's episodes are split into this many minibatches."""


@dataclasses.dataclass
class MRFTConfig:
    """MRFT options (docs/mrft.md in the source repository gives each component's equation and why its default)."""

    meta_learner: bool = True
    """Task belief + conditioner; --no-meta-learner leaves the base actor-critic acting alone
    (multi-task PPO over the same trials)."""
    grad_mod: bool = True
    """Combine per-task-class gradients with dynamic gradient modulation when a batch holds
    several task classes (ML10, MT10, ...); with one class there is nothing to modulate."""
    progress_bonus: bool = True
    """Add the progress bonus alpha * (gamma J(z_(t+1)) - J(z_t)) to every step's reward."""
    progress_alpha: float = 1.0
    """Weight alpha of the progress bonus."""
    trial_episodes: int = 2
    """Episodes per trial (K) on one task instance; the belief is kept across them."""
    belief_encoder: Literal["tcn", "set"] = "tcn"
    """tcn: causal temporal conv net plus a running mean over the trial; set: a
    permutation-invariant mean of per-transition features (PEARL-style ablation)."""
    conditioning: Literal["meta-policy", "concat"] = "meta-policy"
    """meta-policy: a Transformer maps the belief to FiLM and low-rank head deltas of the actor
    and critic; concat: the belief joins the observation at the input (ablation)."""
    belief_coef: float = 1.0
    """Weight of the belief loss (predict the rewards of the trial's transitions from z);
    0 leaves the belief untrained."""
    inner_steps: int = 0
    """Gradient inner loop: at the start of each of a trial's later episodes, this many gradient
    steps on an offset of the belief that lower the reward decoder's error on the trial so far
    (CAVIA context parameters); 0: the belief is inferred by the encoder alone."""
    inner_lr: float = 0.1
    """Initial per-dimension step size of the inner loop, learned with the belief (Meta-SGD)."""
    embed_dim: int = 32
    """Belief width."""
    tcn_channels: int = 64
    """Channels of the belief encoder."""
    tcn_levels: int = 4
    """Residual blocks of the TCN encoder (dilations 1, 2, ..., 2^(levels-1))."""
    meta_d_model: int = 64
    """Meta-policy Transformer width."""
    meta_layers: int = 2
    """Meta-policy Transformer layers."""
    head_rank: int = 4
    """Rank of the adapted action-head delta (0: FiLM only)."""
    meta_gamma: float = 0.99
    """Discount, applied across the episode boundaries inside a trial."""
    meta_gae_lambda: float = 0.95
    """GAE lambda over each trial."""
    meta_clip: float = 0.2
    """Clip range of the surrogate."""
    meta_iterations: int | None = None
    """Passes over each batch; when unset, the family preset (as PPO's epochs)."""
    meta_minibatch_size: int | None = None
    """Env steps per minibatch; when unset, the family preset (as PPO's), so MRFT takes as
    many optimiser steps per env step as PPO."""
    meta_ent_coef: float | None = None
    """Entropy bonus; when unset, the family preset: 0.01 for discrete actions, 0 for continuous."""
    meta_vf_coef: float = 0.5
    """Weight of the critic loss."""
    adapt_kl: float | None = 0.02
    """Adaptation: stop an update's passes once the approximate KL to the policy before it
    exceeds this (the constrained policy search after in-context adaptation); None: no
    bound, the clipped surrogate alone limits each update (as in PPO's adaptation)."""
    grad_mod_mode: Literal["project", "downweight"] = "project"
    """What happens to a task gradient that conflicts with the meta-gradient."""
    meta_grad_ema: float = 0.9
    """EMA factor of the meta-gradient that task gradients are compared with."""
    grad_noise_eta: float = 1e-8
    """Annealed gradient noise: per-coordinate variance eta / (1 + t)^gamma (0: off)."""
    grad_noise_gamma: float = 0.55
    """Annealing exponent gamma of the gradient noise."""


@dataclasses.dataclass
class RL2Config:
    """RL2 options (Duan et al. 2016; docs/rl2.md in the source repository): a GRU actor-critic
    whose memory runs across the episodes of a trial, trained with PPO over whole trials."""

    rl2_trial_episodes: int = 2
    """Episodes per trial (K) on one task instance; the GRU state is kept across them."""
    rl2_hidden_size: int = 256
    """Width of the GRU state (the agent's memory of the trial)."""
    rl2_gamma: float = 0.99
    """Discount factor, applied across the episode boundaries inside a trial."""
    rl2_gae_lambda: float = 0.95
    """GAE lambda over each trial's whole sequence."""
    rl2_update_epochs: int = 4
    """Passes over each batch of trials."""
    rl2_num_minibatches: int = 4
    """Minibatches per pass; each holds whole trials (the GRU is recomputed over them)."""
    rl2_clip_coef: float = 0.2
    """Clip range of the surrogate and of the value update."""
    rl2_ent_coef: float | None = None
    """Entropy bonus coefficient; when unset, the family preset: 0.01 discrete, 0.005 continuous."""
    rl2_vf_coef: float = 0.5
    """Value loss coefficient."""
    rl2_norm_adv: bool = True
    """Normalise advantages inside each minibatch."""
    rl2_normalize_reward: bool = True
    """Scale rewards by the running std of the discounted return over trials (for the
    advantages only; the GRU sees every raw reward on a symlog scale)."""


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


@dataclasses.dataclass
class TrainConfig:
    """Train a policy on a suite's train tasks (PPO, GRPO, MRFT or RL2 meta-training)."""

    env: EnvConfig = dataclasses.field(default_factory=EnvConfig)
    algo: str = "ppo"
    """Algorithm (a name in mrft.algos.REGISTRY): ppo (actor-critic, GAE), grpo (critic-free,
    group-relative advantages), mrft (meta-training over trials; see docs/mrft.md in the source
    repository) or rl2 (a GRU actor-critic whose memory runs across a trial's episodes; see docs/rl2.md)."""
    optim: OptimConfig = dataclasses.field(default_factory=OptimConfig)
    ppo: PPOConfig = dataclasses.field(default_factory=PPOConfig)
    grpo: GRPOConfig = dataclasses.field(default_factory=GRPOConfig)
    mrft: MRFTConfig = dataclasses.field(default_factory=MRFTConfig)
    rl2: RL2Config = dataclasses.field(default_factory=RL2Config)
    run: RunConfig = dataclasses.field(default_factory=RunConfig)
    resume: str | None = None
    """Continue the run saved in this checkpoint (its config is used; other flags are ignored
    except --total-steps, which may extend the run)."""


@dataclasses.dataclass
class AdaptSettings:
    """One adaptation run: a pre-trained checkpoint, a held-out instance, a budget."""

    checkpoint: str
    """Pre-trained checkpoint the run starts from."""
    task: int = 0
    """Held-out instance index K (see :func:`mrft.adapt.held_out_instance`)."""
    steps: int = 20_000
    """Adaptation budget A in env steps; the run never exceeds it."""
    eval_every: int = 2_000
    eval_episodes: int = 16
    num_envs: int | None = None
    """Envs per adaptation batch, all on the instance; None: the checkpoint's --num-envs."""
    learning_rate: float | None = None
    """None: the checkpoint's learning rate."""
    updates: bool = True
    """False: adapt in context only (play the instance, change no weight)."""
    kl_bound: bool = True
    """MRFT: False lifts the adaptation's KL bound (``--adapt-kl``), so only the clipped
    surrogate limits each update, as in PPO's adaptation: an ablation of the bound."""
    seed: int = 1
    """Seed of the adaptation run; combined with the instance index so each instance's run
    has its own stream."""


def to_dict(cfg: Any) -> dict[str, Any]:
    """A JSON- and checkpoint-safe dict (tuples become lists)."""
    return json_safe(dataclasses.asdict(cfg))


def json_safe(value: Any) -> Any:
    if isinstance(value, dict):
        return {k: json_safe(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [json_safe(v) for v in value]
    return value


def train_config_from_dict(data: dict[str, Any]) -> TrainConfig:
    try:
        run = dict(data["run"])
        run["hidden_sizes"] = tuple(run["hidden_sizes"])
        return TrainConfig(
            env=EnvConfig(**data["env"]),
            algo=data["algo"],
            optim=OptimConfig(**data["optim"]),
            ppo=PPOConfig(**data["ppo"]),
            grpo=GRPOConfig(**data.get("grpo", {})),
            mrft=_mrft_from_dict(data.get("mrft", {})),
            rl2=RL2Config(**data.get("rl2", {})),
            run=RunConfig(**run),
            resume=data.get("resume"),
        )
    except (KeyError, TypeError) as exc:
        raise MrftError(f"checkpoint config is not a valid mrft train config ({exc})") from None


def _mrft_from_dict(data: dict[str, Any]) -> MRFTConfig:
    return MRFTConfig(**data)


def _check(cond: bool, message: str) -> None:
    if not cond:
        raise MrftError(message)


def validate(cfg: TrainConfig) -> None:
    """Reject numbers that cannot work, with the flag name in the message."""
    run, env, ppo, optim = cfg.run, cfg.env, cfg.ppo, cfg.optim
    for section in (optim, ppo, cfg.grpo, cfg.mrft, cfg.rl2):
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
    _check(ppo.num_steps is None or ppo.num_steps > 0, f"--num-steps must be > 0, got {ppo.num_steps}")
    _check(ppo.gamma is None or 0.0 < ppo.gamma <= 1.0, f"--gamma must be in (0, 1], got {ppo.gamma}")
    _check(0.0 <= ppo.gae_lambda <= 1.0, f"--gae-lambda must be in [0, 1], got {ppo.gae_lambda}")
    _check(ppo.num_minibatches is None or ppo.num_minibatches > 0,
           f"--num-minibatches must be > 0, got {ppo.num_minibatches}")
    _check(ppo.update_epochs is None or ppo.update_epochs > 0,
           f"--update-epochs must be > 0, got {ppo.update_epochs}")
    _check(ppo.clip_coef > 0, f"--clip-coef must be > 0, got {ppo.clip_coef}")
    _check(ppo.ent_coef is None or ppo.ent_coef >= 0, f"--ent-coef must be >= 0, got {ppo.ent_coef}")
    _check(ppo.vf_coef >= 0, f"--vf-coef must be >= 0, got {ppo.vf_coef}")
    grpo = cfg.grpo
    _check(grpo.group_size >= 2, f"--group-size must be >= 2, got {grpo.group_size}")
    _check(grpo.beta >= 0 and math.isfinite(grpo.beta), f"--beta must be >= 0, got {grpo.beta}")
    _check(grpo.num_iterations > 0, f"--num-iterations must be > 0, got {grpo.num_iterations}")
    _check(grpo.epsilon_high is None or (grpo.epsilon_high > 0 and math.isfinite(grpo.epsilon_high)),
           f"--epsilon-high must be > 0, got {grpo.epsilon_high}")
    _check(grpo.ref_reset_every >= 0, f"--ref-reset-every must be >= 0, got {grpo.ref_reset_every}")
    _check(grpo.episode_minibatches > 0, f"--episode-minibatches must be > 0, got {grpo.episode_minibatches}")
    _check(grpo.epsilon > 0, f"--epsilon must be > 0, got {grpo.epsilon}")
    m = cfg.mrft
    _check(m.trial_episodes >= 1, f"--trial-episodes must be >= 1, got {m.trial_episodes}")
    _check(m.meta_clip > 0, f"--meta-clip must be > 0, got {m.meta_clip}")
    _check(m.meta_iterations is None or m.meta_iterations > 0,
           f"--meta-iterations must be > 0, got {m.meta_iterations}")
    _check(m.meta_minibatch_size is None or m.meta_minibatch_size > 0,
           f"--meta-minibatch-size must be > 0, got {m.meta_minibatch_size}")
    _check(m.meta_ent_coef is None or m.meta_ent_coef >= 0,
           f"--meta-ent-coef must be >= 0, got {m.meta_ent_coef}")
    _check(0 < m.meta_gamma <= 1, f"--meta-gamma must be in (0, 1], got {m.meta_gamma}")
    _check(0 <= m.meta_gae_lambda <= 1, f"--meta-gae-lambda must be in [0, 1], got {m.meta_gae_lambda}")
    _check(m.meta_vf_coef >= 0, f"--meta-vf-coef must be >= 0, got {m.meta_vf_coef}")
    _check(m.belief_coef >= 0, f"--belief-coef must be >= 0, got {m.belief_coef}")
    _check(m.inner_steps >= 0, f"--inner-steps must be >= 0, got {m.inner_steps}")
    _check(m.inner_lr > 0, f"--inner-lr must be > 0, got {m.inner_lr}")
    _check(m.adapt_kl is None or m.adapt_kl > 0, f"--adapt-kl must be > 0 or None, got {m.adapt_kl}")
    for name in ("embed_dim", "tcn_channels", "tcn_levels", "meta_d_model", "meta_layers"):
        _check(getattr(m, name) >= 1, f"--{name.replace('_', '-')} must be >= 1, got {getattr(m, name)}")
    _check(m.meta_d_model % 4 == 0, f"--meta-d-model must be a multiple of 4 (attention heads), got {m.meta_d_model}")
    _check(m.head_rank >= 0, f"--head-rank must be >= 0, got {m.head_rank}")
    _check(m.progress_alpha >= 0 and math.isfinite(m.progress_alpha),
           f"--progress-alpha must be >= 0, got {m.progress_alpha}")
    _check(0 <= m.meta_grad_ema < 1, f"--meta-grad-ema must be in [0, 1), got {m.meta_grad_ema}")
    _check(m.grad_noise_eta >= 0 and math.isfinite(m.grad_noise_eta),
           f"--grad-noise-eta must be >= 0, got {m.grad_noise_eta}")
    _check(m.grad_noise_gamma >= 0, f"--grad-noise-gamma must be >= 0, got {m.grad_noise_gamma}")
    r = cfg.rl2
    _check(r.rl2_trial_episodes >= 1, f"--rl2-trial-episodes must be >= 1, got {r.rl2_trial_episodes}")
    _check(r.rl2_hidden_size >= 1, f"--rl2-hidden-size must be >= 1, got {r.rl2_hidden_size}")
    _check(0 < r.rl2_gamma <= 1, f"--rl2-gamma must be in (0, 1], got {r.rl2_gamma}")
    _check(0 <= r.rl2_gae_lambda <= 1, f"--rl2-gae-lambda must be in [0, 1], got {r.rl2_gae_lambda}")
    _check(r.rl2_update_epochs >= 1, f"--rl2-update-epochs must be >= 1, got {r.rl2_update_epochs}")
    _check(r.rl2_num_minibatches >= 1, f"--rl2-num-minibatches must be >= 1, got {r.rl2_num_minibatches}")
    _check(r.rl2_clip_coef > 0, f"--rl2-clip-coef must be > 0, got {r.rl2_clip_coef}")
    _check(r.rl2_ent_coef is None or r.rl2_ent_coef >= 0, f"--rl2-ent-coef must be >= 0, got {r.rl2_ent_coef}")
    _check(r.rl2_vf_coef >= 0, f"--rl2-vf-coef must be >= 0, got {r.rl2_vf_coef}")
