"""Security scores (migration 0310): one row per security, upserted
in one transaction per scoring run."""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Iterable
from datetime import UTC, datetime
from typing import Any

from arduino_trader.domain.scoring.scorers import SecurityScore
from arduino_trader.protocols.store import Database

from . import pruning_repo

GROUPS: tuple[str, ...] = ("long_term", "fundamentals", "opportunity", "dividends",
                           "short_term", "technicals", "opinion", "diversification")
_COLUMNS = ("isin", "symbol", "total_score", "quality_score",
            *(f"{g}_score" for g in GROUPS), "volatility", "breakdown_json", "source",
            "calculated_at")
# Built from the fixed column names above only (no input reaches the SQL text).
_UPSERT = (f"INSERT INTO scores ({', '.join(_COLUMNS)}) "  # noqa: S608
           f"VALUES ({', '.join('?' * len(_COLUMNS))}) ON CONFLICT (isin) DO UPDATE SET "
           + ", ".join(f"{c} = excluded.{c}" for c in _COLUMNS[1:]))


def write_scores(db: Database, scores: Iterable[tuple[str, SecurityScore]],
                 source: str, now: datetime) -> int:
    """Upsert ``(isin, score)`` rows and the day's score samples (read by the universe
    pruning); returns how many were written."""
    rows = []
    scores_list = list(scores)
    for isin, sc in scores_list:
        groups = [sc.groups[g].score if g in sc.groups else None for g in GROUPS]
        rows.append((isin, sc.symbol, sc.total, round(sc.quality, 4), *groups, sc.volatility,
                     json.dumps(sc.explain(), default=str), source, int(now.timestamp())))
    if not rows:
        return 0
    samples = pruning_repo.sample_rows([(isin, sc.total) for isin, sc in scores_list], now)
    with db.transaction() as tx:
        tx.executemany(
            _UPSERT, rows)
        tx.executemany(pruning_repo.SAMPLE_UPSERT, samples)
    return len(rows)


def _row(r: sqlite3.Row, explained: bool) -> dict[str, Any]:
    out: dict[str, Any] = {
        "isin": r["isin"], "symbol": r["symbol"], "total_score": r["total_score"],
        "quality_score": r["quality_score"], "volatility": r["volatility"],
        "group_scores": {g: r[f"{g}_score"] for g in GROUPS}, "source": r["source"],
        "calculated_at": datetime.fromtimestamp(int(r["calculated_at"]), UTC).isoformat()}
    if explained:
        out["breakdown"] = json.loads(r["breakdown_json"])
    return out


def read_scores(db: Database) -> list[dict[str, Any]]:
    """Every stored score, best first (group scores, no components)."""
    rows = db.fetch_all("SELECT * FROM scores ORDER BY total_score DESC, symbol")
    return [_row(r, False) for r in rows]


def read_score(db: Database, isin: str) -> dict[str, Any] | None:
    """One security's score with its explained components, or None."""
    row = db.fetch_one("SELECT * FROM scores WHERE isin = ?", (isin,))
    return None if row is None else _row(row, True)


__all__ = ["GROUPS", "read_score", "read_scores", "write_scores"]
