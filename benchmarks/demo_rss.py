"""Peak memory of the demo (a script, not a test): ``.venv/bin/python benchmarks/demo_rss.py``.

Starts ``arduino-trader run --demo`` in a fresh data directory (a free loopback port),
waits for its first stored plan, stops it with SIGTERM and reports the process's peak
resident set (``VmHWM`` from ``/proc/<pid>/status``) and whether cvxpy or the solvers it
imports were ever mapped into it (``/proc/<pid>/maps``). ``--cold`` uses an empty Numba
cache directory (the first start after an install or upgrade). Prints one JSON line:
``{first_plan_s, plan_status, plan_steps, peak_rss_mb, cvxpy_loaded, exit_code}``.
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import socket
import sqlite3
import subprocess
import sys
import tempfile
import time
from pathlib import Path


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _peak_rss_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    return 0.0


# cvxpy's own extension loads lazily; the solvers it imports on ``import cvxpy`` do not.
CVXPY_SIGNS = ("/cvxpy/", "/clarabel/", "/scs/", "/ecos/")


def _cvxpy_mapped(pid: int) -> bool:
    maps = Path(f"/proc/{pid}/maps").read_text()
    return any(sign in maps for sign in CVXPY_SIGNS)


def _first_plan(db: Path) -> tuple[str, int] | None:
    if not db.exists():
        return None
    try:
        with sqlite3.connect(f"file:{db}?mode=ro", uri=True, timeout=1) as con:
            row = con.execute("SELECT id, status FROM plans ORDER BY id LIMIT 1").fetchone()
            if row is None:
                return None
            steps = con.execute("SELECT COUNT(*) FROM recommendations WHERE plan_id = ?",
                                (row[0],)).fetchone()[0]
            return str(row[1]), int(steps)
    except sqlite3.Error:  # not created or migrated yet
        return None


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--cold", action="store_true", help="empty Numba cache directory")
    parser.add_argument("--timeout", type=float, default=900.0)
    args = parser.parse_args()
    work = Path(tempfile.mkdtemp(prefix="demo-rss-"))
    env = dict(os.environ, ARDUINO_TRADER_API__PORT=str(_free_port()))
    if args.cold:
        env["NUMBA_CACHE_DIR"] = str(work / "numba")
    started = time.monotonic()
    proc = subprocess.Popen([sys.executable, "-m", "arduino_trader", "run", "--demo",
                             "--data-dir", str(work / "state")], env=env,
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    peak, cvxpy, plan, first_plan_s = 0.0, False, None, None
    try:
        while proc.poll() is None and time.monotonic() - started < args.timeout:
            peak = max(peak, _peak_rss_mb(proc.pid))
            cvxpy = cvxpy or _cvxpy_mapped(proc.pid)
            plan = _first_plan(work / "state" / "arduino-trader.db")
            if plan is not None:
                first_plan_s = round(time.monotonic() - started, 1)
                break
            time.sleep(0.5)
        if proc.poll() is None:
            peak = max(peak, _peak_rss_mb(proc.pid))
            cvxpy = cvxpy or _cvxpy_mapped(proc.pid)
            proc.send_signal(signal.SIGTERM)
        code = proc.wait(timeout=60)
    finally:
        if proc.poll() is None:
            proc.kill()
    print(json.dumps({"first_plan_s": first_plan_s, "plan_status": plan and plan[0],
                      "plan_steps": plan and plan[1], "peak_rss_mb": round(peak, 1),
                      "cvxpy_loaded": cvxpy, "exit_code": code}))
    return 0 if plan is not None and code == 0 else 1


if __name__ == "__main__":
    sys.exit(main())
