"""The status page in headless Chromium against a daemon on 127.0.0.1: the main figures
render from the JSON API and the page logs no console error."""

from __future__ import annotations

import re
import shutil
import subprocess
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest
from daemon_harness import ProbeDaemon, start_daemon

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")


@pytest.fixture
def daemon(tmp_path: Path) -> Iterator[ProbeDaemon]:
    d = start_daemon(tmp_path / "state")
    yield d
    d.gate.set()
    d.stop()


def test_page_is_self_contained(daemon: ProbeDaemon) -> None:
    with urllib.request.urlopen(f"http://127.0.0.1:{daemon.port}/", timeout=10) as r:
        assert r.headers["Content-Type"].startswith("text/html")
        html = r.read().decode()
    # No external assets: every src/href is relative to the daemon.
    assert not re.search(r'(src|href)="(https?:)?//', html)


@pytest.mark.skipif(CHROMIUM is None, reason="chromium is not installed (.ci/run installs it)")
def test_page_renders_in_headless_chromium(daemon: ProbeDaemon, tmp_path: Path) -> None:
    assert CHROMIUM is not None
    proc = subprocess.run(
        [CHROMIUM, "--headless", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
         f"--user-data-dir={tmp_path / 'chromium'}", "--virtual-time-budget=8000",
         "--enable-logging=stderr", "--v=0", "--dump-dom",
         f"http://127.0.0.1:{daemon.port}/"],
        capture_output=True, text=True, timeout=90, check=False)
    dom = proc.stdout
    assert 'data-loaded="true"' in dom, proc.stderr[-2000:]
    assert 'data-errors=""' in dom
    health = re.search(r'id="health" class="figure (\w+)">(\w+)<', dom)
    assert health is not None and health.group(2) in ("ok", "degraded")
    assert re.search(r'id="mode" class="figure">research<', dom)
    assert "<td>health</td>" in dom and "<td>executor</td>" in dom  # actors table
    assert "<td>daily_maintenance</td>" in dom  # jobs table
    console_errors = [line for line in proc.stderr.splitlines()
                      if ":CONSOLE" in line and ("Error" in line or "error" in line)]
    assert console_errors == []
