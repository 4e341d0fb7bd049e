"""Sim-to-real metrics: how much of its own in-sim score a method keeps on the real body.

A sim-to-real family (``sim2real:``; :attr:`mrft.envs.family.Family.sim_to_real`) pre-trains on randomised simulated bodies and adapts on held-out
"real" ones (:mod:`mrft.envs.sim2real`). The question a user asks is how many real episodes
a method needs to get back to what it did in simulation. So every pre-training run of such
a family is also scored on the sim (:func:`in_sim_return`, the train split, the policy as
it acts: MRFT and RL2 in trials, scored on a trial's last episode), and every point of an
adaptation curve on the real body becomes a fraction of that score
(:func:`fraction_of_sim`), read at :data:`EPISODE_MARKS` real episodes, with the number of
real episodes until the fraction first reaches :data:`TARGET`.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

EPISODE_MARKS = (10, 50, 200)
TARGET = 0.9


def is_sim_to_real(env: str) -> bool:
    """The family pre-trains in simulation and adapts on "real" bodies."""
    from mrft.envs import family_of

    return family_of(env).sim_to_real


EVAL_SEED_OFFSET = 7
"""Added to the run's seed, as the adaptation's own evaluation does: a seed equal to the run's
would make the instance stream of whole-episode collectors (GRPO, MRFT, RL2) replay the
first instances their pre-training saw."""


def in_sim_return(checkpoint: str, episodes: int, seed: int) -> float:
    """Mean return of ``checkpoint``'s policy on ``episodes`` fresh sim (train split)
    instances, drawn with ``seed + EVAL_SEED_OFFSET``."""
    from mrft import algos
    from mrft.evaluate import evaluate, load_policy_and_state

    policy, cfg, suite, state = load_policy_and_state(checkpoint)
    policy.eval()
    actor, trial = algos.get(cfg.algo).checkpoint_evaluation(
        cfg, policy, state.get("algo", {}), checkpoint, deterministic=False)
    result = evaluate(policy, suite.train, episodes, num_envs=min(episodes, 16), seed=seed + EVAL_SEED_OFFSET,
                      actor=actor, trial_episodes=trial)
    return float(np.mean(result.returns))


def fraction_of_sim(real_return: float, sim_return: float) -> float:
    """The real return as a fraction of the in-sim one. Returns of the same sign compare as
    a ratio that is 1 when the real body does as well as the sim: ``real / sim`` for rewards,
    ``sim / real`` for costs (both negative, as Reacher's distance-and-effort penalty), so a
    real cost twice the sim's is 0.5. Mixed signs: 0 (the real body earns nothing of what
    the sim did) or, for a positive real return against a negative sim one, 1."""
    if sim_return == 0:
        return 1.0 if real_return >= 0 else 0.0
    if sim_return > 0 and real_return >= 0:
        return real_return / sim_return
    if sim_return < 0 and real_return < 0:
        return sim_return / real_return
    return 1.0 if real_return >= 0 > sim_return else 0.0


def at_episodes(episodes: Sequence[float], fractions: Sequence[float], mark: float) -> float | None:
    """The fraction at the last evaluation point with at most ``mark`` real episodes; None
    when the curve ends before ``mark`` (a budget too small to say) or starts after it."""
    if not episodes or episodes[-1] < mark - 1e-9:
        return None
    before = [f for e, f in zip(episodes, fractions, strict=True) if e <= mark + 1e-9]
    return before[-1] if before else None


def episodes_to_target(episodes: Sequence[float], fractions: Sequence[float],
                       target: float = TARGET) -> float | None:
    """Real episodes until the fraction first reaches ``target``; None when it never does."""
    for e, f in zip(episodes, fractions, strict=True):
        if f >= target:
            return float(e)
    return None
