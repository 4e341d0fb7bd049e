"""Fixed-length chunks of trials: data for a method with memory, as often as PPO's rollouts.

A method whose context runs across episodes (MRFT's task belief) learns from *trials*: each
env keeps one task instance for ``K`` episodes. Collecting whole trials per update ties the
update rate to the trial length (``num_envs x K x horizon`` env steps per update). This
collector decouples them, as R2D2 does for recurrent agents: it plays ``num_steps`` ticks
of every env per call, and trials, episodes and the actor's state simply go on in the next
call. The actor reports its state where each chunk starts (:meth:`mrft.batches.Actor.end_chunk`)
so an update can recompute what it needs from there.

Envs play in lockstep, as :class:`mrft.episodes.EpisodeCollector`'s do: every episode starts
in every env at once, from the env pool re-seeded with each env's instance seed (the same
seed for all ``K`` episodes of a trial, a fresh draw per trial), because no backend can
re-seed one env of a live pool (envpool rebuilds the pool). An env whose episode ends
before its neighbours' waits; its waiting ticks are not steps (``valid`` False), nothing
learns from them and the budget does not pay for them. A chunk plays only the steps the
budget left can pay for. Adapting to one instance (``trial_episodes=None``), the trial never
ends, and with ``episode_chunks`` a chunk also ends where an episode does, so the method
updates at least as often as one that learns from whole episodes.

Resume is exact: the state holds the instance draws, the current episode's seeds and the
actions sent since its reset, which a fresh pool replays.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import torch

from mrft import envs
from mrft.batches import Actor, Episode, StreamBatch
from mrft.envs.vector import check_finite
from mrft.rollout import EpisodeTracker

STEP_FIELDS = ("obs", "actions", "logprobs", "values", "rewards", "valid", "episode_end",
               "trial_end", "trial_start", "terminated", "final_values", "task_ids")


class TrialStreamCollector:
    """``num_steps`` lockstep ticks of ``num_envs`` envs per call; each env plays trials of
    ``trial_episodes`` episodes (None: one endless trial) on a fresh instance of one of
    ``tasks`` per trial (``instance`` set: that instance of ``tasks[0]`` in every env)."""

    def __init__(self, tasks: Sequence[envs.Task], actor: Actor, num_envs: int, num_steps: int,
                 trial_episodes: int | None, max_episode_steps: int, seed: int,
                 device: torch.device, instance: int | None = None,
                 update_normalizer: bool = True, episode_chunks: bool = False,
                 credit_episodes: int | None = None):
        if trial_episodes is not None and trial_episodes < 1:
            raise ValueError(f"trial_episodes must be >= 1 or None, got {trial_episodes}")
        self.tasks = tuple(tasks)
        self.actor = actor
        self.policy = actor.policy
        self.num_envs = num_envs
        self.num_steps = num_steps
        self.trial_episodes = trial_episodes
        self.max_episode_steps = max_episode_steps
        self.seed = seed
        self.device = device
        self.instance = instance
        self.update_normalizer = update_normalizer
        self.episode_chunks = episode_chunks
        self.credit_episodes = credit_episodes or trial_episodes
        """Episodes credit runs across: a trial's end is marked after every this many."""
        self.rng = np.random.default_rng(seed)
        self.trials_drawn = 0
        self.task_index = [0] * num_envs
        self.seeds = [0] * num_envs
        self.episode = -1
        """Index of the current episode in the current trial (-1: no trial yet)."""
        self.active = np.zeros(num_envs, dtype=bool)
        self.tick = 0
        """Ticks into the current episode."""
        self.obs_np: np.ndarray | None = None
        self.first_obs: torch.Tensor | None = None
        self.sent: list[np.ndarray] = []
        """Env actions since the current episode's reset (what a resume replays)."""
        self.tracker = EpisodeTracker(num_envs)
        self.env: envs.VecEnv | None = None
        self._success: np.ndarray | None = None
        self._trial_starts = False
        """The next tick is the first of a trial in every env."""

    # -- trials and episodes ----------------------------------------------------------------
    def _draw_trial(self) -> None:
        n = self.num_envs
        if self.instance is not None:
            self.task_index, self.seeds = [0] * n, [self.instance] * n
        else:
            draws = self.rng.integers(0, 2**31 - 1, size=n)
            first = self.trials_drawn * n
            self.task_index = [(first + i) % len(self.tasks) for i in range(n)]
            self.seeds = [int(s) for s in draws]
        self.trials_drawn += 1
        rows = torch.arange(n, device=self.device)
        self.actor.begin_trial(rows, rows)
        self.episode = -1
        self._trial_starts = True

    def _trial_over(self) -> bool:
        return self.episode < 0 or (self.trial_episodes is not None
                                    and self.episode + 1 >= self.trial_episodes)

    def _start_episode(self) -> None:
        if self._trial_over():
            self._draw_trial()
        self.episode += 1
        self._reset_pool()
        self.actor.begin_episode()

    def _reset_pool(self) -> None:
        tasks = [self.tasks[t] for t in self.task_index]
        self.env = envs.reseed_or_build(self.env, tasks, self.seeds, self.seed)
        self.obs_np = self.env.reset()
        self.active[:] = True
        self.tick = 0
        self.sent = []

    # -- one chunk --------------------------------------------------------------------------
    @torch.no_grad()
    def collect(self, max_env_steps: int | None = None) -> StreamBatch | None:
        """The next chunk, or ``None`` when the budget left cannot pay for one more tick."""
        steps: dict[str, list[torch.Tensor]] = {k: [] for k in STEP_FIELDS}
        finished: list[Episode] = []
        finished_index: list[int] = []
        env_steps = 0
        self.actor.begin_chunk()
        while len(steps["obs"]) < self.num_steps:
            if not self.active.any():
                if self.episode_chunks and steps["obs"]:
                    break
                self._start_episode()
            if max_env_steps is not None and env_steps + int(self.active.sum()) > max_env_steps:
                break
            ended = self._tick(steps)
            env_steps += int(self.active.sum())
            episodes = self.tracker.step(steps["rewards"][-1].cpu().numpy(), self.active, ended,
                                         self._success, np.asarray(self.task_index))
            finished += episodes
            finished_index += [self.episode] * len(episodes)
            self.active &= ~ended
            self.tick += 1
        if not self.active.any() and not (max_env_steps is not None and env_steps >= max_env_steps):
            self._start_episode()  # the next chunk's bootstrap sees the next episode's start
        if not steps["obs"]:
            return None
        return self._batch(steps, finished, finished_index)

    def _tick(self, steps: dict[str, list[torch.Tensor]]) -> np.ndarray:
        """Step every env once and record it; returns which envs' episodes ended."""
        device, policy = self.device, self.policy
        active = torch.tensor(self.active, device=device)  # a copy: self.active changes in place
        raw = torch.as_tensor(self.obs_np, device=device)
        if self.update_normalizer and policy.obs_normalizer is not None:
            policy.obs_normalizer.rms.update(raw[active].float())
        obs = policy.normalize(raw)
        if self.tick == 0:
            self.first_obs = obs
        action, logprob, value = self.actor.act(obs)
        env_action = policy.env_action(action)
        self.sent.append(np.asarray(env_action))
        result = self.env.step(env_action)
        check_finite(result, f"step {self.tick + 1} of an episode")
        self._success = result.success
        ended = self.active & (result.terminated | result.truncated
                               | (self.tick + 1 >= self.max_episode_steps))
        credit = self.credit_episodes
        trial_end = ended & (credit is not None and self.episode % credit == credit - 1)
        trial_start = np.full(self.num_envs, self._trial_starts)
        self._trial_starts = False
        terminated = self.active & result.terminated
        reward = torch.as_tensor(np.where(self.active, result.reward, 0.0), dtype=torch.float32,
                                 device=device)
        self.actor.observe(action, reward, active, torch.as_tensor(ended, device=device))
        final = torch.zeros(self.num_envs, device=device)
        if (trial_end & ~terminated).any():  # the value of the observation a truncation cut off
            final = self.actor.value(policy.normalize(torch.as_tensor(result.obs, device=device))).float()
        tensors = (obs, action, logprob, value.float(), reward, active, ended, trial_end, trial_start,
                   terminated, final, torch.as_tensor(self.task_index, device=device))
        for key, value_t in zip(STEP_FIELDS, tensors, strict=True):
            steps[key].append(torch.as_tensor(value_t, device=device))
        self.obs_np = result.obs
        return ended

    def _batch(self, steps: dict[str, list[torch.Tensor]], finished: list[Episode],
               finished_index: list[int]) -> StreamBatch:
        stacked = {key: torch.stack(values, dim=1) for key, values in steps.items()}
        # an env waiting for its neighbours bootstraps from the start of the episode it is
        # waiting for (the next one replays the same instance from the same start distribution)
        active = torch.tensor(self.active, device=self.device)
        current = self.policy.normalize(torch.as_tensor(self.obs_np, device=self.device))
        shape = (-1,) + (1,) * (current.dim() - 1)
        bootstrap = torch.where(active.reshape(shape), current, self.first_obs)
        next_value = self.actor.value(bootstrap).float()
        return StreamBatch(**stacked, next_value=next_value, episodes=finished,
                           episode_index=finished_index, extras=self.actor.end_chunk(),
                           trial_episodes=self.trial_episodes)

    def close(self) -> None:
        if self.env is not None:
            self.env.close()
            self.env = None

    # -- resume -----------------------------------------------------------------------------
    def state_dict(self) -> dict:
        state = {"exact": True, "trials_drawn": self.trials_drawn, "episode": self.episode,
                 "task_index": torch.tensor(self.task_index), "seeds": torch.tensor(self.seeds),
                 "active": torch.from_numpy(self.active.copy()), "tick": self.tick,
                 "trial_starts": self._trial_starts, "tracker": self.tracker.state_dict()}
        if self.obs_np is not None:
            state["obs"] = torch.as_tensor(np.asarray(self.obs_np)).clone()
            state["sent"] = [torch.as_tensor(a).clone() for a in self.sent]
            state["sent_dtype"] = str(np.asarray(self.sent[0]).dtype) if self.sent else ""
            if self.first_obs is not None:
                state["first_obs"] = self.first_obs.cpu().clone()
        return state

    def load_state_dict(self, state: dict) -> bool:
        """Replay the saved episode's actions into a fresh pool; True when that reproduced
        the saved observation (an exact resume), else the run continues from a new trial."""
        self.rng = np.random.default_rng(self.seed)
        draws = int(state.get("trials_drawn", 0))
        if self.instance is None:
            for _ in range(draws):
                self.rng.integers(0, 2**31 - 1, size=self.num_envs)
        self.trials_drawn = draws
        if "obs" not in state:
            return True
        self.task_index = [int(t) for t in state["task_index"]]
        self.seeds = [int(s) for s in state["seeds"]]
        self.episode = int(state["episode"])
        self._reset_pool()
        dtype = state.get("sent_dtype") or None
        for action in state["sent"]:
            self.obs_np = self.env.step(action.numpy().astype(dtype, copy=False)).obs
            self.sent.append(action.numpy())
        if not np.array_equal(np.asarray(self.obs_np), state["obs"].numpy()):
            self.active[:] = False
            self.episode = -1  # start a fresh trial
            return False
        self.active = state["active"].numpy().copy()
        self.tick = int(state["tick"])
        self._trial_starts = bool(state.get("trial_starts", False))
        if "first_obs" in state:
            self.first_obs = state["first_obs"].to(self.device)
        self.tracker.load_state_dict(state["tracker"])
        return True
