"""The market regime per day (migration 0320): written once a day by the planner's input
gathering, read back as the previous day's score (the smoothing needs it across restarts)
and by ``GET /api/planner/regime``."""

from __future__ import annotations

import json
import sqlite3
from datetime import UTC, date, datetime
from typing import Any

from arduino_trader.domain.regime import RegimeScore
from arduino_trader.protocols.store import Database


def write_regime(db: Database, day: date, regime: RegimeScore, now: datetime) -> None:
    """Store (or replace) ``day``'s regime."""
    with db.transaction() as tx:
        tx.execute(
            "INSERT INTO market_regime (day, score, raw, label, ret_component, vol_component, "
            "dd_component, bear_override, indices, computed_at) VALUES "
            "(?, ?, ?, ?, ?, ?, ?, ?, ?, ?) ON CONFLICT (day) DO UPDATE SET "
            "score = excluded.score, raw = excluded.raw, label = excluded.label, "
            "ret_component = excluded.ret_component, vol_component = excluded.vol_component, "
            "dd_component = excluded.dd_component, bear_override = excluded.bear_override, "
            "indices = excluded.indices, computed_at = excluded.computed_at",
            (day.isoformat(), regime.score, regime.raw, regime.label, regime.ret_component,
             regime.vol_component, regime.dd_component, int(regime.bear_override),
             json.dumps(list(regime.indices_used)), int(now.timestamp())))


def score_before(db: Database, day: date) -> float | None:
    """The smoothed score of the last day before ``day`` (None when there is none)."""
    row = db.fetch_one("SELECT score FROM market_regime WHERE day < ? "
                       "ORDER BY day DESC LIMIT 1", (day.isoformat(),))
    return None if row is None else float(row["score"])


def _row(r: sqlite3.Row) -> dict[str, Any]:
    return {"day": r["day"], "score": r["score"], "raw": r["raw"], "label": r["label"],
            "components": {"return": r["ret_component"], "volatility": r["vol_component"],
                           "drawdown": r["dd_component"]},
            "bear_override": bool(r["bear_override"]), "indices": json.loads(r["indices"]),
            "computed_at": datetime.fromtimestamp(int(r["computed_at"]), UTC).isoformat()}


def recent_regimes(db: Database, limit: int = 30) -> list[dict[str, Any]]:
    """The last ``limit`` days' regimes, newest first."""
    rows = db.fetch_all("SELECT * FROM market_regime ORDER BY day DESC LIMIT ?",
                        (limit,))
    return [_row(r) for r in rows]


__all__ = ["recent_regimes", "score_before", "write_regime"]
