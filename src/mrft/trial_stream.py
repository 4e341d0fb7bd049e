"""Fixed-length chunks of trials: data for a method with memory, as often as PPO's rollouts.

A method whose context runs across episodes (MRFT's task belief) learns from *trials*: each
env keeps one task instance for ``K`` episodes. Collecting whole trials per update ties the
update rate to the trial length (``num_envs x K x horizon`` env steps per update). This
collector decouples them, as R2D2 does for recurrent agents: it plays ``num_steps`` ticks
of every env per call, and trials, episodes and the actor's state simply go on in the next
call. The actor reports its state where each chunk starts (:meth:`mrft.batches.Actor.end_chunk`)
so an update can recompute what it needs from there.

Every episode starts from the env re-seeded with its instance seed (the same seed for all
``K`` episodes of a trial, a fresh draw per trial). Where the pool can re-seed and reset one
env alone (:func:`mrft.envs.vector.resets_one_env`: the MuJoCo bodies of ``shift`` and
``sim2real``) and the actor can restart one env's belief, each env starts its next episode
the tick after its last one ended, as PPO's auto-resetting envs do. Elsewhere envs play in
lockstep, as :class:`mrft.episodes.EpisodeCollector`'s do: every episode starts in every env
at once, from a re-seeded pool (envpool rebuilds it), and an env whose episode ends before
its neighbours' waits; its waiting ticks are not steps (``valid`` False), nothing learns
from them and the budget does not pay for them. Families whose episodes all have one
length never wait, and both ways play them identically. On a pendulum that falls, waiting
costs most of the wall clock (an env that balances for 1,000 steps holds up the ones that
fell after 10), not env steps. A chunk plays only the steps the budget left can pay for.
Adapting to one instance (``trial_episodes=None``), the trial never ends, and with
``episode_chunks`` a chunk also ends where an episode does (envs then play in lockstep), so
the method updates at least as often as one that learns from whole episodes.

Resume is exact: the state holds the instance draws, each env's episode seed and the
actions sent since the oldest current episode's reset, which a fresh pool replays,
resetting each env where its episode started.
"""

from __future__ import annotations

import json
from collections.abc import Sequence

import numpy as np
import torch

from mrft import envs
from mrft.batches import Actor, Episode, StreamBatch
from mrft.envs.instances import training_seeds
from mrft.envs.vector import check_finite, resets_one_env
from mrft.rollout import EpisodeTracker

STEP_FIELDS = ("obs", "actions", "logprobs", "values", "rewards", "valid", "episode_end",
               "trial_end", "trial_start", "terminated", "final_values", "task_ids")


