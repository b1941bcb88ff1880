"""Emergency recommendations in the store (migration 0900).

The sales a negative-balance repair proposes, apart from the planner's ``plans`` and
``recommendations``: the planner never reads them (not its latest plan, not its targets,
not its step 1) and storing a plan never supersedes them. Each row is keyed by the
situation (the shortfalls repaired) and the position part it sells:

- :func:`propose` (one transaction): pending rows of another situation, and pending rows
  of this one no longer proposed, become dismissed as ``superseded``; each proposed sale
  is upserted — a row the owner dismissed stays dismissed, any other becomes pending with
  the new figures;
- :func:`dismiss_by_owner`: the owner's dismissal (all pending rows, or one key);
- :func:`resolve`: no shortfall left, pending rows are dismissed as ``resolved``;
- :func:`mark_executed`: a live sale the executor placed.
"""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

from arduino_trader.domain.emergency import (
    EMERGENCY_PORTFOLIO_HASH,
    EMERGENCY_PRIORITY,
    EMERGENCY_REASON,
    Sale,
    recommendation_key,
)
from arduino_trader.protocols.money import decimal_to_str
from arduino_trader.protocols.store import Database

KIND = "emergency"


def _ts(moment: datetime) -> int:
    return int(moment.timestamp())


def _iso(seconds: int | None) -> str | None:
    return None if seconds is None else datetime.fromtimestamp(int(seconds), UTC).isoformat()


@dataclass(frozen=True)
class Proposal:
    """One run's proposed sales for one situation."""

    situation: str
    shortfalls: Mapping[str, Decimal]
    run_id: str
    mode: str
    sales: Sequence[Sale]
    isins: Mapping[str, str]


def propose(db: Database, proposal: Proposal, now: datetime) -> list[str]:
    """Store one run's proposed sales (see the module doc); returns their keys."""
    ts = _ts(now)
    keys = [recommendation_key(proposal.situation, s) for s in proposal.sales]
    shortfalls = json.dumps({c: decimal_to_str(v) for c, v in
                             sorted(proposal.shortfalls.items())})
    with db.transaction() as tx:
        tx.execute(
            "UPDATE emergency_recommendations SET status = 'dismissed', "
            "dismissed_by = 'superseded', dismissed_at = ?, updated_at = ? "
            "WHERE status = 'pending' AND key NOT IN (SELECT value FROM json_each(?))",
            (ts, ts, json.dumps(keys)))
        for key, sale in zip(keys, proposal.sales, strict=True):
            tx.execute(
                "INSERT INTO emergency_recommendations (key, situation, shortfalls_json, "
                "run_id, mode, symbol, isin, side, quantity, estimated_price, "
                "estimated_value, currency, bucket_id, reason, priority, status, "
                "created_at, updated_at) VALUES (?, ?, ?, ?, ?, ?, ?, 'SELL', ?, ?, ?, ?, ?, "
                "?, ?, 'pending', ?, ?) ON CONFLICT (key) DO UPDATE SET "
                "run_id = excluded.run_id, mode = excluded.mode, "
                "quantity = excluded.quantity, estimated_price = excluded.estimated_price, "
                "estimated_value = excluded.estimated_value, updated_at = excluded.updated_at, "
                "status = CASE WHEN emergency_recommendations.dismissed_by = 'user' "
                "THEN 'dismissed' ELSE 'pending' END, "
                "dismissed_by = CASE WHEN emergency_recommendations.dismissed_by = 'user' "
                "THEN 'user' ELSE NULL END, "
                "dismissed_at = CASE WHEN emergency_recommendations.dismissed_by = 'user' "
                "THEN emergency_recommendations.dismissed_at ELSE NULL END, "
                "executed_at = NULL",
                (key, proposal.situation, shortfalls, proposal.run_id, proposal.mode,
                 sale.symbol, proposal.isins.get(sale.symbol, ""), sale.quantity,
                 decimal_to_str(sale.price), decimal_to_str(sale.value_eur), sale.currency,
                 sale.bucket_id, EMERGENCY_REASON, EMERGENCY_PRIORITY, ts, ts))
    return keys


def owner_dismissed(db: Database, situation: str) -> set[tuple[str, str]]:
    """(symbol, bucket) of this situation's rows the owner dismissed."""
    rows = db.fetch_all(
        "SELECT symbol, bucket_id FROM emergency_recommendations WHERE situation = ? "
        "AND status = 'dismissed' AND dismissed_by = 'user'", (situation,))
    return {(str(r["symbol"]), str(r["bucket_id"])) for r in rows}


def dismiss_by_owner(db: Database, now: datetime, key: str | None = None) -> int:
    """The owner dismisses every pending row (or the one ``key``); returns the count.
    The dismissal holds for that situation: the same sale is not proposed again."""
    ts = _ts(now)
    return db.execute(
        "UPDATE emergency_recommendations SET status = 'dismissed', dismissed_by = 'user', "
        "dismissed_at = ?, updated_at = ? WHERE status = 'pending' AND (? IS NULL OR key = ?)",
        (ts, ts, key, key))


def resolve(db: Database, now: datetime) -> int:
    """No shortfall left, so no emergency sale may act: pending rows are dismissed
    as ``resolved``; returns the count."""
    ts = _ts(now)
    return db.execute(
        "UPDATE emergency_recommendations SET status = 'dismissed', dismissed_by = "
        "'resolved', dismissed_at = ?, updated_at = ? WHERE status = 'pending'", (ts, ts))


def mark_executed(db: Database, key: str, now: datetime) -> int:
    """A live sale the executor placed: its pending row becomes executed."""
    ts = _ts(now)
    return db.execute(
        "UPDATE emergency_recommendations SET status = 'executed', executed_at = ?, "
        "updated_at = ? WHERE key = ? AND status = 'pending'", (ts, ts, key))


def _row(r: sqlite3.Row) -> dict[str, Any]:
    return {"kind": KIND, "key": r["key"], "situation": r["situation"],
            "shortfalls": json.loads(r["shortfalls_json"]), "run_id": r["run_id"],
            "mode": r["mode"], "symbol": r["symbol"], "isin": r["isin"], "side": r["side"],
            "quantity": int(r["quantity"]), "estimated_price": r["estimated_price"],
            "estimated_value": r["estimated_value"], "currency": r["currency"],
            "bucket_id": r["bucket_id"], "reason": r["reason"], "priority": r["priority"],
            "status": r["status"], "dismissed_by": r["dismissed_by"],
            "portfolio_hash": EMERGENCY_PORTFOLIO_HASH,
            "created_at": _iso(r["created_at"]), "updated_at": _iso(r["updated_at"]),
            "executed_at": _iso(r["executed_at"]), "dismissed_at": _iso(r["dismissed_at"])}


def pending(db: Database, limit: int = 50) -> list[dict[str, Any]]:
    """Pending emergency recommendations, largest EUR value first."""
    rows = db.fetch_all(
        "SELECT * FROM emergency_recommendations WHERE status = 'pending' "
        "ORDER BY CAST(estimated_value AS REAL) DESC, key LIMIT ?", (limit,))
    return [_row(r) for r in rows]


def listed(db: Database, limit: int = 50) -> list[dict[str, Any]]:
    """The newest emergency recommendations in any status."""
    rows = db.fetch_all(
        "SELECT * FROM emergency_recommendations ORDER BY updated_at DESC, key LIMIT ?",
        (limit,))
    return [_row(r) for r in rows]


__all__ = ["KIND", "Proposal", "dismiss_by_owner", "listed", "mark_executed",
           "owner_dismissed", "pending", "propose", "resolve"]
