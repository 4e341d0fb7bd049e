"""Sweeps on Ray: chains run anywhere, the driver alone writes, and the folder ends exactly as
a serial sweep leaves it (timings aside); a killed driver is resumed by the same command."""

import io
import json
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path
from types import SimpleNamespace

import pytest

from mrft.bench import ray_sweep
from mrft.bench.runner import TIMING_FIELDS, Bench, result_path
from mrft.bench.suite import load_suite
from mrft.cli import _bare_ray_flag, main

# each test starts a Ray cluster of two CPUs: under pytest-xdist these run on one worker, one at a time
pytestmark = pytest.mark.xdist_group("ray")

TINY = """
name = "tiny"
seeds = 1
[budget]
pretrain_steps = 640
adapt_steps = 40
eval_every = 20
eval_episodes = 4
adapt_envs = 4
[[tasks]]
env = "bandit:arms3"
instances = 2
[[tasks]]
env = "nav:point"
instances = 1
pretrain_steps = 320
[train]
env.num_envs = 8
grpo.group_size = 4
run.hidden_sizes = [16, 16]
run.threads = 1
"""
METHODS = ["grpo", "ppo", "context-free"]
TIMINGS = set(TIMING_FIELDS)


@pytest.fixture
def tiny(tmp_path):
    path = tmp_path / "tiny.toml"
    path.write_text(TINY)
    return path


def _bench(suite_path, out, seeds=(1,)):
    return Bench(load_suite(str(suite_path)), METHODS, list(seeds), out, "test",
                 log=open(os.devnull, "w"))


def _results(out: Path, seeds=(1,)) -> dict[str, dict]:
    """Every result file of the sweep, timings removed."""
    bench = _bench_for_listing(out, seeds)
    records = {}
    for unit in bench.units():
        path = result_path(out, unit)
        record = json.loads(path.read_text())
        records[str(path.relative_to(out))] = {k: v for k, v in record.items() if k not in TIMINGS}
    return records


def _bench_for_listing(out, seeds):
    suite = load_suite(str(out.parent / "tiny.toml"))
    return Bench(suite, METHODS, list(seeds), out, "", log=open(os.devnull, "w"))


def test_a_bare_ray_flag_means_a_local_ray():
    assert _bare_ray_flag(["bench", "--ray"]) == ["bench", "--ray", ray_sweep.LOCAL]
    assert _bare_ray_flag(["bench", "--ray", "--seeds", "1"]) == ["bench", "--ray", "local", "--seeds", "1"]
    assert _bare_ray_flag(["bench", "--ray", "10.0.0.1:6379"]) == ["bench", "--ray", "10.0.0.1:6379"]


def test_without_ray_the_flag_is_one_line_naming_the_extra(tiny, tmp_path, monkeypatch, capsys):
    monkeypatch.setitem(sys.modules, "ray", None)  # what a missing package looks like to import
    with pytest.raises(SystemExit) as exit_info:
        main(["bench", "--suite", str(tiny), "--ray", "--out", str(tmp_path / "out")])
    err = capsys.readouterr().err.strip()
    assert exit_info.value.code == 2 and "pip install 'mrft[ray]'" in err and "\n" not in err


def test_chains_group_the_runs_that_share_a_pretraining(tiny, tmp_path):
    chains = ray_sweep.pending_chains(_bench(tiny, tmp_path / "out", seeds=(1, 2)))
    described = [(c.family.env, c.source, c.seed, [(u.kind, u.method) for u in c.units]) for c in chains]
    bandit = [("pretrain", "ppo"), ("adapt", "ppo"), ("adapt", "ppo"),
              ("adapt", "context-free"), ("adapt", "context-free")]
    assert ("bandit:arms3", "ppo", 1, bandit) in described
    assert ("nav:point", "grpo", 2, [("pretrain", "grpo"), ("adapt", "grpo")]) in described
    assert len(chains) == 2 * 2 * 2  # families x pre-trainings (grpo, ppo) x seeds


def _serial_sweep_and_pending_chains(tiny, tmp_path):
    """A whole serial sweep to compare with, and an opened folder of the same sweep with its
    chains still to run."""
    serial = tmp_path / "serial"
    _bench(tiny, serial).run()
    out = tmp_path / "chains"
    bench = _bench(tiny, out)
    bench.open()
    return serial, out, bench, ray_sweep.pending_chains(bench)


