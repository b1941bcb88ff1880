"""Store access for the market-data tables (migration 0200): securities, the one price
history table, latest prices, quarantine, fundamentals/analyst documents, FX rates.

Synchronous, on the caller's thread; every bulk write is one transaction with ``executemany``.
"""

from __future__ import annotations

import functools
import json
import sqlite3
from collections.abc import Iterable, Mapping, Sequence
from datetime import UTC, date, datetime
from decimal import Decimal
from typing import Any

from arduino_trader.domain.price_validation import Quarantined
from arduino_trader.protocols.market_data import FxRate, MonthlyPrice, PriceBar, Quote
from arduino_trader.protocols.money import decimal_to_str
from arduino_trader.protocols.store import Database

from .history_splits import Rescale, rescale_before
from .market_stats import history_stats as history_stats
from .market_stats import universe_counts as universe_counts

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
HISTORY_CHANGES_KEPT = 200_000  # change-log rows kept (migration 0210)


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


# ------------------------------------------------------------------ securities
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


# -------------------------------------------------------------------- history
def last_history_days(db: Database) -> dict[str, date]:
    """Newest stored day per ISIN."""
    rows = db.fetch_all(  # one index probe per security, not a scan of the history
        "SELECT s.isin AS isin, (SELECT MAX(p.day) FROM price_history p "
        "WHERE p.isin = s.isin) AS last FROM securities s")
    return {r["isin"]: date.fromisoformat(r["last"]) for r in rows if r["last"]}


def recent_closes(db: Database, isin: str, limit: int = 30) -> list[float]:
    """Up to ``limit`` newest accepted closes, oldest first."""
    rows = db.fetch_all(
        "SELECT close FROM price_history WHERE isin = ? ORDER BY day DESC LIMIT ?",
        (isin, limit))
    return [float(r["close"]) for r in reversed(rows)]


def recent_closes_many(db: Database, isins: Sequence[str],
                       limit: int = 30) -> dict[str, list[float]]:
    """:func:`recent_closes` of many ISINs in one query."""
    out: dict[str, list[float]] = {i: [] for i in isins}
    if not isins:
        return out
    one = ("SELECT * FROM (SELECT isin, day, close FROM price_history WHERE isin = ? "
           "ORDER BY day DESC LIMIT ?)")  # an index probe per ISIN, one round trip
    rows: list[Any] = []
    for k in range(0, len(isins), 200):  # SQLite allows 500 terms per compound select
        chunk = isins[k:k + 200]
        rows += db.fetch_all(" UNION ALL ".join(one for _ in chunk),
                             tuple(x for i in chunk for x in (i, limit)))
    for r in sorted(rows, key=lambda r: (r[0], r[1])):
        out[r[0]].append(float(r[2]))
    return out


def closes_before(db: Database, isin: str, day: date,
                  limit: int = 30) -> list[tuple[date, float]]:
    """Up to ``limit`` newest ``(day, close)`` of days before ``day``, oldest first."""
    rows = db.fetch_all(
        "SELECT day, close FROM price_history WHERE isin = ? AND day < ? ORDER BY day DESC "
        "LIMIT ?", (isin, day.isoformat(), limit))
    return [(date.fromisoformat(r[0]), float(r[1])) for r in reversed(rows)]


def write_history(db: Database,
                  series: Mapping[str, tuple[Sequence[PriceBar], Sequence[Quarantined]]],
                  source: str, now: datetime,
                  rescale: Mapping[str, Rescale] | None = None) -> int:
    """Upsert accepted bars and record quarantined ones for many ISINs, one transaction;
    first rescale older bars after a split (``rescale``: ISIN → (factor, splits), see
    ``history_splits``). Returns the number of bars written."""
    bars_rows: list[tuple[Any, ...]] = []
    q_rows: list[tuple[Any, ...]] = []
    for isin, (bars, quarantined) in series.items():
        bars_rows.extend((isin, b.day.isoformat(), b.open, b.high, b.low, b.close, b.adj_close,
                          b.volume, source) for b in bars)
        q_rows.extend((isin, q.day.isoformat(), q.close, q.reason, q.detail, source, _ts(now))
                      for q in quarantined)
    with db.transaction() as tx:
        for isin, (factor, splits) in (rescale or {}).items():
            rescale_before(tx, isin, factor, splits)
        if bars_rows:
            tx.executemany(
                "INSERT INTO price_history (isin, day, open, high, low, close, adj_close, "
                "volume, source) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?) "
                "ON CONFLICT (isin, day) DO UPDATE SET open = excluded.open, "
                "high = excluded.high, low = excluded.low, close = excluded.close, "
                "adj_close = excluded.adj_close, volume = excluded.volume, "
                "source = excluded.source", bars_rows)
        if q_rows:
            tx.executemany(
                "INSERT OR IGNORE INTO price_quarantine (isin, day, close, reason, detail, "
                "source, detected_at) VALUES (?, ?, ?, ?, ?, ?, ?)", q_rows)
        if bars_rows:  # the change log (triggers of migration 0210) stays bounded
            tx.execute(
                "DELETE FROM history_change_log WHERE seq <= "
                "(SELECT COALESCE(MAX(seq), 0) FROM history_change_log) - ?",
                (HISTORY_CHANGES_KEPT,))
    return len(bars_rows)


