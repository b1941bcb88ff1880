"""Store access for the securities table (migration 0200): the investable universe,
its editable facts and when each security was last processed."""

from __future__ import annotations

import functools
import sqlite3
from collections.abc import Iterable, Mapping, Sequence
from datetime import UTC, datetime
from typing import Any

from arduino_trader.protocols.store import Database

SECURITY_COLUMNS = (
    "isin", "symbol", "yahoo_symbol", "name", "product_type", "country", "industry",
    "exchange", "mic", "market_code", "currency", "min_lot", "priority_multiplier",
    "allow_buy", "allow_sell", "active", "min_portfolio_target", "max_portfolio_target",
    "source", "last_synced", "created_at", "updated_at",
)
EDITABLE_COLUMNS = frozenset({
    "name", "yahoo_symbol", "product_type", "country", "industry", "exchange", "mic",
    "market_code", "min_lot", "priority_multiplier", "allow_buy", "allow_sell", "active",
    "min_portfolio_target", "max_portfolio_target",
})
_BOOL_COLUMNS = ("allow_buy", "allow_sell", "active")


class DuplicateSecurity(ValueError):
    """The ISIN or the symbol is already in the universe."""


def _ts(moment: datetime) -> int:
    return int(moment.timestamp())


def _dt(seconds: int | None) -> datetime | None:
    return None if seconds is None else datetime.fromtimestamp(int(seconds), UTC)


@functools.lru_cache(maxsize=4096)
def _iso(seconds: int | None) -> str | None:
    """ISO text of a stored UNIX time (the same few times recur on every listing)."""
    moment = _dt(seconds)
    return moment.isoformat() if moment else None


def security_row(row: sqlite3.Row | Mapping[str, Any]) -> dict[str, Any]:
    """A securities row as a JSON-ready dict (bools, ISO times)."""
    if isinstance(row, sqlite3.Row):  # by name, a Row searches its columns each time
        row = dict(zip(row.keys(), row, strict=True))
    data = {k: row[k] for k in SECURITY_COLUMNS}
    for key in _BOOL_COLUMNS:
        data[key] = bool(data[key])
    for key in ("last_synced", "created_at", "updated_at"):
        data[key] = _iso(data[key])
    return data


def insert_security(db: Database, record: Mapping[str, Any], now: datetime) -> None:
    """Insert one security; :class:`DuplicateSecurity` when the ISIN or symbol exists."""
    existing = db.fetch_one(
        "SELECT isin, symbol FROM securities WHERE isin = ? OR symbol = ?",
        (record["isin"], record["symbol"]))
    if existing is not None:
        raise DuplicateSecurity(f"already in the universe: {existing['symbol']} "
                                f"({existing['isin']})")
    insert_securities(db, [record], now)


def insert_securities(db: Database, records: Iterable[Mapping[str, Any]],
                      now: datetime) -> int:
    """Insert securities not yet present (by ISIN or symbol); returns how many were new."""
    rows = []
    for rec in records:
        full = {**_DEFAULTS, **rec, "created_at": _ts(now), "updated_at": _ts(now)}
        full["last_synced"] = None
        rows.append(tuple(full[c] for c in SECURITY_COLUMNS))
    if not rows:
        return 0
    placeholders = ", ".join("?" for _ in SECURITY_COLUMNS)
    with db.transaction() as tx:
        before = tx.fetch_one("SELECT COUNT(*) AS n FROM securities")
        tx.executemany(
            f"INSERT OR IGNORE INTO securities ({', '.join(SECURITY_COLUMNS)}) "  # noqa: S608
            f"VALUES ({placeholders})", rows)
        after = tx.fetch_one("SELECT COUNT(*) AS n FROM securities")
    return int(after["n"] if after else 0) - int(before["n"] if before else 0)


_DEFAULTS: dict[str, Any] = {
    "yahoo_symbol": None, "product_type": "UNKNOWN", "country": None, "industry": None,
    "exchange": None, "mic": None, "market_code": None, "min_lot": 1,
    "priority_multiplier": 1.0, "allow_buy": 1, "allow_sell": 1, "active": 1,
    "min_portfolio_target": None, "max_portfolio_target": None, "source": "",
}


def get_security(db: Database, isin: str) -> dict[str, Any] | None:
    """One security by ISIN (active or not)."""
    row = db.fetch_one("SELECT * FROM securities WHERE isin = ?", (isin,))
    return security_row(row) if row is not None else None


def find_security(db: Database, identifier: str) -> dict[str, Any] | None:
    """One security by ISIN, broker symbol or Yahoo symbol."""
    row = db.fetch_one(
        "SELECT * FROM securities WHERE isin = ? OR symbol = ? OR yahoo_symbol = ? LIMIT 1",
        (identifier, identifier, identifier))
    return security_row(row) if row is not None else None


def list_securities(db: Database, *, active_only: bool = False) -> list[dict[str, Any]]:
    """Every security with its latest price (if any), ordered by symbol."""
    rows = db.fetch_all(
        "SELECT s.*, p.price AS last_price, p.as_of AS price_as_of, p.source AS price_source "
        "FROM securities s LEFT JOIN latest_prices p ON p.isin = s.isin "
        + ("WHERE s.active = 1 " if active_only else "") + "ORDER BY s.symbol")
    result = []
    for row in rows:
        item = security_row(row)
        item["last_price"] = row["last_price"]
        item["price_as_of"] = _iso(row["price_as_of"])
        result.append(item)
    return result


def update_security(db: Database, isin: str, fields: Mapping[str, Any],
                    now: datetime) -> int:
    """Update editable columns of one security; returns rows changed (0 = unknown)."""
    bad = set(fields) - EDITABLE_COLUMNS
    if bad:
        raise ValueError(f"not editable: {', '.join(sorted(bad))}")
    if not fields:
        return 0
    assignments = ", ".join(f"{k} = ?" for k in fields)
    return db.execute(
        f"UPDATE securities SET {assignments}, updated_at = ? WHERE isin = ?",  # noqa: S608
        (*fields.values(), _ts(now), isin))


def fill_missing(db: Database, isin: str, values: Mapping[str, Any],
                 now: datetime) -> None:
    """Set columns that are still NULL/empty (classification fills empty fields only)."""
    for key, value in values.items():
        if key not in EDITABLE_COLUMNS or value in (None, ""):
            continue
        db.execute(
            f"UPDATE securities SET {key} = ?, updated_at = ? "  # noqa: S608
            f"WHERE isin = ? AND ({key} IS NULL OR {key} = '' OR {key} = 'UNKNOWN')",
            (value, _ts(now), isin))


def set_last_synced(db: Database, isins: Sequence[str], now: datetime) -> None:
    """Mark securities processed at ``now``."""
    if isins:
        with db.transaction() as tx:
            tx.executemany("UPDATE securities SET last_synced = ? WHERE isin = ?",
                           [(_ts(now), i) for i in isins])


def securities_due(db: Database, older_than: datetime) -> list[dict[str, Any]]:
    """Active securities never synced or last synced before ``older_than``."""
    rows = db.fetch_all(
        "SELECT * FROM securities WHERE active = 1 AND (last_synced IS NULL "
        "OR last_synced < ?) ORDER BY symbol", (_ts(older_than),))
    return [security_row(r) for r in rows]


def has_securities(db: Database) -> bool:
    """True when the universe has any security (active or not); counts nothing."""
    row = db.fetch_one("SELECT EXISTS (SELECT 1 FROM securities) AS any_row")
    return bool(row and row["any_row"])
