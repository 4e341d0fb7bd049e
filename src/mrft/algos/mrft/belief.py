"""Task belief: what a trial's transitions so far say about the hidden task, at every step.

A policy adapts *within* an episode only if its picture of the task is updated after every
transition. The belief ``z_t`` is computed from the transitions ``c_0 .. c_{t-1}`` of the
current trial (``z_0`` is a learned prior) by one of three encoders:

- ``tcn`` (default): the dilated causal temporal convolutional network of
  :mod:`mrft.algos.mrft.encoder` gives local features ``h_s`` of the recent steps, and a
  running mean of ``h`` over the whole trial gives a memory that never forgets (the TCN
  alone sees only its receptive field). ``z_t = W [h_{t-1}, mean_{s<t} h_s]``.
- ``gru``: a gated recurrent unit over the trial (VariBAD's encoder, Zintgraf et al. 2020)
  in place of the TCN's features, with the same running mean beside it. Its whole state is
  one hidden vector, so a step is one fused cell, where the TCN runs eight convolutions.
- ``set``: a permutation-invariant encoder (PEARL, Rakelly et al. 2019): an MLP per
  transition, averaged over the trial. Order-blind, the ablation of the TCN.

Each runs in two modes that give the same numbers: :meth:`BeliefEncoder.sequence` encodes
whole trials in one parallel pass (the update), and :meth:`BeliefEncoder.step` folds one
transition into a cached state at O(levels) cost per env step (acting), keeping for every
causal convolution only the inputs it will still read.

The belief is trained by :class:`RewardDecoder`, which predicts the reward of transitions of
the same trial (earlier *and* later ones) from ``z`` (VariBAD, Zintgraf et al. 2020): a
belief that predicts what the task will pay has found the task. By default no policy
gradient reaches the encoder (the policy reads a detached ``z``), so the belief is shaped by
this self-supervised loss alone.
"""

from __future__ import annotations

import dataclasses

import torch
import torch.nn.functional as F
from torch import nn

from mrft.algos.mrft.encoder import CausalConv1d, TemporalBlock

ENCODERS = ("tcn", "gru", "set")


@dataclasses.dataclass
class BeliefState:
    """What :meth:`BeliefEncoder.step` carries between env steps, per env row."""

    windows: list[torch.Tensor]
    """Per causal convolution, its last ``left_pad`` inputs ``[B, C_in, left_pad]`` (none
    for the other encoders)."""
    last: torch.Tensor
    """``[B, C]`` features of the latest transition (zeros before the first); for ``gru``
    also its hidden state."""
    total: torch.Tensor
    """``[B, C]`` sum of the features of the trial's transitions."""
    count: torch.Tensor
    """``[B]`` transitions seen in this trial."""
    offset: torch.Tensor | None = None
    """``[B, E]`` the gradient inner loop's correction of the belief for the current
    episode (:meth:`~mrft.algos.mrft.belief_agent.BeliefAgent.refine`); None: none."""


