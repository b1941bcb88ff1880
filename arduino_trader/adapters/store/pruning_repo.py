"""Universe pruning in the store: score samples, candidates, and applying decisions."""

from __future__ import annotations

import json
from collections import defaultdict
from datetime import UTC, date, datetime, timedelta
from typing import Any

from arduino_trader.domain.universe_pruning import PruningCandidate, PruningDecision
from arduino_trader.protocols.store import Database


def sample_rows(isins_scores: list[tuple[str, float]], now: datetime) -> list[tuple[Any, ...]]:
    """``score_history`` rows for a scoring run at ``now`` (one sample per day)."""
    day = now.astimezone(UTC).date().isoformat()
    return [(isin, day, float(score)) for isin, score in isins_scores]


SAMPLE_UPSERT = ("INSERT INTO score_history (isin, day, total_score) VALUES (?, ?, ?) "
                 "ON CONFLICT (isin, day) DO UPDATE SET total_score = excluded.total_score")


def candidates(db: Database, today: date, months: int) -> list[PruningCandidate]:
    """Every active security with its score samples of the last ``months`` months."""
    since = (today - timedelta(days=30 * months)).isoformat()
    samples: dict[str, list[float]] = defaultdict(list)
    for row in db.fetch_all("SELECT isin, total_score FROM score_history "
                            "WHERE day >= ? ORDER BY day", (since,)):
        samples[row["isin"]].append(float(row["total_score"]))
    rows = db.fetch_all(
        "SELECT s.isin, s.symbol, s.created_at, "
        "(SELECT MAX(day) FROM price_history p WHERE p.isin = s.isin) AS last_day, "
        "EXISTS (SELECT 1 FROM portfolio_positions h WHERE h.isin = s.isin) AS held "
        "FROM securities s WHERE s.active = 1 ORDER BY s.symbol")
    return [PruningCandidate(
        r["isin"], r["symbol"], bool(r["held"]), tuple(samples.get(r["isin"], ())),
        date.fromisoformat(r["last_day"]) if r["last_day"] else None,
        datetime.fromtimestamp(int(r["created_at"]), UTC).date()) for r in rows]


def apply(db: Database, decisions: list[PruningDecision],
          now: datetime) -> list[tuple[str, str]]:
    """Deactivate (never delete) or flag, with an audit row each, in one transaction;
    returns ``(symbol, action)`` as applied.

    A security held by the time this runs is flagged, never deactivated. The flags are
    replaced by this run's: a security no longer below the rules is no longer flagged."""
    at = int(now.timestamp())
    done: list[tuple[str, str]] = []
    with db.transaction() as tx:
        tx.execute("DELETE FROM universe_flags")  # the flags are this run's findings
        for d in decisions:
            held = tx.fetch_one("SELECT 1 FROM portfolio_positions WHERE isin = ?",
                                (d.isin,))
            action = "flag" if held is not None else d.action
            if action == "deactivate":
                tx.execute("UPDATE securities SET active = 0, updated_at = ? "
                           "WHERE isin = ? AND active = 1", (at, d.isin))
            else:
                tx.execute(
                    "INSERT INTO universe_flags (isin, symbol, reason, flagged_at) "
                    "VALUES (?, ?, ?, ?) ON CONFLICT (isin) DO UPDATE SET "
                    "reason = excluded.reason, flagged_at = excluded.flagged_at",
                    (d.isin, d.symbol, d.reason, at))
            tx.execute(
                "INSERT INTO audit_log (at, actor, action, detail) VALUES (?, ?, ?, ?)",
                (at, "maintenance", f"universe_pruning_{action}",
                 json.dumps({"isin": d.isin, "symbol": d.symbol, "reason": d.reason})))
            done.append((d.symbol, action))
    return done


def flags(db: Database) -> list[dict[str, Any]]:
    """Held securities the pruning would have deactivated, newest first."""
    rows = db.fetch_all("SELECT * FROM universe_flags ORDER BY flagged_at DESC, symbol")
    return [{"isin": r["isin"], "symbol": r["symbol"], "reason": r["reason"],
             "flagged_at": datetime.fromtimestamp(int(r["flagged_at"]), UTC).isoformat()}
            for r in rows]
