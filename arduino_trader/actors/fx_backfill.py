"""Back-filled EUR rates for dated records: a cash flow dated before the first stored
rate of its currency (or on a day with none within the age limit) needs the rate of its
own day, never today's. The market-data source's daily history of the ``EUR<CCY>=X`` pair
(units per EUR) gives it; each day's close is stored as that day's rate."""

from __future__ import annotations

from datetime import date, datetime
from decimal import Decimal, InvalidOperation

from arduino_trader.protocols.market_data import FxRate, MarketData, MarketDataError

RATE_QUANTUM = Decimal("1E-10")


def history_rates(source: MarketData, currency: str, start: date, end: date,
                  now: datetime) -> list[FxRate]:
    """The daily EUR rates of ``currency`` in ``[start, end]`` from the source's pair
    history (empty when the source has none: the records keep waiting, reported)."""
    code = currency.strip().upper()
    if code == "EUR" or start > end:
        return []
    try:
        history = source.history(f"EUR{code}=X", start, end)
    except MarketDataError:
        return []
    out: list[FxRate] = []
    for bar in history.bars:
        try:
            per_eur = Decimal(repr(bar.close))
            if per_eur.is_finite() and per_eur > 0 and start <= bar.day <= end:
                out.append(FxRate(code, (Decimal(1) / per_eur).quantize(RATE_QUANTUM),
                                  bar.day, now, f"{source.name}_history"))
        except InvalidOperation:
            continue
    return out