def test_a_chain_stopped_mid_pretraining_continues_from_its_checkpoint(tiny, tmp_path):
    """A worker that sees --out keeps the chain's scratch there; one killed mid-pretraining
    leaves a checkpoint that the next attempt continues, exactly: the sweep ends as the serial
    one does."""
    from mrft.bench.methods import method as method_named
    from mrft.bench.runner import seed_dir
    from mrft.trainer import Trainer

    serial, out, bench, chains = _serial_sweep_and_pending_chains(tiny, tmp_path)
    stopped = next(c for c in chains if c.family.env == "bandit:arms3" and c.source == "grpo")
    elsewhere = tmp_path / "worker-tmp"  # a worker's own folder, moved into OUT/.chains after
    cfg = bench.suite.train_config(stopped.family, method_named(stopped.source), stopped.seed, str(elsewhere),
                                   "train")
    Trainer(cfg).train(max_updates=1)  # what a worker killed after one update leaves
    folder = seed_dir(ray_sweep.chain_scratch(out, stopped), stopped.family, stopped.source, stopped.seed)
    folder.mkdir(parents=True)
    shutil.move(elsewhere / "train", folder / "train")
    for chain in chains:
        result = ray_sweep.run_chain(bench.suite, METHODS, chain, ray_sweep.shipped_files(out, chain),
                                     out=str(out))
        assert ray_sweep.chain_scratch(out, chain).is_dir()  # kept until written back
        ray_sweep.write_back(out, result["files"], [result_path(out, u) for u in chain.units])
        ray_sweep.drop_chain_scratch(out, chain)
    assert not (out / ray_sweep.CHAINS).exists()  # nothing in progress: nothing left behind
    pretrain = json.loads(result_path(out, stopped.units[0]).read_text())
    assert 0 < pretrain.pop("resumed_at_step") < pretrain["steps"]
    results = _results(out)
    results[str(result_path(out, stopped.units[0]).relative_to(out))].pop("resumed_at_step")
    assert results == _results(serial)


def test_chains_run_elsewhere_and_written_back_equal_the_serial_sweep(tiny, tmp_path):
    serial, out, bench, chains = _serial_sweep_and_pending_chains(tiny, tmp_path)
    first, rest = chains[0], chains[1:]
    # a chain whose pre-training finished before (a stopped sweep) is shipped it and only adapts
    pretrain_only = ray_sweep.Chain(first.family, first.source, first.seed, first.units[:1])
    result = ray_sweep.run_chain(bench.suite, METHODS, pretrain_only, {})
    ray_sweep.write_back(out, result["files"], [result_path(out, pretrain_only.units[0])])
    shipped = ray_sweep.shipped_files(out, first)
    assert sorted(Path(name).name for name in shipped) == ["checkpoint.pt", "pretrain.json"]
    for chain in [first, *rest]:
        pending = [u for u in chain.units if not result_path(out, u).exists()]
        chain = ray_sweep.Chain(chain.family, chain.source, chain.seed, tuple(pending))
        result = ray_sweep.run_chain(bench.suite, METHODS, chain, ray_sweep.shipped_files(out, chain))
        assert not any(name in ray_sweep.shipped_files(out, chain) for name in result["files"])
        ray_sweep.write_back(out, result["files"], [result_path(out, u) for u in chain.units])
    assert _results(out) == _results(serial)
    assert (out / "runs" / "nav_point" / "ppo" / "seed1" / "train" / "metrics.jsonl").is_file()
    assert list(_bench(tiny, out).pending()) == []


class _ListQueue(list):
    """What a progress channel offers the chain (``put``, ``flush``) and the driver."""

    def put(self, item):
        self.append(item)

    def flush(self):
        self.flushed_at = len(self)  # how many reports the chain had sent when it flushed

    def empty(self):
        return not self

    def get(self):
        return self.pop(0)


def test_a_chain_reports_each_run_as_it_ends(tiny, tmp_path):
    out = tmp_path / "out"
    bench = _bench(tiny, out)
    bench.log = io.StringIO()
    bench.open()
    chain = ray_sweep.pending_chains(bench)[0]
    queue = _ListQueue()
    ray_sweep.run_chain(bench.suite, METHODS, chain, {}, queue)
    # every run reported, then the channel flushed before the chain returns its files
    assert [unit for unit, _, _ in queue] == list(chain.units) and queue.flushed_at == len(chain.units)
    total = sum(len(c.units) for c in ray_sweep.pending_chains(bench))
    progress = ray_sweep.RunProgress(bench, total, slots=2)
    progress.drain(queue)
    lines = bench.log.getvalue().splitlines()
    assert len(lines) == len(chain.units) and not queue
    assert lines[0].startswith(f"[1/{total}] pretrain ") and "env steps/s" in lines[0]
    assert all("sweep ETA" in line for line in lines)


