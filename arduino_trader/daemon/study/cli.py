"""``arduino-trader study``: walk-forward parameter studies on Dask distributed."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from arduino_trader.config.settings import load_settings
from arduino_trader.config.spec import SettingError

from .plan import StudyError, build_plan


def cmd_study(args: argparse.Namespace) -> int:
    """Check the study, run it, print the summary's path and best trial."""
    from .driver import StudyOptions, run_study

    try:
        plan = build_plan(windows=args.window, oos=args.oos, grid=args.grid,
                          search=args.search, trials=args.trials, seed=args.seed,
                          top=args.top)
        settings = load_settings(args.config)
        if args.workers < 1:
            raise StudyError("--workers must be at least 1")
        if args.batch < 1:
            raise StudyError("--batch must be at least 1")
        options = StudyOptions(out=args.out, workers=args.workers, scheduler=args.scheduler,
                               data=None if args.data == "bundled" else Path(args.data),
                               initial_cash=args.initial_cash,
                               monthly_deposit=args.monthly_deposit, batch=args.batch,
                               warm_up=args.warm_up)
        if args.log_level != "none":
            from arduino_trader.daemon.logging_setup import configure_logging

            configure_logging(args.log_level, list, stream=sys.stderr)
        data = run_study(plan, settings, options)
    except (StudyError, SettingError) as exc:
        print(f"arduino-trader study: {exc}", file=sys.stderr)
        return 1
    print(args.out / "summary.json")
    best = data["best"]
    print(json.dumps({"trials": data["trials"], "failed": data["failed"],
                      "best": best and {"trial": best["trial"], "settings": best["settings"],
                                        "in_sample_sharpe": best["in_sample"]["sharpe"],
                                        "deflated_sharpe_ratio":
                                            best["deflated_sharpe_ratio"]},
                      "wall_s": data["wall_s"]}), file=sys.stderr)
    return 0


def register(sub: argparse._SubParsersAction) -> None:
    """Add the ``study`` subcommand."""
    study = sub.add_parser(
        "study", help="walk-forward parameter study over settings keys on Dask",
        description="Run the backtest for every trial on every training window, then the "
                    "best trials on the out-of-sample window that follows.")
    study.add_argument("--config", type=Path, default=None,
                       help="TOML settings file the trials start from")
    study.add_argument("--out", type=Path, required=True,
                       help="study directory (trials.csv, summary.json); a re-run resumes")
    study.add_argument("--window", action="append", default=[], metavar="START:END",
                       help="a training window (repeat; in order)")
    study.add_argument("--oos", required=True, metavar="START:END",
                       help="the out-of-sample window after the last training window")
    study.add_argument("--grid", action="append", default=[], metavar="KEY=V1,V2",
                       help="grid values of a settings key (repeat for more keys)")
    study.add_argument("--search", action="append", default=[], metavar="KEY=LOW:HIGH",
                       help="a numeric range for the TPE sampler (repeat for more keys)")
    study.add_argument("--trials", type=int, default=0, help="sampler trials (--search)")
    study.add_argument("--batch", type=int, default=8,
                       help="sampler trials asked per round (--search)")
    study.add_argument("--seed", type=int, default=0, help="sampler seed")
    study.add_argument("--top", type=int, default=1,
                       help="how many of the best trials run out of sample")
    study.add_argument("--workers", type=int, default=2,
                       help="local worker processes, one thread each (without --scheduler)")
    study.add_argument("--scheduler", default=None, metavar="tcp://HOST:PORT",
                       help="run on an existing Dask cluster instead")
    study.add_argument("--data", default="bundled",
                       help="'bundled' or a Date,TICKER,... CSV(.gz), sent to workers once")
    study.add_argument("--initial-cash", default="10000", help="EUR at each window's start")
    study.add_argument("--monthly-deposit", default="0", help="EUR each new month")
    study.add_argument("--warm-up", action="store_true",
                       help="first run one short backtest on every worker, timed apart "
                            "(summary warm_up_s), so the trials' wall time and ETA leave "
                            "out each worker's start-up")
    study.add_argument("--log-level", default="error",
                       choices=("debug", "info", "warning", "error", "none"),
                       help="JSON logs on stderr at this level")
    study.set_defaults(func=cmd_study)