class TrialStreamCollector:
    """``num_steps`` ticks of ``num_envs`` envs per call; each env plays trials of
    ``trial_episodes`` episodes (None: one endless trial) on a fresh instance of one of
    ``tasks`` per trial (``instance`` set: that instance of ``tasks[0]`` in every env)."""

    def __init__(self, tasks: Sequence[envs.Task], actor: Actor, num_envs: int, num_steps: int,
                 trial_episodes: int | None, max_episode_steps: int, seed: int,
                 device: torch.device, instance: int | None = None,
                 update_normalizer: bool = True, episode_chunks: bool = False,
                 credit_episodes: int | None = None, whole_trials: bool = False):
        if trial_episodes is not None and trial_episodes < 1:
            raise ValueError(f"trial_episodes must be >= 1 or None, got {trial_episodes}")
        if whole_trials and trial_episodes is None:
            raise ValueError("whole_trials needs trials that end (trial_episodes set)")
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
        self.whole_trials = whole_trials
        """A chunk goes on past ``num_steps`` until the trials it holds have ended."""
        self.credit_episodes = credit_episodes or trial_episodes
        """Credit ends with episode ``credit_episodes - 1`` of a trial and with every later
        one (pre-training: a trial's last; adapting an endless trial: every episode from then
        on starts from the belief as that episode started, so each is played as a trial's
        last, and its credit ends with it)."""
        self.rng = np.random.default_rng(seed)
        self.trials = np.zeros(num_envs, dtype=np.int64)
        """Trials each env has started."""
        self.task_index = [0] * num_envs
        self.seeds = [0] * num_envs
        self.episode = np.full(num_envs, -1, dtype=np.int64)
        """Per env, the index of its current episode in its trial (-1: no trial yet)."""
        self.active = np.zeros(num_envs, dtype=bool)
        self.ticks = np.zeros(num_envs, dtype=np.int64)
        """Per env, ticks into its current episode."""
        self.obs_np: np.ndarray | None = None
        self.first_obs: torch.Tensor | None = None
        self.sent: list[np.ndarray] = []
        """Env actions since the oldest current episode's reset (what a resume replays)."""
        self.sent_from = np.zeros(num_envs, dtype=np.int64)
        """Per env, the entry of ``sent`` its current episode's first action is."""
        self.tracker = EpisodeTracker(num_envs)
        self.env: envs.VecEnv | None = None
        self.own_resets = False
        """Each env starts its next episode alone (decided once the pool is built)."""
        self._success: np.ndarray | None = None
        self._trial_starts = np.zeros(num_envs, dtype=bool)
        """Per env, its next tick is the first of a trial."""
        self.stream_at_reset: str | None = None
        """The env's exogenous random stream (:func:`mrft.envs.vector.stream_state`) as the
        pool was last reset, where a resume's replay starts; None: no stream, or the replay
        starts later (an env reset alone)."""

    # -- trials and episodes ----------------------------------------------------------------
    def _draw_trials(self, which: np.ndarray) -> None:
        """A fresh instance for each env of ``which``: one draw per env, in env order."""
        n = self.num_envs
        index = np.flatnonzero(which)
        if self.instance is not None:
            draws = [self.instance] * len(index)
        else:
            draws = training_seeds(self.rng.integers(0, 2**31 - 1, size=len(index)))
        for i, draw in zip(index, draws, strict=True):
            # task classes cycle over the envs and, where they do not divide, over trials
            self.task_index[i] = 0 if self.instance is not None else int(
                (self.trials[i] * n + i) % len(self.tasks))
            self.seeds[i] = int(draw)
        self.trials[index] += 1
        self.episode[index] = -1
        self._trial_starts[index] = True

    def _trials_over(self) -> np.ndarray:
        if self.trial_episodes is None:
            return self.episode < 0
        return (self.episode < 0) | (self.episode + 1 >= self.trial_episodes)

    def _restart(self, which: np.ndarray) -> None:
        """Start the next episode of every env in ``which`` (a new trial where its is over):
        all of them at once from a re-seeded pool, or each env alone."""
        over = which & self._trials_over()
        if over.any():
            self._draw_trials(over)
        self.episode[which] += 1
        if which.all() and (over.all() or not over.any()):
            if over.all():
                rows = torch.arange(self.num_envs, device=self.device)
                self.actor.begin_trial(rows, rows)
            self.actor.begin_episode()
        else:
            self.actor.restart_rows(torch.as_tensor(which, device=self.device),
                                    torch.as_tensor(over, device=self.device))
        if which.all():
            self._reset_pool()
        else:
            self._reset_alone(which)
            drop = int(self.sent_from.min())  # no current episode needs these any more
            self.sent, self.sent_from = self.sent[drop:], self.sent_from - drop
            if drop:  # the replay no longer starts at the pool's reset
                self.stream_at_reset = None

    def _reset_pool(self, stream: str | None = None) -> None:
        """Re-seed (or build) and reset every env; ``stream``: a resumed run's exogenous
        stream, put back before the reset that drew from it."""
        tasks = [self.tasks[t] for t in self.task_index]
        self.env = envs.reseed_or_build(self.env, tasks, self.seeds, self.seed)
        self.own_resets = self._can_reset_alone()
        envs.load_stream_state(self.env, stream)
        self.stream_at_reset = envs.stream_state(self.env)
        self.obs_np = self.env.reset()
        self.active[:] = True
        self.ticks[:] = 0
        self.sent = []
        self.sent_from[:] = 0

    def _reset_alone(self, which: np.ndarray) -> None:
        index = np.flatnonzero(which)
        first = self.env.reset_envs(which, [self.seeds[i] for i in index])
        self.obs_np = np.array(self.obs_np, copy=True)
        self.obs_np[index] = first
        self.active[index] = True
        self.ticks[index] = 0
        self.sent_from[index] = len(self.sent)

    def _can_reset_alone(self) -> bool:
        """Whether each env may start its episodes on its own: the pool resets one env, the
        actor restarts one env's state, an env keeps its task class across trials, and no
        chunk must end with an episode (adapting)."""
        same_task = len(self.tasks) == 1 or self.num_envs % len(self.tasks) == 0
        return (not self.episode_chunks and same_task and self.actor.row_restarts
                and resets_one_env(self.env))

    def _inside_trials(self, steps: dict[str, list[torch.Tensor]]) -> bool:
        """With ``whole_trials``: the chunk has begun and a trial in it has not ended."""
        return self.whole_trials and bool(steps["obs"]) and bool(
            self.active.any() or not self._trials_over().all())

    # -- one chunk --------------------------------------------------------------------------
    @torch.no_grad()
    def collect(self, max_env_steps: int | None = None) -> StreamBatch | None:
        """The next chunk, or ``None`` when the budget left cannot pay for one more tick."""
        steps: dict[str, list[torch.Tensor]] = {k: [] for k in STEP_FIELDS}
        finished: list[Episode] = []
        finished_index: list[int] = []
        env_steps = 0
        self.actor.begin_chunk()
        while len(steps["obs"]) < self.num_steps or self._inside_trials(steps):
            if not self.active.any():
                if self.episode_chunks and steps["obs"]:
                    break
                self._restart(np.ones(self.num_envs, dtype=bool))
            if max_env_steps is not None and env_steps + int(self.active.sum()) > max_env_steps:
                break
            ended = self._tick(steps)
            env_steps += int(self.active.sum())
            episodes = self.tracker.step(steps["rewards"][-1].cpu().numpy(), self.active, ended,
                                         self._success, np.asarray(self.task_index))
            finished += episodes
            finished_index += [int(self.episode[e.env_index]) for e in episodes]
            self.active &= ~ended
            self.ticks += 1
            if self.own_resets and ended.any() and self.active.any():
                self._restart(ended)
        if not self.active.any() and not (max_env_steps is not None and env_steps >= max_env_steps):
            # the next chunk's bootstrap sees the next episode's start
            self._restart(np.ones(self.num_envs, dtype=bool))
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
        starting = self.ticks == 0
        if starting.all():
            self.first_obs = obs
        elif starting.any():
            shape = (-1,) + (1,) * (obs.dim() - 1)
            self.first_obs = torch.where(torch.as_tensor(starting, device=device).reshape(shape),
                                         obs, self.first_obs)
        action, logprob, value = self.actor.act(obs)
        env_action = policy.env_action(action)
        self.sent.append(np.asarray(env_action))
        result = self.env.step(env_action)
        check_finite(result, f"step {int(self.ticks.max()) + 1} of an episode")
        self._success = result.success
        ended = self.active & (result.terminated | result.truncated
                               | (self.ticks + 1 >= self.max_episode_steps))
        credit = self.credit_episodes
        trial_end = (ended & (self.episode >= credit - 1) if credit is not None
                     else np.zeros_like(ended))
        trial_start = self._trial_starts.copy()
        self._trial_starts[:] = False
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
        state = {"exact": True, "trials": torch.from_numpy(self.trials.copy()),
                 "rng": json.dumps(self.rng.bit_generator.state),
                 "episode": torch.from_numpy(self.episode.copy()),
                 "task_index": torch.tensor(self.task_index), "seeds": torch.tensor(self.seeds),
                 "active": torch.from_numpy(self.active.copy()),
                 "ticks": torch.from_numpy(self.ticks.copy()),
                 "trial_starts": torch.from_numpy(self._trial_starts.copy()),
                 "tracker": self.tracker.state_dict()}
        if self.obs_np is not None:
            state["obs"] = torch.as_tensor(np.asarray(self.obs_np)).clone()
            state["sent"] = [torch.as_tensor(a).clone() for a in self.sent]
            state["sent_from"] = torch.from_numpy(self.sent_from.copy())
            state["sent_dtype"] = str(np.asarray(self.sent[0]).dtype) if self.sent else ""
            state["stream"] = self.stream_at_reset
            if self.first_obs is not None:
                state["first_obs"] = self.first_obs.cpu().clone()
        return state

    def _per_env(self, value, dtype) -> np.ndarray:
        """A per-env array from a state that may hold one value for every env (lockstep)."""
        value = value.numpy() if isinstance(value, torch.Tensor) else value
        return np.broadcast_to(np.asarray(value, dtype=dtype), (self.num_envs,)).copy()

    def load_state_dict(self, state: dict) -> bool:
        """Replay the saved episodes' actions into a fresh pool, resetting each env where its
        episode started; True when that reproduced the saved observation (an exact resume),
        else the run continues from new trials."""
        self._restore_draws(state)
        if "obs" not in state:
            return True
        self.task_index = [int(t) for t in state["task_index"]]
        self.seeds = [int(s) for s in state["seeds"]]
        self.episode = self._per_env(state["episode"], np.int64)
        stream = state.get("stream")
        self._reset_pool(stream)
        if stream is None and envs.stream_state(self.env) is not None:
            # an exogenous stream whose state where the replay starts is unknown: the replay
            # would draw other noise than the run did
            return self._start_fresh_trials()
        sent = state["sent"]
        starts = self._per_env(state.get("sent_from", 0), np.int64)
        dtype = state.get("sent_dtype") or None
        for t, action in enumerate(sent):
            if t and (starts == t).any():
                self._reset_alone(starts == t)
            self.obs_np = self.env.step(action.numpy().astype(dtype, copy=False)).obs
            self.sent.append(action.numpy())
        if sent and (starts == len(sent)).any():
            self._reset_alone(starts == len(sent))
        if not np.array_equal(np.asarray(self.obs_np), state["obs"].numpy()):
            return self._start_fresh_trials()
        self.sent_from = starts
        self.active = state["active"].numpy().copy()
        self.ticks = self._per_env(state.get("ticks", state.get("tick", 0)), np.int64)
        self._trial_starts = self._per_env(state.get("trial_starts", False), bool)
        if "first_obs" in state:
            self.first_obs = state["first_obs"].to(self.device)
        self.tracker.load_state_dict(state["tracker"])
        return True

    def _start_fresh_trials(self) -> bool:
        """A resume that cannot replay the saved episodes: every env starts a new trial at the
        next tick. Returns False (not an exact resume)."""
        self.active[:] = False
        self.episode[:] = -1
        return False

    def _restore_draws(self, state: dict) -> None:
        """The instance generator and each env's trial count as saved (a state from before
        envs reset on their own holds the number of lockstep draws, which are replayed)."""
        self.rng = np.random.default_rng(self.seed)
        if "rng" in state:
            self.rng.bit_generator.state = json.loads(state["rng"])
            self.trials = self._per_env(state["trials"], np.int64)
            return
        draws = int(state.get("trials_drawn", 0))
        if self.instance is None:
            for _ in range(draws):
                self.rng.integers(0, 2**31 - 1, size=self.num_envs)
        self.trials[:] = draws
