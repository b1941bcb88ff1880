"""Plans and recommendations (migration 0300).

Storing a plan is one transaction: the run's row, ``DismissAllPending`` (pending rows of
earlier plans become dismissed as ``superseded``), then one upsert per step keyed by the
identity (symbol, side, reason, portfolio_hash): a row the user dismissed stays dismissed,
a pending, superseded or executed row becomes pending again with the new figures.
"""

from __future__ import annotations

import json
import sqlite3
import uuid
from collections.abc import Mapping, Sequence
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

from arduino_trader.domain.planner.models import PlanResult, Step
from arduino_trader.protocols.store import Database

_CENT = Decimal("0.01")


def _ts(moment: datetime) -> int:
    return int(moment.timestamp())


def _iso(seconds: int | None) -> str | None:
    return None if seconds is None else datetime.fromtimestamp(int(seconds), UTC).isoformat()


def _money(value: float, places: str = "0.0001") -> str:
    """A float estimate as exact text at a fixed precision (never binary noise)."""
    return str(Decimal(repr(float(value))).quantize(Decimal(places)))


def _insert_plan(tx: Any, result: PlanResult, portfolio_hash: str, trigger: str,
                 duration_ms: float, ts: int, inputs: Mapping[str, Any] | None,
                 bucket_id: str, parent_id: int | None) -> int:
    cur = tx.execute(
        "INSERT INTO plans (portfolio_hash, status, reason, trigger, current_score, "
        "end_state_score, improvement, result_json, timings_json, warnings_json, "
        "inputs_json, duration_ms, created_at, bucket_id, parent_id) "
        "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
        (portfolio_hash, result.status, result.reason, trigger, result.current_score,
         result.end_state_score, result.improvement,
         json.dumps(result.to_dict(), default=str),
         json.dumps(dict(result.timings_ms)), json.dumps(list(result.warnings)),
         json.dumps(dict(inputs or {}), default=str), duration_ms, ts, bucket_id, parent_id))
    return int(cur.lastrowid or 0)


def store_plan(db: Database, result: PlanResult, portfolio_hash: str, trigger: str,
               isins: Mapping[str, str], duration_ms: float, now: datetime,
               inputs: Mapping[str, Any] | None = None,
               satellites: Sequence[tuple[str, PlanResult]] = ()) -> int:
    """Record one plan run and its steps as recommendations; returns the plan id.

    ``result`` is core's plan; ``satellites`` are (bucket id, result) of the satellites
    that planned in the same run (each its own ``plans`` row, ``parent_id`` = core's),
    all written in one transaction. ``inputs``: what the plan saw (current weights,
    cash, regime...), kept for the API."""
    ts = _ts(now)
    with db.transaction() as tx:
        plan_id = _insert_plan(tx, result, portfolio_hash, trigger, duration_ms, ts,
                               inputs, "core", None)
        runs = [("core", plan_id, result)]
        for bucket_id, sat in satellites:
            runs.append((bucket_id, _insert_plan(
                tx, sat, portfolio_hash, trigger, duration_ms, ts, None, bucket_id, plan_id),
                sat))
        tx.execute(
            "UPDATE recommendations SET status = 'dismissed', dismissed_by = 'superseded', "
            "dismissed_at = ?, updated_at = ? WHERE status = 'pending'", (ts, ts))
        for bucket_id, row_id, res in runs:
            for s in res.steps:
                _upsert_step(tx, s, row_id, bucket_id, isins, portfolio_hash, ts)
    return plan_id


def _upsert_step(tx: Any, s: Step, plan_id: int, bucket_id: str,
                 isins: Mapping[str, str], portfolio_hash: str, ts: int) -> None:
    """One step as a recommendation (a user's dismissal of the same identity sticks)."""
    tx.execute(
        "INSERT INTO recommendations (uuid, plan_id, step, symbol, isin, name, side, "
        "quantity, estimated_price, estimated_value, cost_eur, currency, category, "
        "reason, priority, score_before, score_after, security_score, "
        "breakdown_json, status, portfolio_hash, created_at, updated_at, bucket_id) "
        "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, 'pending', "
        "?, ?, ?, ?) ON CONFLICT (symbol, side, reason, portfolio_hash) DO UPDATE SET "
        "plan_id = excluded.plan_id, step = excluded.step, "
        "bucket_id = excluded.bucket_id, "
        "quantity = excluded.quantity, estimated_price = excluded.estimated_price, "
        "estimated_value = excluded.estimated_value, cost_eur = excluded.cost_eur, "
        "priority = excluded.priority, score_before = excluded.score_before, "
        "score_after = excluded.score_after, security_score = excluded.security_score, "
        "breakdown_json = excluded.breakdown_json, updated_at = excluded.updated_at, "
        "status = CASE WHEN recommendations.dismissed_by = 'user' "
        "AND recommendations.status = 'dismissed' THEN 'dismissed' ELSE 'pending' END, "
        "dismissed_by = CASE WHEN recommendations.dismissed_by = 'user' "
        "AND recommendations.status = 'dismissed' THEN 'user' ELSE NULL END, "
        "dismissed_at = CASE WHEN recommendations.dismissed_by = 'user' "
        "AND recommendations.status = 'dismissed' THEN recommendations.dismissed_at "
        "ELSE NULL END, executed_at = NULL",
        (uuid.uuid4().hex, plan_id, s.step, s.symbol, isins.get(s.symbol, s.symbol),
         s.name, s.side, int(s.quantity), _money(s.estimated_price),
         str(Decimal(repr(float(s.estimated_value_eur))).quantize(_CENT)),
         str(Decimal(repr(float(s.cost_eur))).quantize(_CENT)), s.currency,
         s.category, s.reason, s.priority, s.score_before, s.score_after,
         s.security_score, json.dumps(dict(s.security_breakdown), default=str),
         portfolio_hash, ts, ts, bucket_id))


