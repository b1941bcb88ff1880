"""Study benchmark (a script, not a test): ``.venv/bin/python benchmarks/study.py``.

A 16-trial grid (``beam_width`` x ``monte_carlo_path_count``, 4 x 4) on a one-year
training window, the best trial on the following year, on a LocalCluster of 1 and then 2
worker processes (one thread each, Numba included; nothing pinned).

What is timed is the trials alone, as a study measures them (``summary.json``'s
``wall_s``): the price file is scattered to the workers once before, and every worker
first runs one short warm-up backtest (``--warm-up``: imports, Numba kernels loaded from
the one on-disk cache every worker shares: ``NUMBA_CACHE_DIR`` when set, which workers
inherit, else Numba's own beside the package), reported apart. Starting the cluster is
reported apart too. ``trials_per_min`` counts the 16 trials over the time
of all 17 backtests (the 16 trials and the out-of-sample run).

Progress goes to stderr; the last line of stdout is one JSON object:
``{trials, cpus, workers_1: {trials_s, trials_per_min, warm_up_s, start_s, load_avg},
workers_2: {...}, speed_up}``. ``load_avg`` is the 1-minute load average before and after
that run: on a machine busy with other work the ratio is not the design's, so read it
with the load.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from arduino_trader.adapters.market_data.replay_data import PRICES_FILE, bundled_path  # noqa: E402
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
    parser.add_argument("--workers", default="1,2",
                        help="worker counts to run, in order (the speed-up is last / first)")
    args = parser.parse_args()
    configure_logging("error", list, stream=sys.stderr)  # stdout keeps the JSON line only
    plan = build_plan(windows=[args.window], oos=args.oos, grid=GRID)
    settings = load_settings(args.config, environ={})
    counts = [int(n) for n in args.workers.split(",")]
    out: dict[str, object] = {"trials": plan.total_trials, "cpus": os.cpu_count()}
    rates: list[float] = []
    with tempfile.TemporaryDirectory(prefix="arduino-trader-study-bench-") as tmp:
        data = Path(tmp) / "closes.csv.gz"  # --data: scattered to the workers once
        shutil.copyfile(bundled_path(PRICES_FILE), data)
        for workers in counts:
            load_before = os.getloadavg()[0]
            t0 = time.monotonic()
            summary = run_study(plan, settings, StudyOptions(
                out=Path(tmp) / f"study-{workers}", workers=workers, data=data,
                monthly_deposit="500", warm_up=True))
            total = time.monotonic() - t0
            trials_s = float(summary["wall_s"])
            warm = summary["warm_up_s"] or {}
            rate = plan.total_trials / (trials_s / 60)
            rates.append(rate)
            out[f"workers_{workers}"] = {
                "trials_s": round(trials_s, 1), "trials_per_min": round(rate, 2),
                "warm_up_s": round(max(warm.values(), default=0.0), 1),
                "start_s": round(total - trials_s, 1),  # cluster, checks, scatter, warm-up
                "failed": summary["failed"],
                "load_avg": [round(load_before, 2), round(os.getloadavg()[0], 2)]}
            print(f"bench: {workers} worker(s): {out[f'workers_{workers}']}",
                  file=sys.stderr, flush=True)
    out["speed_up"] = round(rates[-1] / rates[0], 2)
    print(json.dumps(out), flush=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
