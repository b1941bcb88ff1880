"""The FX ledger (migration 0410) as the admin API lists it: fills of currency-exchange
orders, newest first.

Exchange orders are journal entries in ``orders`` like any order; a follow-up's state
change and its fills are one transaction of the order journal
(:meth:`~.order_journal.SqliteOrderJournal.apply_exchange_follow_up`), fills keyed by the
broker's trade id so a repeated follow-up records nothing twice.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from arduino_trader.protocols.store import Database


def list_fx_trades(db: Database, limit: int = 50) -> list[dict[str, Any]]:
    """FX fills, newest first, JSON-ready."""
    rows = db.fetch_all("SELECT * FROM fx_trades ORDER BY executed_at DESC, id DESC "
                        "LIMIT ?", (limit,))
    out = []
    for r in rows:
        item = {k: r[k] for k in r.keys()}
        for key in ("executed_at", "created_at"):
            item[key] = datetime.fromtimestamp(int(item[key]), UTC).isoformat()
        out.append(item)
    return out
