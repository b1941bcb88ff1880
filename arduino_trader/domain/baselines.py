"""Passive reference portfolios for backtests (pure): what the same deposits would have
become in a portfolio rebalanced to given weights at given days, without costs.

Equal weight rebalanced monthly and the optimiser's own targets rebalanced monthly are
both :func:`rebalanced` with a different weight rule; buy-and-hold is in
:mod:`arduino_trader.domain.backtest_report`.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping, Sequence
from datetime import date

WeightRule = Callable[[int, Sequence[str]], Mapping[str, float] | None]


def month_starts(days: Sequence[date]) -> set[int]:
    """Indexes of the first day of each calendar month in ``days`` (the first day too)."""
    return {i for i, d in enumerate(days)
            if i == 0 or (d.year, d.month) != (days[i - 1].year, days[i - 1].month)}


def equal_weight(days: Sequence[date]) -> WeightRule:
    """Equal parts of every priced security on each month's first day."""
    starts = month_starts(days)

    def rule(i: int, priced: Sequence[str]) -> Mapping[str, float] | None:
        if i not in starts or not priced:
            return None
        return dict.fromkeys(priced, 1.0 / len(priced))

    return rule


def rebalanced(days: Sequence[date], closes: Mapping[str, Sequence[float | None]],
               flows: Sequence[float], rule: WeightRule, eur_per_unit: float = 1.0
               ) -> list[float]:
    """Daily EUR value: every flow lands as cash; on a day ``rule`` gives weights (fractions
    of the whole value, the rest stays cash) the portfolio is set to them at that day's
    closes (fractional shares, no costs). A security without a close keeps its last one."""
    if any(len(c) != len(days) for c in closes.values()) or len(flows) != len(days):
        raise ValueError("days, closes and flows must have the same length")
    shares: dict[str, float] = dict.fromkeys(closes, 0.0)
    last: dict[str, float] = {}
    cash = 0.0
    out: list[float] = []
    for i in range(len(days)):
        for symbol, column in closes.items():
            value = column[i]
            if value is not None and value > 0 and math.isfinite(value):
                last[symbol] = value
        cash += flows[i]
        held = sum(shares[s] * last[s] * eur_per_unit for s in last)
        weights = rule(i, sorted(last))
        if weights:
            total = cash + held
            for symbol in shares:
                shares[symbol] = 0.0
            for symbol, w in weights.items():
                if symbol in last and w > 0:
                    shares[symbol] = total * w / (last[symbol] * eur_per_unit)
            held = sum(shares[s] * last[s] * eur_per_unit for s in last)
            cash = total - held
        out.append(cash + held)
    return out
