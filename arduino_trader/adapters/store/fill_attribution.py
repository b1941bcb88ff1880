"""One path for every fill of our own orders (migration 0425).

Two paths store fills in ``trades``: the executor's follow-up of a journal entry and the
sync cycle's import of the broker's trade history. Whichever sees a fill first stores it
attributed to its journal entry — the order's row, source and bucket — so the second
path finds it stored and changes nothing. :func:`journal_entry_for_trade` is the one
place that decides which entry a broker trade belongs to.

The ``trades.published_at`` column is an outbox: a fill of our own order is stored with
it NULL, in the same transaction as the fill, and :func:`publish_pending` (the executor,
the only publisher) announces each such fill as ``TradeExecuted`` and then marks it. A
fill is therefore published once whichever path stored it; a process that dies after the
event went out but before the mark publishes it again at its next round, and every
consumer books by the trade key, so that replay books nothing.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Callable
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

from arduino_trader.domain.fx_exchange import FX_ISIN_PREFIX
from arduino_trader.protocols.broker import Trade
from arduino_trader.protocols.execution import TradeExecuted
from arduino_trader.protocols.store import Database


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


def pending_fills(db: Database, mode: str) -> list[sqlite3.Row]:
    """Fills of our own orders in ``mode`` not yet published, oldest first."""
    return list(db.fetch_all(
        "SELECT trade_key, isin, symbol, side, quantity, price, currency, executed_at, "
        "source, bucket_id, mode FROM trades WHERE mode = ? AND published_at IS NULL "
        "AND order_row IS NOT NULL ORDER BY id", (mode,)))


def event_of(row: sqlite3.Row) -> TradeExecuted:
    """The ``TradeExecuted`` of a stored fill."""
    return TradeExecuted(
        str(row["trade_key"]), str(row["isin"]), str(row["symbol"]), row["side"],
        Decimal(str(row["quantity"])), Decimal(str(row["price"])), str(row["currency"]),
        datetime.fromtimestamp(int(row["executed_at"]), UTC), str(row["source"]),
        str(row["bucket_id"]), str(row["mode"]))


def mark_published(db: Database, trade_key: str, now: datetime) -> None:
    """The fill's event went out."""
    db.execute("UPDATE trades SET published_at = ? WHERE trade_key = ? AND "
               "published_at IS NULL", (int(now.timestamp()), trade_key))


def publish_pending(db: Database, mode: str, publish: Callable[[TradeExecuted], None],
                    now: datetime) -> list[TradeExecuted]:
    """Publish every pending fill of ``mode`` (event first, then the mark); returns them."""
    sent: list[TradeExecuted] = []
    for row in pending_fills(db, mode):
        event = event_of(row)
        publish(event)
        mark_published(db, event.trade_key, now)
        sent.append(event)
    return sent
