"""The acting side of MRFT: the belief is updated after every env step and conditions the
next action, so the policy adapts *within* an episode with no gradient step.

Per env the actor keeps a :class:`~mrft.algos.mrft.belief.BeliefState`. It starts at the
prior when a trial starts and is carried across the trial's episodes. With ``memory`` on
(adaptation to one instance) it is carried across trials too: everything the agent has seen
of the instance stays in its belief, as in Meta-World's meta-learning evaluation.

The collector gets, per trial (``extras``), the belief each action was taken with
(``beliefs [n, K, T, E]``) and the belief after the trial's last step (``final_belief``):
the update then learns the policy on exactly the inputs it acted on.
"""

from __future__ import annotations

import torch

from mrft.algos.mrft.belief import BeliefState
from mrft.algos.mrft.belief_agent import BeliefAgent, observation_features
from mrft.episodes import Actor, EpisodeRun
from mrft.nets import ActorCritic


def _rows(state: BeliefState, index: torch.Tensor) -> BeliefState:
    return BeliefState(windows=[w[index] for w in state.windows], last=state.last[index],
                       total=state.total[index], count=state.count[index])


def broadcast(state: BeliefState, row: int, n: int) -> BeliefState:
    """``n`` copies of one row's belief state."""
    return _rows(state, torch.full((n,), row, dtype=torch.long, device=state.count.device))


class BeliefActor(Actor):
    def __init__(self, agent: BeliefAgent, policy: ActorCritic, deterministic: bool = False,
                 memory: bool = False, start: BeliefState | None = None):
        super().__init__(policy, deterministic)
        self.agent = agent
        self.memory = memory
        self.state: BeliefState | None = start
        """Per-env belief state; ``start`` (one row or per env) seeds the first trial."""
        self._start = start
        self._obs_features: torch.Tensor | None = None
        self._episode: list[torch.Tensor] = []
        self._trial: list[torch.Tensor] = []

    def begin_trial(self, group_ids: torch.Tensor, env_rows: torch.Tensor) -> None:
        n = len(env_rows)
        if self._start is not None:
            self.state = broadcast(self._start, 0, n) if self._start.count.shape[0] != n else self._start
            self._start = None
        elif self.state is None or not self.memory:
            self.state = self.agent.encoder.initial_state(n, env_rows.device)
        elif self.state.count.shape[0] != n:
            # fewer envs in a last, smaller batch: they keep their own memories
            self.state = _rows(self.state, env_rows.clamp_max(self.state.count.shape[0] - 1))
        self._trial = []

    def begin_episode(self) -> None:
        self._episode = []

    @torch.no_grad()
    def act(self, obs: torch.Tensor):
        z = self.agent.belief(self.state)
        self._episode.append(z)
        self._obs_features = observation_features(self.policy, obs)
        dist, value = self.agent.forward_policy(self.policy, obs, z)
        if self.deterministic:
            action = dist.mean if self.policy.continuous else dist.probs.argmax(-1)
        else:
            action = dist.sample()
        logp = dist.log_prob(action)
        logp = logp.sum(-1) if self.policy.continuous else logp
        return action.squeeze(1), logp.squeeze(1), value

    @torch.no_grad()
    def value(self, obs: torch.Tensor) -> torch.Tensor:
        return self.agent.forward_policy(self.policy, obs, self.agent.belief(self.state))[1]

    @torch.no_grad()
    def observe(self, action: torch.Tensor, reward: torch.Tensor, stepped: torch.Tensor,
                done: torch.Tensor) -> None:
        x = self.agent.transitions(self._obs_features, action, reward, done)
        self.state = self.agent.encoder.step(self.state, x, stepped)

    def end_episode(self, run: EpisodeRun) -> None:
        self._trial.append(torch.stack(self._episode, dim=1))

    def end_trial(self) -> dict[str, torch.Tensor]:
        horizon = max(b.shape[1] for b in self._trial)
        padded = [torch.cat([b, b.new_zeros(b.shape[0], horizon - b.shape[1], b.shape[2])], dim=1)
                  for b in self._trial]
        return {"beliefs": torch.stack(padded, dim=1), "final_belief": self.agent.belief(self.state)}
