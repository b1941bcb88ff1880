"""Deposit rules against equal-weight buy-and-hold (a script, not a test):
``.venv/bin/python benchmarks/deposit_rules.py``.

A frictionless study beside ``decision_quality.py``: on the same windows and the same
deposits (10,000 EUR, then 1,000 EUR on each new month's first trading day), simple rules
that only decide where each deposit goes (nothing is ever sold, no costs, fractional
shares, every security valued at its close) are scored by their Sharpe ratio against
equal-weight buy-and-hold, the decision-quality issue's bar ("Sharpe at least
buy-and-hold's in five of six windows and on the median"). It asks how much any
deposit-only strategy on this data could gain before the planner's costs and rules, and
which idea would be worth building. Signals use only closes before the deposit day.

Rules (targets are fractions of the whole portfolio; "to laggards" buys the securities
furthest below their target, in proportion to the shortfall):
- ``equal_weight_monthly``: equal weight rebalanced monthly (sells too; the reference of
  ``decision_quality.py``);
- ``equal_weight_laggards``: deposits to equal weight's laggards;
- ``inverse_volatility_laggards``: target weights in proportion to 1 / one-year volatility;
- ``momentum_half``: each deposit in equal parts to the top half by 12-1 month momentum;
- ``momentum_half_laggards``: the top half equally weighted as the target, to laggards.

The last line of stdout is one JSON object: per window each rule's Sharpe, and per rule
the windows where its Sharpe is at least buy-and-hold's and its median against theirs.
"""

from __future__ import annotations

import json
import math
import statistics
import sys
from collections.abc import Callable, Mapping, Sequence
from datetime import date, datetime, time
from pathlib import Path
from zoneinfo import ZoneInfo

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from arduino_trader.adapters.clock import StepClock  # noqa: E402
from arduino_trader.adapters.market_data.replay_source import ReplaySource  # noqa: E402
from arduino_trader.domain.backtest_report import buy_and_hold, figures  # noqa: E402
from arduino_trader.domain.baselines import (  # noqa: E402
    equal_weight,
    month_starts,
    rebalanced,
)
from benchmarks.decision_quality import FIVE_YEAR, WINDOWS  # noqa: E402

NY = ZoneInfo("America/New_York")
INITIAL, MONTHLY = 10_000.0, 1_000.0
YEAR, MONTH = 252, 21  # trading days
MIN_CLOSES = 60  # closes a volatility needs

Target = Callable[[int, Sequence[str]], Mapping[str, float]]
"""``target(day index in the whole file, priced symbols)``: weights summing to 1."""


class History:
    """The bundled closes of every security over the whole file (the signals' input)."""

    def __init__(self, source: ReplaySource, symbols: Sequence[str]) -> None:
        self.days = source.trading_days(source.first_day, source.last_day)
        self.index = {d: i for i, d in enumerate(self.days)}
        self.closes = {s: np.array([np.nan if c is None else c
                                    for c in source.closes(s, self.days)]) for s in symbols}

    def volatility(self, symbol: str, before: int) -> float | None:
        """Annualised volatility of the year of closes before day ``before``."""
        window = self.closes[symbol][max(0, before - YEAR):before]
        window = window[np.isfinite(window)]
        if window.size < MIN_CLOSES:
            return None
        return float(np.diff(np.log(window)).std() * math.sqrt(YEAR))

    def momentum(self, symbol: str, before: int) -> float | None:
        """12-1 month momentum: the return from a year to a month before day ``before``."""
        if before - YEAR < 0:
            return None
        start, end = self.closes[symbol][before - YEAR], self.closes[symbol][before - MONTH]
        return float(end / start - 1) if np.isfinite(start) and np.isfinite(end) else None


def equal(_: int, priced: Sequence[str]) -> Mapping[str, float]:
    """Equal parts."""
    return dict.fromkeys(priced, 1.0 / len(priced))


def inverse_volatility(history: History) -> Target:
    """Weights in proportion to 1 / volatility (a security without one: the mean)."""
    def target(before: int, priced: Sequence[str]) -> Mapping[str, float]:
        inverse = {s: (1.0 / v if (v := history.volatility(s, before)) else None)
                   for s in priced}
        known = [x for x in inverse.values() if x is not None]
        fill = statistics.fmean(known) if known else 1.0
        total = sum(x if x is not None else fill for x in inverse.values())
        return {s: (x if x is not None else fill) / total for s, x in inverse.items()}
    return target


