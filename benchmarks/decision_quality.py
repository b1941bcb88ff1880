"""Decision quality, walk-forward (a script, not a test):
``.venv/bin/python benchmarks/decision_quality.py [--windows 1992,1997] [--cache DIR]``.

Each window is a full backtest of the daemon's real actors on the bundled data with the
same deposits (10,000 EUR, then 1,000 EUR each new month), against, on the same flows and
without costs: equal-weight buy-and-hold, equal weight rebalanced monthly, the
optimiser's own targets rebalanced monthly (computed each month from the closes published
before that day: does the planner add value over its targets?) and the S&P 500 index.
Figures: CAGR, volatility, Sharpe, Sortino, max drawdown; for the strategy also the mean
cash share after warm-up, fees as % of the mean assets per calendar year, trades per week.

Windows: non-overlapping five-year windows 1992-2021 and 2012-2021. The defaults of the
strategy settings were chosen on the first three (1992-2006); the later ones are out of
sample. ``--cache DIR`` keeps each window's result as JSON (re-used unless ``--fresh``), so
windows can run in separate processes and be summarised together. Progress goes to
stderr; the last line of stdout is one JSON object with the per-window figures and the
summary counts against the targets of the decision-quality issue.
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
from collections.abc import Mapping, Sequence
from dataclasses import replace
from datetime import date, datetime, time
from decimal import Decimal
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from arduino_trader.adapters.clock import StepClock  # noqa: E402
from arduino_trader.adapters.market_data.replay_source import ReplaySource  # noqa: E402
from arduino_trader.config.settings import Settings, load_settings  # noqa: E402
from arduino_trader.daemon.backtest import (  # noqa: E402
    BacktestConfig,
    run_backtest,
)
from arduino_trader.daemon.logging_setup import configure_logging  # noqa: E402
from arduino_trader.domain.backtest_report import figures, mean_cash_share  # noqa: E402
from arduino_trader.domain.baselines import equal_weight, month_starts, rebalanced  # noqa: E402
from arduino_trader.domain.planner.models import (  # noqa: E402
    PlanInput,
    PlannerSettings,
    SecurityInfo,
)
from arduino_trader.domain.planner.plan import plan  # noqa: E402

WINDOWS: dict[str, tuple[date, date]] = {
    "1992": (date(1992, 1, 2), date(1996, 12, 31)),
    "1997": (date(1997, 1, 2), date(2001, 12, 31)),
    "2002": (date(2002, 1, 2), date(2006, 12, 29)),
    "2007": (date(2007, 1, 3), date(2011, 12, 30)),
    "2012": (date(2012, 1, 3), date(2016, 12, 30)),
    "2017": (date(2017, 1, 3), date(2021, 12, 31)),
    "2012-2021": (date(2012, 1, 3), date(2021, 12, 31)),
}
FIVE_YEAR = ("1992", "1997", "2002", "2007", "2012", "2017")
INITIAL, MONTHLY = Decimal(10_000), Decimal(1_000)
HISTORY_DAYS = 1260  # closes the optimiser baseline sees (about five years)
NY = ZoneInfo("America/New_York")
TARGETS = {"cash_points_over_reserve": 0.05, "fees_pct_per_year": 0.3,
           "trades_per_week": 3.0, "sharpe_windows": 5}


def optimiser_rule(source: ReplaySource, symbols: Sequence[str], days: Sequence[date],
                   eur_per_usd: float, settings: PlannerSettings) -> Any:
    """Monthly weights: the planner's optimiser targets on the closes before that day
    (an all-cash portfolio of the same value: the targets, not the trades)."""
    starts = month_starts(days)
    all_days = source.trading_days(date(1900, 1, 1), days[-1])
    columns = {s: source.closes(s, all_days) for s in symbols}
    position = {d: i for i, d in enumerate(all_days)}
    secs = [SecurityInfo(s, currency="USD", fx_rate=1 / eur_per_usd) for s in symbols]

    def rule(i: int, priced: Sequence[str]) -> Mapping[str, float] | None:
        if i not in starts:
            return None
        end = position[days[i]]  # closes strictly before the day
        start = max(0, end - HISTORY_DAYS)
        prices = np.array([[np.nan if v is None else v for v in columns[s][start:end]]
                           for s in symbols], dtype=np.float64)
        result = plan(PlanInput(secs, prices, (), 10_000.0, settings=settings))
        return dict(result.target_weights) or None

    return rule


def per_year_fees(result: Any) -> dict[str, float]:
    """Fees (trades and exchanges) as % of the mean portfolio value of each year."""
    fees: dict[str, float] = {}
    for t in result.trades:
        fees[str(t.day.year)] = fees.get(str(t.day.year), 0.0) + t.fee_eur
    for year, fee in result.report.get("currency_exchange_fees_by_year_eur", {}).items():
        fees[year] = fees.get(year, 0.0) + fee
    values: dict[str, list[float]] = {}
    for p in result.equity:
        values.setdefault(str(p.day.year), []).append(p.value)
    return {y: round(100 * fees.get(y, 0.0) / (sum(v) / len(v)), 4)
            for y, v in sorted(values.items()) if sum(v) > 0}


def run_window(name: str, settings_path: Path | None) -> dict[str, Any]:
    """One window: the backtest and every baseline's figures."""
    start, end = WINDOWS[name]
    settings = load_settings(settings_path, environ={})
    config = BacktestConfig(start, end, INITIAL, MONTHLY, progress_every=250)
    result = run_backtest(config, settings)
    days = [p.day for p in result.equity]
    flows = [p.flow for p in result.equity]
    source = ReplaySource(StepClock(datetime.combine(end, time(17), NY)))
    symbols = [i.yahoo_symbol or i.symbol for i in source.universe()]
    closes = {s: source.closes(s, days) for s in symbols}
    eur_per_usd = float(Decimal(settings.typed.market_data.replay_fx_rates
                                .split("USD=")[1].split(",")[0]))
    psettings = replace(PlannerSettings.from_settings(settings), monte_carlo_paths=10,
                        max_sequences=10, deploy_enabled=False)
    series = {
        "strategy": [p.value for p in result.equity],
        "equal_weight_buy_and_hold": result.benchmarks["buy_and_hold_equal_weight"],
        "equal_weight_monthly": rebalanced(days, closes, flows, equal_weight(days),
                                           eur_per_usd),
        "optimiser_targets_monthly": rebalanced(
            days, closes, flows, optimiser_rule(source, symbols, days, eur_per_usd,
                                                psettings), eur_per_usd),
    }
    if "sp500_index" in result.benchmarks:
        series["index"] = result.benchmarks["sp500_index"]
    out: dict[str, Any] = {"window": name, "start": days[0].isoformat(),
                           "end": days[-1].isoformat(), "orders_sha256":
                           result.report["orders_sha256"], "wall_s": round(result.wall_s, 1)}
    for key, values in series.items():
        fig = figures(days, values, flows)
        out[key] = {k: fig.get(k) for k in ("cagr", "volatility", "sharpe", "sortino",
                                            "max_drawdown", "final_value")}
    weeks = len(days) / 5
    fills = len(result.trades) + int(result.report.get("currency_exchange_fills", 0))
    out["strategy"] |= {
        "mean_cash_share": mean_cash_share(result.equity),
        "reserve_share": reserve_share(settings),
        "fees_pct_by_year": per_year_fees(result),
        "trades": len(result.trades), "exchanges": result.report.get(
            "currency_exchange_fills", 0),
        "trades_per_week": round(fills / weeks, 3) if weeks else None,
        "job_failures": result.report.get("job_failures")}
    return out


