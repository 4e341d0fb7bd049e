"""The small language model, its cached sampler, the episode budget and a smoke run of SFT
and of each RL method."""

import json

import numpy as np
import pytest
import torch

from mrft.algos.token_rl import METHODS, SequenceRLOptions
from mrft.errors import MrftError
from mrft.reasoning import countdown as cd
from mrft.reasoning.lm import LMConfig, TinyLM, left_pad, sample
from mrft.reasoning.rl import RLConfig, train_rl
from mrft.reasoning.rollout import _token_episodes, budget_injector, prefix_tokens
from mrft.reasoning.sft import SFTConfig, train_sft
from mrft.reasoning.traces import INDEX, VOCAB, encode, prompt


def tiny_model(seed=0):
    torch.manual_seed(seed)
    return TinyLM(LMConfig(len(VOCAB), width=32, layers=2, heads=2, context=256))


def test_cached_sampling_gives_the_full_forwards_choices_whatever_shares_the_batch():
    model = tiny_model()
    prompts = [encode("3,5,7/22:"), encode("12,5,20,9/113:")]
    out = sample(model, prompts, 30, stop=INDEX["."], temperature=0.0)
    assert out.tokens.shape[0] == 2 and out.sampled[:, out.prompt_length:].any()
    with torch.no_grad():
        logits = model(out.tokens)
    for row in range(2):
        for t in range(out.prompt_length, out.tokens.shape[1]):
            if out.sampled[row, t]:
                assert int(logits[row, t - 1].argmax()) == int(out.tokens[row, t])
    alone = sample(model, prompts[:1], 30, stop=INDEX["."], temperature=0.0)
    width = alone.tokens.shape[1] - alone.prompt_length
    assert torch.equal(alone.tokens[0, alone.prompt_length:],
                       out.tokens[0, out.prompt_length:out.prompt_length + width])


def test_the_sampler_never_chooses_padding_or_bos_and_refuses_what_exceeds_the_context():
    model = tiny_model()
    plain = model._logits
    model._logits = lambda h: plain(h).index_fill(-1, torch.tensor([0, 1]), 100.0)  # padding, BOS likeliest
    out = sample(model, [encode("3,5,7/22:")] * 8, 20, stop=INDEX["."], generator=torch.Generator().manual_seed(0))
    chosen = out.tokens[out.sampled]
    assert chosen.numel() and (chosen > 1).all()
    with pytest.raises(ValueError, match="context"):
        sample(model, [encode("3,5,7/22:")], 256, stop=INDEX["."])


def test_log_probabilities_under_a_ban_are_those_of_the_sampled_distribution():
    model = tiny_model()
    force = INDEX["!"]
    tokens = torch.tensor([encode("1,2,3/3:1+2=3|!#1+2=3.")])
    banned = (0, 1, force)
    logp = model.token_logprobs(tokens, banned=banned)
    logits = model(tokens)[0, :-1].float()
    logits[:, list(banned)] = float("-inf")
    expected = torch.log_softmax(logits, -1).gather(-1, tokens[0, 1:, None]).squeeze(-1)
    at_force = tokens[0, 1:] == force
    assert torch.allclose(logp[0, 1:][~at_force], expected[~at_force], atol=1e-5)
    assert logp[0, 1:][at_force].tolist() == [0.0]  # the injected token: never sampled, no probability
    assert (logp[0, 1:][~at_force] > model.token_logprobs(tokens)[0, 1:][~at_force]).all()
    logp.sum().backward()
    assert all(torch.isfinite(p.grad).all() for p in model.parameters() if p.grad is not None)


def test_left_padding_changes_no_logit():
    model = tiny_model()
    tokens = torch.tensor(encode("3,5,7/22:5*3=15|"))
    padded = left_pad([tokens.tolist(), encode("12,5,20,9/113:1")])
    with torch.no_grad():
        alone = model.token_logprobs(tokens[None])
        batch = model.token_logprobs(padded)
    assert torch.allclose(alone[0, 1:], batch[0, -len(tokens) + 1:], atol=1e-5)


