"""A run folder grows at a bounded rate: one metrics.jsonl line and one TensorBoard record per
update, of about a kilobyte each; one checkpoint.pt overwritten atomically, plus the
``--keep-checkpoints N`` latest milestones, older ones deleted."""

import pytest

from mrft.algos.mrft.options import MRFTConfig
from mrft.checkpoint import MILESTONES, load_checkpoint
from mrft.config import EnvConfig, RunConfig, TrainConfig
from mrft.trainer import Trainer

JSONL_BYTES_PER_UPDATE = 2048
EVENTS_BYTES_PER_UPDATE = 3072


def _cfg(tmp_path, algo: str, updates: int, **run) -> TrainConfig:
    cfg = TrainConfig(env=EnvConfig(env="nav:point", num_envs=4), algo=algo,
                      mrft=MRFTConfig(tcn_channels=8, tcn_levels=2, meta_d_model=16, meta_layers=1,
                                      embed_dim=8, meta_num_steps=40),
                      run=RunConfig(total_steps=updates * 4 * 40, seed=1, runs_dir=str(tmp_path),
                                    run_name=algo, progress=False, hidden_sizes=(16, 16), **run))
    cfg.ppo.num_steps = 40
    cfg.rl2.num_steps = 40
    cfg.grpo.group_size = 4
    return cfg


@pytest.mark.parametrize("algo", ["ppo", "grpo", "rl2", "mrft"])
def test_each_update_adds_about_a_kilobyte_of_logs_and_the_checkpoint_is_one_file(tmp_path, algo):
    result = Trainer(_cfg(tmp_path, algo, updates=6)).train()
    folder = result.run_dir
    lines = (folder / "metrics.jsonl").read_text().splitlines()
    assert len(lines) == result.updates >= 2
    jsonl = (folder / "metrics.jsonl").stat().st_size / result.updates
    events = sum(p.stat().st_size for p in folder.glob("events.out.tfevents.*")) / result.updates
    assert jsonl < JSONL_BYTES_PER_UPDATE and events < EVENTS_BYTES_PER_UPDATE, (jsonl, events)
    assert sorted(p.name for p in folder.glob("*.pt")) == ["checkpoint.pt"]
    assert not (folder / MILESTONES).exists() and not list(folder.glob("*.tmp*"))


def test_keep_checkpoints_keeps_the_latest_milestones_and_deletes_the_older(tmp_path):
    result = Trainer(_cfg(tmp_path, "ppo", updates=8, checkpoint_every=2, keep_checkpoints=2)).train()
    milestones = sorted((result.run_dir / MILESTONES).iterdir())
    assert [p.name for p in milestones] == [f"step-{6 * 160:012d}.pt", f"step-{8 * 160:012d}.pt"]
    for path in milestones:
        state = load_checkpoint(path, required=("model", "counters"))
        assert state["counters"]["global_step"] == int(path.stem.split("-")[1])
    assert load_checkpoint(result.checkpoint)["counters"]["global_step"] == 8 * 160
    # a milestone resumes like the checkpoint itself
    resumed = Trainer(resume_from=str(milestones[0]))
    assert resumed.global_step == 6 * 160 and resumed.run_dir == result.run_dir


def test_a_negative_keep_count_is_refused_in_one_line(tmp_path):
    from mrft.errors import MrftError

    with pytest.raises(MrftError, match="--keep-checkpoints must be >= 0"):
        Trainer(_cfg(tmp_path, "ppo", updates=2, keep_checkpoints=-1))
