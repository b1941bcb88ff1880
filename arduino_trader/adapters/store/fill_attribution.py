"""One path for every fill of our own orders (migration 0425).

Two paths store fills in ``trades``: the executor's follow-up of a journal entry and the
sync cycle's import of the broker's trade history. Whichever sees a fill first stores it
attributed to its journal entry — the order's row, source and bucket — so the second
path finds it stored and changes nothing. :func:`journal_entry_for_trade` is the one
place that decides which entry a broker trade belongs to.

The ``trades.published_at`` column is an outbox: a fill of our own order is stored with
it NULL, in the same transaction as the fill, and the executor (the only publisher,
``actors/executor_fills.py`` ``publish_pending`` through the order journal's
``pending_fills`` / ``mark_published``) announces each such fill as ``TradeExecuted`` and
then marks it. A fill is therefore published once whichever path stored it; a process
that dies after the event went out but before the mark publishes it again at its next
round, and every consumer books by the trade key, so that replay books nothing.
"""

from __future__ import annotations

import sqlite3
from typing import Any

from arduino_trader.domain.fx_exchange import FX_ISIN_PREFIX
from arduino_trader.protocols.broker import Trade


def journal_entry_for_trade(tx: Any, mode: str, trade: Trade) -> sqlite3.Row | None:
    """The journal entry (``orders`` row) a broker trade of ``mode`` filled, or None.

    The join is the broker's order id, which the journal stores once the broker
    acknowledged the order; an entry of another instrument never matches (a trade whose
    symbol differs from its order's is not attributed to it)."""
    if trade.order_id is None:
        return None
    row: sqlite3.Row | None = tx.fetch_one(
        "SELECT id, source, bucket_id, symbol FROM orders WHERE mode = ? AND "
        "broker_order_id = ? AND isin NOT LIKE ?",
        (mode, int(trade.order_id), FX_ISIN_PREFIX + "%"))
    if row is None or str(row["symbol"]).upper() != trade.symbol.upper():
        return None
    return row
