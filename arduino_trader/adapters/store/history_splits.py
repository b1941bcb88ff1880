"""Rescale stored prices after a share split, so they join a split-adjusted re-read.

Runs inside the caller's transaction (the history write that stores the re-read), so
the store never holds the two scales at once.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from datetime import UTC, date, datetime

from arduino_trader.protocols.store import Transaction


def rescale_before(tx: Transaction, isin: str, factor: float,
                   splits: Sequence[tuple[date, float]]) -> None:
    """Divide every stored price of ``isin`` dated before the first of ``splits`` by
    ``factor`` (volumes multiplied), and the latest quote by the splits dated after it."""
    if not (math.isfinite(factor) and factor > 0) or not splits:
        raise ValueError(f"a split rescale needs splits and a positive factor: {factor!r}")
    before = min(d for d, _ in splits)
    tx.execute(
        "UPDATE price_history SET open = open / ?1, high = high / ?1, low = low / ?1, "
        "close = close / ?1, adj_close = adj_close / ?1, volume = volume * ?1 "
        "WHERE isin = ?2 AND day < ?3", (factor, isin, before.isoformat()))
    row = tx.fetch_one("SELECT as_of FROM latest_prices WHERE isin = ?", (isin,))
    if row is None:
        return
    quoted = datetime.fromtimestamp(int(row[0]), UTC).date()
    quote_factor = math.prod(r for d, r in splits if d > quoted)
    if quote_factor != 1.0:
        tx.execute("UPDATE latest_prices SET price = price / ? WHERE isin = ?",
                   (quote_factor, isin))