def _plan_row(row: sqlite3.Row) -> dict[str, Any]:
    return {"id": int(row["id"]), "portfolio_hash": row["portfolio_hash"],
            "status": row["status"], "reason": row["reason"], "trigger": row["trigger"],
            "current_score": row["current_score"], "end_state_score": row["end_state_score"],
            "improvement": row["improvement"], "timings_ms": json.loads(row["timings_json"]),
            "warnings": json.loads(row["warnings_json"]), "duration_ms": row["duration_ms"],
            "inputs": json.loads(row["inputs_json"]),
            "created_at": _iso(row["created_at"]), "bucket_id": row["bucket_id"],
            "parent_id": row["parent_id"],
            "result": json.loads(row["result_json"])}


def latest_plan(db: Database) -> dict[str, Any] | None:
    """The newest plan run (core's row, with its full result), or None before the first."""
    row = db.fetch_one("SELECT * FROM plans WHERE parent_id IS NULL "
                       "ORDER BY id DESC LIMIT 1")
    return _plan_row(row) if row is not None else None


def bucket_plans(db: Database, plan_id: int) -> list[dict[str, Any]]:
    """The satellites' plan rows of the run whose core row is ``plan_id``."""
    rows = db.fetch_all("SELECT * FROM plans WHERE parent_id = ? ORDER BY id",
                        (plan_id,))
    return [_plan_row(r) for r in rows]


def _rec_row(row: sqlite3.Row) -> dict[str, Any]:
    return {"uuid": row["uuid"], "plan_id": int(row["plan_id"]), "step": int(row["step"]),
            "symbol": row["symbol"], "isin": row["isin"], "name": row["name"],
            "side": row["side"], "quantity": int(row["quantity"]),
            "estimated_price": row["estimated_price"],
            "estimated_value": row["estimated_value"], "cost_eur": row["cost_eur"],
            "currency": row["currency"], "category": row["category"], "reason": row["reason"],
            "priority": row["priority"], "portfolio_score_before": row["score_before"],
            "portfolio_score_after": row["score_after"],
            "score_change": round(float(row["score_after"]) - float(row["score_before"]), 6),
            "security_score": row["security_score"],
            "score_breakdown": json.loads(row["breakdown_json"]), "status": row["status"],
            "dismissed_by": row["dismissed_by"], "portfolio_hash": row["portfolio_hash"],
            "bucket_id": row["bucket_id"],
            "created_at": _iso(row["created_at"]), "updated_at": _iso(row["updated_at"]),
            "executed_at": _iso(row["executed_at"]), "dismissed_at": _iso(row["dismissed_at"])}


def pending_recommendations(db: Database, limit: int = 50) -> list[dict[str, Any]]:
    """Pending recommendations in step order (``GetPendingRecommendations``)."""
    rows = db.fetch_all(
        "SELECT * FROM recommendations WHERE status = 'pending' ORDER BY plan_id DESC, step "
        "LIMIT ?", (limit,))
    return [_rec_row(r) for r in rows]


def count_pending_by_side(db: Database) -> dict[str, int]:
    """``{"BUY": n, "SELL": m}`` of pending recommendations."""
    rows = db.fetch_all(
        "SELECT side, COUNT(*) AS n FROM recommendations WHERE status = 'pending' "
        "GROUP BY side")
    out = {"BUY": 0, "SELL": 0}
    out.update({str(r["side"]): int(r["n"]) for r in rows})
    return out


