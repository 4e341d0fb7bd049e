"""MRT's advantages through TRL's GRPOTrainer: one training step of a tiny randomly initialised
Hugging Face model built from a config (nothing downloaded)."""

import pytest

pytest.importorskip("trl")

import torch

from mrft.llm.mrt_trainer import MRTGRPOTrainer, episode_boundaries, token_episodes
from mrft.reasoning import countdown as cd
from mrft.reasoning.traces import SYMBOLS, prompt


def test_episodes_are_cut_at_the_delimiter_and_the_tail_is_the_answer():
    text = "7*3=21\n\n5*3=15\n\nanswer"
    bounds = episode_boundaries(text, "\n\n")
    assert bounds == [8, 16]
    # tokens ending at these offsets: inside episode 1, at its delimiter, in episode 2, in the answer
    assert token_episodes([3, 8, 12, 20], bounds) == [1, 1, 2, 0]
    assert token_episodes([3], []) == [0]


def char_tokenizer():
    from tokenizers import Regex, Tokenizer, decoders, models, pre_tokenizers
    from transformers import PreTrainedTokenizerFast

    chars = [*SYMBOLS, " ", "\n", *"abcdefghijklmnopqrstuvwxyzF:"]
    vocab = {tok: i for i, tok in enumerate(["<pad>", "<bos>", "<eos>", "<unk>", *dict.fromkeys(chars)])}
    core = Tokenizer(models.WordLevel(vocab, unk_token="<unk>"))
    core.pre_tokenizer = pre_tokenizers.Split(Regex("."), behavior="isolated")
    core.decoder = decoders.Fuse()
    return PreTrainedTokenizerFast(tokenizer_object=core, pad_token="<pad>", bos_token="<bos>",
                                   eos_token="<eos>", unk_token="<unk>")


@pytest.mark.parametrize("form", ["mrt", "mrt-episode"])
def test_one_step_of_the_trl_trainer_with_mrt_advantages(form, tmp_path):
    from datasets import Dataset
    from transformers import LlamaConfig, LlamaForCausalLM
    from trl import GRPOConfig

    tokenizer = char_tokenizer()
    torch.manual_seed(0)
    model = LlamaForCausalLM(LlamaConfig(vocab_size=len(tokenizer), hidden_size=32, intermediate_size=64,
                                         num_hidden_layers=1, num_attention_heads=2, num_key_value_heads=2,
                                         max_position_embeddings=128, pad_token_id=tokenizer.pad_token_id,
                                         bos_token_id=tokenizer.bos_token_id, eos_token_id=tokenizer.eos_token_id))
    problems = [p for p, _ in cd.problems("train", "easy", 4)]
    data = Dataset.from_list([{"prompt": prompt(p), "numbers": list(p.numbers), "target": p.target}
                              for p in problems])

    def outcome(example, text):
        """The checker on the answer; a random model never passes it, so a stand-in rule that it
        sometimes meets (a digit 1 in the answer) keeps the step from being all zeros."""
        answer = text.rsplit("Final answer: ", 1)[-1].strip()
        return float(cd.check(cd.Problem(tuple(example["numbers"]), example["target"], "easy"), answer)
                     or "1" in answer)

    def reward(prompts, completions, numbers, target, **_):
        return [outcome({"numbers": n, "target": t}, c) for c, n, t in zip(completions, numbers, target, strict=True)]

    seen = {}

    class Recording(MRTGRPOTrainer):
        def _generate_and_score_completions(self, inputs):
            out = super()._generate_and_score_completions(inputs)
            seen["advantages"] = out["advantages"]
            seen["mask"] = out["completion_mask"]
            return out

    args = GRPOConfig(output_dir=str(tmp_path), max_steps=1, per_device_train_batch_size=4, num_generations=2,
                      max_completion_length=12, learning_rate=1e-3, report_to=[], logging_steps=1,
                      save_strategy="no", use_cpu=True, seed=0, bf16=False)
    trainer = Recording(model=model, reward_funcs=reward, args=args, train_dataset=data,
                        processing_class=tokenizer, outcome=outcome, form=form, answer_tokens=8)
    before = [p.detach().clone() for p in model.parameters()]
    trainer.train()
    advantages, mask = seen["advantages"], seen["mask"]
    assert advantages.shape == mask.shape  # per-token advantages reached the loss
    assert (advantages[~mask.bool()] == 0).all()
    logged = trainer.state.log_history[0]
    assert float(logged["mrt/forced_tokens"]) > 0
    assert (advantages != 0).any()
    assert any(not torch.equal(a, b) for a, b in zip(before, model.parameters(), strict=True))
