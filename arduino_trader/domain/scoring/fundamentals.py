"""Stored market data → the scorers' :class:`Fundamentals` (pure; no I/O).

The market-data store keeps, per security, a ``fundamentals`` document (``{"values":
{yahoo field: number}}``) and an ``analyst`` document (``score`` 0..1, ``upside_pct`` in
percent). Yahoo mixes units: ``fiveYearAvgDividendYield`` is always percent, and a
``dividendYield`` above 1 is read as percent (the DRIP's rule); margins and payout are
fractions; debt-to-equity is Yahoo's percent form, which the scorer expects.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any

from .scorers import Fundamentals


def _num(values: Mapping[str, Any], key: str) -> float | None:
    v = values.get(key)
    if isinstance(v, bool) or not isinstance(v, int | float) or not math.isfinite(v):
        return None
    return float(v)


def _data(doc: Mapping[str, Any], kind: str) -> Mapping[str, Any]:
    entry = doc.get(kind)
    data = entry.get("data") if isinstance(entry, Mapping) else None
    return data if isinstance(data, Mapping) else {}


def fundamentals_from_data(doc: Mapping[str, Any]) -> Fundamentals | None:
    """The scorer's fundamentals from ``market_repo.read_security_data`` output; None when
    the store has no fundamental or analyst figure for the security."""
    raw = _data(doc, "fundamentals")
    values = raw.get("values", raw)
    values = values if isinstance(values, Mapping) else {}
    analyst = _data(doc, "analyst")
    dy = _num(values, "dividendYield")
    if dy is not None and dy > 1:
        dy /= 100
    avg = _num(values, "fiveYearAvgDividendYield")
    upside = _num(analyst, "upside_pct")
    out = Fundamentals(
        trailing_pe=_num(values, "trailingPE"), forward_pe=_num(values, "forwardPE"),
        profit_margin=_num(values, "profitMargins"),
        debt_to_equity=_num(values, "debtToEquity"),
        current_ratio=_num(values, "currentRatio"), dividend_yield=dy,
        payout_ratio=_num(values, "payoutRatio"),
        five_year_avg_dividend_yield=None if avg is None else avg / 100,
        analyst_recommendation=_num(analyst, "score"),
        target_upside=None if upside is None else upside / 100)
    return None if out == Fundamentals() else out


__all__ = ["fundamentals_from_data"]
