"""Algorithms: each is a loss over a batch (plus data preparation); none steps envs itself.

An algorithm object provides:

- ``prepare(batch: RolloutBatch) -> dict[str, Tensor]``: advantages, returns, flattening;
- ``minibatches(data, generator) -> Iterator[dict[str, Tensor]]`` for one epoch;
- ``loss(minibatch) -> dict[str, Tensor]`` with the key ``"loss"`` to minimise and
  named diagnostics (``policy_loss``, ``approx_kl``, ``clipfrac`` ...);
- ``update_epochs`` and ``stop_early(diagnostics) -> bool``.
"""

from mrft.algos.ppo import PPO

ALGORITHMS = {"ppo": PPO}

__all__ = ["ALGORITHMS", "PPO"]
