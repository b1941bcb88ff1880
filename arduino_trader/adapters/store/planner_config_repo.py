"""Per-bucket planner configurations, versioned (who changed what when)."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Any

from arduino_trader.protocols.store import Database


def history(db: Database, bucket_id: str) -> list[dict[str, Any]]:
    """Every version of a bucket's configuration, newest first."""
    rows = db.fetch_all("SELECT * FROM planner_configs WHERE bucket_id = ? "
                        "ORDER BY version DESC", (bucket_id,))
    return [{"version": r["version"], "changed_by": r["changed_by"],
             "changed_at": datetime.fromtimestamp(int(r["changed_at"]), UTC).isoformat(),
             "settings": None if r["config_json"] is None else json.loads(r["config_json"])}
            for r in rows]


def current_all(db: Database) -> dict[str, tuple[int, dict[str, Any]]]:
    """Each bucket's configuration in force: ``bucket -> (version, settings)``."""
    rows = db.fetch_all(
        "SELECT c.bucket_id, c.version, c.config_json FROM planner_configs c "
        "WHERE c.version = (SELECT MAX(version) FROM planner_configs m "
        "WHERE m.bucket_id = c.bucket_id) AND c.config_json IS NOT NULL")
    return {r["bucket_id"]: (int(r["version"]), json.loads(r["config_json"])) for r in rows}


def record(db: Database, bucket_id: str, settings: dict[str, Any] | None,
           changed_by: str, now: datetime) -> int:
    """Append a version (None: deleted) in one transaction; returns its number."""
    with db.transaction() as tx:
        row = tx.fetch_one("SELECT COALESCE(MAX(version), 0) AS v FROM planner_configs "
                           "WHERE bucket_id = ?", (bucket_id,))
        version = int(row["v"] if row else 0) + 1
        tx.execute(
            "INSERT INTO planner_configs (bucket_id, version, config_json, changed_by, "
            "changed_at) VALUES (?, ?, ?, ?, ?)",
            (bucket_id, version, None if settings is None else json.dumps(settings,
                                                                          sort_keys=True),
             changed_by, int(now.timestamp())))
    return version
