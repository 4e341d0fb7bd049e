"""The acting side of MRFT: the belief is updated after every env step and conditions the
next action, so the policy adapts *within* an episode with no gradient step.

Per env the actor keeps a :class:`~mrft.algos.mrft.belief.BeliefState`. It starts at the
prior (or at rows of a ``start`` state) when a trial starts and is carried across the
trial's episodes, and across the chunks of a streamed trial (:mod:`mrft.trial_stream`).
With ``keep_at = k`` it keeps a copy of the belief as it is when episode ``k`` or a later
one of a trial starts (:attr:`BeliefActor.context`), which the adapted policy that is scored
continues.

With ``span = K`` (adapting, ``K`` the pre-training trial length) a belief never covers more
than a pre-training trial showed the policy: in one endless trial on an instance, counting
episodes from 0, every episode from episode ``K - 1`` on starts from the belief as it was
when episode ``K - 1`` started, so each is played as the last episode of the instance's first
trial, and what later episodes teach goes into the weights (the adaptation's updates). A
belief carried on over many episodes leaves what pre-training showed the policy (docs/mrft.md,
"Adaptation").

The collector gets the belief each action was taken with: per trial of whole episodes
(``beliefs [n, K, T, E]`` and ``final_belief``), or per chunk of a stream (``beliefs [N, T, E]``
and ``start``, the state each env's chunk began from). The update then learns the policy on
exactly the inputs it acted on and recomputes the belief from the stored start.
"""

from __future__ import annotations

import dataclasses

import torch

from mrft.algos.mrft.belief import BeliefState
from mrft.algos.mrft.belief_agent import BeliefAgent, observation_features
from mrft.algos.mrft.meta_policy import log_prob
from mrft.batches import Actor, EpisodeRun
from mrft.nets import ActorCritic
from mrft.normalize import symlog


def select_rows(state: BeliefState, index: torch.Tensor) -> BeliefState:
    return BeliefState(windows=[w[index] for w in state.windows], last=state.last[index],
                       total=state.total[index], count=state.count[index],
                       offset=None if state.offset is None else state.offset[index])


