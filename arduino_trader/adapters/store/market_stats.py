"""Counts over the market-data tables (status and security detail reads)."""

from __future__ import annotations

from typing import Any

from arduino_trader.protocols.store import Database


def universe_counts(db: Database) -> dict[str, int]:
    """Securities total/active and history rows."""
    row = db.fetch_one(
        "SELECT (SELECT COUNT(*) FROM securities) AS total, "
        "(SELECT COUNT(*) FROM securities WHERE active = 1) AS active, "
        "(SELECT COUNT(*) FROM price_history) AS history_rows, "
        "(SELECT COUNT(*) FROM price_quarantine) AS quarantined")
    return {k: int(row[k]) for k in ("total", "active", "history_rows", "quarantined")} \
        if row else {}


def history_stats(db: Database, isin: str) -> dict[str, Any]:
    """Row count and first/last day of one ISIN's history."""
    row = db.fetch_one(
        "SELECT COUNT(*) AS n, MIN(day) AS first, MAX(day) AS last FROM price_history "
        "WHERE isin = ?", (isin,))
    return {"daily_rows": int(row["n"]) if row else 0,
            "first_day": row["first"] if row else None, "last_day": row["last"] if row else None}
