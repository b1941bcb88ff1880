"""Concentration alerts in force and their acknowledgement (migration 0530).

A check replaces the stored alerts in one transaction and returns only the changes of
level, so the caller announces each change once; a new level clears the acknowledgement.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Any

from arduino_trader.domain.allocation import ConcentrationAlert
from arduino_trader.domain.concentration_watch import Transition, level_of, transitions
from arduino_trader.protocols.money import decimal_to_str
from arduino_trader.protocols.store import Database


def _ts(moment: datetime) -> int:
    return int(moment.timestamp())


def _iso(seconds: int | None) -> str | None:
    return None if seconds is None else datetime.fromtimestamp(seconds, UTC).isoformat()


def record_check(db: Database, alerts: Sequence[ConcentrationAlert],
                 now: datetime) -> list[Transition]:
    """Store the alerts of one check; returns the alerts whose level changed."""
    with db.transaction() as tx:
        rows = tx.fetch_all("SELECT type, name, level FROM concentration_alerts")
        changes = transitions({(r["type"], r["name"]): int(r["level"]) for r in rows}, alerts)
        changed = {t.key for t in changes}
        for alert in alerts:
            values = (alert.severity, decimal_to_str(alert.current_pct),
                      decimal_to_str(alert.limit_pct),
                      decimal_to_str(alert.alert_threshold_pct), _ts(now))
            if (alert.type, alert.name) in changed:
                tx.execute(
                    "INSERT OR REPLACE INTO concentration_alerts (type, name, level, "
                    "severity, current_pct, limit_pct, alert_threshold_pct, checked_at, "
                    "raised_at, acknowledged_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, NULL)",
                    (alert.type, alert.name, level_of(alert), *values, _ts(now)))
            else:
                tx.execute(
                    "UPDATE concentration_alerts SET severity = ?, current_pct = ?, "
                    "limit_pct = ?, alert_threshold_pct = ?, checked_at = ? "
                    "WHERE type = ? AND name = ?", (*values, alert.type, alert.name))
        for t in changes:
            if t.alert is None:
                tx.execute("DELETE FROM concentration_alerts WHERE type = ? AND name = ?",
                           t.key)
    return changes


def _row(r: Any) -> dict[str, Any]:
    return {"type": r["type"], "name": r["name"], "level": int(r["level"]),
            "severity": r["severity"], "needs_action": int(r["level"]) == 3,
            "current_pct": r["current_pct"], "limit_pct": r["limit_pct"],
            "alert_threshold_pct": r["alert_threshold_pct"], "raised_at": _iso(r["raised_at"]),
            "checked_at": _iso(r["checked_at"]), "acknowledged": r["acknowledged_at"] is not None,
            "acknowledged_at": _iso(r["acknowledged_at"])}


def list_alerts(db: Database) -> list[dict[str, Any]]:
    """Every alert in force, most serious first."""
    rows = db.fetch_all("SELECT * FROM concentration_alerts "
                        "ORDER BY level DESC, type, name")
    return [_row(r) for r in rows]


def acknowledge(db: Database, kind: str, name: str,
                now: datetime) -> dict[str, Any] | None:
    """Mark one alert acknowledged (until its level changes); None if not in force."""
    with db.transaction() as tx:
        tx.execute("UPDATE concentration_alerts SET acknowledged_at = ? "
                   "WHERE type = ? AND name = ? AND acknowledged_at IS NULL",
                   (_ts(now), kind, name))
        row = tx.fetch_one("SELECT * FROM concentration_alerts "
                           "WHERE type = ? AND name = ?", (kind, name))
    return _row(row) if row is not None else None
