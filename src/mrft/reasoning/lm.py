"""A small decoder-only transformer language model and a sampler with a key-value cache.

About a million parameters at the defaults (width 128, 4 layers, 4 heads, a context of 512
tokens), small enough to train from scratch and fine-tune with RL on a CPU. Pre-norm blocks,
learned positions, a tied output embedding. Sequences in a batch may have prompts of different
lengths: prompts are left-padded, positions count real tokens only and padding is never
attended to, so a sequence's tokens get the same logits whatever else shares its batch.

:func:`sample` generates with the cache, one token per step for the whole batch, and lets the
caller intervene between steps: ``inject(t, sampled)`` may replace some sequences' next input
with a token of its own (forced termination writes ``!`` after the episode budget), and such
tokens are marked as not sampled, so no policy gradient treats them as the model's actions.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable

import torch
import torch.nn.functional as F
from torch import nn


@dataclasses.dataclass(frozen=True)
class LMConfig:
    vocab: int
    width: int = 128
    layers: int = 4
    heads: int = 4
    context: int = 512


class Block(nn.Module):
    def __init__(self, width: int, heads: int):
        super().__init__()
        self.heads = heads
        self.norm1 = nn.LayerNorm(width)
        self.qkv = nn.Linear(width, 3 * width)
        self.out = nn.Linear(width, width)
        self.norm2 = nn.LayerNorm(width)
        self.ff = nn.Sequential(nn.Linear(width, 4 * width), nn.GELU(), nn.Linear(4 * width, width))

    def _split(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        b, t, d = x.shape
        q, k, v = self.qkv(self.norm1(x)).reshape(b, t, 3, self.heads, d // self.heads).permute(2, 0, 3, 1, 4)
        return q, k, v

    def _finish(self, x: torch.Tensor, mixed: torch.Tensor) -> torch.Tensor:
        b, _, t, _ = mixed.shape
        x = x + self.out(mixed.transpose(1, 2).reshape(b, t, -1))
        return x + self.ff(self.norm2(x))

    def forward(self, x: torch.Tensor, mask: torch.Tensor, cache: dict | None = None,
                start: int = 0) -> torch.Tensor:
        """``x [B, T, D]``, ``mask [B, 1, T, start + T]`` (True: may attend). With a ``cache``,
        the tokens' keys and values go into its slots ``start .. start + T`` and the queries
        attend to every slot up to there (the prompt in one pass, then one token a step)."""
        q, k, v = self._split(x)
        if cache is not None:
            end = start + x.shape[1]
            cache["k"][:, :, start:end], cache["v"][:, :, start:end] = k, v
            k, v = cache["k"][:, :, :end], cache["v"][:, :, :end]
        return self._finish(x, F.scaled_dot_product_attention(q, k, v, attn_mask=mask))


class TinyLM(nn.Module):
    def __init__(self, cfg: LMConfig):
        super().__init__()
        self.cfg = cfg
        self.embed = nn.Embedding(cfg.vocab, cfg.width)
        self.position = nn.Embedding(cfg.context, cfg.width)
        self.blocks = nn.ModuleList(Block(cfg.width, cfg.heads) for _ in range(cfg.layers))
        self.norm = nn.LayerNorm(cfg.width)
        nn.init.normal_(self.embed.weight, std=0.02)
        nn.init.normal_(self.position.weight, std=0.02)

    def _logits(self, h: torch.Tensor) -> torch.Tensor:
        return self.norm(h) @ self.embed.weight.T

    def hidden(self, tokens: torch.Tensor, valid: torch.Tensor, caches: list[dict] | None = None) -> torch.Tensor:
        """The last block's output ``[B, T, D]`` for whole sequences ``tokens [B, T]`` whose real
        tokens ``valid`` marks (positions count real tokens only; padding is never attended to;
        a padded query attends to itself, so no row of the mask is empty), filling ``caches``
        (one per block, :func:`sample`) when given."""
        positions = (valid.long().cumsum(1) - 1).clamp_min(0)
        if int(positions.max()) >= self.cfg.context:
            raise ValueError(f"a sequence is longer than the model's context of {self.cfg.context} tokens")
        t = tokens.shape[1]
        causal = torch.ones(t, t, dtype=torch.bool, device=tokens.device).tril()
        mask = (causal[None] & valid[:, None, :]) | torch.eye(t, dtype=torch.bool, device=tokens.device)[None]
        h = self.embed(tokens) + self.position(positions)
        for i, block in enumerate(self.blocks):
            h = block(h, mask[:, None], None if caches is None else caches[i])
        return h

    def forward(self, tokens: torch.Tensor, valid: torch.Tensor | None = None) -> torch.Tensor:
        """Logits ``[B, T, V]`` of the next token after each position of ``tokens [B, T]``;
        ``valid [B, T]`` marks real tokens (default: every token that is not padding)."""
        return self._logits(self.hidden(tokens, tokens != 0 if valid is None else valid))

    def token_logprobs(self, tokens: torch.Tensor, valid: torch.Tensor | None = None,
                       banned: tuple[int, ...] = ()) -> torch.Tensor:
        """``[B, T]``: log-probability of each token given the ones before it (0 at position 0),
        under the distribution :func:`sample` draws from with the same ``banned`` tokens (their
        probability moved to the others), so a policy gradient is taken on the distribution
        that was sampled; a banned token itself (which the sampler never chose) gets 0."""
        logits = self.forward(tokens, valid)[:, :-1].float()
        targets = tokens[:, 1:]
        ban = torch.tensor(banned, dtype=torch.long, device=tokens.device)
        picked = torch.log_softmax(logits.index_fill(-1, ban, float("-inf")), dim=-1)
        picked = picked.gather(-1, targets[:, :, None]).squeeze(-1)
        return F.pad(torch.where(torch.isin(targets, ban), 0.0, picked), (1, 0))


def left_pad(sequences: list[list[int]], pad: int = 0) -> torch.Tensor:
    longest = max(len(s) for s in sequences)
    return torch.tensor([[pad] * (longest - len(s)) + list(s) for s in sequences], dtype=torch.long)


@dataclasses.dataclass
class Samples:
    tokens: torch.Tensor
    """``[B, T]`` prompt (left-padded) and generated tokens, padding after a sequence ends."""
    sampled: torch.Tensor
    """``[B, T]`` True where the model chose the token (not prompt, injected or padding)."""
    prompt_length: int
    """Columns of ``tokens`` that hold the (padded) prompts."""


@torch.no_grad()
def sample(model: TinyLM, prompts: list[list[int]], max_new: int, stop: int,
           generator: torch.Generator | None = None, temperature: float = 1.0,
           inject: Callable[[int, torch.Tensor], torch.Tensor | None] | None = None,
           banned: tuple[int, ...] = (0, 1)) -> Samples:
    """Generate up to ``max_new`` tokens after each prompt, stopping a sequence at ``stop``;
    ``banned`` tokens (padding and BOS, and whatever only the caller writes) are never sampled.

    ``inject(t, sampled)`` is called with step ``t`` and the tokens just sampled ``[B]``; it
    returns ``[B]`` tokens to feed instead (``-1``: keep the sampled one) or None. Greedy
    when ``temperature`` is 0."""
    model.eval()
    device = model.embed.weight.device
    prompt = left_pad(prompts).to(device)
    b, p = prompt.shape
    if p + max_new > model.cfg.context:
        raise ValueError(f"a prompt of {p} tokens and {max_new} new ones exceed the model's context of "
                         f"{model.cfg.context} tokens")
    total = p + max_new
    tokens = torch.zeros(b, total, dtype=torch.long, device=device)
    tokens[:, :p] = prompt
    sampled = torch.zeros(b, total, dtype=torch.bool, device=device)
    valid = torch.zeros(b, total, dtype=torch.bool, device=device)
    valid[:, :p] = prompt != 0
    width, heads = model.cfg.width, model.cfg.heads
    caches = [{"k": torch.zeros(b, heads, total, width // heads, device=device),
               "v": torch.zeros(b, heads, total, width // heads, device=device)} for _ in model.blocks]
    logits = model._logits(model.hidden(prompt, valid[:, :p], caches)[:, -1])  # the prompt in one pass
    done = torch.zeros(b, dtype=torch.bool, device=device)
    lengths = valid[:, :p].sum(1)
    for t in range(p, total):
        logits[:, list(banned)] = float("-inf")
        if temperature == 0:
            nxt = logits.argmax(-1)
        else:
            nxt = torch.multinomial(torch.softmax(logits.float() / temperature, -1), 1,
                                    generator=generator).squeeze(-1)
        chosen = torch.ones(b, dtype=torch.bool, device=device)
        if inject is not None:
            forced = inject(t, nxt)
            if forced is not None:
                replace = forced >= 0
                nxt = torch.where(replace, forced, nxt)
                chosen &= ~replace
        nxt = torch.where(done, 0, nxt)
        tokens[:, t] = nxt
        sampled[:, t] = chosen & ~done
        valid[:, t] = ~done
        done = done | (nxt == stop)
        if bool(done.all()) or t == total - 1:
            break
        h = model.embed(nxt)[:, None] + model.position(lengths.clamp_max(model.cfg.context - 1))[:, None]
        lengths = lengths + (~done).long()
        step_mask = valid[:, None, None, :t + 1]
        for block, cache in zip(model.blocks, caches, strict=True):
            h = block(h, step_mask, cache, start=t)
        logits = model._logits(h[:, 0])
    end = int(valid.any(0).nonzero().max()) + 1
    return Samples(tokens[:, :end], sampled[:, :end], p)
