"""The study: one warm start, every RL method from it on the same token budget over several
seeds, every model scored on the same held-out problems, and a report that sets the figures
Qu et al. (2025) give for MRT against GRPO beside ours.

Folder layout (each step skipped when its file is there, so the same command continues an
interrupted study): ``sft/`` (the warm start), ``rl/METHOD/seedS/`` (each RL run),
``scores/base.json`` and ``scores/METHOD-seedS.json`` (each model's record,
:func:`mrft.reasoning.scoring.score_model`), then ``study.json`` and ``report.md``.
"""

from __future__ import annotations

import dataclasses
import json
import sys
from pathlib import Path
from typing import Any

import numpy as np

from mrft.algos.token_rl import METHODS
from mrft.bench.statistics import mean_interval, ratio_of_means
from mrft.bench.text import readable_interval
from mrft.errors import MrftError
from mrft.logging import write_json
from mrft.reasoning.lm import LMConfig
from mrft.reasoning.runs import load_model, rl_config, run_rl, run_sft
from mrft.reasoning.scoring import REGRET_BUDGETS, score_model
from mrft.reasoning.sft import SFTConfig
from mrft.reasoning.traces import VOCAB

PAPER = {
    "gain": ("MRT's gain in accuracy over the warm start, as a multiple of GRPO's", 2.0,
             "about 2-3x (Qu et al. 2025, Table 1: pass@1 at a 16k-token budget, R1-Distill-Qwen-1.5B: "
             "GRPO +1.1, MRT +2.2)"),
    "tokens": ("GRPO's tokens per problem over MRT's at their own final accuracy", 1.5,
               "about 1.5x MRT's token efficiency"),
}
"""What the paper reports, per claim: the text, the bar a verdict checks and the source."""


@dataclasses.dataclass(frozen=True)
class StudyConfig:
    difficulty: str = "easy"
    seeds: int = 3
    methods: tuple[str, ...] = METHODS
    lm: LMConfig = dataclasses.field(default_factory=lambda: LMConfig(len(VOCAB)))
    sft: SFTConfig = dataclasses.field(default_factory=SFTConfig)
    token_budget: int = 1_500_000
    episodes: int = 6
    max_tokens: int = 200
    alpha: float = 1.0
    length_coef: float = 0.5
    problems: int = 500
    majority_problems: int = 100


def _score(path: Path, model_path: Path, cfg: StudyConfig, seed: int, target: float | None) -> dict:
    """The score saved at ``path``, reused only where it was made with the study's settings, or
    a new one."""
    if path.exists():
        record = json.loads(path.read_text(encoding="utf-8"))
        wanted = {"difficulty": cfg.difficulty, "problems": cfg.problems, "episodes": cfg.episodes,
                  "max_tokens": cfg.max_tokens, "seed": seed}
        if {k: record.get(k) for k in wanted} != wanted:
            raise MrftError(f"{path} was scored with other settings; give the study another --out")
        return record
    model, _ = load_model(model_path)
    record = score_model(model, cfg.difficulty, cfg.problems, cfg.episodes, cfg.max_tokens, seed,
                         target, cfg.majority_problems)
    write_json(path, record)
    return record


def run_study(out: str | Path, cfg: StudyConfig) -> dict:
    out = Path(out)
    warm = run_sft(out / "sft", cfg.lm, cfg.sft, cfg.difficulty)
    scores = out / "scores"
    scores.mkdir(parents=True, exist_ok=True)
    base = _score(scores / "base.json", warm, cfg, 0, target=None)
    # the majority-vote target: the warm start's accuracy with one trace, the level every
    # method reached before RL, so the tokens say what each needs to be as good as it was
    target = base["accuracy"]
    records: dict[str, list[dict]] = {}
    for seed in range(1, cfg.seeds + 1):
        for method in cfg.methods:
            print(f"study: {method} seed {seed}", file=sys.stderr, flush=True)
            rl = rl_config(method, alpha=cfg.alpha, length_coef=cfg.length_coef,
                           token_budget=cfg.token_budget, episodes=cfg.episodes,
                           max_tokens=cfg.max_tokens, seed=seed)
            model = run_rl(out / "rl" / method / f"seed{seed}", warm, rl)
            records.setdefault(method, []).append(_score(scores / f"{method}-seed{seed}.json", model, cfg,
                                                         seed, target))
    summary = summarise(base, records, cfg)
    write_json(out / "study.json", summary)
    (out / "report.md").write_text(report_markdown(summary), encoding="utf-8")
    return summary


