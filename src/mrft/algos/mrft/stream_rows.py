"""MRFT's view of a chunk of streamed trials: one sequence per (env, trial part).

A chunk (:class:`mrft.batches.StreamBatch`) holds ``T`` ticks of ``N`` envs; a trial may have
started before the chunk and may go on after it, and new trials may start inside it, in
each env on its own tick. The update needs, per piece of a trial, its real steps back to back (waiting ticks
dropped), the belief each action was taken with, where its credit ends, and the belief
state it started from, so the belief can be recomputed exactly (:meth:`BeliefEncoder.sequence`
from a stored start, as R2D2 stores recurrent states). A *row* is the steps of one env
between trial ends: a row whose first step starts a trial starts from the prior, any other
continues the state the env's chunk started from. (Adapting, credit ends with episode
``K - 1`` and every later one, each of which starts from the belief as episode ``K - 1``
started; chunks then end with episodes, so a row that does not start a trial is always the
chunk's first.)

A row ends where its trial ends (terminal if that episode ended in a terminal state, else
bootstrapped from the value of the observation the truncation cut off) or where the chunk
ends (bootstrapped from the value of the env's next step). Episode ends inside a row are not
terminal: the trial goes on (as RL2).
"""

from __future__ import annotations

import dataclasses

import torch

from mrft.algos.mrft.belief import BeliefState
from mrft.algos.sequences import gather_steps, trial_sequences
from mrft.batches import StreamBatch


@dataclasses.dataclass
class StreamRows:
    obs: torch.Tensor
    actions: torch.Tensor
    logprobs: torch.Tensor
    values: torch.Tensor
    rewards: torch.Tensor
    mask: torch.Tensor
    """``[R, L]`` real steps (a prefix of each row)."""
    episode_end: torch.Tensor
    episode_index: torch.Tensor
    """``[R, L]`` which episode of the row a step belongs to (0: the row's first)."""
    beliefs: torch.Tensor
    """``[R, L, E]`` the belief each action was taken with."""
    final_value: torch.Tensor
    terminated: torch.Tensor
    task_ids: torch.Tensor
    """``[R]`` (a row lies inside one trial, so on one task)."""
    env: torch.Tensor
    """``[R]`` the env the row was played in."""
    fresh: torch.Tensor
    """``[R]`` the row's first step starts a trial (its start state is the prior's)."""

    @property
    def lengths(self) -> torch.Tensor:
        return self.mask.sum(1)

    @classmethod
    def from_batch(cls, batch: StreamBatch) -> StreamRows:
        valid, trial_end = batch.valid, batch.trial_end
        n, t = valid.shape
        part = torch.cumsum(trial_end.long(), dim=1) - trial_end.long()  # trial ends before a step
        parts = int(part.max()) + 1 if t else 1
        which = torch.arange(parts, device=valid.device)[None, :, None]
        masks = (valid[:, None, :] & (part[:, None, :] == which)).reshape(n * parts, t)
        keep = masks.any(1)
        env = torch.arange(n, device=valid.device).repeat_interleave(parts)[keep]
        index, mask = trial_sequences(masks[keep][:, None, :])

        def gather(x: torch.Tensor) -> torch.Tensor:
            picked = gather_steps(x[env][:, None], index)
            shape = mask.shape + (1,) * (picked.dim() - 2)
            return torch.where(mask.reshape(shape), picked, torch.zeros((), dtype=picked.dtype))

        rows = torch.arange(len(env), device=valid.device)
        last = index[rows, (mask.sum(1) - 1).clamp_min(0)]
        ends_trial = trial_end[env, last]
        terminated = ends_trial & batch.terminated[env, last]
        final_value = torch.where(ends_trial, batch.final_values[env, last], batch.next_value[env])
        episode_end = gather(batch.episode_end)
        episode_index = torch.cumsum(episode_end.long(), dim=1) - episode_end.long()
        return cls(obs=gather(batch.obs), actions=gather(batch.actions),
                   logprobs=gather(batch.logprobs), values=gather(batch.values),
                   rewards=gather(batch.rewards), mask=mask, episode_end=episode_end,
                   episode_index=episode_index, beliefs=gather(batch.extras["beliefs"]),
                   final_value=torch.where(terminated, 0.0, final_value), terminated=terminated,
                   task_ids=batch.task_ids[env, last], env=env,
                   fresh=batch.trial_start[env, index[:, 0]])


def row_start_states(start: BeliefState | None, rows: StreamRows, initial: BeliefState) -> BeliefState:
    """The belief state each row starts from: its env's state where the chunk started for a
    row that continues a trial, the prior's (``initial``, one row per row) for one that
    starts a trial."""
    if start is None:
        return initial

    def pick(chunk: torch.Tensor, fresh_value: torch.Tensor) -> torch.Tensor:
        shape = (-1,) + (1,) * (chunk.dim() - 1)
        return torch.where(rows.fresh.reshape(shape), fresh_value, chunk[rows.env])

    offset = None
    if start.offset is not None:
        offset = pick(start.offset, torch.zeros_like(start.offset[rows.env]))
    return BeliefState(windows=[pick(w, i) for w, i in zip(start.windows, initial.windows, strict=True)],
                       last=pick(start.last, initial.last), total=pick(start.total, initial.total),
                       count=pick(start.count, initial.count), offset=offset)


def state_columns(state: BeliefState) -> dict[str, torch.Tensor]:
    """A belief state as ``start_*`` columns of an update's data (one per row), so
    minibatches pick rows of it like every other per-row tensor."""
    columns = {f"start_window_{i}": w for i, w in enumerate(state.windows)}
    columns.update({"start_last": state.last, "start_total": state.total,
                    "start_count": state.count})
    if state.offset is not None:
        columns["start_offset"] = state.offset
    return columns


def columns_state(data: dict[str, torch.Tensor]) -> BeliefState:
    """The inverse of :func:`state_columns`."""
    windows = []
    while f"start_window_{len(windows)}" in data:
        windows.append(data[f"start_window_{len(windows)}"])
    return BeliefState(windows=windows, last=data["start_last"], total=data["start_total"],
                       count=data["start_count"], offset=data.get("start_offset"))
