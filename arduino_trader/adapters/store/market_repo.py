"""Store access for the latest market facts (migration 0200): each security's latest
accepted quote, its fundamentals and analyst documents, and the FX rates. The universe
lives in ``securities_repo``, the daily history in ``price_history_repo``.

Synchronous, on the caller's thread; every bulk write is one transaction with ``executemany``.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping, Sequence
from datetime import UTC, date, datetime
from decimal import Decimal
from typing import Any

from arduino_trader.protocols.market_data import FxRate, Quote
from arduino_trader.protocols.money import decimal_to_str
from arduino_trader.protocols.store import Database


def _ts(moment: datetime) -> int:
    return int(moment.timestamp())


def _dt(seconds: int | None) -> datetime | None:
    return None if seconds is None else datetime.fromtimestamp(int(seconds), UTC)


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
