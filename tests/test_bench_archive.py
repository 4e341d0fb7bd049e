"""A bench folder's run files packed into one archive: the report from the archive equals the
report from the folder, packing is deterministic, a file on disk wins over the archive's
copy, and a broken archive is one line naming it."""

import json
import tarfile

import pytest

from mrft.bench.analysis import analyze
from mrft.bench.archive import ARCHIVE, RunFiles, pack
from mrft.cli import main
from mrft.errors import MrftError
from mrft.logging import write_json

STEPS = [0, 100, 200, 300]
# [method][seed] -> the evaluation scores of instances 0 and 1 at STEPS
CURVES = {"grpo": {1: [[0, .2, .4, .6], [0, .5, .8, 1.0]], 2: [[0, .2, .4, .4], [0, .5, .8, .8]]},
          "mrft": {1: [[.5, .6, .6, .7], [.9, .9, 1, 1]], 2: [[.1, .5, .6, .7], [.2, .9, 1, 1]]}}


def _bench_folder(folder):
    suite = {"name": "hand", "description": "hand-made curves",
             "tasks": [{"env": "nav:point", "instances": 2}],
             "budget": {"pretrain_steps": 1000, "adapt_steps": 300, "eval_every": 100,
                        "eval_episodes": 4, "adapt_envs": 4},
             "seeds": 2, "train": {}, "methods": {}, "source": "test"}
    write_json(folder / "bench.json", {"format": 1, "suite": suite, "methods": list(CURVES),
                                       "seeds": [1, 2], "commands": ["mrft bench --suite x"],
                                       "machine": {"cores": 2}, "commit": "abc", "started": "t0"})
    for method, by_seed in CURVES.items():
        for seed, tasks in by_seed.items():
            run = folder / "runs" / "nav_point" / method / f"seed{seed}"
            write_json(run / "pretrain.json", {"wall_clock_s": 10.0 * seed, "sps": 100.0,
                                               "peak_memory_mib": 500.0})
            (run / "train").mkdir(parents=True)
            log = [{"step": s, "charts/episodic_return": -20.0 + s / 100 + seed} for s in range(0, 1001, 250)]
            (run / "train" / "metrics.jsonl").write_text("".join(json.dumps(r) + "\n" for r in log))
            (run / "train" / "checkpoint.pt").write_bytes(b"weights")
            for i, scores in enumerate(tasks):
                write_json(run / "adapt" / f"instance{i}.json", {
                    "curve": [{"step": s, "return": v, "score": v} for s, v in zip(STEPS, scores, strict=True)],
                    "wall_clock_s": 2.0, "sps": 150.0, "peak_memory_mib": 600.0})
    return folder


def _report(capsys, path, *flags) -> dict:
    """``mrft report PATH FLAGS``'s analysis.json, written into the bench folder."""
    with pytest.raises(SystemExit) as exit_info:
        main(["report", str(path), *flags])
    assert exit_info.value.code == 0, capsys.readouterr().err
    folder = path.parent if path.name == ARCHIVE else path
    return json.loads((folder / "analysis.json").read_text())


def test_the_report_from_the_archive_equals_the_report_from_the_folder(tmp_path, capsys):
    folder = _bench_folder(tmp_path / "bench")
    loose = _report(capsys, folder, "--pack")  # the report is made before the runs are packed
    assert loose["curves"]["pretrain"][0]["methods"]  # the training logs are read too
    assert f"packed 16 run files into {folder / ARCHIVE}" in capsys.readouterr().out
    # only the left-out checkpoints stay on disk
    assert sorted(p.name for p in (folder / "runs").rglob("*") if p.is_file()) == ["checkpoint.pt"] * 4
    from_folder = _report(capsys, folder)
    from_archive = _report(capsys, folder / ARCHIVE)
    assert loose == from_folder == from_archive
    assert (folder / "report.md").is_file() and (folder / "adaptation.png").is_file()


