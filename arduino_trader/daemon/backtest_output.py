"""The files of a backtest report: ``report.json``, ``orders.json`` and ``equity.png``."""

from __future__ import annotations

import json
from pathlib import Path
from typing import TYPE_CHECKING

import structlog

from arduino_trader.domain.analytics import daily_returns

if TYPE_CHECKING:
    from .backtest import BacktestResult

log = structlog.get_logger(component="backtest")


def write_report(result: BacktestResult, directory: Path, *,
                 log_scale: bool = False) -> list[Path]:
    """report.json, orders.json (with its SHA-256) and equity.png (when matplotlib is
    installed: ``pip install 'arduino-trader[backtest]'``; ``log_scale``: its value
    panel on a logarithmic axis)."""
    directory.mkdir(parents=True, exist_ok=True)
    written = []
    orders_path = directory / "orders.json"
    orders_path.write_text(json.dumps({"sha256": result.report["orders_sha256"],
                                       "orders": result.orders}, indent=2), encoding="utf-8")
    written.append(orders_path)
    chart = write_chart(result, directory / "equity.png", log_scale=log_scale)
    result.report["chart"] = chart.name if chart else None
    report_path = directory / "report.json"
    report_path.write_text(json.dumps(result.report, indent=2, sort_keys=True),
                           encoding="utf-8")
    written.append(report_path)
    if chart:
        written.append(chart)
    return written


def write_chart(result: BacktestResult, path: Path, *, log_scale: bool = False
                ) -> Path | None:
    """Three panels: value against the benchmarks and the money paid in (on a log axis
    when ``log_scale``); the strategy's drawdown; its cash share. None when matplotlib is
    missing."""
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        log.warning("backtest_chart_skipped", reason="matplotlib is not installed")
        return None
    import numpy as np

    days = np.array([p.day for p in result.equity], dtype="datetime64[D]")
    values = np.array([p.value for p in result.equity])
    paid = np.cumsum([p.flow for p in result.equity])
    fig, (ax, dd, cash) = plt.subplots(3, 1, figsize=(10, 8), sharex=True,
                                       gridspec_kw={"height_ratios": [3, 1, 1]})
    ax.plot(days, values, label="strategy")
    for name, series in result.benchmarks.items():
        ax.plot(days, series, label=name.replace("_", " "), alpha=0.8)
    ax.plot(days, paid, label="money paid in", color="grey", linestyle="--")
    ax.set_ylabel("EUR (log scale)" if log_scale else "EUR")
    if log_scale:
        ax.set_yscale("log")
    ax.set_title(f"Backtest {result.equity[0].day} .. {result.equity[-1].day}")
    ax.legend()
    wealth = np.cumprod(1 + np.array(daily_returns(list(values), [p.flow for p in
                                                                  result.equity])))
    dd.fill_between(days[1:], wealth / np.maximum.accumulate(wealth) - 1, 0, alpha=0.5)
    dd.set_ylabel("drawdown")
    cash.plot(days, [p.cash / p.value if p.value > 0 else 0.0 for p in result.equity])
    cash.set_ylabel("cash share")
    fig.autofmt_xdate()
    fig.savefig(path, dpi=100)
    plt.close(fig)
    return path