def test_the_budget_forces_an_answer_right_after_the_kth_delimiter():
    inject = budget_injector(2, episodes=2)
    d, x = INDEX["|"], INDEX["5"]
    stream = [x, d, x, d, x, x]  # both rows sample the same tokens
    placed = []
    for t, token in enumerate(stream):
        out = inject(t, torch.tensor([token, token]))
        placed.append(int(out[0]) if out[0] >= 0 else token)
    assert placed == [x, d, x, d, INDEX["!"], x]


def test_tokens_are_assigned_to_their_episodes_and_the_answer_to_none():
    text = "3,5,7/22:" + "7*3=21|5*3=15,15+7=22|#5*3=15,15+7=22."
    tokens = torch.tensor([encode(text)])
    start = len(encode("3,5,7/22:"))
    episodes = _token_episodes(tokens, start)[0, start:].tolist()
    assert episodes == [1] * 7 + [2] * 15 + [0] * 16


def test_sft_and_every_rl_method_run_on_their_budget():
    """The warm start lowers its loss; each method spends its token budget, the MRT forms on
    forced terminations too."""
    train = [p for p, _ in cd.problems("train", "easy", 50)]
    model = tiny_model()
    losses = []
    train_sft(model, cd.problems("train", "easy", 50), SFTConfig(steps=30, batch=8, warmup=5),
              progress=lambda d: losses.append(d["loss"]))
    assert losses[-1] < losses[0]
    for method in METHODS:
        logged = []
        cfg = RLConfig(options=SequenceRLOptions(method), token_budget=600, problems_per_update=2,
                       group=3, episodes=2, max_tokens=40)
        state, _ = train_rl(model, train, cfg, progress=logged.append)
        assert state.tokens >= 600 and state.update == len(logged)
        assert all(0.0 <= row["accuracy"] <= 1.0 for row in logged)
        assert (sum(row["update_forced_tokens"] for row in logged) > 0) == method.startswith("mrt")
        # each record carries the run's tokens so far (what the progress line's share reads)
        assert [row["tokens"] for row in logged] == list(np.cumsum([row["update_tokens"] for row in logged]))


def test_a_forced_prefix_is_the_prompt_and_the_first_episodes_then_force():
    from mrft.reasoning.rollout import Traces

    problem = cd.Problem((3, 5, 7), 22, "easy")
    traces = Traces([problem], None, ["7*3=21|5*3=15,15+7=22|#5*3=15,15+7=22."], torch.tensor([1.0]),
                    torch.tensor([2]), None, torch.tensor([0]))
    assert prefix_tokens(traces, 0, 0) == encode(prompt(problem) + "!")
    assert prefix_tokens(traces, 0, 1) == encode(prompt(problem) + "7*3=21|!")
    with pytest.raises(ValueError):
        TinyLM(LMConfig(len(VOCAB), context=8))(torch.ones(1, 9, dtype=torch.long))


def test_a_warm_start_and_an_rl_run_stopped_midway_continue_to_the_same_weights(tmp_path, monkeypatch):
    from mrft.reasoning import runs, sft

    lm = LMConfig(len(VOCAB), width=32, layers=2, heads=2, context=256)
    cfg = SFTConfig(steps=6, batch=4, warmup=2)
    monkeypatch.setattr(runs, "TRAIN_PROBLEMS", 40)
    whole = runs.run_sft(tmp_path / "whole", lm, cfg, "easy", checkpoint_every=3)
    real = sft.train_sft
    calls = []

    def interrupted(*args, **kwargs):
        calls.append(1)
        if len(calls) == 2:
            raise KeyboardInterrupt
        return real(*args, **kwargs)

    monkeypatch.setattr(runs, "train_sft", interrupted)
    with pytest.raises(KeyboardInterrupt):
        runs.run_sft(tmp_path / "cut", lm, cfg, "easy", checkpoint_every=3)
    monkeypatch.setattr(runs, "train_sft", real)
    cut = runs.run_sft(tmp_path / "cut", lm, cfg, "easy", checkpoint_every=3)
    a, b = runs.load_model(whole)[0].state_dict(), runs.load_model(cut)[0].state_dict()
    assert all(torch.equal(a[k], b[k]) for k in a)
    steps = [json.loads(line)["step"] for line in (tmp_path / "cut" / "metrics.jsonl").read_text().splitlines()]
    assert steps == [1, 2, 3, 4, 5, 6]

    rl = runs.rl_config("mrt", alpha=0.5, token_budget=700, problems_per_update=2, group=2, episodes=2,
                        max_tokens=30)
    done = runs.run_rl(tmp_path / "rl", whole, rl, checkpoint_every=1)
    again = runs.run_rl(tmp_path / "rl", whole, rl, checkpoint_every=1)  # finished: nothing redone
    assert runs.load_model(done)[1]["reasoning"]["state"] == runs.load_model(again)[1]["reasoning"]["state"]
    with pytest.raises(MrftError, match="another RL run"):
        runs.run_rl(tmp_path / "rl", whole, runs.rl_config("grpo", token_budget=700), checkpoint_every=1)


