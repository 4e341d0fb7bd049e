"""The study: one warm start, every RL method from it on the same token budget over several
seeds, every model scored on the same held-out problems, and a report that sets the figures
Qu et al. (2025) give for MRT against GRPO beside ours.

Folder layout (each step skipped when its file is there, so the same command continues an
interrupted study): ``sft/`` (the warm start), ``rl/METHOD/seedS/`` (each RL run),
``scores/base-seedS.json`` and ``scores/METHOD-seedS.json`` (each model's record,
:func:`mrft.reasoning.scoring.score_model`), then ``study.json`` and ``report.md``.
"""

from __future__ import annotations

import dataclasses
import functools
import json
import sys
from pathlib import Path
from typing import Any

import numpy as np

from mrft.algos.token_rl import METHODS
from mrft.bench.statistics import mean_interval
from mrft.bench.text import readable_interval
from mrft.errors import MrftError
from mrft.logging import write_json
from mrft.reasoning.lm import LMConfig
from mrft.reasoning.metrics import regret_of
from mrft.reasoning.runs import load_model, rl_config, run_rl, run_sft
from mrft.reasoning.scoring import REGRET_BUDGETS, score_model
from mrft.reasoning.sft import SFTConfig
from mrft.reasoning.traces import VOCAB

PAPER = {
    "gain": ("MRT's gain in accuracy over the warm start, as a multiple of GRPO's", 2.0,
             "about 2-3x (Qu et al. 2025, Table 1: pass@1 at a 16k-token budget, R1-Distill-Qwen-1.5B: "
             "GRPO +1.1, MRT +2.2)"),
    "gain_difference": ("MRT's gain in accuracy over the warm start minus GRPO's", None,
                        "+1.1 points (Table 1 as above: MRT +2.2, GRPO +1.1)"),
    "tokens": ("GRPO's thinking tokens over MRT's to reach the lower of their two final accuracies", 1.5,
               "about 1.5x MRT's token efficiency"),
}
"""What the paper reports, per claim: the text, the bar a verdict checks (None: the sign alone)
and the source."""
BOOTSTRAP_REPS = 2000
MRT_FORMS = ("mrt", "mrt-episode")
"""The forms of MRT the claims are checked for: the paper's advantage (its outcome minus the
answer forced after a drawn prefix, one scalar per trace) and the per-episode progress bonus."""


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
    # the warm start scored with every seed's samples, so its own sampling noise is in every
    # interval of a gain over it
    base = [_score(scores / f"base-seed{seed}.json", warm, cfg, seed, target=None)
            for seed in range(1, cfg.seeds + 1)]
    # the majority-vote target: the warm start's accuracy with one trace, the level every
    # method reached before RL, so the tokens say what each needs to be as good as it was
    target = float(np.mean([record["accuracy"] for record in base]))
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


def per_problem(records: list[dict], key: str) -> np.ndarray:
    """``[seeds, problems, ...]``: one figure per problem of every seed's record."""
    return np.asarray([r["per_problem"][key] for r in records], dtype=np.float64)


def seeds_and_problems_interval(statistic, *matrices: np.ndarray, reps: int = BOOTSTRAP_REPS,
                                seed: int = 0) -> list[float]:
    """``[point, low, high]`` of ``statistic(*matrices)`` with a 95% percentile interval from a
    bootstrap over both sources of noise: each matrix's seeds (independent runs) are resampled
    on their own, the held-out problems (scored by every matrix) jointly. The interval is
    ``nan`` where a resample's statistic is not finite."""
    rng = np.random.default_rng(seed)
    problems = matrices[0].shape[1]
    stats = np.empty(reps)
    for i in range(reps):
        columns = rng.integers(0, problems, problems)
        stats[i] = statistic(*(m[rng.integers(0, m.shape[0], m.shape[0])][:, columns] for m in matrices))
    point = float(statistic(*matrices))
    if not np.isfinite(stats).all():
        return [point, float("nan"), float("nan")]
    low, high = np.quantile(stats, [0.025, 0.975])
    return [point, float(low), float(high)]


def _mean(m: np.ndarray) -> float:
    return float(m.mean())


def _gain(method: np.ndarray, base: np.ndarray) -> float:
    return float(method.mean() - base.mean())


def _gain_ratio(method: np.ndarray, reference: np.ndarray, base: np.ndarray) -> float:
    below = reference.mean() - base.mean()
    return float((method.mean() - base.mean()) / below) if below > 0 else float("nan")


def tokens_to_reach(by_tokens: np.ndarray, grid: np.ndarray, level: float) -> float:
    """The smallest token budget of ``grid`` at which the accuracy against thinking tokens
    (``by_tokens [seeds, problems, budgets]``, averaged) reaches ``level``; nan if none does."""
    reached = np.flatnonzero(by_tokens.mean(axis=(0, 1)) >= level - 1e-9)
    return float(grid[reached[0]]) if reached.size else float("nan")


def _token_ratio(grid: np.ndarray):
    """GRPO's tokens over MRT's to reach the lower of their two final accuracies."""
    def statistic(ref_tokens, mrt_tokens, ref_final, mrt_final) -> float:
        level = min(ref_final.mean(), mrt_final.mean())
        ref, mrt = tokens_to_reach(ref_tokens, grid, level), tokens_to_reach(mrt_tokens, grid, level)
        return ref / mrt if mrt > 0 else float("nan")
    return statistic


