"""Study benchmark (a script, not a test): ``.venv/bin/python benchmarks/study.py``.

A 16-trial grid (``beam_width`` x ``monte_carlo_path_count``, 4 x 4) on a one-year
training window, the best trial on the following year, on a LocalCluster of 1 and then 2
worker processes. Progress goes to stderr; the last line of stdout is one JSON object:
``{trials, workers_1: {wall_s, trials_per_min}, workers_2: {...}, speed_up}``. Wall time
includes starting the cluster and each worker's first (warm-up) backtest.
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from arduino_trader.config.settings import load_settings  # noqa: E402
from arduino_trader.daemon.logging_setup import configure_logging  # noqa: E402
from arduino_trader.daemon.study.driver import StudyOptions, run_study  # noqa: E402
from arduino_trader.daemon.study.plan import build_plan  # noqa: E402

GRID = ["beam_width=2,4,6,8", "monte_carlo_path_count=20,40,60,80"]


def main() -> int:
    """Run the benchmark and print its JSON line."""
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--window", default="2018-01-02:2018-12-31")
    parser.add_argument("--oos", default="2019-01-02:2019-12-31")
    parser.add_argument("--config", type=Path, default=None)
    args = parser.parse_args()
    configure_logging("error", list, stream=sys.stderr)  # stdout keeps the JSON line only
    plan = build_plan(windows=[args.window], oos=args.oos, grid=GRID)
    settings = load_settings(args.config, environ={})
    out: dict[str, object] = {"trials": plan.total_trials}
    rates: list[float] = []
    for workers in (1, 2):
        with tempfile.TemporaryDirectory(prefix="arduino-trader-study-bench-") as tmp:
            t0 = time.monotonic()
            run_study(plan, settings, StudyOptions(out=Path(tmp), workers=workers,
                                                   monthly_deposit="500"))
            wall = time.monotonic() - t0
        rate = plan.total_trials / (wall / 60)
        rates.append(rate)
        out[f"workers_{workers}"] = {"wall_s": round(wall, 1), "trials_per_min": round(rate, 2)}
    out["speed_up"] = round(rates[1] / rates[0], 2)
    print(json.dumps(out), flush=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