def test_runs_a_stopped_chain_finished_are_not_numbered_or_counted_in_the_eta_again(tiny, tmp_path):
    out = tmp_path / "out"
    bench = _bench(tiny, out)
    bench.log = io.StringIO()
    bench.open()
    chains = ray_sweep.pending_chains(bench)
    stopped, other = chains[0], chains[1]
    # the stopped chain ran all its runs in its scratch folder under OUT; none is saved yet
    ray_sweep.run_chain(bench.suite, METHODS, stopped, {}, out=str(out))
    assert not any(result_path(out, u).exists() for u in stopped.units)
    finished = ray_sweep.finished_in_scratch(out, chains)
    assert finished == set(stopped.units)
    total = sum(len(c.units) for c in chains)
    progress = ray_sweep.RunProgress(bench, total - len(finished), slots=2, finished=finished)
    assert sum(progress.left.values()) == total - len(stopped.units)
    queue = _ListQueue()
    ray_sweep.run_chain(bench.suite, METHODS, other, {}, queue)
    progress.drain(queue)
    first = bench.log.getvalue().splitlines()[0]
    assert first.startswith(f"[1/{total - len(stopped.units)}] ")
    assert sum(progress.left.values()) == total - len(stopped.units) - len(other.units)


def test_a_chain_reports_without_waiting_so_ray_lends_its_cpus_to_no_other_chain():
    class Actor:  # a Ray queue's actor: a call returns a reference at once
        def __init__(self):
            self.sent = []
            self.put_nowait = SimpleNamespace(remote=lambda item: self.sent.append(item) or len(self.sent))

    class Queue:
        def __init__(self):
            self.actor = Actor()

        def put(self, item, block=True, timeout=None):
            raise AssertionError("Queue.put blocks in ray.get, and Ray lends a blocked task's CPUs away")

    queue = Queue()
    channel = ray_sweep.ProgressChannel(queue)
    channel.put(("unit", 1.0, {}))
    channel.put(("next", 2.0, {}))
    assert queue.actor.sent == [("unit", 1.0, {}), ("next", 2.0, {})]


def test_result_files_are_written_last(tmp_path):
    written = []
    original = ray_sweep.atomic_write_bytes
    ray_sweep.atomic_write_bytes = lambda path, data: written.append(path.name) or original(path, data)
    try:
        files = {"runs/a/pretrain.json": b"{}", "runs/a/train/metrics.jsonl": b"", "runs/a/z.txt": b""}
        ray_sweep.write_back(tmp_path, files, [tmp_path / "runs/a/pretrain.json"])
    finally:
        ray_sweep.atomic_write_bytes = original
    assert written[-1] == "pretrain.json" and len(written) == 3


@pytest.mark.slow
def test_a_local_ray_sweep_equals_the_serial_one_and_survives_a_killed_driver(tiny, tmp_path):
    pytest.importorskip("ray")
    serial = tmp_path / "serial"
    _bench(tiny, serial, seeds=(1, 2)).run()
    out = tmp_path / "ray"
    command = [sys.executable, "-m", "mrft", "bench", "--suite", str(tiny), "--methods", ",".join(METHODS),
               "--seeds", "2", "--out", str(out), "--ray", "--no-report"]
    env = {**os.environ, "RAY_ENABLE_UV_RUN_RUNTIME_ENV": "0"}
    proc = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True, env=env)
    try:
        deadline = time.time() + 240
        bench = _bench(tiny, out, seeds=(1, 2))
        while proc.poll() is None and time.time() < deadline:
            if (out / "bench.json").exists() and any(result_path(out, u).exists() for u in bench.units()):
                break
            time.sleep(0.1)
    finally:
        proc.send_signal(signal.SIGKILL)
        proc.wait()
    units = list(_bench(tiny, out, seeds=(1, 2)).units())
    assert 0 < sum(result_path(out, u).exists() for u in units) < len(units)
    finished = subprocess.run(command, capture_output=True, text=True, env=env, timeout=600)
    assert finished.returncode == 0, finished.stderr
    assert "on Ray" in finished.stderr
    assert _results(out, seeds=(1, 2)) == _results(serial, seeds=(1, 2))
    assert "finished" in json.loads((out / "bench.json").read_text())


