"""MRT's advantages on a Hugging Face causal language model, through TRL's ``GRPOTrainer``
(the optional extra ``mrft[llm]``).

TRL computes GRPO's advantages inside ``GRPOTrainer._generate_and_score_completions``, and its
maintainers' advice for a different advantage is to subclass and return your own from that
method; its loss accepts per-sequence ``[B]`` and per-token ``[B, T]`` advantages.
:class:`MRTGRPOTrainer` does that with the functions that train the small model of
:mod:`mrft.reasoning` (:func:`mrft.algos.token_rl.token_advantages`), so both paths share one
definition of MRT:

- a completion is split into *episodes* at ``episode_delimiter`` (a blank line by default);
  what follows the last delimiter is its answer, paid by the outcome alone;
- ``J_j``, the reward of forced termination after the first ``j`` episodes, is measured by
  appending ``force_text`` to the prompt and those episodes, letting the model write up to
  ``answer_tokens`` tokens, and scoring the prompt's completion so formed with ``outcome``
  (1 for a right answer, else 0);
- ``form="mrt"``: one scalar per completion, ``r + alpha (r - J_j)`` at a drawn boundary;
  ``form="mrt-episode"``: each episode's tokens get ``alpha (J_i - J_(i-1))`` on top of the
  outcome advantage; both group-normalised as GRPO is.

The forced answers are extra generations; the trainer logs how many tokens they took
(``mrt/forced_tokens``), so a comparison with plain GRPO can count them. One process:
groups must not be split across processes (``num_processes == 1``).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import torch
from trl import GRPOTrainer

from mrft.algos.token_rl import SequenceRLOptions, draw_prefixes, token_advantages

FORMS = ("mrt", "mrt-episode")


def episode_boundaries(text: str, delimiter: str) -> list[int]:
    """Character offsets just after each delimiter of ``text`` (the ends of its episodes but
    the last)."""
    out, start = [], 0
    while (found := text.find(delimiter, start)) >= 0:
        start = found + len(delimiter)
        out.append(start)
    return out


def token_episodes(offsets: list[int], boundaries: list[int]) -> list[int]:
    """The episode (1, 2, ...) of each token, from the character offset where each token ends;
    0 for the tokens after the last delimiter (the answer, paid by the outcome alone)."""
    last = boundaries[-1] if boundaries else 0
    return [0 if end > last else 1 + sum(1 for b in boundaries if b < end) for end in offsets]


class MRTGRPOTrainer(GRPOTrainer):
    def __init__(self, *args: Any, outcome: Callable[[dict, str], float], form: str = "mrt-episode",
                 alpha: float = 1.0, episode_delimiter: str = "\n\n",
                 force_text: str = "\nFinal answer: ", answer_tokens: int = 32, **kwargs: Any):
        """``outcome(example, completion_text)``: 1.0 when the completion's answer is right."""
        if form not in FORMS:
            raise ValueError(f"form must be one of {FORMS}, got {form!r}")
        super().__init__(*args, **kwargs)
        if self.accelerator.num_processes != 1:
            raise ValueError("MRTGRPOTrainer measures progress within each group on one process")
        self.outcome, self.form, self.alpha = outcome, form, alpha
        self.episode_delimiter, self.force_text, self.answer_tokens = episode_delimiter, force_text, answer_tokens
        self._forced_generator = torch.Generator().manual_seed(self.args.seed)

    def _forced(self, example: dict, prompt_ids: torch.Tensor, prefix: str) -> tuple[float, int]:
        """``J`` after ``prefix`` of a completion: the outcome of a forced answer, and its tokens."""
        tokenizer = self.processing_class
        forced = tokenizer(prefix + self.force_text, add_special_tokens=False, return_tensors="pt").input_ids
        ids = torch.cat([prompt_ids[None], forced.to(prompt_ids.device)], dim=1)
        model = self.accelerator.unwrap_model(self.model)
        with torch.no_grad():
            out = model.generate(ids, attention_mask=torch.ones_like(ids), max_new_tokens=self.answer_tokens,
                                 do_sample=False, pad_token_id=tokenizer.pad_token_id)
        answer = tokenizer.decode(out[0, ids.shape[1]:], skip_special_tokens=True)
        return float(self.outcome(example, prefix + self.force_text + answer)), int(out.shape[1] - ids.shape[1])

    def _generate_and_score_completions(self, inputs: list[dict]) -> dict:
        output = super()._generate_and_score_completions(inputs)
        tokenizer = self.processing_class
        ids, mask = output["completion_ids"], output["completion_mask"].bool()
        n = ids.shape[0]
        texts, episode_of, counts = [], torch.zeros_like(ids), []
        for row in range(n):
            kept = ids[row][mask[row]].tolist()
            offsets = [len(tokenizer.decode(kept[:t + 1], skip_special_tokens=True)) for t in range(len(kept))]
            text = tokenizer.decode(kept, skip_special_tokens=True)
            bounds = episode_boundaries(text, self.episode_delimiter)
            episode_of[row, :len(kept)] = torch.tensor(token_episodes(offsets, bounds), dtype=ids.dtype)
            texts.append((text, bounds))
            counts.append(len(bounds))
        episodes = torch.tensor(counts)
        correct = torch.tensor([float(self.outcome(inputs[row], texts[row][0])) for row in range(n)])
        width = int(episodes.max()) + 1
        forced = torch.zeros(n, width)
        prefixes = draw_prefixes(episodes, self._forced_generator) if self.form == "mrt" else None
        spent = 0
        for row in range(n):
            text, bounds = texts[row]
            cuts = [0, *bounds]
            wanted = [int(prefixes[row])] if prefixes is not None else range(len(cuts))
            prompt_ids = output["prompt_ids"][row][output["prompt_mask"][row].bool()]
            for j in wanted:
                forced[row, j], used = self._forced(inputs[row], prompt_ids, text[:cuts[j]])
                spent += used
        groups = torch.arange(n) // self.num_generations
        advantages = token_advantages(SequenceRLOptions(self.form, alpha=self.alpha), correct, groups,
                                      episode_of.cpu(), mask.cpu(), lengths=mask.sum(1).cpu(),
                                      max_tokens=ids.shape[1], forced=forced, prefixes=prefixes,
                                      episodes=episodes)
        output["advantages"] = advantages.to(output["completion_ids"].device)
        mode = "train" if self.model.training else "eval"
        self._metrics[mode]["mrt/forced_tokens"].append(float(spent))
        self._metrics[mode]["mrt/outcome"].append(float(correct.mean()))
        return output