def where_rows(rows: torch.Tensor, chosen: BeliefState, other: BeliefState) -> BeliefState:
    """Row ``i`` of ``chosen`` where ``rows[i]``, else of ``other``."""
    def pick(a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
        return torch.where(rows.reshape((-1,) + (1,) * (a.dim() - 1)), a, b)

    offset = None
    if chosen.offset is not None and other.offset is not None:
        offset = pick(chosen.offset, other.offset)
    return BeliefState(windows=[pick(a, b) for a, b in zip(chosen.windows, other.windows, strict=True)],
                       last=pick(chosen.last, other.last), total=pick(chosen.total, other.total),
                       count=pick(chosen.count, other.count), offset=offset)


def cycled_rows(state: BeliefState, n: int) -> BeliefState:
    """``n`` rows: row ``i`` is row ``i mod rows`` of ``state``."""
    rows = state.count.shape[0]
    return select_rows(state, torch.arange(n, device=state.count.device) % rows)


class BeliefActor(Actor):
    def __init__(self, agent: BeliefAgent, policy: ActorCritic, deterministic: bool = False,
                 start: BeliefState | None = None, keep_at: int | None = None,
                 span: int | None = None):
        super().__init__(policy, deterministic)
        self.agent = agent
        self.start = start
        self.keep_at = keep_at
        self.span = span
        self.anchor: BeliefState | None = None
        """With ``span``, the belief as episode ``span - 1`` of the trial started."""
        self.state: BeliefState | None = None
        self.context: BeliefState | None = None
        """The belief as the latest episode started, from episode ``keep_at`` of a trial on."""
        self.episode = -1
        self._obs_features: torch.Tensor | None = None
        self._episode: list[torch.Tensor] = []
        self._trial: list[torch.Tensor] = []
        self._seen: list[tuple[torch.Tensor, ...]] = []
        """The trial's transitions so far, for the gradient inner loop (kept only with one)."""
        self._chunk: list[torch.Tensor] | None = None
        self._chunk_start: BeliefState | None = None

    def _prior(self, n: int, device: torch.device) -> BeliefState:
        """``n`` rows of the state a trial starts from: rows of ``start``, else the prior."""
        return (cycled_rows(self.start, n) if self.start is not None
                else self.agent.encoder.initial_state(n, device))

    def begin_trial(self, group_ids: torch.Tensor, env_rows: torch.Tensor) -> None:
        self.state = self._prior(len(env_rows), env_rows.device)
        self.episode = -1
        self._trial = []
        self._seen = []
        self.anchor = None

    @property
    def row_restarts(self) -> bool:
        """One env's trial can restart alone unless the state is also per episode (the
        gradient inner loop's offset) or a belief is kept at an episode of the trial."""
        return not self.agent.inner_steps and self.keep_at is None and self.span is None

    def restart_rows(self, episode_rows: torch.Tensor, trial_rows: torch.Tensor) -> None:
        """The belief goes on across an env's episodes; an env that starts a trial starts
        from the prior (or its row of ``start``)."""
        if not trial_rows.any():
            return
        prior = self._prior(trial_rows.shape[0], trial_rows.device)
        self.state = where_rows(trial_rows, prior, self.state)

    def begin_episode(self) -> None:
        self.episode += 1
        if self.span is not None and self.episode >= self.span - 1:
            if self.anchor is None:
                self.anchor = self.state
            self.state = self.anchor
        if self.agent.inner_steps and self._seen:
            self._refine()
        if self.keep_at is not None and self.episode >= self.keep_at:
            self.context = self.state
        self._episode = []

    @torch.no_grad()
    def act(self, obs: torch.Tensor):
        z = self.agent.belief(self.state)
        (self._episode if self._chunk is None else self._chunk).append(z)
        self._obs_features = observation_features(self.policy, obs)
        dist, value = self.agent.forward_policy(self.policy, obs, z)
        if self.deterministic:
            action = dist.mean if self.policy.continuous else dist.probs.argmax(-1)
        else:
            action = dist.sample()
        return action.squeeze(1), log_prob(self.policy, dist, action).squeeze(1), value

    @torch.no_grad()
    def value(self, obs: torch.Tensor) -> torch.Tensor:
        return self.agent.forward_policy(self.policy, obs, self.agent.belief(self.state))[1]

    @torch.no_grad()
    def observe(self, action: torch.Tensor, reward: torch.Tensor, stepped: torch.Tensor,
                done: torch.Tensor) -> None:
        x = self.agent.transitions(self._obs_features, action, reward, done)
        self.state = self.agent.encoder.step(self.state, x, stepped)
        if self.agent.inner_steps:
            self._seen.append((self._obs_features, self.agent.action_encoding(action),
                               symlog(reward.float()), stepped))

    def _refine(self) -> None:
        """The inner loop at an episode start: the offset for this episode, from the belief
        as the encoder has it now and the trial's transitions so far."""
        obs, actions, rewards, stepped = (torch.stack(parts, dim=1) for parts in zip(*self._seen, strict=True))
        z = self.agent.normalized(self.agent.encoder.belief(self.state))
        offset = self.agent.refine(z, obs, actions, rewards, stepped)
        self.state = dataclasses.replace(self.state, offset=offset)

    def end_episode(self, run: EpisodeRun) -> None:
        self._trial.append(torch.stack(self._episode, dim=1))

    def end_trial(self) -> dict[str, torch.Tensor]:
        horizon = max(b.shape[1] for b in self._trial)
        padded = [torch.cat([b, b.new_zeros(b.shape[0], horizon - b.shape[1], b.shape[2])], dim=1)
                  for b in self._trial]
        return {"beliefs": torch.stack(padded, dim=1), "final_belief": self.agent.belief(self.state)}

    def begin_chunk(self) -> None:
        self._chunk = []
        self._chunk_start = self.state
        self._episode = []

    def end_chunk(self) -> dict:
        """``beliefs [N, T, E]`` each step acted on, and ``start``, the state each env's chunk
        began from (None before the first trial: every env starts one in the chunk)."""
        beliefs = torch.stack(self._chunk, dim=1)
        start = self._chunk_start
        self._chunk = None
        return {"beliefs": beliefs, "start": start}

    def stream_state(self) -> dict:
        """What a resumed stream needs to act on exactly as before: the current belief state
        and the episode count of the current trial."""
        if self.state is None:
            return {}
        saved = {"state": dataclasses.asdict(self.state), "episode": self.episode}
        if self.anchor is not None:
            saved["anchor"] = dataclasses.asdict(self.anchor)
        return saved

    def load_stream_state(self, saved: dict) -> None:
        if "state" in saved:
            self.state = BeliefState(**saved["state"])
            self.episode = int(saved["episode"])
        if "anchor" in saved:
            self.anchor = BeliefState(**saved["anchor"])