class BeliefEncoder(nn.Module):
    def __init__(self, in_dim: int, embed_dim: int = 32, kind: str = "tcn", channels: int = 64,
                 levels: int = 4, kernel_size: int = 3):
        super().__init__()
        if kind not in ENCODERS:
            raise ValueError(f"belief encoder must be one of {ENCODERS}, got {kind!r}")
        self.kind = kind
        self.in_dim = in_dim
        self.channels = channels
        self.embed_dim = embed_dim
        if kind == "tcn":
            self.blocks = nn.ModuleList(
                TemporalBlock(in_dim if i == 0 else channels, channels, kernel_size, 2**i, 0.0)
                for i in range(levels))
        elif kind == "gru":
            self.gru = nn.GRU(in_dim, channels, batch_first=True)
        else:
            self.features = nn.Sequential(nn.Linear(in_dim, channels), nn.ReLU(),
                                          nn.Linear(channels, channels), nn.ReLU())
        self.proj = nn.Linear(2 * channels, embed_dim)
        self.prior = nn.Parameter(torch.zeros(embed_dim))
        """``z_0``: the belief before the trial's first transition."""

    # -- whole trials -----------------------------------------------------------------------
    def sequence(self, x: torch.Tensor, start: BeliefState | None = None) -> torch.Tensor:
        """Beliefs for every step of trials ``x`` ``[B, L, in_dim]`` (transitions, left-aligned;
        steps after a row's end are padding and cannot affect earlier steps), continuing
        ``start`` (what :meth:`step` carried up to the first of them; None: the trial's
        start). Returns ``[B, L + 1, embed_dim]``: ``[:, t]`` is the belief after ``t`` more
        transitions, so ``[:, 0]`` is ``belief(start)``. A chunk of a trial encoded from its
        stored start equals the whole trial encoded at once (R2D2's stored state, exact here
        because every convolution's cached inputs are part of the state)."""
        batch, length = x.shape[0], x.shape[1]
        if start is None:
            start = self.initial_state(batch, x.device)
        first = self.belief(start)[:, None, :]
        if length == 0:
            return first
        h = self._features(x, start)  # [B, L, C]
        counts = start.count[:, None, None] + torch.arange(1, length + 1, device=x.device,
                                                            dtype=h.dtype)[None, :, None]
        mean = (start.total[:, None, :] + h.cumsum(dim=1)) / counts
        z = self.proj(torch.cat([self._local(h), mean], dim=-1))
        return torch.cat([first, z], dim=1)

    def _features(self, x: torch.Tensor, start: BeliefState) -> torch.Tensor:
        if self.kind == "set":
            return self.features(x)
        if self.kind == "gru":
            return self.gru(x, start.last[None].to(x.dtype).contiguous())[0].float()
        out = x.transpose(1, 2)
        convs = iter(start.windows)
        for block in self.blocks:
            inputs = out
            for conv in (block.conv1, block.conv2):
                # the cached inputs stand where a fresh trial's left padding (zeros) would be
                out = F.relu(conv.conv(torch.cat([next(convs).to(out.dtype), out], dim=2)))
            out = F.relu(out + block.skip(inputs))
        return out.transpose(1, 2)

    def _local(self, h: torch.Tensor) -> torch.Tensor:
        """The order-aware part of the belief; the set encoder has none (zeros keep shapes)."""
        return torch.zeros_like(h) if self.kind == "set" else h

    # -- one step at a time -----------------------------------------------------------------
    def initial_state(self, batch: int, device: torch.device | None = None) -> BeliefState:
        device = device or self.prior.device
        windows = []
        if self.kind == "tcn":
            for block in self.blocks:
                for conv in (block.conv1, block.conv2):
                    windows.append(torch.zeros(batch, conv.conv.in_channels, conv.left_pad,
                                               device=device))
        zeros = torch.zeros(batch, self.channels, device=device)
        return BeliefState(windows, zeros, zeros.clone(), torch.zeros(batch, device=device))

    def belief(self, state: BeliefState) -> torch.Tensor:
        """``[B, embed_dim]`` the current belief of every row."""
        mean = state.total / state.count.clamp_min(1)[:, None]
        z = self.proj(torch.cat([self._local(state.last), mean], dim=-1))
        prior = self.prior.expand_as(z)
        return torch.where((state.count > 0)[:, None], z, prior)

    def step(self, state: BeliefState, x: torch.Tensor, stepped: torch.Tensor) -> BeliefState:
        """Fold transitions ``x`` ``[B, in_dim]`` into ``state``; rows where ``stepped`` is
        False (envs whose episode already ended) keep their state."""
        if self.kind == "set":
            h, windows = self.features(x), state.windows
        elif self.kind == "gru":
            # the stored hidden state may come from autocast (cuDNN's GRU returns float16)
            hidden = state.last[None].to(x.dtype).contiguous()
            h, windows = self.gru(x[:, None], hidden)[0][:, 0].to(state.total.dtype), state.windows
        else:
            h, windows = self._tcn_step(state.windows, x)
        if bool(stepped.all()):  # the usual case: every env stepped, nothing to hold back
            return BeliefState(windows=windows, last=h, total=state.total + h, count=state.count + 1,
                               offset=state.offset)
        keep = stepped[:, None]
        return BeliefState(
            windows=[torch.where(keep[:, :, None], new, old) for new, old in zip(windows, state.windows,
                                                                                strict=True)],
            last=torch.where(keep, h, state.last),
            total=torch.where(keep, state.total + h, state.total),
            count=state.count + stepped.to(state.count.dtype),
            offset=state.offset,
        )

    def _tcn_step(self, windows: list[torch.Tensor], x: torch.Tensor) -> tuple[torch.Tensor, list]:
        """The TCN's newest output ``[B, C]`` and the updated windows, on ``[B, C]`` features
        between the layers (a 1 x 1 convolution of one step is a matrix product, at a tenth of
        a ``conv1d`` call's cost)."""
        new_windows = []
        out = x
        convs = iter(windows)
        for block in self.blocks:
            inputs = out
            for conv in (block.conv1, block.conv2):
                out, window = _conv_step(conv, next(convs), out)
                new_windows.append(window)
            skip = block.skip
            if isinstance(skip, nn.Conv1d):
                inputs = F.linear(inputs, skip.weight[:, :, 0], skip.bias)
            out = F.relu(out + inputs)
        return out, new_windows