@pytest.mark.slow
def test_the_smoke_suite_on_a_local_2_cpu_ray_gives_the_serial_result_files(tmp_path):
    pytest.importorskip("ray")
    suite = load_suite("smoke")
    methods = ["grpo", "ppo", "mrft"]

    def sweep(out):
        return Bench(suite, methods, [1], out, "test", log=open(os.devnull, "w"))

    # a Ray worker of one CPU runs torch on one thread; so must the serial sweep, or sums taken
    # in another order differ in their last bits
    import torch

    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        sweep(tmp_path / "serial").run()
    finally:
        torch.set_num_threads(threads)
    import ray

    ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False, configure_logging=False)
    try:
        ray_sweep.run_on_ray(sweep(tmp_path / "ray"), ray_sweep.LOCAL)
    finally:
        ray.shutdown()

    def results(out):
        return {str(result_path(out, u).relative_to(out)):
                {k: v for k, v in json.loads(result_path(out, u).read_text()).items() if k not in TIMINGS}
                for u in sweep(out).units()}

    assert results(tmp_path / "ray") == results(tmp_path / "serial")


def test_a_ray_that_cannot_start_is_one_line_and_writes_nothing(tiny, tmp_path, monkeypatch, capsys):
    class NoRay:
        @staticmethod
        def is_initialized():
            return False

        @staticmethod
        def init(**kwargs):
            raise ConnectionError("no cluster at 10.0.0.1:6379")

    monkeypatch.setattr(ray_sweep, "import_ray", lambda: NoRay)
    out = tmp_path / "out"
    with pytest.raises(SystemExit) as exit_info:
        main(["bench", "--suite", str(tiny), "--ray", "10.0.0.1:6379", "--out", str(out)])
    err = capsys.readouterr().err.strip()
    assert exit_info.value.code == 2 and "\n" not in err
    assert "could not start or join Ray at 10.0.0.1:6379: no cluster" in err
    assert not (out / "bench.json").exists()


def _descends_from(pid: int, ancestor: int) -> bool:
    while pid > 1:
        if pid == ancestor:
            return True
        try:
            pid = int(Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[1])
        except (OSError, ValueError, IndexError):
            return False
    return False


def test_a_chain_whose_ray_worker_dies_runs_again(tiny, tmp_path):
    """A worker killed mid-chain (out of memory, a stray kill) costs that attempt, not the
    sweep: the chain runs again and the folder ends as the serial sweep leaves it."""
    pytest.importorskip("ray")
    serial = tmp_path / "serial"
    _bench(tiny, serial).run()
    out = tmp_path / "ray"
    command = [sys.executable, "-m", "mrft", "bench", "--suite", str(tiny), "--methods", ",".join(METHODS),
               "--seeds", "1", "--out", str(out), "--ray", "--no-report"]
    env = {**os.environ, "RAY_ENABLE_UV_RUN_RUNTIME_ENV": "0"}
    proc = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True, env=env)
    killed = False
    try:
        deadline = time.time() + 240
        while not killed and proc.poll() is None and time.time() < deadline:
            workers = [pid for pid in subprocess.run(["pgrep", "-f", "ray::run_chain"],
                                                     capture_output=True, text=True).stdout.split()
                       if _descends_from(int(pid), proc.pid)]  # this sweep's Ray only
            if workers:
                time.sleep(0.5)  # inside the chain
                for pid in workers:
                    os.kill(int(pid), signal.SIGKILL)
                killed = True
            time.sleep(0.05)
        _, stderr = proc.communicate(timeout=600)
    finally:
        if proc.poll() is None:
            proc.kill()
    assert killed
    assert proc.returncode == 0, stderr
    assert "its Ray worker died" in stderr and "running the chain again" in stderr
    assert _results(out) == _results(serial)


class _FakeRay:
    """Just enough of Ray for :func:`ray_sweep._sweep`: each chain runs at once in this
    process, except chains whose description contains ``dying``, whose worker dies every
    time."""

    class exceptions:
        class RayError(Exception):
            pass

        class RayTaskError(RayError):
            cause = None

    def __init__(self, dying: str):
        self.dying = dying
        self.attempts: dict[str, int] = {}

    def remote(self, **options):
        def wrap(function):
            fake = self

            class Remote:
                @staticmethod
                def remote(suite, methods, chain, files, progress, out):
                    key = chain.describe()
                    fake.attempts[key] = fake.attempts.get(key, 0) + 1
                    if fake.dying in key:
                        return _Ref(fake.exceptions.RayError("worker died"))
                    return _Ref(function(suite, methods, chain, files, progress, out))

            return Remote

        return wrap

    def cluster_resources(self):
        return {"CPU": 2}

    def wait(self, refs, num_returns, timeout):
        return refs[:1], refs[1:]

    def get(self, ref):
        if isinstance(ref.value, Exception):
            raise ref.value
        return ref.value

    def cancel(self, ref, force):
        pass


