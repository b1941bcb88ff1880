"""Buys deferred behind their funding exchange (migration 0930).

A deferred buy is written before its funding exchange is journaled and keeps what
rebuilds its :class:`SubmitOrder`; the order follow-up resubmits it under its own intent
key once the exchange is final, or ends it with a note.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any, Literal

from arduino_trader.domain.execution.facts import LedgerMode
from arduino_trader.domain.fx_funding import FundingEntry, funding_prefix
from arduino_trader.protocols.execution import OrderIntent, SubmitOrder
from arduino_trader.protocols.money import decimal_to_str
from arduino_trader.protocols.store import Database

from .order_journal import NEVER_SENT

DeferredState = Literal["waiting", "done", "ended"]


@dataclass(frozen=True)
class DeferredBuy:
    """One deferred buy as stored."""

    order: SubmitOrder
    mode: LedgerMode
    state: DeferredState
    note: str
    created_at: datetime


def defer(db: Database, msg: SubmitOrder, mode: LedgerMode, now: datetime) -> None:
    """Record ``msg`` as waiting for its funding (again, when a retry re-deferred it)."""
    intent, at = msg.intent, int(now.timestamp())
    db.execute(
        "INSERT INTO deferred_buys (intent_key, isin, symbol, side, quantity, source, reason,"
        " bucket_id, mode, state, note, created_at, updated_at)"
        " VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, 'waiting', '', ?, ?)"
        " ON CONFLICT (intent_key) DO UPDATE SET state = 'waiting', note = '',"
        " updated_at = excluded.updated_at WHERE state != 'waiting'",
        (msg.intent_key, intent.isin, intent.symbol, intent.side,
         decimal_to_str(intent.quantity), intent.source, msg.reason[:500], msg.bucket_id,
         mode, at, at))


def finish(db: Database, intent_key: str, state: DeferredState, note: str,
           now: datetime) -> bool:
    """Close a waiting deferred buy; False when none was waiting under ``intent_key``."""
    return db.execute(
        "UPDATE deferred_buys SET state = ?, note = ?, updated_at = ?"
        " WHERE intent_key = ? AND state = 'waiting'",
        (state, note[:500], int(now.timestamp()), intent_key)) > 0


def _record(row: Any) -> DeferredBuy:
    intent = OrderIntent(str(row["isin"]), str(row["symbol"]), row["side"],
                         Decimal(str(row["quantity"])), row["source"])
    return DeferredBuy(SubmitOrder(intent, str(row["intent_key"]), str(row["reason"]),
                                   str(row["bucket_id"])),
                       row["mode"], row["state"], str(row["note"]),
                       datetime.fromtimestamp(int(row["created_at"]), UTC))


def find(db: Database, intent_key: str) -> DeferredBuy | None:
    """The deferred buy stored under ``intent_key``, if any."""
    row = db.fetch_one("SELECT * FROM deferred_buys WHERE intent_key = ?", (intent_key,))
    return None if row is None else _record(row)


def waiting(db: Database) -> list[DeferredBuy]:
    """Every buy still waiting for its funding, oldest first."""
    rows = db.fetch_all("SELECT * FROM deferred_buys WHERE state = 'waiting'"
                        " ORDER BY created_at, intent_key")
    return [_record(r) for r in rows]


def funding_entries(db: Database, intent_key: str) -> list[FundingEntry]:
    """The journal entries of the exchanges funding the buy ``intent_key`` (every
    attempt and first leg), oldest first."""
    prefix = funding_prefix(intent_key)
    rows = db.fetch_all(
        "SELECT state, filled_quantity, created_at, note FROM orders"
        " WHERE substr(intent_key, 1, ?) = ? ORDER BY id", (len(prefix), prefix))
    return [FundingEntry(str(r["state"]), Decimal(str(r["filled_quantity"])),
                         datetime.fromtimestamp(int(r["created_at"]), UTC),
                         not str(r["note"] or "").startswith(NEVER_SENT)) for r in rows]


def later_buy(db: Database, buy: DeferredBuy) -> str | None:
    """The intent key of another buy of the same security in the same mode journaled
    since ``buy`` was deferred and not refused outright (it supersedes ``buy``), if any."""
    row = db.fetch_one(
        "SELECT intent_key FROM orders WHERE isin = ? AND side = 'BUY' AND mode = ?"
        " AND created_at >= ? AND intent_key != ? AND state NOT IN ('not_placed', 'rejected')"
        " ORDER BY id LIMIT 1",
        (buy.order.intent.isin, buy.mode, int(buy.created_at.timestamp()),
         buy.order.intent_key))
    return None if row is None else str(row["intent_key"])


def list_deferred(db: Database, limit: int = 50) -> list[dict[str, Any]]:
    """Deferred buys, newest first, JSON-ready."""
    rows = db.fetch_all("SELECT * FROM deferred_buys ORDER BY updated_at DESC,"
                        " intent_key LIMIT ?", (limit,))
    out = []
    for row in rows:
        item = {k: row[k] for k in row.keys()}
        for key in ("created_at", "updated_at"):
            item[key] = datetime.fromtimestamp(int(item[key]), UTC).isoformat()
        out.append(item)
    return out
