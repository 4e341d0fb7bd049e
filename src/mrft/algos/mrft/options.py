"""MRFT's options: its section of the train config, its presets, its checks, the options of
its adaptation and its bench ablations (docs/mrft.md in the source repository gives each
component's equation and why its default)."""

from __future__ import annotations

import dataclasses
import math
from typing import Literal

from mrft.algos.base import Variant, check

ADAPT_KL = 0.2
"""The KL bound of MRFT's adaptation where neither the checkpoint (``mrft train --adapt-kl``)
nor ``mrft adapt --adapt-kl`` sets one. Chosen by the `cpu` suite's adaptation ablation over
no bound, 0.02, the meta-policy frozen, a tenth of the learning rate and normalised
advantages (docs/mrft.md, "What the KL bound costs"): without a bound, fresh Adam's first
steps through the meta-policy's read-outs collapsed nav adaptations (approx. KL in the
hundreds). At 0.2 most of nav's updates still end early, after fewer optimiser steps than
PPO's, but none runs away."""


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
    belief_encoder: Literal["tcn", "gru", "set"] = "tcn"
    """tcn: causal temporal conv net plus a running mean over the trial; gru: a recurrent cell
    (VariBAD's encoder) plus the same mean; set: a permutation-invariant mean of
    per-transition features (PEARL-style ablation)."""
    conditioning: Literal["meta-policy", "hyper", "concat"] = "meta-policy"
    """meta-policy: a Transformer maps the belief to FiLM and low-rank head deltas of the actor
    and critic; hyper: one small MLP (a hypernetwork) maps it to the same parameters; concat:
    the belief joins the observation at the input of the actor and the critic."""
    belief_coef: float = 1.0
    """Weight of the belief loss (predict the rewards of the trial's transitions from z);
    0 leaves the belief untrained by it."""
    belief_passes: int | None = None
    """How many of an update's passes also train the belief on its loss (the first ones);
    None: every pass. The belief's loss is a regression on the batch that the policy's
    passes do not change, so later passes over the same rows add little to it and cost an
    encoding of every row."""
    belief_gradient: Literal["decoder", "policy", "both"] = "decoder"
    """What trains the belief encoder: the belief loss alone (the policy reads a detached
    belief, VariBAD), the policy gradient alone (RL2, AMAGO; no belief loss), or both."""
    belief_policy_scale: float = 1.0
    """With --belief-gradient policy or both: the factor on the policy gradient that reaches
    the belief (the forward pass is unchanged), so that the noisier policy gradient can shape
    the belief without drowning its decoder's loss."""
    decode: Literal["rewards", "rewards+obs"] = "rewards"
    """What the belief loss predicts of the trial's transitions: their rewards, or their
    rewards and next observations (VariBAD's full decoder)."""
    inner_steps: int = 0
    """Gradient inner loop: at the start of each of a trial's later episodes, this many gradient
    steps on an offset of the belief that lower the reward decoder's error on the trial so far
    (CAVIA context parameters); 0: the belief is inferred by the encoder alone."""
    inner_lr: float = 0.1
    """Initial per-dimension step size of the inner loop, learned with the belief (Meta-SGD)."""
    embed_dim: int = 32
    """Belief width."""
    tcn_channels: int = 64
    """Channels of the belief encoder (the GRU's hidden width)."""
    tcn_levels: int = 4
    """Residual blocks of the TCN encoder (dilations 1, 2, ..., 2^(levels-1))."""
    meta_d_model: int = 64
    """Meta-policy Transformer width."""
    meta_layers: int = 2
    """Meta-policy Transformer layers."""
    head_rank: int = 4
    """Rank of the adapted action-head delta (0: none; the action bias and log-std shift stay)."""
    meta_gamma: float = 0.99
    """Discount, applied across the episode boundaries inside a trial."""
    meta_gae_lambda: float = 0.95
    """GAE lambda over each trial."""
    meta_clip: float = 0.2
    """Clip range of the surrogate."""
    meta_num_steps: int | None = None
    """Steps per env per update (a chunk of the envs' trials, which go on in the next one);
    when unset, the family preset (PPO's --num-steps), so MRFT updates as often as PPO.
    Adapting, a chunk also ends where an episode ends."""
    meta_iterations: int | None = None
    """Passes over each batch; when unset, the family preset (PPO's --update-epochs)."""
    meta_minibatches: int | None = None
    """Minibatches per pass; when unset, the family preset (PPO's --num-minibatches), so MRFT
    takes as many optimiser steps per env step as PPO."""
    meta_minibatch_size: int | None = None
    """Env steps per minibatch instead of --meta-minibatches (unset: by count)."""
    meta_ent_coef: float | None = None
    """Entropy bonus; when unset, the family preset: 0.01 for discrete actions, 0 for continuous."""
    meta_vf_coef: float = 0.5
    """Weight of the critic loss."""
    adapt_kl: float | None = None
    """Adaptation: a KL bound, checked on the whole batch before every optimiser step and
    after every pass; once the KL to the policy before the update exceeds it, the parameters
    go back to the last ones within it and the update ends. None (the default): the bound
    of mrft adapt, 0.2 (ADAPT_KL) unless it is given another or none (--no-kl-bound).
    Checkpoints trained while 0.02 was the default hold 0.02 and adapt with it; those trained
    while adaptation had no bound by default hold None and adapt at 0.2."""
    adapt_meta_policy: bool = True
    """Adaptation: whether its updates fine-tune the belief agent (the meta-policy that turns
    the belief into FiLM and head deltas) with the base actor-critic; False: the base
    actor-critic alone, under the deltas the belief sets, as PPO fine-tunes its network."""
    adapt_lr_scale: float = 1.0
    """Adaptation: a factor on the learning rate of the adaptation's updates, every parameter
    they tune at a smaller step without bounding how many steps an update takes (the
    distillation of the adapted policy keeps the run's rate)."""
    adapt_norm_adv: bool = False
    """Adaptation: normalise the advantages per minibatch, as pre-training and PPO do; by
    default they are not (a policy already right in context earns advantages near zero,
    which normalising turns into unit-sized steps: docs/mrft.md, "Adaptation")."""
    grad_mod_mode: Literal["project", "downweight"] = "project"
    """What happens to a task gradient that conflicts with the meta-gradient."""
    meta_grad_ema: float = 0.9
    """EMA factor of the meta-gradient that task gradients are compared with."""
    grad_noise_eta: float = 1e-8
    """Annealed gradient noise: per-coordinate variance eta / (1 + t)^gamma (0: off)."""
    grad_noise_gamma: float = 0.55
    """Annealing exponent gamma of the gradient noise."""


