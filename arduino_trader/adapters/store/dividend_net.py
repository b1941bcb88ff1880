"""What DRIP may reinvest of each dividend: the dividend net of the withholding tax the
broker booked against it (a completed ``tax`` cash flow naming the same instrument on
the dividend's payment date, in EUR at the record's date)."""

from __future__ import annotations

from collections.abc import Sequence
from decimal import Decimal
from typing import Any

from arduino_trader.protocols.money import ZERO


def withheld_eur(db: Any, dividends: Sequence[Any]) -> dict[int, Decimal]:
    """``{dividend id: EUR withheld}`` for ``dividend_history`` rows: the withholding of
    one (symbol, day) is charged to that day's dividends of the symbol in id order, each
    at most its own amount."""
    if not dividends:
        return {}
    rows = db.fetch_all(
        "SELECT symbol, isin, date, amount_eur FROM cash_flows WHERE kind = 'tax' AND "
        "status = 'completed' AND (symbol != '' OR isin != '')")
    tax: dict[tuple[str, str], Decimal] = {}
    for r in rows:
        for name in {str(r["symbol"]), str(r["isin"])} - {""}:
            tax[(name, str(r["date"]))] = tax.get((name, str(r["date"])), ZERO) + abs(
                Decimal(str(r["amount_eur"])))
    out: dict[int, Decimal] = {}
    for d in sorted(dividends, key=lambda d: int(d["id"])):
        day = str(d["payment_date"])
        key = next(((n, day) for n in (str(d["symbol"]), str(d["isin"] or ""))
                    if (n, day) in tax), None)
        if key is None:
            continue
        take = min(tax[key], Decimal(str(d["amount_eur"])))
        if take > 0:
            out[int(d["id"])] = take
            tax[key] -= take
    return out