class _Ref:
    """An object ref: hashable, whatever it holds."""

    def __init__(self, value):
        self.value = value


def test_a_chain_whose_worker_keeps_dying_is_given_up_while_the_others_finish(tiny, tmp_path,
                                                                             monkeypatch):
    """After WORKER_RETRIES more attempts a chain is given up: the other chains finish, the sweep
    ends in one error line (exit code 1), bench.json and the report's notes name the chain,
    and the same command, once workers live, runs it and clears the note."""
    from mrft.bench.analysis import analyze
    from mrft.errors import MrftError

    monkeypatch.setattr(ray_sweep, "progress_queue", _ListQueue)
    out = tmp_path / "ray"
    bench = _bench(tiny, out)
    bench.open()
    fake = _FakeRay(dying="nav:point ppo")
    with pytest.raises(MrftError) as info:
        ray_sweep._sweep(fake, bench, ray_sweep.pending_chains(bench), 9, 1.0, 0.0)
    message = str(info.value)
    assert info.value.exit_code == 1 and "\n" not in message
    assert "1 chain given up (nav:point ppo seed 1" in message and "died 3 times" in message
    chain = "nav:point ppo seed 1 (3 runs)"  # its pre-training, ppo's and context-free's adaptation
    assert fake.attempts[chain] == 1 + ray_sweep.WORKER_RETRIES
    assert [c.describe() for c in ray_sweep.pending_chains(bench)] == [chain]
    given_up = json.loads((out / "bench.json").read_text())["given_up"]
    assert given_up == [{"chain": chain, "runs": 3, "reason": "its Ray worker died 3 times (RayError)"}]
    notes = analyze(out)["notes"]
    assert any(n.startswith(f"Missing: chain {chain} was given up") for n in notes)
    # the same sweep again, its workers alive: the chain runs and the note goes
    ray_sweep._sweep(_FakeRay(dying="nothing"), bench, ray_sweep.pending_chains(bench), 2, 1.0, 0.0)
    assert not list(bench.pending()) and "given_up" not in json.loads((out / "bench.json").read_text())
    assert not any(n.startswith("Missing:") for n in analyze(out)["notes"])


# the tiny suite with its second family an env that kills its own process at its 40th step
KILLING_SUITE = TINY.replace('env = "nav:point"', 'env = "gym:faulty_envs_for_test:FaultyKill-v0"') \
    .replace("pretrain_steps = 320", "pretrain_steps = 640")


@pytest.mark.slow
def test_on_a_local_ray_a_chain_whose_worker_always_dies_is_given_up_and_the_rest_finish(tmp_path):
    """A real local Ray with two workers: the chain on an env that kills its own process (a
    worker lost for good) runs three times, is given up and named; the other chain finishes;
    the sweep ends in one error line, exit code 1 (slow: three Ray workers started in turn;
    the same path with Ray's calls stood in for runs in the default suite, above)."""
    pytest.importorskip("ray")
    from test_env_faults import FAULTY_ENVS

    (tmp_path / "faulty_envs_for_test.py").write_text(FAULTY_ENVS)
    (tmp_path / "killing.toml").write_text(KILLING_SUITE)
    out = tmp_path / "out"
    env = {**os.environ, "RAY_ENABLE_UV_RUN_RUNTIME_ENV": "0",
           "PYTHONPATH": os.pathsep.join([str(tmp_path), *sys.path])}
    proc = subprocess.run([sys.executable, "-m", "mrft", "bench", "--suite", "killing.toml",
                           "--methods", "ppo", "--out", str(out), "--ray", "--no-report"],
                          capture_output=True, text=True, env=env, timeout=600, cwd=tmp_path)
    assert proc.returncode == 1, proc.stderr
    errors = [line for line in proc.stderr.splitlines() if line.startswith("error:")]
    assert len(errors) == 1 and "1 chain given up (gym:faulty_envs_for_test:FaultyKill-v0 ppo" \
        in errors[0] and "died 3 times" in errors[0], proc.stderr
    assert (out / "runs" / "bandit_arms3" / "ppo" / "seed1" / "adapt" / "instance0.json").is_file()
    given_up = json.loads((out / "bench.json").read_text())["given_up"]
    assert [g["chain"].split(" ppo")[0] for g in given_up] == ["gym:faulty_envs_for_test:FaultyKill-v0"]
