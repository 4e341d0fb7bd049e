"""benchmarks/sweep_facts.py on a hand-made bench folder: pauses counted at their group's
median, the dropped-start counts read off curves and logs, and the spread over seeds in
context and at the end."""

import importlib.util
import json
from pathlib import Path

SCRIPT = Path(__file__).resolve().parent.parent / "benchmarks" / "sweep_facts.py"


def _module():
    spec = importlib.util.spec_from_file_location("sweep_facts", SCRIPT)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _write(path: Path, data) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(data))


def test_pauses_and_dropped_starts_by_hand(tmp_path, capsys):
    runs = tmp_path / "runs" / "fam"
    _write(runs / "ppo" / "seed1" / "pretrain.json", {"wall_clock_s": 1800.0})
    # adaptations 10, 10 and 100 s: 100 > 3 x 10 and 90 s over the median -> counted as 10
    starts_ends = [(5.0, 800.0), (5.0, 100.0), (1000.0, 1000.0)]
    for i, (wall, (start, end)) in enumerate(zip((10.0, 10.0, 100.0), starts_ends, strict=True)):
        base = runs / "ppo" / "seed1" / "adapt" / f"instance{i}"
        _write(base.with_suffix(".json"), {"wall_clock_s": wall, "optimizer_steps": 10 * (i + 1),
                                           "curve": [{"step": 0, "score": start},
                                                     {"step": 16, "score": end}]})
        base.mkdir(parents=True, exist_ok=True)
        records = [{"step": 16 * (k + 1), "losses/policy_loss": 0.1,
                    "charts/episodic_length": 2.0 + i} for k in range(i + 2)]
        (base / "metrics.jsonl").write_text("\n".join(json.dumps(r) for r in records) + "\n")
    module = _module()
    assert module.main([str(tmp_path), "--family", "fam"]) == 0
    facts = json.loads((tmp_path / "sweep_facts.json").read_text())
    time = facts["run_time"]
    assert time["runs"] == 4
    assert time["wall_clock_sum_h"] == round(1920 / 3600, 2)
    assert time["run_time_without_pauses_h"] == round(1830 / 3600, 2)
    assert [p["run"] for p in time["paused_runs"]] == ["runs/fam/ppo/seed1/adapt/instance2.json"]
    assert time["share_of_run_time"] == {"ppo": 1.0}
    dropped = facts["dropped_starts"]["methods"]["ppo"]
    # instances 0 and 1 start below 200; instance 0 ends at 800 >= 700
    assert dropped["dropped"] == 2 and dropped["recovered"] == 1
    assert dropped["updates_min_max"] == [2, 3]  # instance 0 logs 2 updates, instance 1 logs 3
    assert dropped["recovered_updates_min_max"] == [2, 2]  # instance 0 alone recovered
    # one seed: no spread over seeds to state
    assert facts["seed_spread"] == {}
    assert dropped["median_episode_length"] == 3.0  # median of lengths 2, 2, 3, 3, 3
    assert dropped["median_optimizer_steps"] == 15  # the dropped runs took 10 and 20
    assert dropped["final_mean_dropped"] == 450.0 and dropped["final_mean_others"] == 1000.0
    # one seed: in context (5 + 5 + 1000) / 3, final (800 + 100 + 1000) / 3
    assert facts["adaptation"] == {"fam": {"ppo": {
        "in_context": round(1010 / 3, 4), "final": round(1900 / 3, 4),
        "gain": round(round(1900 / 3, 4) - round(1010 / 3, 4), 4),
        "median_optimizer_steps": 20, "runs": 3}}}

    # the same facts from the run files packed into the folder's archive
    from mrft.bench.archive import ARCHIVE, pack

    pack(tmp_path, remove=True)
    assert not (tmp_path / "runs").exists()
    assert module.main([str(tmp_path / ARCHIVE), "--family", "fam"]) == 0
    assert json.loads((tmp_path / "sweep_facts.json").read_text()) == facts

    capsys.readouterr()
    assert module.main([str(tmp_path / "missing")]) == 2
    err = capsys.readouterr().err
    assert err.startswith("error: ") and err.count("\n") == 1


