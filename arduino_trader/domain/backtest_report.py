"""Backtest report maths (pure): the strategy's figures against buy-and-hold equal weight
and the index over the same days with the same deposits, turnover, fees, the order hash.

Performance figures come from :mod:`arduino_trader.domain.analytics` (flow-adjusted
time-weighted returns), so a backtest reports exactly what the live analytics would.
"""

from __future__ import annotations

import hashlib
import json
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import date
from typing import Any

from .analytics import InsufficientData, performance


@dataclass(frozen=True)
class EquityPoint:
    """One day of the strategy: total EUR value, the external flow booked that day and the
    cash part of the value (EUR)."""

    day: date
    value: float
    flow: float
    cash: float = 0.0


@dataclass(frozen=True)
class TradeRow:
    """One fill, in EUR."""

    day: date
    side: str
    value_eur: float
    fee_eur: float
    bucket: str


def figures(days: Sequence[date], values: Sequence[float],
            flows: Sequence[float]) -> dict[str, Any]:
    """CAGR, volatility, Sharpe, Sortino, max drawdown (and totals) of one series."""
    try:
        perf = performance(days, values, flows)
    except InsufficientData as exc:
        return {"error": str(exc)}
    return {"start": perf.start.isoformat(), "end": perf.end.isoformat(),
            "days": perf.days, "total_return": perf.total, "cagr": perf.annual,
            "volatility": perf.volatility, "sharpe": perf.sharpe, "sortino": perf.sortino,
            "max_drawdown": perf.max_drawdown, "calmar": perf.calmar,
            "final_value": float(values[-1]), "invested": float(sum(flows))}


def buy_and_hold(days: Sequence[date], closes: Mapping[str, Sequence[float | None]],
                 flows: Sequence[float], eur_per_unit: float = 1.0) -> list[float]:
    """Daily EUR value of investing every flow in equal parts of ``closes``' securities at
    that day's close and holding (fractional shares, no costs). A security without a
    close on a flow day is skipped for that flow; its last close values it afterwards."""
    if any(len(c) != len(days) for c in closes.values()) or len(flows) != len(days):
        raise ValueError("days, closes and flows must have the same length")
    shares = dict.fromkeys(closes, 0.0)
    last: dict[str, float] = {}
    cash = 0.0
    out: list[float] = []
    for i in range(len(days)):
        for symbol, column in closes.items():
            value = column[i]
            if value is not None and value > 0 and math.isfinite(value):
                last[symbol] = value
        cash += flows[i]
        priced = [s for s in closes if s in last]
        if cash > 0 and priced:
            part = cash / len(priced)
            for symbol in priced:
                shares[symbol] += part / (last[symbol] * eur_per_unit)
            cash = 0.0
        out.append(cash + sum(shares[s] * last[s] * eur_per_unit for s in last))
    return out


def order_hash(orders: Sequence[Mapping[str, Any]]) -> str:
    """SHA-256 of the canonical JSON of the order list (sorted keys, no spaces)."""
    text = json.dumps(list(orders), sort_keys=True, separators=(",", ":"), default=str)
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def trading_summary(trades: Sequence[TradeRow], mean_value: float,
                    years: float) -> dict[str, Any]:
    """Trade count, fees, annual turnover ((buys + sells) / 2 / mean value / years) and
    the same per bucket."""
    def summary(rows: Sequence[TradeRow]) -> dict[str, Any]:
        buys = sum(t.value_eur for t in rows if t.side == "BUY")
        sells = sum(t.value_eur for t in rows if t.side == "SELL")
        turnover = ((buys + sells) / 2.0 / mean_value / years
                    if mean_value > 0 and years > 0 else None)
        return {"trades": len(rows), "buys_eur": buys, "sells_eur": sells,
                "fees_eur": sum(t.fee_eur for t in rows), "annual_turnover": turnover}

    buckets = sorted({t.bucket for t in trades})
    return {**summary(trades),
            "buckets": {b: summary([t for t in trades if t.bucket == b]) for b in buckets}}


WARM_UP_DAYS = 63  # trading days (~3 months) before cash share counts


def mean_cash_share(equity: Sequence[EquityPoint], warm_up_days: int = WARM_UP_DAYS
                    ) -> float | None:
    """Mean of cash / value over the days after the first ``warm_up_days`` (None when
    there is no such day with a positive value)."""
    shares = [p.cash / p.value for p in equity[warm_up_days:] if p.value > 0]
    return sum(shares) / len(shares) if shares else None


def build_report(equity: Sequence[EquityPoint], trades: Sequence[TradeRow],
                 benchmarks: Mapping[str, Sequence[float]],
                 orders_sha256: str, meta: Mapping[str, Any]) -> dict[str, Any]:
    """The report: strategy figures, each benchmark's figures on the same flows, trading."""
    days = [p.day for p in equity]
    values = [p.value for p in equity]
    flows = [p.flow for p in equity]
    years = max((days[-1] - days[0]).days / 365.25, 1 / 365.25) if days else 0.0
    mean_value = sum(values) / len(values) if values else 0.0
    return {
        **meta,
        "strategy": {**figures(days, values, flows),
                     "mean_cash_share": mean_cash_share(equity)},
        "benchmarks": {name: figures(days, list(series), flows)
                       for name, series in benchmarks.items()},
        "trading": trading_summary(trades, mean_value, years),
        "orders_sha256": orders_sha256,
    }


def holding_weights(fills: Sequence[tuple[date, str, float]], days: Sequence[date],
                    values: Sequence[float],
                    prices_eur: Mapping[str, Sequence[float | None]]
                    ) -> dict[str, list[float]]:
    """Each security's daily share of the portfolio value as that day's snapshot sees it
    (taken before the day's close): the quantity held after the fills of earlier days
    (``(day, symbol, signed quantity)``) at the last EUR close published before the day
    (``prices_eur[symbol]``, one per day of ``days``; a gap keeps the close before it),
    over ``values`` (0 when the value is not positive). Only securities ever held
    appear."""
    if len(values) != len(days) or any(len(p) != len(days) for p in prices_eur.values()):
        raise ValueError("days, values and prices must have the same length")
    ordered = sorted(fills)
    held: dict[str, float] = {}
    last: dict[str, float] = {}
    out: dict[str, list[float]] = {s: [0.0] * len(days) for _, s, _ in ordered}
    k = 0
    for i, day in enumerate(days):
        while k < len(ordered) and ordered[k][0] < day:
            _, symbol, quantity = ordered[k]
            held[symbol] = held.get(symbol, 0.0) + quantity
            k += 1
        for symbol, qty in held.items():
            if values[i] > 0 and symbol in last:
                out[symbol][i] = round(qty * last[symbol] / values[i], 4)
        for symbol, column in prices_eur.items():  # published at the day's close
            price = column[i]
            if price is not None and price > 0 and math.isfinite(price):
                last[symbol] = price
    return out
