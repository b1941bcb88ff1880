"""Backtest benchmark (a script, not a test): ``.venv/bin/python benchmarks/backtest.py``.

Ten years of the bundled universe (2012-2021 by default), daily cycles of the daemon's real
actors on the step clock, a monthly deposit. Progress goes to stderr; the last line of
stdout is one JSON object: ``{wall_s, sim_days, sim_days_per_s, peak_rss_mb, orders}``.
"""

from __future__ import annotations

import argparse
import json
import resource
import sys
from datetime import date
from decimal import Decimal
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from arduino_trader.config.settings import load_settings  # noqa: E402
from arduino_trader.daemon.backtest import BacktestConfig, run_backtest  # noqa: E402
from arduino_trader.daemon.logging_setup import configure_logging  # noqa: E402


def main() -> int:
    """Run the benchmark and print its JSON line."""
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--start", default="2012-01-03")
    parser.add_argument("--end", default="2021-12-31")
    parser.add_argument("--config", type=Path, default=None)
    args = parser.parse_args()
    configure_logging("warning", list, stream=sys.stderr)  # stdout keeps the JSON line only
    config = BacktestConfig(date.fromisoformat(args.start), date.fromisoformat(args.end),
                            Decimal("10000"), Decimal("500"), progress_every=250)
    result = run_backtest(config, load_settings(args.config, environ={}))
    days = result.report["trading_days"]
    rss_kb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    print(json.dumps({"wall_s": round(result.wall_s, 1), "sim_days": days,
                      "sim_days_per_s": round(days / result.wall_s, 2),
                      "peak_rss_mb": round(rss_kb / 1024, 1),
                      "orders": result.report["orders"]}), flush=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
