"""The owner's dated external flows (completed deposits and withdrawals, EUR at their
record date) for the money-weighted return."""

from __future__ import annotations

from datetime import date
from decimal import Decimal

from arduino_trader.protocols.store import Database

from .portfolio_repo import EXTERNAL_FLOW_KINDS, to_decimal


def external_flows(db: Database) -> list[tuple[date, Decimal]]:
    """Every completed deposit (> 0) and withdrawal (< 0) in EUR, oldest first; a row
    without an EUR value is left out (it is booked once its rate arrives)."""
    rows = db.fetch_all(
        "SELECT date, amount_eur FROM cash_flows WHERE kind IN (?, ?) "
        "AND status = 'completed' ORDER BY date, id", EXTERNAL_FLOW_KINDS)
    out: list[tuple[date, Decimal]] = []
    for r in rows:
        amount = to_decimal(r["amount_eur"])
        if amount is not None:
            out.append((date.fromisoformat(str(r["date"])), amount))
    return out
