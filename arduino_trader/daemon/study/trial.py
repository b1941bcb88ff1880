"""One trial on one window, as a Dask task: the ordinary backtest with the trial's
settings, reduced to a result row. Runs on a worker; never raises for a failing
backtest (the row carries the error, so the study goes on)."""

from __future__ import annotations

import hashlib
import json
import os
import resource
import sys
import tempfile
import time
from dataclasses import dataclass
from datetime import date
from decimal import Decimal
from pathlib import Path
from typing import Any

from arduino_trader import __version__
from arduino_trader.config.settings import defaults
from arduino_trader.domain.analytics import daily_returns

from .plan import settings_json
from .stats import moment_sums, moments

# Fields of one result row (trial x window), in CSV column order.
ROW_FIELDS = ("trial", "phase", "window", "settings", "status", "error", "sharpe", "cagr",
              "max_drawdown", "total_return", "orders", "daily_sharpe", "moment_sums",
              "wall_s", "worker", "peak_rss_mb")


@dataclass(frozen=True)
class PriceData:
    """A price CSV(.gz) sent to the workers once (scattered), written to a worker-local
    file the first time a task there needs it."""

    name: str
    content: bytes

    @property
    def digest(self) -> str:
        """SHA-256 of the content."""
        return hashlib.sha256(self.content).hexdigest()


_LOCAL: dict[str, Path] = {}


def local_path(data: PriceData) -> Path:
    """The worker-local copy of ``data`` (written once per process)."""
    digest = data.digest
    path = _LOCAL.get(digest)
    if path is None or not path.is_file():
        suffix = ".csv.gz" if data.name.endswith(".gz") else ".csv"
        directory = Path(tempfile.gettempdir()) / f"arduino-trader-study-{os.getpid()}"
        directory.mkdir(parents=True, exist_ok=True)
        path = directory / f"{digest[:16]}{suffix}"
        path.write_bytes(data.content)
        _LOCAL[digest] = path
    return path


def peak_rss_mb() -> float:
    """This process's peak resident set size in MB."""
    return round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1)


def worker_identity() -> dict[str, Any]:
    """This worker's package version, pid and peak RSS (the driver's pre-flight check)."""
    return {"version": __version__, "pid": os.getpid(), "peak_rss_mb": peak_rss_mb()}


_LOGS_SET: list[bool] = []


def _worker_name() -> str:
    """The Dask worker's address; the first call in a worker process also sends its logs
    to stderr at warning level (a backtest's info lines would cost more than its work)."""
    try:
        from distributed import get_worker

        address = str(get_worker().address)
    except (ImportError, ValueError):
        return f"pid {os.getpid()}"
    if not _LOGS_SET:
        from arduino_trader.daemon.logging_setup import configure_logging

        configure_logging("warning", list, stream=sys.stderr)
        _LOGS_SET.append(True)
    return address


def run_window(trial: int, phase: str, window: tuple[str, str], overrides: dict[str, Any],
               base: dict[str, Any], cash: tuple[str, str],
               data: PriceData | None) -> dict[str, Any]:
    """Backtest ``base`` + ``overrides`` settings over ``window``; the result row."""
    from arduino_trader.daemon.backtest import BacktestConfig, run_backtest

    worker = _worker_name()
    t0 = time.monotonic()
    row: dict[str, Any] = dict.fromkeys(ROW_FIELDS, "")
    row.update(trial=trial, phase=phase, window=f"{window[0]}:{window[1]}",
               settings=settings_json(overrides))
    try:
        settings = defaults().with_overrides(base).with_overrides(overrides)
        config = BacktestConfig(date.fromisoformat(window[0]), date.fromisoformat(window[1]),
                                Decimal(cash[0]), Decimal(cash[1]),
                                data=local_path(data) if data is not None else None,
                                progress_every=0)
        result = run_backtest(config, settings)
        strategy = result.report["strategy"]
        if "error" in strategy:
            raise ValueError(strategy["error"])
        returns = [float(r) for r in daily_returns([p.value for p in result.equity],
                                                   [p.flow for p in result.equity])]
        sums = moment_sums(returns)
        m = moments(sums)
        row.update(status="ok", sharpe=strategy["sharpe"], cagr=strategy["cagr"],
                   max_drawdown=strategy["max_drawdown"],
                   total_return=strategy["total_return"], orders=result.report["orders"],
                   daily_sharpe=m.sharpe if m else 0.0, moment_sums=json.dumps(sums))
    except Exception as exc:  # a failing trial is a result, not the end of the study
        row.update(status="error", error=f"{type(exc).__name__}: {exc}")
    row.update(wall_s=round(time.monotonic() - t0, 2), worker=worker,
               peak_rss_mb=peak_rss_mb())
    return row
