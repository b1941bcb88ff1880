"""Security discovery in the store: what is already known, the month's count, the
candidates added or proposed, and the owner's approve / reject."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Any

from arduino_trader.domain.discovery import Decision
from arduino_trader.protocols.store import Database

STATUSES = ("pending", "added", "approved", "rejected")


def month_of(now: datetime) -> str:
    """The ``YYYY-MM`` (UTC) a run at ``now`` counts against."""
    return now.astimezone(UTC).strftime("%Y-%m")


def known_isins(db: Database) -> set[str]:
    """Every ISIN of the universe (active or not) or ever added / proposed: never again
    a candidate (a deactivated or rejected security is not proposed back)."""
    rows = db.fetch_all("SELECT isin FROM securities UNION "
                        "SELECT isin FROM discovery_candidates")
    return {str(r["isin"]) for r in rows}


def known_symbols(db: Database) -> set[str]:
    """The tickers of :func:`known_isins` (a screen's ticker needs no lookup then)."""
    rows = db.fetch_all("SELECT symbol FROM securities UNION "
                        "SELECT symbol FROM discovery_candidates")
    return {str(r["symbol"]).upper() for r in rows}


def used_in_month(db: Database, month: str) -> int:
    """Candidates added, approved or still pending that count against ``month``."""
    row = db.fetch_one(
        "SELECT COUNT(*) AS n FROM discovery_candidates WHERE month = ? AND status IN "
        "('pending', 'added', 'approved')", (month,))
    return int(row["n"]) if row is not None else 0


def record(db: Database, decision: Decision, status: str, detail: dict[str, Any],
           now: datetime) -> bool:
    """Store one added (``added``) or proposed (``pending``) candidate with its audit
    row, in one transaction; False when the ISIN was already recorded."""
    if status not in ("pending", "added"):
        raise ValueError(f"a discovery records 'pending' or 'added', not {status!r}")
    c = decision.candidate
    at = int(now.timestamp())
    with db.transaction() as tx:
        inserted = tx.execute(
            "INSERT INTO discovery_candidates (isin, symbol, name, currency, country, "
            "region, exchange, source, score, status, month, proposed_at, decided_at, "
            "detail) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?) "
            "ON CONFLICT (isin) DO NOTHING",
            (c.isin, c.symbol, c.name, c.currency, c.country, c.region, c.exchange or "",
             c.source, float(decision.score), status, month_of(now), at,
             at if status == "added" else None, json.dumps(detail, sort_keys=True)))
        if not _changed(inserted):
            return False
        tx.execute("INSERT INTO audit_log (at, actor, action, detail) VALUES "
                   "(?, ?, ?, ?)", (at, "maintenance", f"security_discovery_{status}",
                                    json.dumps({"isin": c.isin, "symbol": c.symbol,
                                                "score": decision.score})))
    return True


def _changed(result: Any) -> bool:
    count = getattr(result, "rowcount", result)
    return isinstance(count, int) and count > 0


def candidates(db: Database, status: str | None = None) -> list[dict[str, Any]]:
    """The recorded candidates (one status, or all), newest first."""
    rows = db.fetch_all("SELECT * FROM discovery_candidates WHERE ? IS NULL OR "
                        "status = ? ORDER BY proposed_at DESC, score DESC, symbol",
                        (status, status))
    return [_public(r) for r in rows]


def candidate(db: Database, isin: str) -> dict[str, Any] | None:
    """One recorded candidate, or None."""
    row = db.fetch_one("SELECT * FROM discovery_candidates WHERE isin = ?", (isin,))
    return None if row is None else _public(row)


def decide_pending(db: Database, isin: str, status: str, now: datetime,
                   reason: str | None = None) -> bool:
    """Mark a pending candidate ``approved`` or ``rejected`` (with an audit row), in one
    transaction; False when it is not pending (then nothing changes)."""
    if status not in ("approved", "rejected"):
        raise ValueError(f"a pending candidate becomes approved or rejected, not {status!r}")
    at = int(now.timestamp())
    with db.transaction() as tx:
        changed = tx.execute(
            "UPDATE discovery_candidates SET status = ?, decided_at = ?, "
            "detail = json_set(detail, '$.reason', ?) WHERE isin = ? AND status = 'pending'",
            (status, at, reason, isin))
        if not _changed(changed):
            return False
        tx.execute("INSERT INTO audit_log (at, actor, action, detail) VALUES "
                   "(?, ?, ?, ?)", (at, "api", f"security_discovery_{status}",
                                    json.dumps({"isin": isin, "reason": reason})))
    return True


def _public(row: Any) -> dict[str, Any]:
    def when(value: Any) -> str | None:
        return None if value is None else datetime.fromtimestamp(int(value), UTC).isoformat()

    return {"isin": row["isin"], "symbol": row["symbol"], "name": row["name"],
            "currency": row["currency"], "country": row["country"], "region": row["region"],
            "exchange": row["exchange"], "source": row["source"],
            "score": round(float(row["score"]), 3), "status": row["status"],
            "month": row["month"], "proposed_at": when(row["proposed_at"]),
            "decided_at": when(row["decided_at"]), "detail": json.loads(row["detail"])}