@dataclasses.dataclass
class MRFTAdaptOptions:
    """Options of MRFT's adaptation (``mrft adapt``)."""

    kl_bound: bool = True
    """MRFT only. --no-kl-bound: no KL bound on the adaptation's updates, neither the default
    of 0.2 (ADAPT_KL) nor one the checkpoint set (mrft train --adapt-kl): the clipped
    surrogate alone limits them, as in PPO's adaptation."""
    adapt_kl: float | None = None
    """MRFT only. A KL bound on this adaptation's updates in place of the checkpoint's
    (--adapt-kl of mrft train) or the default of 0.2 (ADAPT_KL)."""
    meta_policy_updates: bool = True
    """MRFT only. --no-meta-policy-updates: the adaptation's updates fine-tune the base
    actor-critic alone and leave the meta-policy as pre-trained (--no-adapt-meta-policy of
    mrft train stores the same)."""
    adapt_lr_scale: float | None = None
    """MRFT only. A factor on this adaptation's learning rate (the pre-trained run's, or
    --learning-rate) in place of the checkpoint's (--adapt-lr-scale of mrft train; 1 by
    default): a smaller step for every parameter the updates tune, the meta-policy's
    read-outs among them, without bounding how many steps an update takes."""
    normalise_advantages: bool = False
    """MRFT only. --normalise-advantages: this adaptation normalises its advantages per
    minibatch, as PPO's does (so does any adaptation of a checkpoint trained with
    --adapt-norm-adv); by default they are not."""
    distill_steps: int = 0
    """MRFT only. At the adaptation's final evaluation point, also distil the adapted policy
    into a context-free network (progressive distillation: feature alignment, KL
    distillation, constrained policy search) with this many env steps of its own, which
    --steps does not count, and score it as distilled/return; 0: no distillation."""