def summarise(base: list[dict], records: dict[str, list[dict]], cfg: StudyConfig) -> dict[str, Any]:
    """Per method, each figure's mean over seeds and problems with a 95% bootstrap interval over
    both, and the claims against GRPO."""
    grid = np.asarray(base[0]["token_grid"])
    base_final = per_problem(base, "final")
    rows = {}
    for method, runs in records.items():
        final, by_tokens = per_problem(runs, "final"), per_problem(runs, "by_tokens")
        rows[method] = {
            "seeds": len(runs),
            "accuracy": seeds_and_problems_interval(_mean, final),
            "gain": seeds_and_problems_interval(_gain, final, base_final),
            "accuracy_2k": seeds_and_problems_interval(_mean, per_problem(runs, "final_2k")),
            "tokens": seeds_and_problems_interval(_mean, per_problem(runs, "tokens")),
            "regret": {str(b): seeds_and_problems_interval(functools.partial(regret_of, grid=grid, budget=b),
                                                           by_tokens)
                       for b in REGRET_BUDGETS},
            # one vote per seed: the majority needs many traces per problem, sampled once
            "majority_tokens": [float(v) for v in mean_interval([r["majority"]["tokens"] for r in runs])],
            "majority_reached": sum(r["majority"]["reached"] for r in runs),
            "accuracy_by_episode": np.mean([r["accuracy_by_episode"] for r in runs], axis=0).tolist(),
        }
    claims = []
    reference = METHODS[0]
    if reference in records:  # each form of MRT against GRPO: the paper's and the per-episode one
        ref_final, ref_by_tokens = per_problem(records[reference], "final"), per_problem(records[reference], "by_tokens")
        measurable = rows[reference]["gain"][1] > 0
        for form in (m for m in MRT_FORMS if m in records):
            mrt = records[form]
            mrt_final = per_problem(mrt, "final")
            claims.append(_claim("gain", form, *seeds_and_problems_interval(
                _gain_ratio, mrt_final, ref_final, base_final), measurable=measurable))
            claims.append(_claim("gain_difference", form, *seeds_and_problems_interval(_gain, mrt_final, ref_final)))
            claims.append(_claim("tokens", form, *seeds_and_problems_interval(
                _token_ratio(grid), ref_by_tokens, per_problem(mrt, "by_tokens"), ref_final, mrt_final)))
    return {"config": dataclasses.asdict(cfg),
            "base": {"seeds": len(base), **{k: float(np.mean([r[k] for r in base]))
                                           for k in ("accuracy", "accuracy_2k", "tokens")},
                     "accuracy_by_episode": np.mean([r["accuracy_by_episode"] for r in base], axis=0).tolist()},
            "methods": rows, "claims": claims, "regret_budgets": list(REGRET_BUDGETS)}


def _claim(key: str, form: str, point: float, low: float, high: float, measurable: bool = True) -> dict:
    text, bar, paper = PAPER[key]
    neutral = 0.0 if key == "gain_difference" else 1.0  # a difference, or a ratio
    if not measurable:
        verdict = "not measurable: GRPO's gain over the warm start is not above 0"
    elif not np.isfinite(low):
        verdict = "not measurable (the figure is undefined in some resamples)"
    elif bar is not None and low >= bar:
        verdict = "reproduced"
    elif high < neutral:
        verdict = "reversed: GRPO is better here"
    elif low > neutral:
        verdict = "in MRT's favour" + ("" if bar is None else ", below the paper's size")
    else:
        verdict = "not told apart from GRPO"
    return {"claim": text, "method": form, "paper": paper, "ours": readable_interval(point, low, high),
            "verdict": verdict}


def report_markdown(summary: dict) -> str:
    cfg = summary["config"]
    lines = [f"# MRT against GRPO on Countdown ({cfg['difficulty']})", "",
             f"Warm start: accuracy {summary['base']['accuracy']:.3f} with {cfg['episodes']} episodes, "
             f"{summary['base']['tokens']:.0f} tokens per problem. Every method: {cfg['token_budget']:,} "
             f"sampled tokens of RL (forced-termination answers included), {cfg['seeds']} seeds, "
             f"{cfg['problems']} held-out problems; mean over seeds and problems [95% bootstrap interval "
             "over both; the warm start is scored with every seed's samples]. The majority-vote "
             "tokens are one figure per seed. `mrt` adds one scalar per trace (its outcome minus "
             "the answer forced after a drawn prefix) to every token of it, prefix included.", "",
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
    episodes = len(summary["base"]["accuracy_by_episode"])
    lines += ["", "Accuracy when the answer is forced after the first j episodes (mean over seeds):", "",
              "| model | " + " | ".join(f"j = {j}" for j in range(episodes)) + " |", "|---" * (episodes + 1) + "|"]
    for name, by_episode in [("warm start", summary["base"]["accuracy_by_episode"]),
                             *((m, row["accuracy_by_episode"]) for m, row in summary["methods"].items())]:
        lines.append(f"| {name} | " + " | ".join(f"{v:.3f}" for v in by_episode) + " |")
    if summary["claims"]:
        lines += ["", "| MRT form | claim | paper | ours | verdict |", "|---|---|---|---|---|"]
        lines += [f"| `{c['method']}` | {c['claim']} | {c['paper']} | {c['ours']} | {c['verdict']} |"
                  for c in summary["claims"]]
    return "\n".join(lines) + "\n"
