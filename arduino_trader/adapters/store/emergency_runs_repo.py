"""Emergency rebalancing runs in the store (migration 0500): one ``running`` run at a
time (a partial unique index is the lock), closed with what it found, planned and did."""

from __future__ import annotations

import json
from datetime import datetime
from decimal import Decimal
from typing import Any

from arduino_trader.protocols.money import decimal_to_str
from arduino_trader.protocols.store import Database, StoreError


def _ts(moment: datetime) -> int:
    return int(moment.timestamp())


class RunLocked(StoreError):
    """Another emergency run is still running (the partial unique index refused)."""

    code = "emergency_running"


def start_emergency_run(db: Database, run_id: str, mode: str, trigger: str,
                        now: datetime) -> None:
    """Insert a ``running`` run; :class:`RunLocked` if one is already running."""
    try:
        db.execute(
            "INSERT INTO emergency_runs (run_id, started_at, mode, trigger) "
            "VALUES (?, ?, ?, ?)", (run_id, _ts(now), mode, trigger))
    except StoreError as exc:
        if "unique" in str(exc).lower():
            raise RunLocked("an emergency rebalancing run is already running") from exc
        raise


def close_interrupted_emergency_runs(db: Database, now: datetime) -> int:
    """Close the ``running`` run a stopped process left (the lock would otherwise hold
    for good): outcome ``failed``, noted as interrupted. Only at start-up, before any
    actor runs, while the pid file guarantees no other process; returns how many."""
    return db.execute(
        "UPDATE emergency_runs SET outcome = 'failed', finished_at = ?, notes = "
        "'interrupted: the daemon stopped during this run; its orders are followed by "
        "the order journal and the next run repairs what is still short' "
        "WHERE outcome = 'running'", (_ts(now),))


def finish_emergency_run(db: Database, run_id: str, outcome: str,
                         initial: dict[str, Decimal], final: dict[str, Decimal],
                         actions: list[dict[str, Any]], notes: str,
                         now: datetime) -> None:
    """Close a run with what it found, planned and did."""
    def enc(value: Any) -> str:
        return json.dumps(value, default=lambda v: decimal_to_str(v)
                          if isinstance(v, Decimal) else str(v), sort_keys=True)
    db.execute(
        "UPDATE emergency_runs SET finished_at = ?, outcome = ?, initial_shortfalls_json = ?, "
        "final_shortfalls_json = ?, actions_json = ?, notes = ? WHERE run_id = ?",
        (_ts(now), outcome, enc(initial), enc(final), enc(actions), notes, run_id))


def list_emergency_runs(db: Database, limit: int = 20) -> list[dict[str, Any]]:
    """The newest runs with their decoded JSON columns."""
    rows = db.fetch_all(
        "SELECT * FROM emergency_runs ORDER BY started_at DESC, rowid DESC LIMIT ?", (limit,))
    return [{"run_id": r["run_id"], "started_at": r["started_at"],
             "finished_at": r["finished_at"], "mode": r["mode"], "trigger": r["trigger"],
             "outcome": r["outcome"],
             "initial_shortfalls": json.loads(r["initial_shortfalls_json"]),
             "final_shortfalls": json.loads(r["final_shortfalls_json"]),
             "actions": json.loads(r["actions_json"]), "notes": r["notes"]} for r in rows]


def prune_emergency_runs(db: Database, before: datetime) -> int:
    """Delete finished runs started before ``before`` that no emergency recommendation
    names (a lasting thin balance records a run every sync cycle); returns how many."""
    return db.execute(
        "DELETE FROM emergency_runs WHERE outcome != 'running' AND started_at < ? AND "
        "run_id NOT IN (SELECT run_id FROM emergency_recommendations)", (_ts(before),))
