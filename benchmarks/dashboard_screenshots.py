"""Dashboard screenshots (a script, not a test):
``.venv/bin/python benchmarks/dashboard_screenshots.py --out shots``.

Starts ``arduino-trader run --demo`` as a child process on 127.0.0.1 (a fresh data
directory: the demo account, replay market data, paper broker), waits until its portfolio
holds positions and a plan is stored, then loads ``GET /`` in headless Chromium (Debian's
``chromium`` and ``chromium-driver``) and writes full-page PNGs at desktop (1440 px) and
phone (390 px) widths. Prints the files written.
"""

from __future__ import annotations

import argparse
import json
import os
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "tests"))

from test_status_page import NO_BROWSER, SKIP_REASON, make_driver  # noqa: E402

WIDTHS = {"desktop": 1440, "phone": 390}


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _get(url: str) -> object:
    with urllib.request.urlopen(url, timeout=10) as resp:
        return json.loads(resp.read())


def _wait_for_positions(base: str, timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            body = _get(base + "/api/portfolio")
            plan = _get(base + "/api/trades/recommendations")
            if (isinstance(body, dict) and body.get("positions") and isinstance(plan, dict)
                    and plan.get("status") != "none"):
                return
        except OSError:
            pass
        time.sleep(1)
    raise SystemExit(f"the demo daemon had no positions and plan after {timeout:.0f} s")


def shoot(base: str, out: Path) -> list[Path]:
    """Full-page screenshots of ``base`` at each of :data:`WIDTHS`."""
    written = []
    for name, width in WIDTHS.items():
        driver = make_driver(width, 900)
        try:
            driver.get(base + "/")
            deadline = time.monotonic() + 30
            while driver.execute_script("return document.body.dataset.loaded") != "true":
                if time.monotonic() > deadline:
                    raise SystemExit("the page never finished loading")
                time.sleep(0.2)
            height = driver.execute_script("return document.documentElement.scrollHeight")
            driver.set_window_size(width, int(height) + 120)
            time.sleep(0.5)
            path = out / f"dashboard-{name}.png"
            driver.save_screenshot(str(path))
            written.append(path)
        finally:
            driver.quit()
    return written


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--out", type=Path, default=Path("dashboard-screenshots"))
    parser.add_argument("--wait", type=float, default=180, help="seconds to wait for data")
    args = parser.parse_args()
    if NO_BROWSER:
        raise SystemExit(SKIP_REASON)
    args.out.mkdir(parents=True, exist_ok=True)
    port = _free_port()
    with tempfile.TemporaryDirectory() as state:
        env = {**os.environ, "ARDUINO_TRADER_API__PORT": str(port)}
        env.pop("ARDUINO_TRADER_CONFIG", None)
        proc = subprocess.Popen(
            [sys.executable, "-m", "arduino_trader", "run", "--demo", "--data-dir", state],
            env=env, cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        try:
            base = f"http://127.0.0.1:{port}"
            _wait_for_positions(base, args.wait)
            for path in shoot(base, args.out):
                print(path)
        finally:
            proc.terminate()
            proc.wait(timeout=15)


if __name__ == "__main__":
    main()