def momentum_half(history: History) -> Target:
    """Equal parts of the top half by 12-1 momentum (all, while none has a year)."""
    def target(before: int, priced: Sequence[str]) -> Mapping[str, float]:
        scored = {s: m for s in priced if (m := history.momentum(s, before)) is not None}
        top = sorted(scored, key=lambda s: -scored[s])[:max(1, len(scored) // 2)] or priced
        return {s: (1.0 / len(top) if s in top else 0.0) for s in priced}
    return target


def deposit_only(days: Sequence[date], closes: Mapping[str, Sequence[float | None]],
                 flows: Sequence[float], history: History, target: Target,
                 to_laggards: bool) -> list[float]:
    """Daily value: each deposit is spent that day at the close, by ``target``'s weights
    or (``to_laggards``) on the shortfalls below them; nothing is sold."""
    shares = dict.fromkeys(closes, 0.0)
    last: dict[str, float] = {}
    out: list[float] = []
    for i, day in enumerate(days):
        for symbol, column in closes.items():
            if (value := column[i]) is not None and value > 0:
                last[symbol] = value
        if flows[i] > 0 and last:
            priced = sorted(last)
            weights = target(history.index[day], priced)
            held = {s: shares[s] * last[s] for s in priced}
            total = flows[i] + sum(held.values())
            parts = dict(weights)
            if to_laggards:
                short = {s: max(0.0, weights[s] * total - held[s]) for s in priced}
                if sum(short.values()) > 0:
                    parts = {s: v / sum(short.values()) for s, v in short.items()}
            for symbol in priced:
                shares[symbol] += flows[i] * parts[symbol] / last[symbol]
        out.append(sum(shares[s] * last[s] for s in last))
    return out


def run_window(source: ReplaySource, history: History, symbols: Sequence[str],
               name: str) -> dict[str, float]:
    """Every rule's Sharpe ratio on one window."""
    start, end = WINDOWS[name]
    days = source.trading_days(start, end)
    starts = month_starts(days)
    flows = [INITIAL if i == 0 else MONTHLY if i in starts else 0.0 for i in range(len(days))]
    closes = {s: source.closes(s, days) for s in symbols}
    series = {
        "equal_weight_buy_and_hold": buy_and_hold(days, closes, flows),
        "equal_weight_monthly": rebalanced(days, closes, flows, equal_weight(days)),
        "equal_weight_laggards": deposit_only(days, closes, flows, history, equal, True),
        "inverse_volatility_laggards": deposit_only(days, closes, flows, history,
                                                    inverse_volatility(history), True),
        "momentum_half": deposit_only(days, closes, flows, history,
                                      momentum_half(history), False),
        "momentum_half_laggards": deposit_only(days, closes, flows, history,
                                               momentum_half(history), True),
    }
    return {rule: round(float(figures(days, values, flows)["sharpe"]), 3)
            for rule, values in series.items()}


def main() -> int:
    """Print the table on stderr and the JSON line on stdout."""
    source = ReplaySource(StepClock(datetime.combine(WINDOWS["2012-2021"][1], time(17), NY)))
    symbols = [i.yahoo_symbol or i.symbol for i in source.universe()]
    history = History(source, symbols)
    windows = {name: run_window(source, history, symbols, name)
               for name in (*FIVE_YEAR, "2012-2021")}
    rules = list(next(iter(windows.values())))
    print("window     " + " ".join(f"{r[:14]:>14s}" for r in rules), file=sys.stderr)
    for name, row in windows.items():
        print(f"{name:10s} " + " ".join(f"{row[r]:14.3f}" for r in rules), file=sys.stderr)
    reference = "equal_weight_buy_and_hold"
    base_median = statistics.median(windows[w][reference] for w in FIVE_YEAR)
    summary = {rule: {"windows_at_least_buy_and_hold": sum(
        windows[w][rule] >= windows[w][reference] for w in FIVE_YEAR),
        "median_sharpe": round(statistics.median(windows[w][rule] for w in FIVE_YEAR), 3),
        "buy_and_hold_median": round(base_median, 3)} for rule in rules if rule != reference}
    print(json.dumps({"windows": windows, "summary": summary}), flush=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
