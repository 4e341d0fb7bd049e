"""Memory stays flat over a long default run (slow: about two minutes)."""

import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

WARM_UP_S = 20
MEASURE_S = 100
MAX_SLOPE_MIB_PER_MIN = 2.0


def _rss_mib(pid: int) -> float | None:
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    except FileNotFoundError:
        return None
    return None


@pytest.mark.slow
@pytest.mark.skipif(not Path("/proc/self/status").exists(), reason="reads RSS from /proc")
def test_rss_is_flat_over_a_long_default_run(tmp_path):
    """The default run keeps an exact-resume action log; it must not grow memory measurably
    (a list of per-step arrays grew about 19 MiB/min on CartPole)."""
    proc = subprocess.Popen(
        [sys.executable, "-m", "mrft", "train", "--total-steps", "100000000", "--no-progress",
         "--runs-dir", str(tmp_path)],
        stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    samples = []
    start = time.monotonic()
    try:
        while (elapsed := time.monotonic() - start) < WARM_UP_S + MEASURE_S:
            time.sleep(2)
            rss = _rss_mib(proc.pid)
            assert rss is not None and proc.poll() is None, proc.stderr.read().decode()[-2000:]
            if elapsed > WARM_UP_S:
                samples.append((elapsed / 60, rss))
    finally:
        proc.terminate()
        proc.wait(timeout=60)
    minutes, rss = np.array(samples).T
    slope = np.polyfit(minutes, rss, 1)[0]
    assert slope < MAX_SLOPE_MIB_PER_MIN, f"RSS grows {slope:.2f} MiB/min ({rss[0]:.0f} -> {rss[-1]:.0f} MiB)"
