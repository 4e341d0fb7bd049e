"""Building blocks of the task belief: transition features and causal temporal convolutions.

A meta-RL policy must infer which task it faces from what it has seen so far: the sequence
of ``(observation features, action, reward, done)`` transitions of the current trial. A
temporal convolutional network (Bai, Kolter and Koltun 2018, "An Empirical Evaluation of
Generic Convolutional and Recurrent Networks for Sequence Modeling") reads it with dilated
*causal* convolutions: all prefixes of a sequence are encoded in one parallel pass, unlike
an RNN that must step through time, and causality guarantees that the belief at step ``t``
never sees a transition that had not happened yet (:mod:`mrft.algos.mrft.belief` also runs
the same network one step at a time).

Padding is applied only on the left so the convolution at step ``t`` reads inputs
``<= t``; the dilation doubles at every level so the receptive field grows exponentially
with depth while the parameter count grows linearly.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn


def context_dim(obs_dim: int, action_dim: int) -> int:
    """Width of one context step built by :func:`context_features`.

    For discrete actions ``action_dim`` is the number of actions (the one-hot width).
    The two extra features are the reward and the done flag.
    """
    return obs_dim + action_dim + 2


def context_features(
    obs_features: torch.Tensor,
    actions: torch.Tensor,
    rewards: torch.Tensor,
    dones: torch.Tensor,
    *,
    num_actions: int | None = None,
) -> torch.Tensor:
    """Concatenate one transition's pieces into a single ``[..., F + A + 2]`` context step.

    ``obs_features`` is ``[..., F]``; ``rewards`` and ``dones`` are ``[...]`` (``dones`` may
    be bool or float). With ``num_actions`` set, ``actions`` are integer indices ``[...]``
    and are one-hot encoded, because an index fed as a scalar would impose a meaningless
    order on the actions; with ``num_actions=None`` they are float vectors ``[..., A]``.
    Everything is cast to the dtype of ``obs_features`` so the encoder sees one dtype.
    The done flag is kept because it tells the encoder where episode boundaries fall
    inside a multi-episode context.
    """
    lead = obs_features.shape[:-1]
    dtype = obs_features.dtype
    if num_actions is not None:
        if actions.is_floating_point() or actions.is_complex() or actions.dtype == torch.bool:
            raise ValueError(
                f"num_actions={num_actions} means actions are integer indices, got dtype "
                f"{actions.dtype}"
            )
        if actions.shape != lead:
            raise ValueError(
                f"discrete actions must have shape {tuple(lead)} (obs_features without its "
                f"last dim), got {tuple(actions.shape)}"
            )
        action_part = F.one_hot(actions.long(), num_actions).to(dtype)
    else:
        if actions.shape[:-1] != lead or actions.dim() != obs_features.dim():
            raise ValueError(
                f"continuous actions must have shape {(*lead, 'A')}, got {tuple(actions.shape)}; "
                "pass num_actions for integer action indices"
            )
        action_part = actions.to(dtype)
    for name, value in (("rewards", rewards), ("dones", dones)):
        if value.shape != lead:
            raise ValueError(
                f"{name} must have shape {tuple(lead)} (obs_features without its last dim), "
                f"got {tuple(value.shape)}"
            )
    return torch.cat(
        [
            obs_features,
            action_part,
            rewards.to(dtype).unsqueeze(-1),
            dones.to(dtype).unsqueeze(-1),
        ],
        dim=-1,
    )


class CausalConv1d(nn.Module):
    """A ``Conv1d`` that pads only on the left, so output ``t`` reads inputs ``<= t``.

    ``nn.Conv1d(padding=...)`` pads both sides symmetrically, which would leak the future
    into the past; padding explicitly with ``F.pad`` keeps the output length equal to the
    input length while all the padding sits before the first step.
    """

    def __init__(self, in_channels: int, out_channels: int, kernel_size: int, dilation: int):
        super().__init__()
        self.left_pad = (kernel_size - 1) * dilation
        self.conv = nn.Conv1d(in_channels, out_channels, kernel_size, dilation=dilation)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """``x`` is ``[B, C_in, T]``; returns ``[B, C_out, T]``."""
        return self.conv(F.pad(x, (self.left_pad, 0)))


class TemporalBlock(nn.Module):
    """Two causal convolutions with ReLU and dropout, plus a residual connection.

    The residual path lets deep stacks train and lets a block pass information through
    unchanged when its extra receptive field is not useful. A 1x1 convolution adapts the
    skip path only where the channel count changes (the first block).
    """

    def __init__(
        self, in_channels: int, out_channels: int, kernel_size: int, dilation: int, dropout: float
    ):
        super().__init__()
        self.conv1 = CausalConv1d(in_channels, out_channels, kernel_size, dilation)
        self.conv2 = CausalConv1d(out_channels, out_channels, kernel_size, dilation)
        self.dropout = nn.Dropout(dropout)
        self.skip = (
            nn.Conv1d(in_channels, out_channels, kernel_size=1)
            if in_channels != out_channels
            else nn.Identity()
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """``x`` is ``[B, C_in, T]``; returns ``[B, C_out, T]``."""
        out = self.dropout(F.relu(self.conv1(x)))
        out = self.dropout(F.relu(self.conv2(out)))
        return F.relu(out + self.skip(x))