def read_history(db: Database, isin: str, start: date | None = None,
                 end: date | None = None) -> list[PriceBar]:
    """Stored daily bars of one ISIN, oldest first."""
    rows = db.fetch_all(
        "SELECT day, open, high, low, close, adj_close, volume FROM price_history "
        "WHERE isin = ? AND day >= ? AND day <= ? ORDER BY day",
        (isin, (start or date.min).isoformat(), (end or date.max).isoformat()))
    return [PriceBar(date.fromisoformat(r["day"]), r["close"], r["open"], r["high"], r["low"],
                     r["adj_close"], r["volume"]) for r in rows]


def read_closes(db: Database, isin: str, start: date,
                end: date) -> list[tuple[date, float]]:
    """``(day, close)`` of one ISIN within ``[start, end]``, oldest first (the light read
    of the planner's history cache)."""
    rows = db.fetch_all(
        "SELECT day, close FROM price_history WHERE isin = ? AND day >= ? AND day <= ? "
        "ORDER BY day", (isin, start.isoformat(), end.isoformat()))
    return [(date.fromisoformat(r[0]), float(r[1])) for r in rows]


def read_closes_many(db: Database, isins: Sequence[str], start: date,
                     end: date) -> dict[str, list[tuple[date, float]]]:
    """:func:`read_closes` of many ISINs in one query."""
    out: dict[str, list[tuple[date, float]]] = {i: [] for i in isins}
    if not isins:
        return out
    marks = ", ".join("?" for _ in isins)
    rows = db.fetch_all(
        f"SELECT isin, day, close FROM price_history WHERE isin IN ({marks}) "  # noqa: S608
        "AND day >= ? AND day <= ? ORDER BY isin, day",
        (*isins, start.isoformat(), end.isoformat()))
    for r in rows:
        out[r[0]].append((date.fromisoformat(r[1]), float(r[2])))
    return out


def history_changes(db: Database, since: int) -> tuple[int, int, dict[str, date]]:
    """``(newest seq, oldest seq kept, {isin: earliest changed day})`` of the history
    change log (migration 0210) after sequence number ``since``."""
    # One subquery per bound: each is a rowid lookup; MAX and MIN in one SELECT scan the
    # whole log (up to HISTORY_CHANGES_KEPT rows, ~4 ms).
    bounds = db.fetch_one(
        "SELECT COALESCE((SELECT MAX(seq) FROM history_change_log), 0) AS hi, "
        "COALESCE((SELECT MIN(seq) FROM history_change_log), 0) AS lo")
    hi, lo = (int(bounds["hi"]), int(bounds["lo"])) if bounds else (0, 0)
    if hi <= since:
        return hi, lo, {}
    rows = db.fetch_all(
        "SELECT isin, MIN(day) AS first FROM history_change_log WHERE seq > ? "
        "GROUP BY isin", (since,))
    return hi, lo, {r["isin"]: date.fromisoformat(r["first"]) for r in rows}


def monthly_prices(db: Database, isin: str) -> list[MonthlyPrice]:
    """Mean close and mean adjusted close per ``YYYY-MM`` (derived from the daily table)."""
    rows = db.fetch_all(
        "SELECT substr(day, 1, 7) AS month, AVG(close) AS c, AVG(COALESCE(adj_close, close)) "
        "AS a FROM price_history WHERE isin = ? GROUP BY month ORDER BY month", (isin,))
    return [MonthlyPrice(r["month"], float(r["c"]), float(r["a"])) for r in rows]


def quarantine_list(db: Database, isin: str | None = None,
                    limit: int = 200) -> list[dict[str, Any]]:
    """Recent quarantined prices (newest first)."""
    rows = db.fetch_all(
        "SELECT isin, day, close, reason, detail, source, detected_at FROM price_quarantine "
        "WHERE (? IS NULL OR isin = ?) ORDER BY detected_at DESC, day DESC LIMIT ?",
        (isin, isin, limit))
    return [dict(r) for r in rows]