def _conv_step(conv: CausalConv1d, window: torch.Tensor, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """One output ``[B, C_out]`` (after the ReLU) of a causal convolution from its cached
    inputs ``[B, C_in, left_pad]`` and the newest one ``[B, C_in]``: the ``kernel_size`` taps
    it reads, one matrix product (cheaper than a dilated ``conv1d`` call on a single output)."""
    full = torch.cat([window, x[:, :, None]], dim=2)  # [B, C_in, left_pad + 1]
    taps = full[:, :, ::conv.conv.dilation[0]]  # [B, C_in, kernel_size], oldest first as conv1d reads them
    weight = conv.conv.weight.reshape(conv.conv.out_channels, -1)
    out = F.linear(taps.reshape(taps.shape[0], -1), weight, conv.conv.bias)
    return F.relu(out), full[:, :, 1:]


class RewardDecoder(nn.Module):
    """``r_hat = D(z, o, a)``: the reward a transition of the task would pay, given the belief."""

    def __init__(self, embed_dim: int, obs_dim: int, action_dim: int, hidden: int = 64):
        super().__init__()
        self.net = nn.Sequential(nn.Linear(embed_dim + obs_dim + action_dim, hidden), nn.ReLU(),
                                 nn.Linear(hidden, hidden), nn.ReLU(), nn.Linear(hidden, 1))

    def forward(self, z: torch.Tensor, obs: torch.Tensor, action: torch.Tensor) -> torch.Tensor:
        return self.net(torch.cat([z, obs, action], dim=-1)).squeeze(-1)


class ObservationDecoder(nn.Module):
    """``o_hat' = o + D_o(z, o, a)``: the next observation a transition of the task would
    reach, given the belief (VariBAD's state decoder), for tasks whose hidden parameters show
    in the dynamics before they show in the rewards."""

    def __init__(self, embed_dim: int, obs_dim: int, action_dim: int, hidden: int = 64):
        super().__init__()
        self.net = nn.Sequential(nn.Linear(embed_dim + obs_dim + action_dim, hidden), nn.ReLU(),
                                 nn.Linear(hidden, hidden), nn.ReLU(), nn.Linear(hidden, obs_dim))

    def forward(self, z: torch.Tensor, obs: torch.Tensor, action: torch.Tensor) -> torch.Tensor:
        return obs + self.net(torch.cat([z, obs, action], dim=-1))


def belief_loss(decoder: RewardDecoder, beliefs: torch.Tensor, obs: torch.Tensor,
                actions: torch.Tensor, rewards: torch.Tensor, lengths: torch.Tensor,
                generator: torch.Generator | None = None, targets_per_belief: int = 8,
                obs_decoder: ObservationDecoder | None = None,
                next_obs: tuple[torch.Tensor, torch.Tensor] | None = None) -> torch.Tensor:
    """Mean squared error of the rewards of random transitions of the same trial, predicted
    from every belief of the trial (before and after the transition); with ``obs_decoder``
    and ``next_obs = (features [B, L, O], valid [B, L])``, plus the mean squared error of
    their next observations where one exists.

    ``beliefs`` ``[B, L + 1, E]`` (from :meth:`BeliefEncoder.sequence`), ``obs`` ``[B, L, O]``
    and ``actions`` ``[B, L, A]`` are the trial's transitions, ``rewards`` ``[B, L]`` their
    symlog rewards, ``lengths`` ``[B]`` the real transitions per row. Each belief ``z_t``,
    ``t < length``, is asked for ``targets_per_belief`` transitions drawn uniformly from the
    row's real ones.
    """
    batch, length = rewards.shape
    if length == 0:
        return rewards.new_zeros(())
    lengths = lengths.to(rewards.device).clamp_min(1)
    u = torch.rand(batch, length, targets_per_belief, generator=generator).to(rewards.device)
    targets = (u * lengths[:, None, None]).long().clamp_max(length - 1)  # [B, L, M]
    rows = torch.arange(batch, device=rewards.device)[:, None, None]
    z = beliefs[:, :length, None, :].expand(-1, -1, targets_per_belief, -1)
    target_obs, target_actions = obs[rows, targets], actions[rows, targets]
    predicted = decoder(z, target_obs, target_actions)
    error = (predicted - rewards[rows, targets]) ** 2
    valid = torch.arange(length, device=rewards.device)[None, :] < lengths[:, None]
    weights = valid[:, :, None].to(error.dtype).expand_as(error)
    loss = (error * weights).sum() / weights.sum()
    if obs_decoder is not None and next_obs is not None:
        following, exists = next_obs
        obs_error = (obs_decoder(z, target_obs, target_actions) - following[rows, targets]).pow(2).mean(-1)
        obs_weights = weights * exists[rows, targets].to(weights.dtype)
        loss = loss + (obs_error * obs_weights).sum() / obs_weights.sum().clamp_min(1.0)
    return loss
