"""What each pre-trained MRFT variant of a bench infers, and how much of it its policy uses.

For every pre-trained checkpoint of an MRFT method in a bench folder
(``runs/<family>/<method>/seed<k>/train/checkpoint.pt``) this runs ``mrft eval CHECKPOINT
--probe`` on the family's held-out instances and collects:

- the return of each episode of a trial from the prior belief (episode 0 is the in-context
  score's episode; episode 1 continues the belief episode 0 built);
- the R^2 of a linear probe of the hidden task parameters from the belief after the first
  episode, and after 1 and 10 steps of it;
- the context gain: the next episode's return with the policy's own belief minus with
  another instance's.

An ablation's scores say which variant adapts best; this says why. A belief that finds the
task (a high probe R^2) under a policy that gains little from it (a small context gain, a
second episode no better than the first) points at control, not inference.

Each probe is kept in ``<bench>/belief_probes/<family>/<method>/seed<k>.json``; a rerun probes
only the checkpoints without one (a bench still running gains rows). The table (means over
seeds, with the seeds counted) goes to stdout and ``<bench>/belief_probes.md``.

    python benchmarks/belief_probes.py benchmarks/results/mrft-v3-ablation --episodes 300
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
from pathlib import Path

from mrft.atomic import atomic_write_bytes
from mrft.errors import MrftError
from mrft.logging import write_json

REPO = Path(__file__).resolve().parents[1]


def checkpoints(bench: Path) -> list[tuple[str, str, str, Path]]:
    """``(family, method, seed, checkpoint)`` of every MRFT pre-training in ``bench``."""
    found = []
    for path in sorted(bench.glob("runs/*/*/seed*/train/checkpoint.pt")):
        seed_dir = path.parents[1]
        family, method = seed_dir.parents[1].name, seed_dir.parent.name
        if method.startswith("mrft"):
            found.append((family, method, seed_dir.name, path))
    return found


def probe(checkpoint: Path, out: Path, episodes: int, seed: int) -> dict:
    """``mrft eval --probe`` of ``checkpoint`` on one torch thread, its JSON kept at ``out``."""
    out.parent.mkdir(parents=True, exist_ok=True)
    partial = out.with_suffix(".partial.json")
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    command = [sys.executable, "-m", "mrft", "eval", str(checkpoint), "--probe", "--episodes",
               str(episodes), "--seed", str(seed), "--json-out", str(partial)]
    proc = subprocess.run(command, cwd=REPO, env=env, capture_output=True, text=True)
    if proc.returncode != 0:
        said = proc.stderr.strip().splitlines()
        raise MrftError(f"mrft eval --probe failed on {checkpoint}: {said[-1] if said else proc.returncode}")
    record = json.loads(partial.read_text(encoding="utf-8"))
    record["settings"] = {"episodes": episodes, "seed": seed, "command": " ".join(command[1:])}
    partial.unlink()
    write_json(out, record)  # atomic: a kill never leaves a half record that a rerun would keep
    return record


def summary_row(records: list[dict]) -> dict:
    """Means over seeds of what the table shows."""
    def mean(values):
        values = [v for v in values if v is not None]
        return sum(values) / len(values) if values else None

    probes = [r["probe"] for r in records]
    return {
        "seeds": len(records),
        "episode_0": mean(p["return_episode"][0] for p in probes),
        "episode_1": mean(p["return_episode"][1] if len(p["return_episode"]) > 1 else None for p in probes),
        "probe_r2": mean(p.get("probe_r2") for p in probes),
        "probe_r2_step_1": mean((p.get("probe_r2_by_step") or {}).get("1") for p in probes),
        "probe_r2_step_10": mean((p.get("probe_r2_by_step") or {}).get("10") for p in probes),
        "context_gain": mean(p["context_gain"] for p in probes),
    }


def table(rows: dict[tuple[str, str], dict]) -> str:
    def cell(value):
        return "—" if value is None else f"{value:.3g}"

    lines = ["| family | method | seeds | return, episode 0 | return, episode 1 | probe R^2 (after 1 / 10 steps; episode) | context gain |",
             "|---|---|---|---|---|---|---|"]
    for (family, method), row in rows.items():
        lines.append(f"| {family} | {method} | {row['seeds']} | {cell(row['episode_0'])} | {cell(row['episode_1'])} | "
                     f"{cell(row['probe_r2_step_1'])} / {cell(row['probe_r2_step_10'])}; {cell(row['probe_r2'])} | "
                     f"{cell(row['context_gain'])} |")
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("bench", type=Path, help="a bench folder (mrft bench --out)")
    parser.add_argument("--episodes", type=int, default=300,
                        help="trials per probe; the linear probe is fitted on half of them")
    parser.add_argument("--seed", type=int, default=1, help="the probe's sampling seed")
    args = parser.parse_args(argv)
    try:
        text = probe_bench(args.bench, args.episodes, args.seed)
    except MrftError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    print(text, end="")
    return 0


def probe_bench(bench: Path, episodes: int, seed: int) -> str:
    """Probe every checkpoint of ``bench`` that has no probe yet; the table of them all."""
    found = checkpoints(bench)
    if not found:
        raise MrftError(f"no MRFT pre-training checkpoints under {bench}/runs")
    rows: dict[tuple[str, str], list[dict]] = {}
    for i, (family, method, seed_name, path) in enumerate(found, 1):
        out = bench / "belief_probes" / family / method / f"{seed_name}.json"
        if out.exists():
            try:
                record = json.loads(out.read_text(encoding="utf-8"))
            except (OSError, json.JSONDecodeError) as exc:
                raise MrftError(f"{out}: cannot read the stored probe ({exc}); delete it to probe again") from None
        else:
            print(f"[{i}/{len(found)}] probing {family} {method} {seed_name}", file=sys.stderr, flush=True)
            record = probe(path, out, episodes, seed)
        rows.setdefault((family, method), []).append(record)
    text = table({key: summary_row(records) for key, records in sorted(rows.items())})
    atomic_write_bytes(bench / "belief_probes.md", text.encode("utf-8"))
    return text


if __name__ == "__main__":
    raise SystemExit(main())
