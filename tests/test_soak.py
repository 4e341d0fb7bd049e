"""A long default run keeps its memory flat and its folder growing at the stated rate: ``mrft
train`` with every default (the default family and algorithm) for an hour
(``MRFT_SOAK_SECONDS`` sets another length), sampled every few seconds, then stopped with
Ctrl-C. Slow: ``make test-slow``."""

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from test_run_growth import EVENTS_BYTES_PER_UPDATE, JSONL_BYTES_PER_UPDATE

SECONDS = float(os.environ.get("MRFT_SOAK_SECONDS", "3600"))
WARM_UP = min(300.0, SECONDS / 6)  # allocator pools, imports, first evaluation
RSS_GROWTH_MIB = 64


def _rss_mib(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    raise RuntimeError("no VmRSS")


def _folder_bytes(folder: Path) -> int:
    return sum(p.stat().st_size for p in folder.rglob("*") if p.is_file())


@pytest.mark.slow
@pytest.mark.skipif(not Path("/proc/self/status").exists(), reason="reads /proc")
def test_an_hour_of_a_default_run_keeps_memory_flat_and_logs_at_the_stated_rate(tmp_path):
    proc = subprocess.Popen([sys.executable, "-m", "mrft", "train", "--total-steps", "1000000000",
                             "--runs-dir", str(tmp_path), "--run-name", "soak", "--no-progress"],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    folder = tmp_path / "soak"
    samples: list[tuple[float, float]] = []
    start = time.monotonic()
    try:
        while time.monotonic() - start < SECONDS:
            assert proc.poll() is None, proc.communicate()[1]
            samples.append((time.monotonic() - start, _rss_mib(proc.pid)))
            time.sleep(5)
        proc.send_signal(signal.SIGINT)  # stop after this update, saving a checkpoint
        _, stderr = proc.communicate(timeout=600)
    finally:
        if proc.poll() is None:
            proc.kill()
    assert proc.returncode == 130 and "interrupted; continue with" in stderr, stderr
    warm = [rss for t, rss in samples if t >= WARM_UP]
    assert warm and max(warm) - warm[0] < RSS_GROWTH_MIB, (warm[0], max(warm))
    updates = len((folder / "metrics.jsonl").read_text().splitlines())
    checkpoint = (folder / "checkpoint.pt").stat().st_size
    logs = _folder_bytes(folder) - checkpoint - (folder / "config.json").stat().st_size
    assert updates > 0 and logs < updates * (JSONL_BYTES_PER_UPDATE + EVENTS_BYTES_PER_UPDATE)
    print(json.dumps({"seconds": SECONDS, "updates": updates, "rss_first_mib": warm[0],
                      "rss_max_mib": max(warm), "log_bytes_per_update": logs / updates,
                      "checkpoint_bytes": checkpoint}))
