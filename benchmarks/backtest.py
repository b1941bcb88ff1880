"""Backtest benchmark (a script, not a test): ``.venv/bin/python benchmarks/backtest.py``.

Ten years of the bundled universe (2012-2021 by default), daily cycles of the daemon's real
actors on the step clock, a monthly deposit. Progress goes to stderr; the last line of
stdout is one JSON object: ``{wall_s, sim_days, sim_days_per_s, peak_rss_mb, orders}``.

``--compare REV`` runs the same backtest at this tree and at git revision ``REV`` (its
files exported to a temporary directory), one after the other in fresh processes of the
same interpreter, through each tree's own ``arduino-trader backtest`` command, and prints
both runs' wall time and ``orders_sha256`` with the ratio (this tree / REV) and whether
the orders are the same: one run, one machine load, side by side. Each tree first runs two
unmeasured weeks, which fill its Numba cache (kept beside its sources).
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import tempfile
import time
from datetime import date, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from arduino_trader.config.settings import load_settings  # noqa: E402
from arduino_trader.daemon.backtest import BacktestConfig, run_backtest  # noqa: E402
from arduino_trader.daemon.logging_setup import configure_logging  # noqa: E402
from benchmarks.revision import export  # noqa: E402


def _run_tree(tree: Path, args: argparse.Namespace, extra: list[str]) -> dict[str, Any]:
    """The CLI backtest of the package in ``tree``: its summary line, and the wall time."""
    with tempfile.TemporaryDirectory(prefix="bt-bench-") as report:
        cmd = [sys.executable, "-m", "arduino_trader", "backtest", "--data", "bundled",
               "--start", args.start, "--end", args.end, "--initial-cash", args.initial_cash,
               "--monthly-deposit", args.monthly_deposit, "--report", report,
               "--progress-every", "0", "--log-level", "error", *extra]
        env = {**os.environ, "PYTHONPATH": str(tree)}
        t0 = time.monotonic()
        done = subprocess.run(cmd, cwd=tree, env=env, capture_output=True, text=True,
                              check=False)
        wall = time.monotonic() - t0
    lines = [ln for ln in done.stderr.splitlines() if ln.startswith('{"orders_sha256"')]
    if done.returncode != 0 or not lines:
        raise SystemExit(f"backtest in {tree} failed ({done.returncode}):\n{done.stderr[-2000:]}")
    summary: dict[str, Any] = json.loads(lines[-1])
    return {"wall_s": summary["wall_s"], "process_s": round(wall, 1),
            "orders_sha256": summary["orders_sha256"], "trades": summary["trades"]}


def compare(args: argparse.Namespace) -> int:
    """This tree against ``args.compare`` in one run; prints one JSON line."""
    with tempfile.TemporaryDirectory(prefix="bt-compare-") as tmp:
        other = export(args.compare, Path(tmp))
        # Each tree's Numba cache lives beside its sources: a short unmeasured run fills
        # it first, so neither measured run includes compiling the kernels.
        warm = argparse.Namespace(**{**vars(args), "end": str(
            date.fromisoformat(args.start) + timedelta(days=14))})
        _run_tree(other, warm, args.compare_arg or [])
        _run_tree(ROOT, warm, [])
        previous = _run_tree(other, args, args.compare_arg or [])
        current = _run_tree(ROOT, args, [])
    print(json.dumps({"current": current, args.compare: previous,
                      "ratio": round(current["wall_s"] / previous["wall_s"], 3),
                      "same_orders": current["orders_sha256"] == previous["orders_sha256"]}),
          flush=True)
    return 0


def main() -> int:
    """Run the benchmark and print its JSON line."""
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--start", default="2012-01-03")
    parser.add_argument("--end", default="2021-12-31")
    parser.add_argument("--initial-cash", default="10000")
    parser.add_argument("--monthly-deposit", default="1000")
    parser.add_argument("--config", type=Path, default=None)
    parser.add_argument("--compare", metavar="REV", default=None,
                        help="also run git revision REV and print both with their ratio")
    parser.add_argument("--compare-arg", action="append", metavar="ARG",
                        help="an extra backtest argument for REV's run (repeatable)")
    args = parser.parse_args()
    if args.compare:
        return compare(args)
    configure_logging("warning", list, stream=sys.stderr)  # stdout keeps the JSON line only
    config = BacktestConfig(date.fromisoformat(args.start), date.fromisoformat(args.end),
                            Decimal(args.initial_cash), Decimal(args.monthly_deposit),
                            progress_every=250)
    result = run_backtest(config, load_settings(args.config, environ={}))
    days = result.report["trading_days"]
    rss_kb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    print(json.dumps({"wall_s": round(result.wall_s, 1), "sim_days": days,
                      "sim_days_per_s": round(days / result.wall_s, 2),
                      "peak_rss_mb": round(rss_kb / 1024, 1),
                      "orders": result.report["orders"],
                      "orders_sha256": result.report["orders_sha256"]}), flush=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