def dismiss_all_by_portfolio_hash(db: Database, portfolio_hash: str,
                                  now: datetime) -> int:
    """Dismiss (by the user) the pending rows of ``portfolio_hash``; returns the count."""
    return db.execute(
        "UPDATE recommendations SET status = 'dismissed', dismissed_by = 'user', "
        "dismissed_at = ?, updated_at = ? WHERE status = 'pending' AND portfolio_hash = ?",
        (_ts(now), _ts(now), portfolio_hash))


def dismiss_all_pending(db: Database, now: datetime) -> int:
    """Dismiss every pending row as superseded (``DismissAllPending``); returns the count."""
    return db.execute(
        "UPDATE recommendations SET status = 'dismissed', dismissed_by = 'superseded', "
        "dismissed_at = ?, updated_at = ? WHERE status = 'pending'", (_ts(now), _ts(now)))


def mark_executed(db: Database, symbol: str, side: str, portfolio_hash: str,
                  now: datetime) -> int:
    """After a fill: pending rows with the same (symbol, side, hash) become executed."""
    return db.execute(
        "UPDATE recommendations SET status = 'executed', executed_at = ?, updated_at = ? "
        "WHERE status = 'pending' AND symbol = ? AND side = ? AND portfolio_hash = ?",
        (_ts(now), _ts(now), symbol, side, portfolio_hash))


def last_trade_times(db: Database, mode: str) -> dict[tuple[str, str], datetime]:
    """(isin, side) → time of the latest ledger trade of ``mode``."""
    rows = db.fetch_all(
        "SELECT isin, side, MAX(executed_at) AS at FROM trades WHERE mode = ? "
        "GROUP BY isin, side", (mode,))
    return {(str(r["isin"]), str(r["side"])): datetime.fromtimestamp(int(r["at"]), UTC)
            for r in rows}


def open_orders(db: Database, mode: str) -> list[dict[str, Any]]:
    """Journal entries of ``mode`` not final yet, with the unfilled quantity."""
    rows = db.fetch_all(
        "SELECT symbol, side, quantity, filled_quantity, limit_price, currency FROM orders "
        "WHERE mode = ? AND finished_at IS NULL", (mode,))
    return [{"symbol": str(r["symbol"]), "side": str(r["side"]),
             "remaining": Decimal(int(r["quantity"])) - Decimal(str(r["filled_quantity"])),
             "price": Decimal(str(r["limit_price"])), "currency": str(r["currency"])}
            for r in rows]


PRUNE_BATCH = 2000  # plans deleted per transaction (the write lock is held that long)
# Old plan rows no recommendation names, below the newest core run (``?`` twice: the
# cutoff, the newest core id); a core row only once none of its satellites' rows is left.
_OLD_SATELLITE_ROWS = ("SELECT p.id FROM plans p WHERE p.created_at < ? AND p.parent_id IS NOT "
                       "NULL AND p.parent_id < ?")
_OLD_CORE_ROWS = ("SELECT p.id FROM plans p WHERE p.created_at < ? AND p.parent_id IS NULL "
                  "AND p.id < ? AND NOT EXISTS (SELECT 1 FROM plans c WHERE c.parent_id = p.id)")
_DELETE_PLANS = ("DELETE FROM plans WHERE id IN ({doomed} AND NOT EXISTS (SELECT 1 FROM "
                 "recommendations r WHERE r.plan_id = p.id) LIMIT ?)")


def prune_history(db: Database, before: datetime) -> tuple[int, int]:
    """Forget plan runs and superseded recommendations last touched before ``before``;
    returns (plans, recommendations) deleted.

    A recommendation a newer plan superseded is deleted (were its identity proposed
    again, it would be stored as pending anyway). A plan is kept while a recommendation
    names it (pending, executed, or dismissed by the user) or one of its satellites' rows
    is kept, and the newest run is always kept (the API reads it). Plans go in batches
    of ``PRUNE_BATCH``, each its own transaction."""
    ts = _ts(before)
    recommendations = db.execute(
        "DELETE FROM recommendations WHERE status = 'dismissed' "
        "AND dismissed_by = 'superseded' AND updated_at < ?", (ts,))
    newest = db.fetch_one("SELECT MAX(id) AS id FROM plans WHERE parent_id IS NULL")
    keep_from = int(newest["id"]) if newest is not None and newest["id"] is not None else 0
    plans = 0
    for doomed in (_OLD_SATELLITE_ROWS, _OLD_CORE_ROWS):  # satellites first (the FK)
        while True:
            gone = db.execute(_DELETE_PLANS.format(doomed=doomed), (ts, keep_from, PRUNE_BATCH))
            plans += gone
            if gone < PRUNE_BATCH:
                break
    return plans, recommendations


__all__ = ["bucket_plans", "count_pending_by_side", "dismiss_all_by_portfolio_hash",
           "dismiss_all_pending", "last_trade_times", "latest_plan", "mark_executed", "open_orders",
           "pending_recommendations", "prune_history", "store_plan"]
