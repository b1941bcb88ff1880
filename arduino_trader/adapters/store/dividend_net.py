"""What DRIP may reinvest of each dividend: the dividend net of the withholding tax the
broker booked against it (a completed ``tax`` cash flow naming the same instrument on
the dividend's payment date, in EUR at the record's date), shared pro rata by the
buckets the dividend was split over."""

from __future__ import annotations

from collections.abc import Sequence
from decimal import Decimal
from typing import Any

from arduino_trader.domain.cash_flows.pro_rata import split_pro_rata
from arduino_trader.protocols.money import ZERO


def withheld_eur(db: Any, dividends: Sequence[Any]) -> dict[int, Decimal]:
    """``{dividend id: EUR withheld}`` for ``dividend_history`` rows.

    The withholding of one (symbol, day) is shared by all that day's dividend rows of
    the symbol (every bucket's share of one payment, or several payments) in proportion
    to their EUR amounts, each at most its own amount: a bucket's row bears its own part
    of the tax whichever rows are asked about.
    """
    if not dividends:
        return {}
    tax: dict[tuple[str, str], Decimal] = {}
    for r in db.fetch_all(
            "SELECT symbol, isin, date, amount_eur FROM cash_flows WHERE kind = 'tax' AND "
            "status = 'completed' AND (symbol != '' OR isin != '')"):
        for name in {str(r["symbol"]), str(r["isin"])} - {""}:
            tax[(name, str(r["date"]))] = tax.get((name, str(r["date"])), ZERO) + abs(
                Decimal(str(r["amount_eur"])))
    days = sorted({str(d["payment_date"]) for d in dividends})
    marks = ", ".join("?" for _ in days)
    same_day = db.fetch_all(
        "SELECT id, symbol, isin, payment_date, amount_eur FROM dividend_history "  # noqa: S608
        f"WHERE payment_date IN ({marks}) ORDER BY id", days)  # placeholders only
    groups: dict[tuple[str, str], list[tuple[str, Decimal]]] = {}
    for d in same_day:
        day = str(d["payment_date"])
        key = next(((n, day) for n in (str(d["symbol"]), str(d["isin"] or ""))
                    if (n, day) in tax), None)
        if key is not None:
            groups.setdefault(key, []).append((str(d["id"]), Decimal(str(d["amount_eur"]))))
    wanted = {int(d["id"]) for d in dividends}
    out: dict[int, Decimal] = {}
    for key, rows in groups.items():
        paid = sum((amount for _, amount in rows), ZERO)
        take = min(tax[key], paid)
        if take <= 0:
            continue
        for row_id, part in split_pro_rata(take, rows):
            if int(row_id) in wanted and part > 0:
                out[int(row_id)] = part
    return out