PRESETS = {  # PPO's rollout length, passes and minibatches per family kind (algos/ppo.py)
    "images": {"meta_ent_coef": 0.01, "meta_num_steps": 256, "meta_iterations": 3, "meta_minibatches": 8},
    "continuous": {"meta_ent_coef": 0.0, "meta_num_steps": 256, "meta_iterations": 5, "meta_minibatches": 8},
    "mujoco": {"meta_num_steps": 128, "meta_iterations": 10, "meta_minibatches": 32},
    "classic": {"meta_ent_coef": 0.01, "meta_num_steps": 128, "meta_iterations": 4, "meta_minibatches": 4},
}

VARIANTS = (
    Variant("mrft-no-meta-learner", (("meta_learner", False),)),
    Variant("mrft-no-belief-loss", (("belief_coef", 0.0),)),
    Variant("mrft-no-progress-bonus", (("progress_bonus", False),)),
    Variant("mrft-hyper", (("conditioning", "hyper"),)),
    Variant("mrft-concat", (("conditioning", "concat"),)),
    Variant("mrft-set-encoder", (("belief_encoder", "set"),)),
    Variant("mrft-gru-encoder", (("belief_encoder", "gru"),)),
    Variant("mrft-belief-first-pass", (("belief_passes", 1),)),
    # the two faster designs, each as a whole: the same update, a cheaper belief and conditioner
    Variant("mrft-hyper-gru-first-pass",
            (("conditioning", "hyper"), ("belief_encoder", "gru"), ("belief_passes", 1))),
    Variant("mrft-concat-gru-first-pass",
            (("conditioning", "concat"), ("belief_encoder", "gru"), ("belief_passes", 1))),
    Variant("mrft-one-episode-trials", (("trial_episodes", 1),)),
    Variant("mrft-no-grad-mod", (("grad_mod", False),)),
    Variant("mrft-inner-loop", (("inner_steps", 1),)),
    Variant("mrft-policy-gradient-belief", (("belief_gradient", "policy"),)),
    Variant("mrft-both-gradients-belief", (("belief_gradient", "both"),)),
    Variant("mrft-both-gradients-scaled-belief",
            (("belief_gradient", "both"), ("belief_policy_scale", 0.1))),
    Variant("mrft-decode-obs", (("decode", "rewards+obs"),)),
    Variant("mrft-in-context", adapt_updates=False, pretrain_as="mrft",
            adapts_by="mrft-in-context in context only (its belief, no weight changes)"),
    # the KL bound of adaptation, chosen on the development set: none (the default before the
    # `cpu` suite's adaptation ablation), 0.02 (the default before that), 0.2 (the default the
    # ablation chose, named as in its runs)
    Variant("mrft-no-kl-bound", adapt_options=(("kl_bound", False),), pretrain_as="mrft",
            adapts_by="mrft-no-kl-bound in context and with its own updates, without a KL bound"),
    Variant("mrft-kl-bound", adapt_options=(("adapt_kl", 0.02),), pretrain_as="mrft",
            adapts_by="mrft-kl-bound in context and with its own updates, KL bound 0.02"),
    Variant("mrft-loose-kl-bound", adapt_options=(("adapt_kl", 0.2),), pretrain_as="mrft",
            adapts_by="mrft-loose-kl-bound in context and with its own updates, KL bound 0.2"),
    Variant("mrft-frozen-meta-policy", adapt_options=(("meta_policy_updates", False),),
            pretrain_as="mrft", adapts_by="mrft-frozen-meta-policy in context and by updates of "
            "the base actor-critic alone, the meta-policy as pre-trained"),
    Variant("mrft-tenth-adapt-lr", adapt_options=(("adapt_lr_scale", 0.1),), pretrain_as="mrft",
            adapts_by="mrft-tenth-adapt-lr in context and with its own updates at a tenth of the "
            "learning rate"),
    Variant("mrft-normalised-adapt-advantages", adapt_options=(("normalise_advantages", True),),
            pretrain_as="mrft", adapts_by="mrft-normalised-adapt-advantages in context and with "
            "its own updates, advantages normalised per minibatch as PPO's"),
)


