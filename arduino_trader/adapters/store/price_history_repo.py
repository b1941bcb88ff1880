"""The price-history port on the SQLite store (migration 0200, change log 0210):
accepted bars, rescaled after a split, and the quarantined ones; every bulk write is one
transaction with ``executemany``. :class:`SqlitePriceHistory` is what actors use; the
admin API's read side uses the functions at the end."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import date, datetime
from typing import Any

from arduino_trader.protocols.market_data import MonthlyPrice, PriceBar
from arduino_trader.protocols.price_history import Changes, HistoryWrite, Rescale, Series
from arduino_trader.protocols.store import Database, Transaction

from .history_splits import rescale_before

HISTORY_CHANGES_KEPT = 200_000  # change-log rows kept (migration 0210)


def _ts(moment: datetime) -> int:
    return int(moment.timestamp())


class SqlitePriceHistory:
    """The price history on the SQLite store (see :class:`PriceHistoryStore`)."""

    def __init__(self, db: Database) -> None:
        self._db = db

    def last_history_days(self) -> dict[str, date]:
        """Newest stored day per ISIN."""
        rows = self._db.fetch_all(  # one index probe per security, not a history scan
            "SELECT s.isin AS isin, (SELECT MAX(p.day) FROM price_history p "
            "WHERE p.isin = s.isin) AS last FROM securities s")
        return {r["isin"]: date.fromisoformat(r["last"]) for r in rows if r["last"]}

    def read_history(self, isin: str, start: date | None = None,
                     end: date | None = None) -> list[PriceBar]:
        """Stored daily bars of one ISIN, oldest first."""
        return read_history(self._db, isin, start, end)

    def read_closes_many(self, isins: Sequence[str], start: date,
                         end: date) -> dict[str, list[tuple[date, float]]]:
        """``(day, close)`` of each ISIN within ``[start, end]``, oldest first (the light
        read of the planner's history cache), in one query."""
        out: dict[str, list[tuple[date, float]]] = {i: [] for i in isins}
        if not isins:
            return out
        marks = ", ".join("?" for _ in isins)
        rows = self._db.fetch_all(
            f"SELECT isin, day, close FROM price_history WHERE isin IN ({marks}) "  # noqa: S608
            "AND day >= ? AND day <= ? ORDER BY isin, day",
            (*isins, start.isoformat(), end.isoformat()))
        for r in rows:
            out[r[0]].append((date.fromisoformat(r[1]), float(r[2])))
        return out

    def recent_closes_many(self, isins: Sequence[str],
                           limit: int = 30) -> dict[str, list[float]]:
        """Up to ``limit`` newest closes of each ISIN, oldest first, in one query."""
        out: dict[str, list[float]] = {i: [] for i in isins}
        if not isins:
            return out
        one = ("SELECT * FROM (SELECT isin, day, close FROM price_history WHERE isin = ? "
               "ORDER BY day DESC LIMIT ?)")  # an index probe per ISIN, one round trip
        rows: list[Any] = []
        for k in range(0, len(isins), 200):  # SQLite allows 500 terms per compound select
            chunk = isins[k:k + 200]
            rows += self._db.fetch_all(" UNION ALL ".join(one for _ in chunk),
                                       tuple(x for i in chunk for x in (i, limit)))
        for r in sorted(rows, key=lambda r: (r[0], r[1])):
            out[r[0]].append(float(r[2]))
        return out

    def closes_before(self, isin: str, day: date,
                      limit: int = 30) -> list[tuple[date, float]]:
        """Up to ``limit`` newest ``(day, close)`` of days before ``day``, oldest first."""
        rows = self._db.fetch_all(
            "SELECT day, close FROM price_history WHERE isin = ? AND day < ? "
            "ORDER BY day DESC LIMIT ?", (isin, day.isoformat(), limit))
        return [(date.fromisoformat(r[0]), float(r[1])) for r in reversed(rows)]

    def history_changes(self, since: int) -> Changes:
        """The change log (migration 0210) after sequence number ``since``."""
        return _changes(self._db, since)

    def write_history(self, series: Series, source: str, now: datetime,
                      rescale: Mapping[str, Rescale] | None = None) -> int:
        """Upsert accepted bars and record quarantined ones for many ISINs, one
        transaction; first rescale older bars after a split (``rescale``: ISIN → (factor,
        splits), see ``history_splits``). Returns the number of bars written."""
        with self._db.transaction() as tx:
            return _write(tx, series, source, now, rescale)

    def write_history_seen(self, series: Series, source: str, now: datetime,
                           rescale: Mapping[str, Rescale] | None,
                           since: int) -> HistoryWrite:
        """:meth:`write_history`, with the change log read around the write (one
        transaction): for a writer that keeps what it wrote in memory, valid until
        another writer changes it."""
        with self._db.transaction() as tx:
            newest, oldest, changed = _changes(tx, since)
            rows = _write(tx, series, source, now, rescale)
            after = tx.fetch_one("SELECT COALESCE(MAX(seq), 0) AS hi FROM history_change_log")
        return HistoryWrite(rows, newest, oldest, changed, int(after["hi"]) if after else 0)


def _write(tx: Transaction, series: Series, source: str, now: datetime,
           rescale: Mapping[str, Rescale] | None) -> int:
    bars_rows: list[tuple[Any, ...]] = []
    q_rows: list[tuple[Any, ...]] = []
    for isin, (bars, quarantined) in series.items():
        bars_rows.extend((isin, b.day.isoformat(), b.open, b.high, b.low, b.close, b.adj_close,
                          b.volume, source) for b in bars)
        q_rows.extend((isin, q.day.isoformat(), q.close, q.reason, q.detail, source, _ts(now))
                      for q in quarantined)
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


def _changes(db: Database | Transaction, since: int) -> Changes:
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


def read_history(db: Database, isin: str, start: date | None = None,
                 end: date | None = None) -> list[PriceBar]:
    """Stored daily bars of one ISIN, oldest first."""
    rows = db.fetch_all(
        "SELECT day, open, high, low, close, adj_close, volume FROM price_history "
        "WHERE isin = ? AND day >= ? AND day <= ? ORDER BY day",
        (isin, (start or date.min).isoformat(), (end or date.max).isoformat()))
    return [PriceBar(date.fromisoformat(r["day"]), r["close"], r["open"], r["high"], r["low"],
                     r["adj_close"], r["volume"]) for r in rows]


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
