"""``mrft reason``: the command line of :mod:`mrft.reasoning.runs` (the warm start, RL runs,
scoring) and :mod:`mrft.reasoning.study`."""

from __future__ import annotations

from pathlib import Path

from mrft.cli_options import ReasonConfig
from mrft.errors import MrftError


def run_reason(cfg: ReasonConfig) -> int:
    """Check the options, then run the stage; returns the exit code."""
    from mrft.algos.token_rl import METHODS
    from mrft.reasoning import runs
    from mrft.reasoning.lm import LMConfig
    from mrft.reasoning.sft import SFTConfig
    from mrft.reasoning.traces import VOCAB

    if cfg.method not in METHODS:
        raise MrftError(f"--method must be one of {', '.join(METHODS)}, got {cfg.method!r}")
    for name in ("token_budget", "episodes", "max_tokens", "sft_steps", "problems", "seeds"):
        if getattr(cfg, name) < 1:
            raise MrftError(f"--{name.replace('_', '-')} must be >= 1, got {getattr(cfg, name)}")
    if cfg.stage in ("rl", "eval") and cfg.init is None:
        raise MrftError(f"mrft reason {cfg.stage} needs --init CHECKPOINT")
    if cfg.threads < 0:
        raise MrftError(f"--threads must be >= 0, got {cfg.threads}")
    if cfg.threads:
        import torch

        torch.set_num_threads(cfg.threads)
    sft = SFTConfig(steps=cfg.sft_steps, seed=cfg.seed)
    if cfg.stage == "sft":
        path = runs.run_sft(cfg.out, LMConfig(len(VOCAB)), sft, cfg.difficulty)
    elif cfg.stage == "rl":
        path = runs.run_rl(cfg.out, cfg.init, runs.rl_config(
            cfg.method, alpha=cfg.alpha, length_coef=cfg.length_coef, token_budget=cfg.token_budget,
            episodes=cfg.episodes, max_tokens=cfg.max_tokens, seed=cfg.seed))
    elif cfg.stage == "eval":
        from mrft.logging import write_json
        from mrft.reasoning.scoring import score_model

        model, data = runs.load_model(cfg.init)
        record = score_model(model, data["reasoning"]["difficulty"], cfg.problems, cfg.episodes,
                             cfg.max_tokens, cfg.seed)
        print(f"accuracy {record['accuracy']:.3f} with {cfg.episodes} episodes, {record['accuracy_2k']:.3f} "
              f"with {2 * cfg.episodes}; {record['tokens']:.0f} tokens per problem; normalised regret "
              + ", ".join(f"{v:.3f} at {b} tokens" for b, v in record["regret"].items()))
        if cfg.json_out:
            write_json(Path(cfg.json_out), record)
        return 0
    else:
        from mrft.reasoning.study import StudyConfig, report_markdown, run_study

        summary = run_study(cfg.out, StudyConfig(
            difficulty=cfg.difficulty, seeds=cfg.seeds, sft=sft, token_budget=cfg.token_budget,
            episodes=cfg.episodes, max_tokens=cfg.max_tokens, alpha=cfg.alpha, length_coef=cfg.length_coef,
            problems=cfg.problems))
        print(report_markdown(summary))
        path = Path(cfg.out) / "report.md"
    print(f"done: {path}")
    return 0