def test_seed_spread_in_context_and_final_by_hand(tmp_path):
    # two seeds x two instances: seed means in context 1 and 3 (std sqrt(2)), final 10 and 10
    for seed, starts in ((1, (0.0, 2.0)), (2, (3.0, 3.0))):
        for i, start in enumerate(starts):
            _write(tmp_path / "runs" / "fam" / "mrft" / f"seed{seed}" / "adapt" / f"instance{i}.json",
                   {"wall_clock_s": 1.0, "curve": [{"step": 0, "score": start},
                                                   {"step": 16, "score": 10.0}]})
    _write(tmp_path / "runs" / "fam" / "ppo" / "seed1" / "adapt" / "instance0.json",
           {"wall_clock_s": 1.0, "curve": [{"step": 0, "score": 1.0}, {"step": 16, "score": 2.0}]})
    assert _module().main([str(tmp_path), "--family", "none"]) == 0
    facts = json.loads((tmp_path / "sweep_facts.json").read_text())
    assert facts["seed_spread"] == {
        "fam": {"mrft": {"in_context": round(2 ** 0.5, 4), "final": 0.0, "seeds": 2}}}
    # the mean over seeds of seed means: in context (1 + 3) / 2, gain 10 - 2; no step counts
    assert facts["adaptation"]["fam"]["mrft"] == {
        "in_context": 2.0, "final": 10.0, "gain": 8.0, "median_optimizer_steps": None, "runs": 4}


def test_runs_at_once_by_hand(tmp_path):
    """Three runs on a 2-core machine: pre-training from 0 to 1000 s, one adaptation from 500
    to 800 s and one from 700 to 1700 s (each span ends at its log's last time, begins its
    wall clock earlier): 3 at once from 700 to 800 s."""
    runs = tmp_path / "runs" / "fam" / "ppo" / "seed1"
    t0 = 1_000_000.0
    spans = {"pretrain.json": (1000.0, t0 + 1000), "adapt/instance0.json": (300.0, t0 + 800),
             "adapt/instance1.json": (1000.0, t0 + 1700)}
    for name, (wall, end) in spans.items():
        _write(runs / name, {"wall_clock_s": wall, "curve": [{"step": 0, "score": 1.0}]})
        log = runs / ("train/metrics.jsonl" if name == "pretrain.json" else name.removesuffix(".json") + "/metrics.jsonl")
        log.parent.mkdir(parents=True, exist_ok=True)
        log.write_text(json.dumps({"step": 1, "time": end - 5}) + "\n" + json.dumps({"step": 2, "time": end}) + "\n")
    module = _module()
    assert module.main([str(tmp_path), "--family", "none"]) == 0
    facts = json.loads((tmp_path / "sweep_facts.json").read_text())["concurrency"]
    # 1 run: 0-500 and 1000-1700 (1200 s); 2 runs: 500-700 and 800-1000 (400 s); 3: 700-800
    assert facts == {"elapsed_h": round(1700 / 3600, 2), "most_at_once": 3,
                     "hours_with_runs": {"1": round(1200 / 3600, 2), "2": round(400 / 3600, 2),
                                         "3": round(100 / 3600, 2)}}
    # 13 runs of a chain, each span overlapping the next by 5 s: 60 s at count 2 in all, but
    # never for a minute at a stretch, so still one run at a time
    chain = [(1000.0 * k - 5 * (k > 0), 1000.0 * (k + 1)) for k in range(13)]
    seams = module.concurrency(chain)
    assert seams["most_at_once"] == 1 and seams["hours_with_runs"]["2"] == round(60 / 3600, 2)
    # short runs only (a smoke sweep): none held a minute, nothing to say of the most at once
    assert module.concurrency([(0.0, 30.0)])["most_at_once"] == 0
    assert module.concurrency([]) == {}


def test_a_resumed_pretraining_counts_its_steps_before_the_stop_at_its_last_speed(tmp_path):
    # resumed at step 600 of 1,000: 40 s for the last 400 steps at 10 steps/s; the first 600
    # steps count 60 s more, 100 s in all; a run not resumed counts its wall clock as it is
    runs = tmp_path / "runs" / "fam"
    _write(runs / "ppo" / "seed1" / "pretrain.json",
           {"wall_clock_s": 40.0, "sps": 10.0, "steps": 1000, "resumed_at_step": 600})
    _write(runs / "ppo" / "seed2" / "pretrain.json", {"wall_clock_s": 80.0, "sps": 12.5, "steps": 1000})
    assert _module().main([str(tmp_path)]) == 0
    facts = json.loads((tmp_path / "sweep_facts.json").read_text())
    assert facts["run_time"]["wall_clock_sum_h"] == round(180 / 3600, 2)
    assert facts["run_time"]["run_time_without_pauses_h"] == round(180 / 3600, 2)