# ------------------------------------------------------------------- latest prices
def write_quotes(db: Database, quotes: Mapping[str, Quote], now: datetime) -> None:
    """Upsert the latest accepted quote of each ISIN (one transaction)."""
    rows = [(isin, q.price, q.currency, _ts(q.as_of), _ts(now), q.source)
            for isin, q in quotes.items()]
    if not rows:
        return
    with db.transaction() as tx:
        tx.executemany(
            "INSERT INTO latest_prices (isin, price, currency, as_of, fetched_at, source) "
            "VALUES (?, ?, ?, ?, ?, ?) ON CONFLICT (isin) DO UPDATE SET price = excluded.price,"
            " currency = excluded.currency, as_of = excluded.as_of, "
            "fetched_at = excluded.fetched_at, source = excluded.source", rows)


def read_quotes(db: Database) -> dict[str, Quote]:
    """Every stored latest price by ISIN."""
    rows = db.fetch_all("SELECT isin, price, currency, as_of, source FROM latest_prices")
    return {r["isin"]: Quote(r["isin"], float(r["price"]), r["currency"],
                             datetime.fromtimestamp(int(r["as_of"]), UTC), r["source"])
            for r in rows}


# ------------------------------------------------------------- fundamentals / analyst
def write_security_data(db: Database, isin: str, kind: str, data: Mapping[str, Any],
                        as_of: datetime) -> None:
    """Store the latest fundamentals or analyst document of one ISIN."""
    db.execute(
        "INSERT INTO security_data (isin, kind, data, as_of) VALUES (?, ?, ?, ?) "
        "ON CONFLICT (isin, kind) DO UPDATE SET data = excluded.data, as_of = excluded.as_of",
        (isin, kind, json.dumps(dict(data), sort_keys=True), _ts(as_of)))


def read_security_data(db: Database, isin: str) -> dict[str, Any]:
    """``{kind: {"data": ..., "as_of": iso}}`` for one ISIN."""
    rows = db.fetch_all("SELECT kind, data, as_of FROM security_data WHERE isin = ?",
                        (isin,))
    out: dict[str, Any] = {}
    for r in rows:
        moment = _dt(r["as_of"])
        out[r["kind"]] = {"data": json.loads(r["data"]),
                          "as_of": moment.isoformat() if moment else None}
    return out


def read_security_data_many(db: Database, isins: Sequence[str]
                            ) -> dict[str, dict[str, Any]]:
    """:func:`read_security_data` of many ISINs in one query (missing ones: ``{}``)."""
    out: dict[str, dict[str, Any]] = {i: {} for i in isins}
    if not isins:
        return out
    marks = ", ".join("?" for _ in isins)
    rows = db.fetch_all(
        f"SELECT isin, kind, data, as_of FROM security_data WHERE isin IN ({marks})",  # noqa: S608
        tuple(isins))
    for r in rows:
        moment = _dt(r["as_of"])
        out[r["isin"]][r["kind"]] = {"data": json.loads(r["data"]),
                                     "as_of": moment.isoformat() if moment else None}
    return out


# ------------------------------------------------------------------------------ FX
def write_fx(db: Database, rates: Iterable[FxRate], now: datetime) -> None:
    """Store FX rates with their day and source (exact text)."""
    rows = [(r.currency, r.day.isoformat(), decimal_to_str(r.eur_per), r.source, _ts(now))
            for r in rates]
    if rows:
        with db.transaction() as tx:
            tx.executemany(
                "INSERT INTO fx_rates (currency, day, eur_per, source, fetched_at) "
                "VALUES (?, ?, ?, ?, ?) ON CONFLICT (currency, day, source) DO UPDATE SET "
                "eur_per = excluded.eur_per, fetched_at = excluded.fetched_at", rows)


def read_fx(db: Database, currency: str, on: date | None = None) -> FxRate | None:
    """The newest stored rate of ``currency`` on or before ``on`` (any source)."""
    row = db.fetch_one(
        "SELECT currency, day, eur_per, source, fetched_at FROM fx_rates "
        "WHERE currency = ? AND day <= ? ORDER BY day DESC, fetched_at DESC LIMIT 1",
        (currency, (on or date.max).isoformat()))
    if row is None:
        return None
    return FxRate(row["currency"], Decimal(row["eur_per"]), date.fromisoformat(row["day"]),
                  datetime.fromtimestamp(int(row["fetched_at"]), UTC), row["source"])
