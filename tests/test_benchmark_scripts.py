"""The profiling scripts under benchmarks/ run and say what they measured."""

import json
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent


def _script(name: str, *args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, str(REPO / "benchmarks" / name), *args],
                          capture_output=True, text=True, timeout=600, cwd=REPO)


def test_mrft_cost_times_every_design_against_ppo(tmp_path):
    out = tmp_path / "cost.json"
    proc = _script("mrft_cost.py", "--env", "bandit:arms3", "--calls", "4", "--repeats", "1",
                   "--out", str(out))
    assert proc.returncode == 0, proc.stderr
    result = json.loads(out.read_text())
    assert set(result["mrft"]) == {f"{c}+{e}" for c in ("meta-policy", "hyper", "concat")
                                   for e in ("tcn", "gru")}
    assert all(v > 0 for part in result["mrft"].values() for v in part.values())
    assert result["ppo_acting_s"] > 0 and result["ppo_update_s"] > 0
    assert result["command"].startswith("python benchmarks/mrft_cost.py --env bandit:arms3")
    assert "PPO" in proc.stdout and "meta-policy+tcn" in proc.stdout


def test_meta_speed_refuses_what_it_cannot_measure_as_the_bench_would(tmp_path):
    for name, says in (("oracle", "is not a pre-training variant"),
                       ("mrft-in-context", "is not a pre-training variant"),
                       ("nope", "unknown method 'nope'")):
        proc = _script("meta_speed.py", "--algos", "ppo", name, "--steps", "100",
                       "--out", str(tmp_path / "speed.json"))
        assert proc.returncode != 0 and says in proc.stderr, proc.stderr
        assert proc.stderr.strip().startswith("error:") and not (tmp_path / "speed.json").exists()