def test_packing_is_deterministic_and_keeps_what_the_archive_held(tmp_path):
    first = _bench_folder(tmp_path / "a")
    second = _bench_folder(tmp_path / "b")
    assert pack(first) == pack(second)
    assert (first / ARCHIVE).read_bytes() == (second / ARCHIVE).read_bytes()
    with tarfile.open(first / ARCHIVE) as tar:
        members = tar.getmembers()
    assert [m.name for m in members] == sorted(m.name for m in members)
    assert {(m.mtime, m.uid, m.gid, m.uname, m.mode) for m in members} == {(0, 0, 0, "", 0o644)}
    assert not any(m.name.endswith("checkpoint.pt") for m in members)
    # a bench resumed after packing: a new run on disk joins the archive's runs
    pack(first, remove=True)
    new = first / "runs" / "nav_point" / "ppo" / "seed1" / "pretrain.json"
    write_json(new, {"wall_clock_s": 1.0, "sps": 1.0, "peak_memory_mib": 1.0})
    assert pack(first, remove=True) == ["runs/nav_point/ppo/seed1/pretrain.json"]
    files = RunFiles(first)
    assert "runs/nav_point/ppo/seed1/pretrain.json" in files.names("runs")
    assert len(files.glob("runs/*/*/seed*/pretrain.json")) == 5
    assert files.glob("runs/nav_point/mrft/seed2/adapt/instance*.json") == [
        "runs/nav_point/mrft/seed2/adapt/instance0.json", "runs/nav_point/mrft/seed2/adapt/instance1.json"]


def test_a_file_on_disk_wins_over_the_archive(tmp_path):
    folder = _bench_folder(tmp_path)
    pack(folder)  # the runs stay on disk too
    name = "runs/nav_point/grpo/seed1/adapt/instance0.json"
    record = json.loads((folder / name).read_text())
    record["curve"][-1]["score"] = 0.9
    (folder / name).write_text(json.dumps(record))
    files = RunFiles(folder)
    assert json.loads(files.read_text(name))["curve"][-1]["score"] == 0.9
    assert files.where(name) == str(folder / name)
    assert json.loads(RunFiles(folder / ARCHIVE).packed()[name])["curve"][-1]["score"] == 0.6
    (folder / name).unlink()
    assert files.where(name) == f"{folder / ARCHIVE}:{name}"
    with pytest.raises(FileNotFoundError):
        files.read_bytes("runs/nav_point/grpo/seed9/pretrain.json")


@pytest.mark.parametrize("damage", ["truncate", "garble", "not xz"])
def test_a_broken_archive_is_one_line_naming_it(tmp_path, capsys, damage):
    folder = _bench_folder(tmp_path)
    pack(folder, remove=True)
    archive = folder / ARCHIVE
    data = archive.read_bytes()
    broken = {"truncate": data[: len(data) // 2],
              "garble": data[:200] + bytes(b ^ 0x5A for b in data[200:400]) + data[400:],
              "not xz": b"just text\n"}[damage]
    archive.write_bytes(broken)
    with pytest.raises(MrftError, match="not a readable run archive") as info:
        analyze(folder)
    assert str(archive) in str(info.value) and "\n" not in str(info.value)
    capsys.readouterr()
    with pytest.raises(SystemExit) as exit_info:
        main(["report", str(archive)])
    err = capsys.readouterr().err
    assert exit_info.value.code == 2
    assert err.startswith(f"error: {archive}: ") and err.count("\n") == 1


def test_a_broken_run_file_in_the_archive_is_named_with_the_archive(tmp_path):
    folder = _bench_folder(tmp_path)
    (folder / "runs" / "nav_point" / "grpo" / "seed1" / "adapt" / "instance0.json").write_text("[1")
    pack(folder, remove=True)
    with pytest.raises(MrftError) as info:
        analyze(folder)
    text = str(info.value)
    assert text.startswith(f"{folder / ARCHIVE}:runs/nav_point/grpo/seed1/adapt/instance0.json: ")
    assert "tar -xJf" in text and "--skip-broken" in text and "\n" not in text
