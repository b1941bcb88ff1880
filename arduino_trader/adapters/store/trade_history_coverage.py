"""Which securities' broker trade history the ledger holds (migration 0940).

A security is *covered* once a full-window broker trade import (``FULL_WINDOW_DAYS``
back) was stored while it was in the universe. A held security that is covered but has no
trade in the ledger was bought before that window: its hold time is long. One that is not
covered has an unknown hold time — its buys may simply not be imported yet (the first
sync ran before the universe held it, or it joined the universe later and the short
re-sync window no longer reaches its buys) — so the planner waits for it and the executor
refuses to sell it rather than skip the minimum hold.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime

from arduino_trader.protocols.store import Database, Transaction

# How far back a covering import reaches: beyond any minimum hold or cooldown.
FULL_WINDOW_DAYS = 365


def cover(tx: Transaction, mode: str, isins: Iterable[str], now: datetime) -> None:
    """Record ``isins`` as covered in ``mode`` (in the caller's transaction: the one that
    stores the import). A security covered before keeps its first time."""
    tx.executemany(
        "INSERT OR IGNORE INTO trade_history_coverage (mode, isin, covered_at) "
        "VALUES (?, ?, ?)", [(mode, isin, int(now.timestamp())) for isin in sorted(set(isins))])


def covered_isins(db: Database, mode: str) -> frozenset[str]:
    """The securities whose trade history ``mode``'s ledger holds."""
    rows = db.fetch_all("SELECT isin FROM trade_history_coverage WHERE mode = ?", (mode,))
    return frozenset(str(r["isin"]) for r in rows)


def is_covered(db: Database, mode: str, isin: str) -> bool:
    """Whether ``isin``'s trade history is in ``mode``'s ledger."""
    return db.fetch_one("SELECT 1 FROM trade_history_coverage WHERE mode = ? AND isin = ?",
                        (mode, isin)) is not None


__all__ = ["FULL_WINDOW_DAYS", "cover", "covered_isins", "is_covered"]
