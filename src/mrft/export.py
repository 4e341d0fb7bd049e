"""``mrft export``: a policy adapted to one instance, as a context-free network.

For an algorithm that supports it (:attr:`mrft.algos.base.Algorithm.supports_export`), the
context an adapted policy acts from (MRFT: its task belief) is folded into the base
actor-critic's weights. The result needs no context model: it is a plain actor-critic that
``mrft eval`` and any PyTorch code can load.

From an adaptation checkpoint (``mrft adapt``'s run folder) the export takes the adapted
weights and the context the scored policy starts from. From a pre-training checkpoint it
first adapts in context: one trial of ``K`` episodes on held-out instance ``--task``, and
the context as the trial's last episode starts. What a frozen context cannot keep is the
adaptation *within* an episode; the adaptation curve's ``export/return`` next to ``return``
shows what that costs. With ``distill_steps > 0`` (by default :data:`EXPORT_DISTILL_STEPS`)
the export is instead the student of progressive distillation (:mod:`mrft.distillation`),
which starts from that fold and learns from the adapted policy, context in the loop, on that
many env steps of the instance; where the policy has no context to distil (MRFT without its
meta-learner), the fold is the adapted policy and is written as it is.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import torch

from mrft.errors import MrftError

EXPORT_DISTILL_STEPS = 4000
"""``mrft export``'s default distillation budget: the `cpu` suite's ``export_steps``."""


def export(checkpoint: str, task: int, seed: int, out: str | None = None,
           distill_steps: int = EXPORT_DISTILL_STEPS,
           distill_stages: tuple[str, ...] | None = None) -> dict[str, Any]:
    """Write the context-free network of ``checkpoint``'s adapted policy (the fold, or with
    ``distill_steps`` the distilled student, over ``distill_stages``: all when None); returns
    what it wrote, with the path."""
    from mrft import algos
    from mrft.algos.base import DISTILL_STAGES
    from mrft.checkpoint import save_checkpoint
    from mrft.config import to_dict
    from mrft.envs import held_out_instance
    from mrft.episodes import EpisodeCollector
    from mrft.evaluate import load_policy_and_state

    policy, cfg, suite, state = load_policy_and_state(checkpoint)
    algo = algos.get(cfg.algo)
    if not algo.supports_export:
        exporting = ", ".join(name for name, a in algos.REGISTRY.items() if a.supports_export)
        raise MrftError(f"mrft export folds an adapted policy's context into its network "
                        f"({exporting}); {checkpoint} is a {cfg.algo} run, whose network "
                        "already needs no context")
    algo_state = state.get("algo", {})
    if "folded" in algo_state:
        raise MrftError(f"{checkpoint} is already an exported, context-free policy")
    exporter = algo.exporter(cfg, policy, algo_state, checkpoint)
    adaptation = state.get("adaptation")
    if adaptation is not None:
        task = int(adaptation["settings"]["task"])
        context = exporter.adapted_context()
    else:
        task_spec, instance = held_out_instance(suite, task)
        actor = exporter.in_context_actor()
        collector = EpisodeCollector((task_spec,), actor, 1, 1, exporter.trial_episodes,
                                     cfg.env.max_episode_steps, seed, torch.device("cpu"),
                                     instance=instance, update_normalizer=False)
        try:
            with torch.random.fork_rng(devices=[]):
                torch.manual_seed(seed)
                collector.collect()
        finally:
            collector.close()
        context = actor.context
    task_spec, instance = held_out_instance(suite, task)
    record = {"source": str(checkpoint), "task": task_spec.name, "instance": instance,
              "instance_index": task, "from_adaptation": adaptation is not None}
    stages = DISTILL_STAGES if distill_stages is None else tuple(distill_stages)
    plan = exporter.distillation(context, distill_steps, stages) if distill_steps > 0 else None
    if plan is not None:
        from mrft.distillation import distill

        result = distill(plan, task_spec, instance, cfg.env.max_episode_steps, seed)
        network = result.student
        record["distillation"] = {"stages": list(stages), "env_steps": result.env_steps,
                                  **result.stats}
    else:
        network = exporter.fold(context)
    path = Path(out) if out else Path(checkpoint).resolve().parent / "export" / f"task{task}.pt"
    save_checkpoint(path, {"config": to_dict(cfg), "model": network.state_dict(),
                           "algo": {"folded": record}})
    return {**record, "path": str(path)}