def summarise(base: dict, records: dict[str, list[dict]], cfg: StudyConfig) -> dict[str, Any]:
    """Per method, each figure's mean over seeds with a 95% bootstrap interval, and the claims
    against GRPO."""
    def interval(values):
        return [float(v) for v in mean_interval(values)]

    rows = {}
    for method, runs in records.items():
        rows[method] = {
            "seeds": len(runs),
            "accuracy": interval([r["accuracy"] for r in runs]),
            "gain": interval([r["accuracy"] - base["accuracy"] for r in runs]),
            "accuracy_2k": interval([r["accuracy_2k"] for r in runs]),
            "tokens": interval([r["tokens"] for r in runs]),
            "regret": {b: interval([r["regret"][b] for r in runs]) for b in runs[0]["regret"]},
            "majority_tokens": interval([r["majority"]["tokens"] for r in runs]),
            "majority_reached": sum(r["majority"]["reached"] for r in runs),
            "accuracy_by_episode": np.mean([r["accuracy_by_episode"] for r in runs], axis=0).tolist(),
        }
    claims = []
    reference = METHODS[0]
    if reference in records and "mrt" in records:
        gains = {m: [r["accuracy"] - base["accuracy"] for r in records[m]] for m in (reference, "mrt")}
        with np.errstate(invalid="ignore", divide="ignore"):  # zero gains: nan, said in the verdict
            claims.append(_claim("gain", *ratio_of_means(gains["mrt"], gains[reference])))
            claims.append(_claim("tokens", *ratio_of_means([r["tokens"] for r in records[reference]],
                                                           [r["tokens"] for r in records["mrt"]])))
    return {"config": dataclasses.asdict(cfg), "base": {k: base[k] for k in ("accuracy", "accuracy_2k", "tokens")},
            "methods": rows, "claims": claims, "regret_budgets": list(REGRET_BUDGETS)}


def _claim(key: str, point: float, low: float, high: float) -> dict:
    text, bar, paper = PAPER[key]
    if not np.isfinite(low):
        verdict = "not measurable (GRPO's figure is not above 0 in every resample)"
    elif low >= bar:
        verdict = "reproduced"
    elif high < 1.0:
        verdict = "reversed: GRPO is better here"
    elif low > 1.0:
        verdict = "in MRT's favour, below the paper's size"
    else:
        verdict = "not told apart from GRPO"
    return {"claim": text, "paper": paper, "ours": readable_interval(point, low, high), "verdict": verdict}


def report_markdown(summary: dict) -> str:
    cfg = summary["config"]
    lines = [f"# MRT against GRPO on Countdown ({cfg['difficulty']})", "",
             f"Warm start: accuracy {summary['base']['accuracy']:.3f} with {cfg['episodes']} episodes, "
             f"{summary['base']['tokens']:.0f} tokens per problem. Every method: {cfg['token_budget']:,} "
             f"sampled tokens of RL (forced-termination answers included), {cfg['seeds']} seeds, "
             f"{cfg['problems']} held-out problems; mean over seeds [95% bootstrap interval].", "",
             "| method | accuracy (K episodes) | gain over the warm start | accuracy (2K episodes) | tokens per problem | "
             + " | ".join(f"regret at {b} tokens" for b in summary["regret_budgets"])
             + " | tokens to the warm start's accuracy by majority vote |",
             "|---" * (6 + len(summary["regret_budgets"])) + "|"]
    for method, row in summary["methods"].items():
        cells = [method, readable_interval(*row["accuracy"]), readable_interval(*row["gain"]),
                 readable_interval(*row["accuracy_2k"]), readable_interval(*row["tokens"]),
                 *(readable_interval(*row["regret"][str(b)]) for b in summary["regret_budgets"]),
                 readable_interval(*row["majority_tokens"])]
        lines.append("| " + " | ".join(cells) + " |")
    if summary["claims"]:
        lines += ["", "| claim | paper | ours | verdict |", "|---|---|---|---|"]
        lines += [f"| {c['claim']} | {c['paper']} | {c['ours']} | {c['verdict']} |" for c in summary["claims"]]
    return "\n".join(lines) + "\n"
