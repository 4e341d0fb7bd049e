"""Whole-episode collection: trials of K >= 1 episodes per env, in groups, within a budget.

The one collector for every algorithm that learns from whole episodes (GRPO is K = 1,
MRFT plays trials of K episodes with its context carried over) and for evaluation and
adaptation. Per call it

1. picks task instances: ``fresh`` draws one instance seed per group from a seeded
   generator (pre-training on a distribution of tasks); ``fixed`` plays one held-out
   instance in every env (adaptation, evaluation);
2. re-seeds the env pool with each env's instance seed and resets it before every episode
   (:func:`mrft.envs.reseed_or_build`), so the members of a group start every episode
   from the same task *and* state, on every family and in every batch, and the K episodes
   of a trial replay the same instance;
3. steps until every env has finished its episode (or ``max_episode_steps``).

Only real episode steps are recorded and counted (``env_steps``): the steps a finished env
is stepped while its neighbours finish are discarded, never learned from, and a real system
would not take them. A call plays only as many groups as can finish within the step budget
it is given (each env may need K x horizon steps), so a run never overshoots its budget;
on one held instance (adaptation) the last batches shrink to the envs the budget can still
pay for, so little of the budget is left unused when episodes end early.
Observation statistics are updated only when the collector is told to (never in
evaluation).
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import torch

from mrft import envs
from mrft.batches import Actor, Episode, EpisodeBatch, EpisodeRun, pad_time
from mrft.envs.instances import training_seeds
from mrft.envs.spaces import task_spaces
from mrft.envs.vector import check_finite

__all__ = ["Actor", "EpisodeBatch", "EpisodeCollector", "EpisodeRun", "play_episode"]


@torch.no_grad()
def play_episode(env: envs.VecEnv, actor: Actor, max_steps: int, device: torch.device,
                 update_normalizer: bool) -> EpisodeRun:
    """Reset ``env`` and step it until every env finished one episode (or ``max_steps``)."""
    policy = actor.policy
    n = env.num_envs
    obs_np = env.reset()
    active = np.ones(n, dtype=bool)
    terminated = np.zeros(n, dtype=bool)
    returns = np.zeros(n, dtype=np.float64)
    lengths = np.zeros(n, dtype=np.int64)
    success = np.zeros(n, dtype=np.float32)
    has_success = False
    steps: dict[str, list[torch.Tensor]] = {k: [] for k in
                                            ("obs", "actions", "logprobs", "values", "rewards", "mask")}
    t = 0
    while active.any() and t < max_steps:
        raw = torch.as_tensor(obs_np, device=device)
        # only envs still in their episode feed the statistics
        if update_normalizer and policy.obs_normalizer is not None:
            policy.obs_normalizer.rms.update(raw[torch.as_tensor(active, device=device)].float())
        obs = policy.normalize(raw)
        action, logprob, value = actor.act(obs)
        result = env.step(policy.env_action(action))
        check_finite(result, f"step {t + 1} of an episode")
        reward = np.where(active, result.reward, 0.0)
        steps["obs"].append(obs)
        steps["actions"].append(action)
        steps["logprobs"].append(logprob)
        steps["values"].append(value.float())
        steps["rewards"].append(torch.as_tensor(reward, dtype=torch.float32, device=device))
        steps["mask"].append(torch.as_tensor(active.copy(), device=device))
        returns += reward
        lengths += active
        if result.success is not None:
            has_success = True
            success = np.maximum(success, np.where(active, result.success, 0.0))
        terminated |= active & result.terminated
        # an episode also ends where the collector stops it (max_steps)
        ended = active & (result.terminated | result.truncated | (t + 1 >= max_steps))
        actor.observe(action, steps["rewards"][-1], steps["mask"][-1],
                      torch.as_tensor(ended, device=device))
        active &= ~ended
        obs_np = result.obs
        t += 1
    # the observation after each env's last step: its value bootstraps a truncated episode
    last_obs = torch.stack([*steps["obs"][1:], policy.normalize(torch.as_tensor(obs_np, device=device))])
    index = torch.as_tensor(lengths - 1, device=device).clamp_min(0)
    final_obs = last_obs[index, torch.arange(n, device=device)]
    final_values = actor.value(final_obs).float()
    stacked = {k: torch.stack(v, dim=1) for k, v in steps.items()}
    values = torch.cat([stacked["values"], final_values[:, None]], dim=1)
    after_end = ~torch.cat([stacked["mask"], torch.zeros(n, 1, dtype=torch.bool, device=device)], dim=1)
    values = torch.where(after_end, final_values[:, None], values)
    return EpisodeRun(stacked["obs"], stacked["actions"], stacked["logprobs"], values,
                      stacked["rewards"], stacked["mask"], torch.as_tensor(terminated, device=device),
                      returns, lengths, success if has_success else None)



class EpisodeCollector:
    """Plays ``num_envs // group_size`` groups x ``group_size`` trials of ``trial_episodes``
    episodes per call (fewer groups when the budget left cannot pay for them all).

    ``instance=None`` draws a fresh instance per group per call (task ``g`` of a call cycles
    over ``tasks`` so every task of a multi-task suite gets its turn); ``instance=seed``
    plays that one instance of ``tasks[0]`` in every env.
    """

    def __init__(self, tasks: Sequence[envs.Task], actor: Actor, num_envs: int, group_size: int,
                 trial_episodes: int, max_episode_steps: int, seed: int, device: torch.device,
                 instance: int | None = None, update_normalizer: bool = True):
        if num_envs % group_size:
            raise ValueError(f"num_envs={num_envs} is not a multiple of group_size={group_size}")
        self.tasks = tuple(tasks)
        self.actor = actor
        self.num_envs = num_envs
        self.group_size = group_size
        self.trial_episodes = trial_episodes
        self.max_episode_steps = max_episode_steps
        self.seed = seed
        self.device = device
        self.instance = instance
        self.update_normalizer = update_normalizer
        self.rng = np.random.default_rng(seed)
        self.calls = 0
        self.env: envs.VecEnv | None = None
        self._stream: str | None = None
        """A resumed run's saved exogenous stream, put into the env once it is built."""
        horizons = [task_spaces(t).horizon for t in self.tasks]
        self.horizon = (max_episode_steps if None in horizons
                        else min(max(horizons), max_episode_steps))
        """Most env steps one episode can take: what a group must be able to pay for."""

    def steps_per_env(self) -> int:
        return self.trial_episodes * self.horizon

    def next_instances(self, groups: int) -> tuple[list[int], list[int]]:
        """Per env: (task index, instance seed) of the next call, group members equal."""
        if self.instance is not None:
            return [0] * (groups * self.group_size), [self.instance] * (groups * self.group_size)
        total = self.num_envs // self.group_size
        first = self.calls * total
        seeds = training_seeds(self.rng.integers(0, 2**31 - 1, size=total))[:groups]
        task_index = [(first + g) % len(self.tasks) for g in range(groups)]
        per_env = [(task_index[i // self.group_size], int(seeds[i // self.group_size]))
                   for i in range(groups * self.group_size)]
        return [t for t, _ in per_env], [s for _, s in per_env]

    def groups_within(self, max_env_steps: int | None) -> int:
        groups = self.num_envs // self.group_size
        if max_env_steps is None:
            return groups
        return min(groups, max_env_steps // (self.group_size * self.steps_per_env()))

    @torch.no_grad()
    def collect(self, max_env_steps: int | None = None, groups: int | None = None) -> EpisodeBatch | None:
        """One batch, or ``None`` when not even one group fits in ``max_env_steps``;
        ``groups`` plays at most that many groups."""
        groups = min(self.groups_within(max_env_steps), groups or self.num_envs)
        envs_now = groups * self.group_size
        if groups == 0 and self.instance is not None and max_env_steps is not None:
            # one held instance: every env plays it from the same start, so the last batches
            # may shrink to the envs the budget can still pay for (two at least: a group)
            envs_now = min(self.group_size, max_env_steps // self.steps_per_env())
            groups = 1 if envs_now >= 2 else 0
        if groups == 0:
            return None
        task_index, seeds = self.next_instances(groups)
        task_index, seeds = task_index[:envs_now], seeds[:envs_now]
        self.calls += 1
        n = len(seeds)
        tasks = [self.tasks[t] for t in task_index]
        group_ids = torch.arange(n, device=self.device) // self.group_size
        self.actor.begin_trial(group_ids, torch.arange(n, device=self.device))
        runs = []
        for _ in range(self.trial_episodes):
            self.env = envs.reseed_or_build(self.env, tasks, seeds, self.seed)
            if self._stream is not None:  # resumed: the stream goes on where it was saved
                envs.load_stream_state(self.env, self._stream)
                self._stream = None
            self.actor.begin_episode()
            run = play_episode(self.env, self.actor, self.max_episode_steps, self.device,
                               self.update_normalizer)
            self.actor.end_episode(run)
            runs.append(run)
        return self._batch(runs, task_index, group_ids, self.actor.end_trial())

    def _batch(self, runs: list[EpisodeRun], task_index: list[int], group_ids: torch.Tensor,
               extras: dict[str, torch.Tensor]) -> EpisodeBatch:
        n = len(task_index)
        horizon = max(r.obs.shape[1] for r in runs)

        def stack(name: str, length: int = horizon) -> torch.Tensor:
            # padding after an end repeats the bootstrap value for values, zeros elsewhere
            return torch.stack([pad_time(getattr(r, name), length, repeat_last=name == "values")
                                for r in runs], dim=1)

        returns = torch.tensor(np.stack([r.returns for r in runs], axis=1), dtype=torch.float32,
                               device=self.device)
        successes = None
        if all(r.success is not None for r in runs):
            successes = torch.tensor(np.stack([r.success for r in runs], axis=1),
                                     dtype=torch.float32, device=self.device)
        episodes = [
            Episode(float(r.returns[i]), int(r.lengths[i]),
                    float(r.success[i]) if r.success is not None else None, task_index[i], i)
            for r in runs for i in range(n)
        ]
        return EpisodeBatch(
            obs=stack("obs"), actions=stack("actions"), logprobs=stack("logprobs"),
            values=stack("values", horizon + 1), rewards=stack("rewards"), mask=stack("mask"),
            terminated=torch.stack([r.terminated for r in runs], dim=1), returns=returns,
            successes=successes, group_ids=group_ids,
            task_ids=torch.tensor(task_index, device=self.device), episodes=episodes,
            env_steps=sum(r.env_steps for r in runs), extras=extras, runs=runs,
        )

    def close(self) -> None:
        if self.env is not None:
            self.env.close()
            self.env = None

    def state_dict(self) -> dict:
        """Each call starts from freshly seeded resets, so the call count and where the env's
        exogenous random stream stands (noise, clicks, market paths: what a re-seed does not
        restart) are the whole env state: a resume is exact."""
        stream = envs.stream_state(self.env) if self.env is not None else None
        return {"calls": self.calls, "exact": True, **({"stream": stream} if stream else {})}

    def load_state_dict(self, state: dict) -> bool:
        calls = int(state.get("calls", 0))
        self.rng = np.random.default_rng(self.seed)
        if self.instance is None:
            for _ in range(calls):
                self.rng.integers(0, 2**31 - 1, size=self.num_envs // self.group_size)
        self.calls = calls
        self._stream = state.get("stream")
        return True