def test_the_study_in_small_scores_every_method_and_sets_the_papers_claims_beside_ours(tmp_path, monkeypatch):
    """The smoke version of the study: a tiny warm start, each RL method on a few hundred
    tokens, 12 held-out problems; the report has every row and the claims table."""
    from mrft.reasoning import runs
    from mrft.reasoning.study import StudyConfig, run_study

    monkeypatch.setattr(runs, "TRAIN_PROBLEMS", 60)
    cfg = StudyConfig(seeds=1, lm=LMConfig(len(VOCAB), width=32, layers=2, heads=2, context=256),
                      sft=SFTConfig(steps=20, batch=8, warmup=5), token_budget=400, episodes=2,
                      max_tokens=40, problems=12, majority_problems=4)
    summary = run_study(tmp_path / "study", cfg)
    assert set(summary["methods"]) == set(METHODS)
    # each claim for each form of MRT: the paper's and the per-episode one
    assert [c["method"] for c in summary["claims"]] == ["mrt"] * 3 + ["mrt-episode"] * 3
    report = (tmp_path / "study" / "report.md").read_text()
    assert "| MRT form | claim | paper | ours | verdict |" in report and "| `mrt-episode` | MRT's gain" in report
    assert "| model | j = 0 | j = 1 | j = 2 |" in report and "| warm start | " in report
    scores = json.loads((tmp_path / "study" / "scores" / "mrt-seed1.json").read_text())
    assert len(scores["accuracy_by_episode"]) == 3 and len(scores["accuracy_by_episode_2k"]) == 5
    assert len(scores["per_problem"]["final"]) == 12
    assert run_study(tmp_path / "study", cfg) == summary  # everything found done: nothing redone


@pytest.mark.parametrize("argv, message", [
    (["reason", "eval"], "mrft reason eval needs --init CHECKPOINT"),
    (["reason", "sft", "--threads", "-1"], "--threads must be >= 0, got -1"),
    (["reason", "rl", "--method", "ppo", "--init", "x.pt"], "--method must be one of"),
])
def test_reason_cli_errors_are_one_line(argv, message, capsys):
    from mrft.cli import main

    with pytest.raises(SystemExit) as exit_info:
        main(argv)
    err = capsys.readouterr().err.strip()
    assert exit_info.value.code == 2 and message in err and "\n" not in err


def test_a_resumed_runs_eta_counts_only_the_work_done_since_it_resumed(tmp_path, capsys, monkeypatch):
    from mrft.reasoning import runs

    clock = iter([100.0, 110.0])  # built at 100 s; the first new step logged at 110 s
    monkeypatch.setattr(runs.time, "time", lambda: next(clock))
    log = runs._Log(tmp_path, 50, 1, "rl update", "update", lambda r: r["update"] / 100, start_share=0.5)
    log({"update": 51})
    # 1% of the run took 10 s, so the 49% left takes 490 s
    assert "(ETA 8.2 min)" in capsys.readouterr().err
