"""One row per broker cash movement, whatever key a later answer gives it (migration 0520).

A record the broker first sent without an id is stored under its content key; when a
later answer names it with an id, its broker key is new. A record stored under an id the
broker once sent as a float (``77.0``, before ids were normalised) reappears as ``77``.
Before such a record is inserted, :func:`resolve` finds the stored row it is and records
the alias, so the record's status moves on that row and its effects are never applied
twice. A row the same answer still lists under its own key is never claimed: that is a
second, identical movement.
"""

from __future__ import annotations

import json
from collections.abc import Collection, Sequence
from datetime import datetime
from typing import Any

from arduino_trader.domain.cash_flows.keys import legacy_float_key
from arduino_trader.protocols.cash_flow_store import CashFlowRecord
from arduino_trader.protocols.money import decimal_to_str


def resolve(tx: Any, record: CashFlowRecord, present: Collection[str],
            now: datetime) -> str | None:
    """The stored key ``record`` is an alias of (recorded now if new), else None."""
    known = tx.fetch_one("SELECT stored_key FROM cash_flow_aliases WHERE alias_key = ?",
                         (record.key,))
    if known is not None:
        return str(known["stored_key"])
    if not record.stable_id:
        return None
    legacy = legacy_float_key(record.key)
    row = None if legacy is None else tx.fetch_one(
        "SELECT transaction_id FROM cash_flows WHERE transaction_id = ?", (legacy,))
    if row is None:
        row = tx.fetch_one(
            "SELECT transaction_id FROM cash_flows c WHERE source = ? AND stable_id = 0 AND "
            "transaction_type = ? AND date = ? AND amount = ? AND currency = ? AND NOT "
            "EXISTS (SELECT 1 FROM cash_flow_aliases a WHERE a.stored_key = c.transaction_id)"
            " AND transaction_id NOT IN (SELECT value FROM json_each(?)) ORDER BY id LIMIT 1",
            (record.source, record.transaction_type, record.on.isoformat(),
             decimal_to_str(record.amount), record.currency, _json(present)))
    if row is None:
        return None
    stored = str(row["transaction_id"])
    tx.execute("INSERT INTO cash_flow_aliases (alias_key, stored_key, created_at) "
               "VALUES (?, ?, ?)", (record.key, stored, int(now.timestamp())))
    return stored


def aliased(db: Any, keys: Sequence[str]) -> dict[str, str]:
    """``{alias key: stored key}`` for those of ``keys`` that are aliases."""
    rows = db.fetch_all("SELECT alias_key, stored_key FROM cash_flow_aliases WHERE "
                        "alias_key IN (SELECT value FROM json_each(?))", (_json(keys),))
    return {str(r["alias_key"]): str(r["stored_key"]) for r in rows}


def _json(keys: Collection[str]) -> str:
    return json.dumps(sorted(keys))
