"""report.html in a browser: headless Chromium opens the widest committed report (eight
columns in its headline) and the page must not scroll sideways at 1280 or 800 px.

Chromium comes from Debian (`make system-deps` installs it); without it the test fails
rather than skips, so a report that overflows cannot pass unseen.
"""

from __future__ import annotations

import json
import re
import shutil
import subprocess
from pathlib import Path

import pytest

from mrft.bench.report import write_report

ANALYSIS = Path(__file__).resolve().parents[1] / "benchmarks" / "results" / "cpu" / "analysis.json"
PROBE = """<script>
window.addEventListener("load", function () {
  var page = document.documentElement;
  var out = document.createElement("pre");
  out.id = "page-widths";
  out.textContent = "scroll=" + page.scrollWidth + " client=" + page.clientWidth
                    + " window=" + window.innerWidth;
  document.body.appendChild(out);
});
</script>
"""
"""Writes the page's width, its visible width (the window less a vertical scrollbar) and
the window's into the DOM, where ``--dump-dom`` prints them."""


def _chromium() -> str:
    path = shutil.which("chromium")
    if path is None:
        pytest.fail("the report.html test needs the Debian package chromium: `make system-deps` "
                    "installs it (or: sudo apt-get install chromium)")
    return path


@pytest.fixture(scope="module")
def report_html(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("report")
    page = write_report(json.loads(ANALYSIS.read_text()), out).html
    probed = out / "probed.html"
    probed.write_text(page.read_text().replace("</body>", PROBE + "</body>"))
    return probed


def _widths(chromium: str, page: Path, width: int, profile: Path) -> dict[str, int]:
    command = [chromium, "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic",
               "--no-first-run", "--disable-background-networking", "--disable-component-update",
               "--disable-sync", f"--user-data-dir={profile}", f"--window-size={width},900",
               "--virtual-time-budget=5000", "--dump-dom", page.as_uri()]
    done = subprocess.run(command, capture_output=True, text=True, timeout=120, check=False)
    match = re.search(r'<pre id="page-widths">scroll=(\d+) client=(\d+) window=(\d+)</pre>',
                      done.stdout)
    assert match, f"chromium printed no widths (exit {done.returncode}): {done.stderr[-2000:]}"
    return dict(zip(("scroll", "client", "window"), map(int, match.groups()), strict=True))


@pytest.mark.parametrize("width", [1280, 800])
def test_report_html_does_not_scroll_sideways(report_html: Path, width: int, tmp_path: Path):
    widths = _widths(_chromium(), report_html, width, tmp_path / "profile")
    assert widths["window"] == width
    assert widths["scroll"] <= widths["client"], (
        f"report.html is {widths['scroll']} px wide in a {widths['client']} px window: "
        "something on the page is wider than the window")
