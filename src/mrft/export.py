"""``mrft export``: an MRFT policy adapted to one instance, as a context-free network.

The belief an adapted MRFT policy acts from is folded into the base actor-critic's weights
(:mod:`mrft.algos.mrft.fold`, exact). The result needs no belief model, no Transformer and
no context: it is a plain actor-critic that ``mrft eval`` and any PyTorch code can load.

From an adaptation checkpoint (``mrft adapt``'s run folder) the export takes the adapted
weights and the belief the scored policy starts from. From a pre-training checkpoint it
first adapts in context: one trial of ``K`` episodes on held-out instance ``--task``, and
the belief as the trial's last episode starts. What a frozen belief cannot keep is the
adaptation *within* an episode; the adaptation curve's ``export/return`` next to ``return``
shows what that costs.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import torch

from mrft.errors import MrftError


def export(checkpoint: str, task: int, seed: int, out: str | None = None) -> dict[str, Any]:
    from mrft.adapt import held_out_instance
    from mrft.algos.mrft.algorithm import build_agent, load_agent
    from mrft.algos.mrft.belief import BeliefState
    from mrft.algos.mrft.belief_actor import BeliefActor, cycled_rows
    from mrft.algos.mrft.fold import fold_belief
    from mrft.checkpoint import save_checkpoint
    from mrft.config import to_dict
    from mrft.episodes import EpisodeCollector
    from mrft.evaluate import load_policy_and_state

    policy, cfg, suite, state = load_policy_and_state(checkpoint)
    if cfg.algo != "mrft":
        raise MrftError(f"mrft export folds MRFT's task belief into its network; {checkpoint} is a "
                        f"{cfg.algo} run, whose network already needs no context")
    algo_state = state.get("algo", {})
    if "folded" in algo_state:
        raise MrftError(f"{checkpoint} is already an exported, context-free policy")
    agent = build_agent(cfg.mrft, policy)
    load_agent(agent, algo_state, checkpoint)
    adaptation = state.get("adaptation")
    if adaptation is not None:
        task = int(adaptation["settings"]["task"])
        if "context" not in algo_state:
            raise MrftError(f"{checkpoint} holds no adapted belief yet; let the adaptation run "
                            "at least one batch")
        context = BeliefState(**algo_state["context"])
    else:
        task_spec, instance = held_out_instance(suite, task)
        k = cfg.mrft.trial_episodes
        actor = BeliefActor(agent, policy, keep_at=k - 1)
        collector = EpisodeCollector((task_spec,), actor, 1, 1, k, cfg.env.max_episode_steps,
                                     seed, torch.device("cpu"), instance=instance,
                                     update_normalizer=False)
        try:
            with torch.random.fork_rng(devices=[]):
                torch.manual_seed(seed)
                collector.collect()
        finally:
            collector.close()
        context = actor.context
    with torch.no_grad():
        params = agent.params(agent.belief(cycled_rows(context, 1)))
    folded = fold_belief(policy, params)
    task_spec, instance = held_out_instance(suite, task)
    path = Path(out) if out else Path(checkpoint).resolve().parent / "export" / f"task{task}.pt"
    record = {"source": str(checkpoint), "task": task_spec.name, "instance": instance,
              "instance_index": task, "from_adaptation": adaptation is not None}
    save_checkpoint(path, {"config": to_dict(cfg), "model": folded.state_dict(),
                           "algo": {"folded": record}})
    return {**record, "path": str(path)}