def reserve_share(settings: Settings) -> float:
    """The largest regime cash reserve (fraction of the portfolio)."""
    values = settings.typed
    return max(values.market_regime_bull_cash_reserve,
               values.market_regime_sideways_cash_reserve,
               values.market_regime_bear_cash_reserve)


def summary(results: Mapping[str, dict[str, Any]]) -> dict[str, Any]:
    """Counts of the targets that hold over the five-year windows (and in every window
    for the cash, drawdown, fee and trade targets)."""
    five = [results[w] for w in FIVE_YEAR if w in results]
    beats = [r["strategy"]["sharpe"] >= r["equal_weight_buy_and_hold"]["sharpe"] for r in five]
    med_s = statistics.median(r["strategy"]["sharpe"] for r in five) if five else None
    med_b = statistics.median(r["equal_weight_buy_and_hold"]["sharpe"] for r in five) \
        if five else None
    everything = list(results.values())
    cash_ok = [r["strategy"]["mean_cash_share"] is not None and r["strategy"][
        "mean_cash_share"] <= r["strategy"]["reserve_share"] + TARGETS[
        "cash_points_over_reserve"] for r in everything]
    dd_ok = [r["strategy"]["max_drawdown"] >= r["index"]["max_drawdown"]
             for r in everything if "index" in r]
    fee_ok = [all(v <= TARGETS["fees_pct_per_year"] for v in list(r["strategy"][
        "fees_pct_by_year"].values())[1:]) for r in everything]
    trade_ok = [r["strategy"]["trades_per_week"] <= TARGETS["trades_per_week"]
                for r in everything]
    over_targets = [r["strategy"]["sharpe"] >= r["optimiser_targets_monthly"]["sharpe"]
                    for r in everything]
    return {"windows": len(everything),
            "sharpe_ge_ew_buy_and_hold": f"{sum(beats)}/{len(beats)}",
            "median_sharpe_strategy": med_s, "median_sharpe_ew_buy_and_hold": med_b,
            "median_sharpe_ok": med_s is not None and med_b is not None and med_s >= med_b,
            "cash_share_ok": f"{sum(cash_ok)}/{len(cash_ok)}",
            "max_dd_le_index": f"{sum(dd_ok)}/{len(dd_ok)}",
            "fees_ok": f"{sum(fee_ok)}/{len(fee_ok)}",
            "trades_per_week_ok": f"{sum(trade_ok)}/{len(trade_ok)}",
            "sharpe_ge_optimiser_targets": f"{sum(over_targets)}/{len(over_targets)}",
            "sharpe_target_met": sum(beats) >= TARGETS["sharpe_windows"]}


