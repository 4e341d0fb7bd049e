"""A user's own family and algorithm, each from one file outside ``src/`` (``MRFT_PLUGINS`` or
a suite's ``plugins``), run through every command as a user would: nothing under src/
names them."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

HERE = Path(__file__).resolve().parent
EXAMPLES = HERE.parent / "examples"
SMALL_MRFT = """
[methods.mrft]
mrft.tcn_channels = 8
mrft.tcn_levels = 2
mrft.meta_d_model = 16
mrft.meta_layers = 1
mrft.embed_dim = 8
"""


def mrft(*args: str, plugins: str = "", cwd: Path, ok: bool = True) -> subprocess.CompletedProcess:
    env = {**os.environ, "MRFT_PLUGINS": plugins}
    done = subprocess.run([sys.executable, "-m", "mrft", *args], cwd=cwd, env=env,
                          capture_output=True, text=True, timeout=600)
    if ok:
        assert done.returncode == 0, done.stderr[-3000:]
    return done


def suite_toml(path: Path, env: str, instances: int, pretrain: int, adapt: int,
               extra: str = "") -> Path:
    path.write_text(f"""
name = "{path.stem}"
seeds = 1
{extra}
[budget]
pretrain_steps = {pretrain}
adapt_steps = {adapt}
eval_every = {adapt // 2}
eval_episodes = 4
adapt_envs = 4

[[tasks]]
env = "{env}"
instances = {instances}

[train]
run.hidden_sizes = [16]
run.threads = 1
grpo.group_size = 4
{SMALL_MRFT}""")
    return path


@pytest.mark.long
def test_a_family_from_a_plugin_file_runs_through_every_command(tmp_path):
    plugin = str(HERE / "plugin_family.py")
    listed = mrft("list", plugins=plugin, cwd=tmp_path).stdout
    assert "tilt " in listed and "direction" in listed
    mrft("train", "--env", "tilt:line", "--algo", "mrft", "--total-steps", "320",
         "--hidden-sizes", "16", "--tcn-channels", "8", "--meta-d-model", "16",
         "--embed-dim", "8", "--run-name", "m", "--no-progress", plugins=plugin, cwd=tmp_path)
    checkpoint = tmp_path / "runs" / "m" / "checkpoint.pt"
    mrft("adapt", str(checkpoint), "--task", "1", "--steps", "80", "--eval-every", "40",
         "--eval-episodes", "4", "--num-envs", "4", plugins=plugin, cwd=tmp_path)
    probed = mrft("eval", str(checkpoint), "--episodes", "8", "--probe", plugins=plugin,
                  cwd=tmp_path).stdout
    assert "linear-probe R^2" in probed  # the family shows its parameters to the probe
    # an instance past the family's two distinct ones is refused, not repeated
    refused = mrft("adapt", str(checkpoint), "--task", "2", plugins=plugin, cwd=tmp_path, ok=False)
    assert refused.returncode == 2 and "only 2 distinct held-out instances" in refused.stderr
    suite = suite_toml(tmp_path / "tilt.toml", "tilt:line", 2, 640, 80)
    mrft("bench", "--suite", str(suite), "--methods", "grpo,ppo,mrft,rl2,oracle,context-free",
         "--out", "b", plugins=plugin, cwd=tmp_path)
    analysis = json.loads((tmp_path / "b" / "analysis.json").read_text())
    assert set(analysis["methods"]) >= {"grpo", "ppo", "mrft", "rl2", "oracle", "context-free"}
    assert any("tilt:line" in line for line in analysis["informative"])
    assert (tmp_path / "b" / "report.html").is_file()
    # without the plugin the family is unknown: one error line naming the choices
    unknown = mrft("report", "b", cwd=tmp_path, ok=False)
    assert unknown.returncode == 2 and "unknown env family 'tilt'" in unknown.stderr
    assert "Traceback" not in unknown.stderr


@pytest.mark.long
def test_an_algorithm_from_a_plugin_file_brings_its_options(tmp_path):
    plugin = str(HERE / "plugin_algorithm.py")
    listed = mrft("list", plugins=plugin, cwd=tmp_path).stdout
    assert "reinforce " in listed and "reinforce-no-baseline" in listed
    helped = mrft("train", "--help", plugins=plugin, cwd=tmp_path).stdout
    assert "--reinforce-epochs" in helped and "Passes over each batch of episodes." in helped
    bad = mrft("train", "--algo", "reinforce", "--reinforce-epochs", "0", plugins=plugin,
               cwd=tmp_path, ok=False)
    assert bad.returncode == 2 and "--reinforce-epochs must be >= 1" in bad.stderr
    mrft("train", "--env", "nav:point", "--algo", "reinforce", "--reinforce-epochs", "2",
         "--total-steps", "320", "--num-envs", "4", "--hidden-sizes", "16", "--run-name", "r",
         "--no-progress", plugins=plugin, cwd=tmp_path)
    import torch

    checkpoint = tmp_path / "runs" / "r" / "checkpoint.pt"
    saved = torch.load(checkpoint, weights_only=True)["config"]["reinforce"]
    assert saved == {"reinforce_epochs": 2, "reinforce_baseline": True, "reinforce_entropy": 0.0}
    mrft("adapt", str(checkpoint), "--steps", "80", "--eval-every", "40", "--eval-episodes", "4",
         "--num-envs", "4", "--adapt-epochs", "3", "--out", "a.json", plugins=plugin, cwd=tmp_path)
    record = json.loads((tmp_path / "a.json").read_text())
    assert record["reinforce"]["reinforce_epochs"] == 3
    mrft("train", "--env", "nav:point", "--algo", "ppo", "--total-steps", "160", "--num-envs", "4",
         "--hidden-sizes", "16", "--run-name", "p", "--no-progress", plugins=plugin, cwd=tmp_path)
    foreign = mrft("adapt", str(tmp_path / "runs" / "p" / "checkpoint.pt"), "--adapt-epochs", "3",
                   plugins=plugin, cwd=tmp_path, ok=False)
    assert foreign.returncode == 2 and "option of reinforce's adaptation" in foreign.stderr
    suite = suite_toml(tmp_path / "nav.toml", "nav:point", 1, 320, 80)
    mrft("bench", "--suite", str(suite), "--methods", "reinforce,reinforce-no-baseline,ppo",
         "--baseline", "reinforce", "--focus", "reinforce-no-baseline", "--out", "b",
         plugins=plugin, cwd=tmp_path)
    analysis = json.loads((tmp_path / "b" / "analysis.json").read_text())
    assert analysis["baseline"] == "reinforce" and analysis["focus"] == "reinforce-no-baseline"
    assert analysis["methods"][:2] == ["reinforce", "reinforce-no-baseline"]


@pytest.mark.parametrize("methods", ["grpo,ppo,mrft,oracle,context-free"])
def test_the_example_family_runs_end_to_end(tmp_path, methods):
    text = (EXAMPLES / "hidden_valve.toml").read_text()
    text = text.replace('plugins = ["hidden_valve.py"]', f'plugins = ["{EXAMPLES / "hidden_valve.py"}"]')
    for key, value in (("pretrain_steps", 960), ("adapt_steps", 120), ("eval_every", 60),
                       ("eval_episodes", 4), ("adapt_envs", 4)):
        text = "\n".join(f"{key} = {value}" if line.startswith(f"{key} =") else line
                         for line in text.splitlines())
    text = text.replace("instances = 5", "instances = 2").replace("seeds = 3", "seeds = 1")
    suite = tmp_path / "valve.toml"
    suite.write_text(text + "\ngrpo.group_size = 4\n" + SMALL_MRFT)
    mrft("bench", "--suite", str(suite), "--methods", methods, "--out", "b", cwd=tmp_path)
    analysis = json.loads((tmp_path / "b" / "analysis.json").read_text())
    assert analysis["suite"]["name"] == "hidden-valve"
    assert any("gym:HiddenValve-v0" in line for line in analysis["informative"])
    assert (tmp_path / "b" / "report.md").read_text().count("HiddenValve") > 0
