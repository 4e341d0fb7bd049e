"""Task encoder: a temporal convolutional network over the context of past transitions.

A meta-RL policy must infer which task it faces from what it has seen so far. The context
is the sequence of ``(observation features, action, reward, done)`` tuples collected on
the current task, and the encoder compresses every prefix of it into a task embedding
``z_t``. A temporal convolutional network (Bai, Kolter and Koltun 2018, "An Empirical
Evaluation of Generic Convolutional and Recurrent Networks for Sequence Modeling") does
this with dilated *causal* convolutions: all prefixes of a sequence are encoded in one
parallel pass, unlike an RNN that must step through time, and causality guarantees that
``z_t`` never sees a transition that had not happened yet at step ``t`` — otherwise the
policy would be trained on information it cannot have when acting.

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


class TemporalConvNet(nn.Module):
    """Dilated causal TCN mapping a context sequence to per-step task embeddings.

    Block ``i`` uses dilation ``2**i``; a final linear layer projects the ``channels``
    features of each step to ``embed_dim``. See :attr:`receptive_field` for how far back a
    step can see: context older than that is invisible to the embedding.
    """

    def __init__(
        self,
        in_dim: int,
        channels: int = 64,
        levels: int = 5,
        kernel_size: int = 3,
        embed_dim: int = 32,
        dropout: float = 0.0,
    ):
        super().__init__()
        if in_dim < 1 or channels < 1 or levels < 1 or kernel_size < 1 or embed_dim < 1:
            raise ValueError(
                "in_dim, channels, levels, kernel_size and embed_dim must all be >= 1, got "
                f"{in_dim}, {channels}, {levels}, {kernel_size}, {embed_dim}"
            )
        self.in_dim = in_dim
        self.channels = channels
        self.levels = levels
        self.kernel_size = kernel_size
        self.embed_dim = embed_dim
        self.blocks = nn.Sequential(
            *(
                TemporalBlock(in_dim if i == 0 else channels, channels, kernel_size, 2**i, dropout)
                for i in range(levels)
            )
        )
        self.proj = nn.Linear(channels, embed_dim)
        # Zero init: before any training, "no context" maps to the neutral embedding.
        self.empty_embedding = nn.Parameter(torch.zeros(embed_dim))

    @property
    def receptive_field(self) -> int:
        """Number of steps (including the current one) that can influence an output.

        Each block has two convolutions that each reach ``(k - 1) * 2**i`` steps back, so
        the total reach is ``2 (k - 1) (2**levels - 1)`` plus the current step.
        """
        return 1 + 2 * (self.kernel_size - 1) * (2**self.levels - 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Embed every prefix: ``x`` ``[B, T, in_dim]`` -> ``[B, T, embed_dim]``.

        Output ``t`` depends only on ``x[:, :t + 1]``. Steps after a row's true length are
        padding; since the network is causal they cannot affect the valid steps before them.
        """
        if x.dim() != 3 or x.shape[-1] != self.in_dim:
            raise ValueError(f"expected x of shape [B, T, {self.in_dim}], got {tuple(x.shape)}")
        if x.shape[1] == 0:
            # A length-0 convolution input is an error in PyTorch; there is nothing to embed.
            return x.new_zeros(x.shape[0], 0, self.embed_dim)
        hidden = self.blocks(x.transpose(1, 2))
        return self.proj(hidden.transpose(1, 2))

    def embed(self, x: torch.Tensor, lengths: torch.Tensor) -> torch.Tensor:
        """One embedding per row: the output at its last valid step ``lengths[b] - 1``.

        Rows are left-aligned and padded at the end. A row with ``lengths[b] == 0`` has no
        context yet (the first episode on a new task); it gets the learned
        ``empty_embedding`` so the policy still receives a trainable task prior there
        instead of an arbitrary constant.
        """
        if x.dim() != 3 or x.shape[-1] != self.in_dim:
            raise ValueError(f"expected x of shape [B, T, {self.in_dim}], got {tuple(x.shape)}")
        batch, steps = x.shape[0], x.shape[1]
        if lengths.shape != (batch,):
            raise ValueError(f"lengths must have shape [{batch}], got {tuple(lengths.shape)}")
        if lengths.numel() > 0 and (lengths.min() < 0 or lengths.max() > steps):
            raise ValueError(f"lengths must lie in [0, {steps}], got {lengths.tolist()}")
        empty = self.empty_embedding.to(x.dtype).expand(batch, self.embed_dim)
        if steps == 0:
            return empty.clone()
        out = self.forward(x)
        lengths = lengths.to(device=x.device, dtype=torch.long)
        last = out[torch.arange(batch, device=x.device), (lengths - 1).clamp_min(0)]
        return torch.where((lengths > 0).unsqueeze(-1), last, empty)
