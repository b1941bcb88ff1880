"""Soak (a script, not a test): ``.venv/bin/python benchmarks/soak.py [--days 30]``.

Runs the whole daemon in-process on a manual clock (fresh data directory, replay market
data, paper broker) and simulates ``--days`` days of 5-minute cycles: each cycle advances
the clock by 5 minutes, lets the scheduler start every job that became due (sync cycle,
prices, broker probe, cash flows, emergency check, planner, autonomous execution, daily
maintenance, ...) and waits until they have finished. Resident memory is read from
``/proc/self/status`` after the first simulated day (start: caches, kernels and the
history are loaded by then) and at the end. Prints one JSON line:
``{days, cycles, job_runs, failed_runs, failed_jobs, rss_start_mb, rss_end_mb, growth_mb,
seconds, libraries}`` (``failed_jobs``: the first failed runs' job and summary;
``libraries``: which of the heavy optional-path libraries the steady daemon has imported).

``--compare REV`` runs the same soak at git revision ``REV`` (its files exported to a
temporary directory) and at this tree, each in a fresh process of this interpreter after
one unmeasured run that fills that tree's Numba cache (a cold cache holds ~150 MB more),
and prints both JSON lines with the differences: one run, one machine load.
"""

from __future__ import annotations

import argparse
import gc
import json
import logging
import sqlite3
import subprocess
import sys
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import structlog

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from arduino_trader.adapters.clock import ManualClock  # noqa: E402
from arduino_trader.config.settings import load_settings  # noqa: E402
from arduino_trader.daemon.service import DaemonOptions, TraderDaemon  # noqa: E402
from benchmarks.revision import export  # noqa: E402

CYCLE = timedelta(minutes=5)
# Inside the bundled replay history (it ends in 2022), a Monday.
START = datetime(2021, 3, 1, 6, 0, tzinfo=UTC)
# Libraries that only some paths need (the optimiser's fallback, Yahoo, plotting, studies,
# calendars, a /metrics scrape, a stored secret): the soak reports which of them the steady
# daemon holds.
HEAVY = ("pandas", "scipy", "exchange_calendars", "pypfopt", "cvxpy", "yfinance",
         "matplotlib", "distributed", "osqp", "prometheus_client", "cryptography")


def rss_mb() -> float:
    """Resident set size of this process in MB."""
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return float("nan")


def _wait_idle(daemon: TraderDaemon, timeout: float) -> None:
    assert daemon.scheduler is not None
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        if not any(s["status"] == "running" for s in daemon.scheduler.states()):
            return
        time.sleep(0.01)
    raise SystemExit(f"jobs still running after {timeout} s")


def _runs(db: Path) -> tuple[int, int, list[list[str]]]:
    """Job runs, failed runs, and the first ten failures' job and summary."""
    with sqlite3.connect(f"file:{db}?mode=ro", uri=True, timeout=10) as conn:
        total, failed = conn.execute(
            "SELECT COUNT(*), COALESCE(SUM(ok = 0), 0) FROM job_runs").fetchone()
        failures = [[str(job), str(summary)] for job, summary in conn.execute(
            "SELECT job, summary FROM job_runs WHERE ok = 0 ORDER BY started_at LIMIT 10")]
    return int(total), int(failed), failures


def _soak_of(tree: Path, days: float) -> dict[str, object]:
    """The JSON line of ``tree``'s own soak script, run in a fresh process."""
    done = subprocess.run([sys.executable, str(tree / "benchmarks" / "soak.py"),
                           "--days", str(days)], cwd=tree, capture_output=True, text=True,
                          check=False)
    if done.returncode != 0:
        raise SystemExit(f"soak in {tree} failed ({done.returncode}):\n{done.stderr[-2000:]}")
    result: dict[str, object] = json.loads(done.stdout.strip().splitlines()[-1])
    return result


def compare(rev: str, days: float) -> int:
    """``rev`` then this tree, each after a run that fills its Numba cache; one JSON line."""
    with tempfile.TemporaryDirectory(prefix="soak-compare-") as tmp:
        other = export(rev, Path(tmp))
        runs: dict[str, dict[str, object]] = {}
        for name, tree in ((rev, other), ("current", ROOT)):
            _soak_of(tree, days)  # kernels compiled and cached
            runs[name] = _soak_of(tree, days)
    before, after = runs[rev], runs["current"]
    print(json.dumps({**runs, "rss_end_diff_mb": round(
        float(str(after["rss_end_mb"])) - float(str(before["rss_end_mb"])), 1)}))
    return 0


def main() -> int:
    """Simulate the days and print one JSON line."""
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--days", type=float, default=30.0)
    parser.add_argument("--compare", metavar="REV", default=None,
                        help="also soak git revision REV and print both with the difference")
    args = parser.parse_args()
    if args.compare:
        return compare(args.compare, args.days)
    structlog.configure(wrapper_class=structlog.make_filtering_bound_logger(logging.ERROR))
    clock = ManualClock(START)
    cycles = int(args.days * 24 * 60 / 5)
    per_day = 24 * 60 // 5
    started = time.monotonic()
    with tempfile.TemporaryDirectory() as tmp:
        options = DaemonOptions(settings=load_settings(None, environ={}),
                                data_dir=Path(tmp) / "state", clock=clock,
                                configure_logs=False, port_override=0)
        daemon = TraderDaemon(options)
        daemon.start()
        rss_start = rss_mb()
        try:
            _wait_idle(daemon, 300)
            assert daemon.scheduler is not None
            for cycle in range(1, cycles + 1):
                clock.advance(CYCLE)
                daemon.scheduler.run_due()
                _wait_idle(daemon, 600)
                if cycle == per_day:
                    gc.collect()
                    rss_start = rss_mb()
            gc.collect()
            rss_end = rss_mb()
            total, failed, failures = _runs(daemon.store.path)
        finally:
            daemon.stop()
    print(json.dumps({
        "days": args.days, "cycles": cycles, "job_runs": total, "failed_runs": failed,
        "failed_jobs": failures,
        "simulated_until": clock.now().isoformat(),
        "rss_start_mb": round(rss_start, 1), "rss_end_mb": round(rss_end, 1),
        "growth_mb": round(rss_end - rss_start, 1),
        "seconds": round(time.monotonic() - started, 1),
        "libraries": [name for name in HEAVY if name in sys.modules],
    }))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
