"""The report's daily series of a backtest: value, contributions, cash share, and each
held security's weight (from the research ledger's fills and the replay's closes)."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from datetime import UTC, date, datetime
from decimal import Decimal
from typing import Any
from zoneinfo import ZoneInfo

from arduino_trader.adapters.market_data.replay_source import ReplaySource
from arduino_trader.domain.backtest_report import EquityPoint, holding_weights
from arduino_trader.protocols.store import Database

NEW_YORK = ZoneInfo("America/New_York")  # the replay's closes are New York's


def research_fills(store: Database) -> list[tuple[date, str, float]]:
    """Every fill of the research ledger as ``(New York day, symbol, signed quantity)``."""
    rows = store.fetch_all("SELECT executed_at, symbol, side, quantity FROM trades "
                           "WHERE mode = 'research' ORDER BY id")
    return [(datetime.fromtimestamp(int(r["executed_at"]), UTC).astimezone(NEW_YORK).date(),
             str(r["symbol"]),
             float(Decimal(r["quantity"])) * (1 if r["side"] == "BUY" else -1))
            for r in rows]


def daily_series(store: Database, source: ReplaySource, equity: Sequence[EquityPoint],
                 eur_per: Callable[[str], Decimal]) -> dict[str, Any]:
    """``report["daily"]``: the day, value, contribution and cash share, and ``weights``
    (symbol → daily share of the value, for every security ever held); ``eur_per`` is
    the replay's EUR value of one unit of a currency."""
    days = [p.day for p in equity]
    values = [p.value for p in equity]
    fills = research_fills(store)
    currency = {s.symbol: s.currency for s in source.universe()}
    prices: dict[str, list[float | None]] = {}
    for symbol in {s for _, s, _ in fills}:
        rate = float(eur_per(currency.get(symbol, "USD")))
        prices[symbol] = [None if c is None else c * rate
                          for c in source.closes(symbol, days)]
    return {"day": [d.isoformat() for d in days],
            "value_eur": [round(v, 2) for v in values],
            "contribution_eur": [round(p.flow, 2) for p in equity],
            "cash_share": [round(p.cash / p.value, 4) if p.value > 0 else None
                           for p in equity],
            "weights": holding_weights(fills, days, values, prices)}


__all__ = ["daily_series", "research_fills"]
