"""Data parallelism under torchrun (2 CPU processes, gloo): the ranks keep identical
parameters, a 2-rank step equals one process's step on the concatenated batch, normaliser
statistics merge as if one process had seen all the data, and a 2-rank run resumes."""

import json
import os
import subprocess
import sys
import textwrap
import time

import pytest
import torch

# each test starts two ranks: under pytest-xdist these run on one worker, one at a time
pytestmark = pytest.mark.xdist_group("torchrun")

TORCHRUN = [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node=2"]
ENV = {**os.environ, "OMP_NUM_THREADS": "1"}


def _torchrun(tmp_path, body: str, *args: str) -> None:
    script = tmp_path / "job.py"
    script.write_text(textwrap.dedent(body))
    proc = subprocess.run([*TORCHRUN, str(script), *args], capture_output=True, text=True,
                          env=ENV, timeout=600, cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr[:3000] + "\n...\n" + proc.stderr[-3000:]


def test_a_two_rank_step_equals_one_step_on_the_concatenated_batch(tmp_path):
    _torchrun(tmp_path, """
        import sys, torch
        from mrft.distributed import Ranks
        from mrft.normalize import RunningMeanStd

        torch.manual_seed(0)
        data_x, data_y = torch.randn(16, 3), torch.randn(16, 1)
        net = torch.nn.Sequential(torch.nn.Linear(3, 8), torch.nn.Tanh(), torch.nn.Linear(8, 1))
        spare = torch.nn.Linear(2, 2)  # never used: keeps no gradient, as in one process
        params = [*net.parameters(), *spare.parameters()]
        optim = torch.optim.Adam(params, lr=0.1)
        ranks = Ranks.from_env()
        half = slice(8 * ranks.rank, 8 * ranks.rank + 8)
        for step in range(3):
            optim.zero_grad()
            ((net(data_x[half]) - data_y[half]) ** 2).mean().backward()
            assert ranks.average_gradients(params, contributes=True)
            assert spare.weight.grad is None
            optim.step()
        # a rank without a minibatch contributes nothing: the other rank's gradient is the mean
        optim.zero_grad()
        if ranks.rank == 0:
            ((net(data_x[:8]) - data_y[:8]) ** 2).mean().backward()
        assert ranks.average_gradients(params, contributes=ranks.rank == 0)
        optim.step()
        optim.zero_grad()
        assert not ranks.average_gradients(params, contributes=False)

        # normaliser statistics: each rank's new data merged onto the common state
        from mrft.distributed import snapshot
        rms = RunningMeanStd((3,))
        rms.update(data_x[:4])  # the shared state, identical on both ranks
        before = snapshot([rms])
        rms.update(data_x[4 + 6 * ranks.rank: 10 + 6 * ranks.rank])
        ranks.merge_statistics([rms], before)
        torch.save({"net": net.state_dict(), "rms": rms.state_dict()}, f"rank{ranks.rank}.pt")
        ranks.close()
    """)
    torch.manual_seed(0)
    data_x, data_y = torch.randn(16, 3), torch.randn(16, 1)
    net = torch.nn.Sequential(torch.nn.Linear(3, 8), torch.nn.Tanh(), torch.nn.Linear(8, 1))
    torch.nn.Linear(2, 2)  # the same draws from the generator as the job
    optim = torch.optim.Adam(net.parameters(), lr=0.1)
    for _ in range(3):
        optim.zero_grad()
        ((net(data_x) - data_y) ** 2).mean().backward()  # the mean over both halves
        optim.step()
    optim.zero_grad()
    ((net(data_x[:8]) - data_y[:8]) ** 2).mean().backward()
    optim.step()
    ranks = [torch.load(tmp_path / f"rank{r}.pt", weights_only=True) for r in (0, 1)]
    for name, value in net.state_dict().items():
        assert torch.equal(ranks[0]["net"][name], ranks[1]["net"][name])
        torch.testing.assert_close(ranks[0]["net"][name], value, rtol=1e-5, atol=1e-6)
    from mrft.normalize import RunningMeanStd

    one = RunningMeanStd((3,))
    one.update(data_x[:4])
    one.update(data_x[4:16])
    for key in ("mean", "var", "count"):
        torch.testing.assert_close(ranks[0]["rms"][key], one.state_dict()[key])
        torch.testing.assert_close(ranks[1]["rms"][key], one.state_dict()[key])


TRAIN_JOB = """
    import os, sys, torch
    from mrft.config import EnvConfig, RunConfig, TrainConfig
    from mrft.algos.grpo import GRPOConfig
    from mrft.algos.mrft.options import MRFTConfig
    from mrft.trainer import Trainer

    algo, env, total, resume, stop = sys.argv[1], sys.argv[2], int(sys.argv[3]), sys.argv[4], int(sys.argv[5])
    if resume != "-":
        trainer = Trainer(resume_from=resume)
    else:
        cfg = TrainConfig(algo=algo, env=EnvConfig(env=env, num_envs=8),
                          grpo=GRPOConfig(group_size=4),
                          mrft=MRFTConfig(tcn_channels=8, tcn_levels=2, meta_d_model=16, meta_layers=1,
                                          embed_dim=8),
                          run=RunConfig(total_steps=total, seed=3, runs_dir="runs", run_name="job",
                                        progress=False, eval_episodes=0, hidden_sizes=(16, 16),
                                        threads=1))
        trainer = Trainer(cfg)
    result = trainer.train(max_updates=stop if stop > 0 else None)
    rank = int(os.environ["RANK"])
    torch.save({"model": trainer.policy.state_dict(), "step": result.global_step,
                "updates": result.updates}, f"rank{rank}.pt")
"""


def _states(tmp_path):
    return [torch.load(tmp_path / f"rank{r}.pt", weights_only=True) for r in (0, 1)]


@pytest.mark.parametrize(("algo", "env"), [("ppo", "nav:point"), ("grpo", "bandit:arms3"),
                                           ("mrft", "nav:point")])
def test_two_ranks_train_identical_parameters_and_count_every_rank_s_steps(tmp_path, algo, env):
    _torchrun(tmp_path, TRAIN_JOB, algo, env, "3000", "-", "0")
    first, second = _states(tmp_path)
    assert first["step"] == second["step"] and 3000 - 2 * 8 * 40 <= first["step"] <= 3000
    for name, value in first["model"].items():
        assert torch.equal(value, second["model"][name]), name
    # one run folder, written by rank 0 alone
    assert sorted(p.name for p in (tmp_path / "runs").iterdir()) == ["job"]
    assert (tmp_path / "runs" / "job" / "checkpoint.pt").is_file()
    steps = [line for line in (tmp_path / "runs" / "job" / "metrics.jsonl").read_text().splitlines()]
    assert len(steps) == first["updates"]


def test_a_two_rank_run_resumes_to_the_end_of_its_budget(tmp_path):
    _torchrun(tmp_path, TRAIN_JOB, "ppo", "nav:point", "16000", "-", "2")
    stopped = _states(tmp_path)[0]
    assert stopped["updates"] == 2
    checkpoint = str(tmp_path / "runs" / "job" / "checkpoint.pt")
    assert torch.load(checkpoint, weights_only=True)["counters"]["global_step"] == stopped["step"]
    _torchrun(tmp_path, TRAIN_JOB, "ppo", "nav:point", "16000", checkpoint, "0")
    first, second = _states(tmp_path)
    assert first["step"] == second["step"] and stopped["step"] < first["step"] <= 16000
    assert first["updates"] > 2 and all(torch.equal(v, second["model"][k]) for k, v in first["model"].items())
    assert torch.load(checkpoint, weights_only=True)["counters"]["finished"]


def test_the_cli_under_torchrun_trains_and_reports_once(tmp_path):
    proc = subprocess.run(
        [*TORCHRUN, "-m", "mrft", "train", "--env", "bandit:arms3", "--algo", "ppo", "--total-steps",
         "2048", "--num-envs", "8", "--runs-dir", str(tmp_path), "--run-name", "cli", "--no-progress",
         "--eval-episodes", "4", "--threads", "1"],
        capture_output=True, text=True, env=ENV, timeout=600)
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert proc.stdout.count("checkpoint:") == 1 and proc.stdout.count("return:") == 1
    assert (tmp_path / "cli" / "eval.json").is_file()


def test_mrft_adapts_on_two_ranks_with_its_kl_bound_decided_for_every_rank_at_once(tmp_path):
    small = ["--hidden-sizes", "16", "16", "--tcn-channels", "8", "--tcn-levels", "2",
             "--meta-d-model", "16", "--meta-layers", "1", "--embed-dim", "8", "--no-progress"]
    proc = subprocess.run([sys.executable, "-m", "mrft", "train", "--algo", "mrft", "--env", "nav:point",
                           "--total-steps", "640", "--num-envs", "4", "--runs-dir", str(tmp_path),
                           "--run-name", "m", "--threads", "1", "--adapt-kl", "0.002", *small],
                          capture_output=True, text=True, env=ENV, timeout=300)
    assert proc.returncode == 0, proc.stderr[-3000:]
    out = tmp_path / "adapt.json"
    # a bound the updates cross after a few steps: each rank's batch KL crosses it at a step of
    # its own, so only a KL shared by the ranks halts them at the same step (read alone, one
    # rank stops stepping while the other waits in the gradient all-reduce: the job hangs)
    proc = subprocess.run([*TORCHRUN, "-m", "mrft", "adapt", str(tmp_path / "m" / "checkpoint.pt"),
                           "--task", "1", "--steps", "320", "--eval-every", "320", "--eval-episodes", "2",
                           "--out", str(out)],
                          capture_output=True, text=True, env=ENV, timeout=240, cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr[-3000:]
    lines = (out.with_suffix("") / "metrics.jsonl").read_text().splitlines()
    halts = [json.loads(line).get("mrft/adapt_halted") for line in lines]
    assert 1.0 in halts, lines


def _faulty_job(tmp_path, kind: str, *extra: str, mended: bool = False):
    """``mrft train`` on two ranks whose env breaks on rank 1 (tests/test_env_faults.py)."""
    from test_env_faults import FAULTY_ENVS

    (tmp_path / "faulty_envs_for_test.py").write_text(FAULTY_ENVS)
    env = {**ENV, "PYTHONPATH": os.pathsep.join([str(tmp_path), *sys.path])}
    if mended:
        env["FAULTS_MENDED"] = "1"
    args = extra or ("--env", f"gym:faulty_envs_for_test:Faulty{kind.title()}-v0", "--algo", "ppo",
                     "--num-envs", "2", "--num-steps", "16", "--num-minibatches", "2",
                     "--total-steps", "2048", "--hidden-sizes", "8", "--runs-dir", str(tmp_path),
                     "--run-name", "job", "--checkpoint-every", "1", "--eval-episodes", "0")
    start = time.monotonic()
    proc = subprocess.run([*TORCHRUN, "-m", "mrft", "train", *args, "--no-progress", "--threads", "1"],
                          capture_output=True, text=True, env=env, timeout=600, cwd=tmp_path)
    return proc, time.monotonic() - start


def _mrft_lines(stderr: str) -> dict[str, str]:
    """Each rank's ``error:`` line (the launcher's own report aside)."""
    lines = [line for line in stderr.splitlines() if line.startswith("error: rank ")]
    return {line.split(":")[1].strip(): line for line in lines}


@pytest.mark.parametrize("kind", ["step", "kill"])
def test_a_rank_that_fails_or_dies_stops_every_rank_in_one_line_each_and_the_run_resumes(
        tmp_path, kind):
    proc, seconds = _faulty_job(tmp_path, kind)
    assert proc.returncode != 0 and seconds < 120
    lines = _mrft_lines(proc.stderr)
    assert "Traceback" not in "".join(lines.values())
    if kind == "step":  # the rank that failed says why, in the user's words
        assert "lost the connection to the simulator" in lines["rank 1"], proc.stderr
    else:  # a rank killed outright says nothing; the launcher's summary names it
        assert "rank 1" not in lines and "SIGKILL" in proc.stderr
    assert "stopped" in lines["rank 0"] and "because rank 1 " in lines["rank 0"], proc.stderr
    checkpoint = tmp_path / "job" / "checkpoint.pt"
    assert f"--resume {checkpoint}" in lines["rank 0"] or "checkpoint" in lines["rank 0"]
    before = torch.load(checkpoint, weights_only=True)["counters"]["global_step"]
    assert 0 < before < 2048
    resumed, _ = _faulty_job(tmp_path, kind, "--resume", str(checkpoint), mended=True)
    assert resumed.returncode == 0, resumed.stderr[-3000:]
    assert torch.load(checkpoint, weights_only=True)["counters"]["global_step"] == 2048


def test_a_collective_that_loses_its_peer_is_one_line_and_any_other_error_stays_itself(monkeypatch):
    """Only a backend's lost-peer error becomes RankLostError; a bug of this rank is not
    reported as another rank's departure."""
    from mrft.distributed import Ranks
    from mrft.errors import RankLostError

    ranks = Ranks(0, 2, [])
    monkeypatch.setattr(Ranks, "_device", lambda self: torch.device("cpu"))  # no process group here

    def fails(message):
        def all_reduce(*args, **kwargs):
            raise RuntimeError(message)
        return all_reduce

    monkeypatch.setattr(torch.distributed, "all_reduce", fails(
        "[/__w/pytorch/third_party/gloo/gloo/transport/tcp/pair.cc:553] Connection closed by peer "
        "[127.0.0.1]:29596. This is typically caused by a remote worker crashing."))
    with pytest.raises(RankLostError) as info:
        ranks.total(1.0)
    assert str(info.value) == ("rank 0: stopped because another rank left the job (Connection "
                               "closed by peer [127.0.0.1]:29596)")
    monkeypatch.setattr(torch.distributed, "all_reduce", fails("shape mismatch in my own code"))
    with pytest.raises(RuntimeError, match="shape mismatch in my own code"):
        ranks.total(1.0)
