"""Algorithms: each is a loss over a batch (plus data preparation); none steps envs itself.

An algorithm object provides:

- ``prepare(batch: RolloutBatch) -> dict[str, Tensor]``: advantages, returns, flattening;
- ``minibatches(data, generator) -> Iterator[dict[str, Tensor]]`` for one epoch;
- ``loss(minibatch) -> dict[str, Tensor]`` with the key ``"loss"`` to minimise and
  named diagnostics (``policy_loss``, ``approx_kl``, ``clipfrac`` ...);
- ``update_epochs`` and ``stop_early(diagnostics) -> bool``;
- ``after_update(update)``, ``batch_stats`` (extra scalars logged as named) and
  ``state_dict()`` / ``load_state_dict()`` for anything a checkpoint must carry;
- optionally ``backward(loss_dict) -> dict[str, float]`` to combine gradients itself (MRFT's
  gradient modulation) and ``extra_modules()`` for modules the optimiser must train too.
"""

from mrft.algos.grpo import GRPO
from mrft.algos.ppo import PPO

__all__ = ["GRPO", "PPO"]