def main() -> int:
    """Run (or read from the cache) the windows and print the JSON line."""
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--windows", default=",".join(WINDOWS))
    parser.add_argument("--config", type=Path, default=None)
    parser.add_argument("--cache", type=Path, default=None)
    parser.add_argument("--fresh", action="store_true")
    args = parser.parse_args()
    configure_logging("error", list, stream=sys.stderr)
    results: dict[str, dict[str, Any]] = {}
    for name in args.windows.split(","):
        if name not in WINDOWS:
            parser.error(f"unknown window {name!r} (known: {', '.join(WINDOWS)})")
        cached = args.cache / f"{name}.json" if args.cache else None
        if cached is not None and cached.is_file() and not args.fresh:
            results[name] = json.loads(cached.read_text(encoding="utf-8"))
        else:
            print(f"decision_quality: window {name}", file=sys.stderr, flush=True)
            results[name] = run_window(name, args.config)
            if cached is not None:
                cached.parent.mkdir(parents=True, exist_ok=True)
                cached.write_text(json.dumps(results[name], indent=1), encoding="utf-8")
        r = results[name]
        print(f"{name}: strategy CAGR {r['strategy']['cagr']:.3f} Sharpe "
              f"{r['strategy']['sharpe']:.2f} DD {r['strategy']['max_drawdown']:.2f} cash "
              f"{r['strategy']['mean_cash_share']:.3f} trades/wk "
              f"{r['strategy']['trades_per_week']} | EW B&H Sharpe "
              f"{r['equal_weight_buy_and_hold']['sharpe']:.2f} | EW monthly "
              f"{r['equal_weight_monthly']['sharpe']:.2f} | optimiser "
              f"{r['optimiser_targets_monthly']['sharpe']:.2f} | index DD "
              f"{r.get('index', {}).get('max_drawdown', float('nan')):.2f}", flush=True)
    print(json.dumps({"windows": results, "summary": summary(results)}), flush=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
