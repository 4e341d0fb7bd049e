"""Diagnostics of the task belief on held-out instances (``mrft eval --probe``).

- **Linear probe.** How much of a family's hidden task parameters (nav goal, Meta-World goal,
  the bandit's paying arm, shifted masses) a linear map can read off the belief after the
  first episode of a trial (and after 1, 10 and 100 of its steps): ridge regression fitted
  on half the trials, R^2 on the other half. A belief
  that has found the task scores near 1; one that ignores it scores near 0 or below.
- **Context gain.** The return of the trial's next episode when the policy continues its own
  belief, minus the return when it continues the belief of another instance (the same
  trials, the beliefs rolled by one). Positive when the policy uses what its belief knows.
- **Return by step.** The mean reward at each step of the first episode: how fast the
  policy adapts within an episode.
"""

from __future__ import annotations

import numpy as np
import torch

from mrft.algos.mrft.belief_actor import BeliefActor, select_rows
from mrft.algos.mrft.trial_sequences import TrialSequences


def ridge_r2(features: np.ndarray, targets: np.ndarray, l2: float = 1.0) -> float:
    """R^2 on the second half of the rows of a ridge regression fitted on the first half
    (targets ``[n, P]``; R^2 pooled over the parameters). Features are standardised with
    the fitting half's mean and std first, so the penalty ``l2`` weighs every feature alike
    whatever its scale; ``l2 = 1`` keeps the fit sane when there are about as many trials as
    belief dimensions. Give ``mrft eval --probe`` a few hundred episodes for a stable figure:
    with fewer trials than dimensions the held-out R^2 mostly measures overfitting."""
    n = len(features) // 2
    if n < 2:
        raise ValueError("need at least 4 rows for a held-out R^2")
    mean, std = features[:n].mean(axis=0), features[:n].std(axis=0)
    features = (features - mean) / np.where(std > 1e-8, std, 1.0)
    x = np.concatenate([features, np.ones((len(features), 1))], axis=1)
    fit_x, fit_y, test_x, test_y = x[:n], targets[:n], x[n:], targets[n:]
    gram = fit_x.T @ fit_x + l2 * np.eye(x.shape[1])
    weights = np.linalg.solve(gram, fit_x.T @ fit_y)
    residual = ((test_y - test_x @ weights) ** 2).sum()
    total = ((test_y - test_y.mean(axis=0)) ** 2).sum()
    return float(1.0 - residual / total) if total > 0 else float("nan")


@torch.no_grad()
def belief_probe(actor: BeliefActor, play, trials: int, trial_episodes: int, seed: int) -> dict:
    """Play ``trials`` trials on fresh instances and measure the belief (see the module
    docstring). ``play(actor, trials, episodes, sample_seed)`` plays one trial of ``episodes``
    episodes on each of ``trials`` instances, the same instances at every call, sampling
    actions from a stream seeded by ``sample_seed``, and returns the batch and the
    instances' hidden parameters (None where the family has none). At least two episodes
    are played, whatever ``trial_episodes``, so that the context gain is defined."""
    agent, policy = actor.agent, actor.policy
    keeper = BeliefActor(agent, policy, actor.deterministic, keep_at=1)
    batch, targets = play(keeper, trials, max(2, trial_episodes), seed)
    seq = TrialSequences.from_batch(batch)
    first = batch.mask[:, 0].sum(1)
    beliefs = seq.beliefs[torch.arange(trials), first].numpy()
    result: dict = {
        "trials": trials,
        "belief_dims": int(beliefs.shape[1]),
        "return_by_step": (batch.rewards[:, 0].sum(0) / batch.mask[:, 0].sum(0).clamp_min(1)).tolist(),
        "return_episode": batch.returns.mean(0).tolist(),
    }
    if targets is not None:
        result["probe_r2"] = ridge_r2(beliefs, targets)
        shortest = int(first.min())
        result["probe_r2_by_step"] = {
            t: ridge_r2(seq.beliefs[:, t].numpy(), targets) for t in (1, 10, 100) if t <= shortest}
    own = keeper.context
    rolled = select_rows(own, torch.roll(torch.arange(trials), 1))
    scores = {}
    for name, start in (("own", own), ("other", rolled)):
        follower = BeliefActor(agent, policy, actor.deterministic, start=start)
        scores[name] = float(play(follower, trials, 1, seed + 1)[0].returns.mean())
    result["context_gain"] = scores["own"] - scores["other"]
    result["return_own_belief"], result["return_other_belief"] = scores["own"], scores["other"]
    return result