def validate(m: MRFTConfig) -> None:
    """Reject MRFT options that cannot work, with the flag name in the message."""
    check(m.trial_episodes >= 1, f"--trial-episodes must be >= 1, got {m.trial_episodes}")
    check(m.meta_clip > 0, f"--meta-clip must be > 0, got {m.meta_clip}")
    check(m.meta_iterations is None or m.meta_iterations > 0,
          f"--meta-iterations must be > 0, got {m.meta_iterations}")
    check(m.meta_num_steps is None or m.meta_num_steps > 0,
          f"--meta-num-steps must be > 0, got {m.meta_num_steps}")
    check(m.meta_minibatches is None or m.meta_minibatches > 0,
          f"--meta-minibatches must be > 0, got {m.meta_minibatches}")
    check(m.belief_passes is None or m.belief_passes >= 1,
          f"--belief-passes must be >= 1, got {m.belief_passes}")
    check(m.meta_minibatch_size is None or m.meta_minibatch_size > 0,
          f"--meta-minibatch-size must be > 0, got {m.meta_minibatch_size}")
    check(m.meta_ent_coef is None or m.meta_ent_coef >= 0,
          f"--meta-ent-coef must be >= 0, got {m.meta_ent_coef}")
    check(0 < m.meta_gamma <= 1, f"--meta-gamma must be in (0, 1], got {m.meta_gamma}")
    check(0 <= m.meta_gae_lambda <= 1, f"--meta-gae-lambda must be in [0, 1], got {m.meta_gae_lambda}")
    check(m.meta_vf_coef >= 0, f"--meta-vf-coef must be >= 0, got {m.meta_vf_coef}")
    check(m.belief_coef >= 0, f"--belief-coef must be >= 0, got {m.belief_coef}")
    check(m.belief_policy_scale >= 0 and math.isfinite(m.belief_policy_scale),
          f"--belief-policy-scale must be >= 0, got {m.belief_policy_scale}")
    check(m.inner_steps >= 0, f"--inner-steps must be >= 0, got {m.inner_steps}")
    check(m.inner_lr > 0, f"--inner-lr must be > 0, got {m.inner_lr}")
    check(m.adapt_kl is None or (m.adapt_kl > 0 and math.isfinite(m.adapt_kl)),
          f"--adapt-kl must be > 0 or None, got {m.adapt_kl}")
    check(m.adapt_lr_scale > 0 and math.isfinite(m.adapt_lr_scale),
          f"--adapt-lr-scale must be > 0, got {m.adapt_lr_scale}")
    for name in ("embed_dim", "tcn_channels", "tcn_levels", "meta_d_model", "meta_layers"):
        check(getattr(m, name) >= 1, f"--{name.replace('_', '-')} must be >= 1, got {getattr(m, name)}")
    check(m.meta_d_model % 4 == 0,
          f"--meta-d-model must be a multiple of 4 (attention heads), got {m.meta_d_model}")
    check(m.head_rank >= 0, f"--head-rank must be >= 0, got {m.head_rank}")
    check(m.progress_alpha >= 0 and math.isfinite(m.progress_alpha),
          f"--progress-alpha must be >= 0, got {m.progress_alpha}")
    check(0 <= m.meta_grad_ema < 1, f"--meta-grad-ema must be in [0, 1), got {m.meta_grad_ema}")
    check(m.grad_noise_eta >= 0 and math.isfinite(m.grad_noise_eta),
          f"--grad-noise-eta must be >= 0, got {m.grad_noise_eta}")
    check(m.grad_noise_gamma >= 0, f"--grad-noise-gamma must be >= 0, got {m.grad_noise_gamma}")


def adapted_options(m: MRFTConfig, options: MRFTAdaptOptions) -> MRFTConfig:
    """The checkpoint's adaptation settings (``MRFTConfig.adapt_*``) under ``mrft adapt``'s
    options (:class:`MRFTAdaptOptions` says what each does): the adaptation run's section,
    in which ``adapt_kl`` None is no bound. Ranges are checked with the config."""
    check(options.distill_steps >= 0, f"--distill-steps must be >= 0, got {options.distill_steps}")
    check(options.adapt_kl is None or options.kl_bound,
          f"--no-kl-bound lifts the bound that --adapt-kl {options.adapt_kl} sets; give one of them")
    if not options.kl_bound:
        bound = None
    elif options.adapt_kl is not None:
        bound = options.adapt_kl
    else:
        bound = m.adapt_kl if m.adapt_kl is not None else ADAPT_KL
    scale = m.adapt_lr_scale if options.adapt_lr_scale is None else options.adapt_lr_scale
    return dataclasses.replace(
        m, adapt_kl=bound, adapt_meta_policy=m.adapt_meta_policy and options.meta_policy_updates,
        adapt_lr_scale=scale, adapt_norm_adv=m.adapt_norm_adv or options.normalise_advantages)
