"""What ``mrft export`` needs from MRFT: the belief model of a checkpoint, an actor that
adapts in context, and the fold of a belief into the base network's weights
(:mod:`mrft.algos.mrft.fold`, exact)."""

from __future__ import annotations

import torch
from torch import nn

from mrft.algos.mrft.belief import BeliefState
from mrft.algos.mrft.belief_actor import BeliefActor, cycled_rows
from mrft.algos.mrft.belief_agent import build_agent, load_agent
from mrft.algos.mrft.fold import fold_belief
from mrft.errors import MrftError


class BeliefExporter:
    """Folds the belief an adapted MRFT policy acts from into a context-free network."""

    def __init__(self, cfg, policy: nn.Module, algo_state: dict, source: str):
        self.policy = policy
        self.source = source
        self.algo_state = algo_state
        self.agent = build_agent(cfg.mrft, policy)
        load_agent(self.agent, algo_state, source)
        self.trial_episodes = cfg.mrft.trial_episodes

    def in_context_actor(self) -> BeliefActor:
        """Plays one trial of K episodes; its ``context`` is the belief as the last one starts."""
        return BeliefActor(self.agent, self.policy, keep_at=self.trial_episodes - 1)

    def adapted_context(self) -> BeliefState:
        """The belief an adaptation checkpoint's scored policy starts from."""
        if "context" not in self.algo_state:
            raise MrftError(f"{self.source} holds no adapted belief yet; let the adaptation run "
                            "at least one batch")
        return BeliefState(**self.algo_state["context"])

    def fold(self, context: BeliefState) -> nn.Module:
        with torch.no_grad():
            params = self.agent.params(self.agent.belief(cycled_rows(context, 1)))
        return fold_belief(self.policy, params)
