"""Journal reads and writes for outcomes in doubt: entries whose placement is unresolved,
and recent ``not_placed`` entries that are asked about again (a broker that shows the
order after all reopens the entry, and the follow-up settles it with its fills)."""

from __future__ import annotations

import sqlite3
from datetime import UTC, datetime
from typing import Any

from arduino_trader.domain.execution.facts import LedgerMode
from arduino_trader.domain.execution.placement import RECHECK_WINDOW, recheck_due
from arduino_trader.protocols.store import Database

NEVER_SENT = "never sent"


def in_doubt(db: Database) -> list[dict[str, Any]]:
    """Open entries whose placement was never confirmed (``journaled``/``unresolved``),
    oldest first, of both modes."""
    rows = db.fetch_all(
        "SELECT client_order_id, symbol, side, quantity, mode, state FROM orders "
        "WHERE finished_at IS NULL AND state IN ('journaled', 'unresolved') ORDER BY id")
    return [{k: r[k] for k in r.keys()} for r in rows]


def recheck_candidates(db: Database, mode: LedgerMode,
                       now: datetime) -> list[sqlite3.Row]:
    """``not_placed`` entries of ``mode`` due for a late look at the broker."""
    since = int((now - RECHECK_WINDOW).timestamp())
    rows = db.fetch_all(
        "SELECT * FROM orders WHERE mode = ? AND state = 'not_placed' AND created_at >= ? "
        "AND note NOT LIKE ? ORDER BY id", (mode, since, f"{NEVER_SENT}%"))
    return [r for r in rows if recheck_due(
        str(r["state"]), _dt(r["created_at"]), _dt(r["updated_at"]), now)]


def mark_rechecked(db: Database, client_order_id: int, now: datetime) -> None:
    """The broker still has no such order: only the time of the look changes."""
    db.execute("UPDATE orders SET updated_at = ?, checks = checks + 1 "
               "WHERE client_order_id = ? AND state = 'not_placed'",
               (int(now.timestamp()), client_order_id))


def reopen(db: Database, client_order_id: int, broker_order_id: int,
           now: datetime) -> bool:
    """The broker shows a ``not_placed`` order after all: the entry is open again
    (``unresolved`` until the follow-up applies the broker's answer)."""
    changed = db.execute(
        "UPDATE orders SET state = 'unresolved', finished_at = NULL, updated_at = ?, "
        "note = ? WHERE client_order_id = ? AND state = 'not_placed'",
        (int(now.timestamp()), f"reopened: the broker shows order {broker_order_id}",
         client_order_id))
    return bool(changed)


def _dt(seconds: Any) -> datetime:
    return datetime.fromtimestamp(int(seconds), UTC)
