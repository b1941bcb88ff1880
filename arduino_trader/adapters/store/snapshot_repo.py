"""Store access for the daily portfolio snapshots (migration 0700): each day's totals and
its per-holding EUR values, written in one transaction; a read that meets an unreadable
row skips it and says so."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import date, datetime
from decimal import Decimal
from typing import Any

from arduino_trader.protocols.money import decimal_to_str
from arduino_trader.protocols.store import Database

from .portfolio_repo import row_dict, to_decimal


def _ts(moment: datetime) -> int:
    return int(moment.timestamp())


@dataclass(frozen=True)
class SnapshotRow:
    """One daily snapshot as written (EUR)."""

    day: date
    total_value: Decimal
    cash_balance: Decimal
    invested_value: Decimal
    unrealized_pnl: Decimal
    geo: Mapping[str, float]
    position_count: int
    net_external_flow_eur: Decimal
    holdings: Mapping[str, tuple[str | None, Decimal]] = field(default_factory=dict)
    annual_turnover: float | None = None


def upsert_snapshot(db: Database, snap: SnapshotRow, now: datetime) -> None:
    """Insert or replace the snapshot of ``snap.day`` and its holdings (one transaction)."""
    day = snap.day.isoformat()
    with db.transaction() as tx:
        tx.execute(
            "INSERT INTO portfolio_snapshots (date, total_value, cash_balance, invested_value,"
            " unrealized_pnl, geo_eu_pct, geo_asia_pct, geo_us_pct, position_count,"
            " annual_turnover, net_external_flow_eur, updated_at) VALUES"
            " (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?) ON CONFLICT (date) DO UPDATE SET"
            " total_value = excluded.total_value, cash_balance = excluded.cash_balance,"
            " invested_value = excluded.invested_value,"
            " unrealized_pnl = excluded.unrealized_pnl, geo_eu_pct = excluded.geo_eu_pct,"
            " geo_asia_pct = excluded.geo_asia_pct, geo_us_pct = excluded.geo_us_pct,"
            " position_count = excluded.position_count,"
            " annual_turnover = excluded.annual_turnover,"
            " net_external_flow_eur = excluded.net_external_flow_eur,"
            " updated_at = excluded.updated_at",
            (day, decimal_to_str(snap.total_value), decimal_to_str(snap.cash_balance),
             decimal_to_str(snap.invested_value), decimal_to_str(snap.unrealized_pnl),
             snap.geo.get("EU", 0.0), snap.geo.get("ASIA", 0.0), snap.geo.get("US", 0.0),
             snap.position_count, snap.annual_turnover,
             decimal_to_str(snap.net_external_flow_eur), _ts(now)))
        tx.execute("DELETE FROM portfolio_snapshot_positions WHERE date = ?", (day,))
        tx.executemany(
            "INSERT INTO portfolio_snapshot_positions (date, symbol, isin, value_eur) "
            "VALUES (?, ?, ?, ?)",
            [(day, symbol, isin, decimal_to_str(value))
             for symbol, (isin, value) in sorted(snap.holdings.items())])


def read_snapshots(db: Database, since: date) -> tuple[list[dict[str, Any]], list[str]]:
    """Snapshots from ``since`` (oldest first) and the dates of unreadable rows."""
    rows = db.fetch_all("SELECT * FROM portfolio_snapshots WHERE date >= ? "
                        "ORDER BY date", (since.isoformat(),))
    good: list[dict[str, Any]] = []
    bad: list[str] = []
    for r in rows:
        row = row_dict(r, ("updated_at",))
        try:
            date.fromisoformat(str(row["date"]))
        except ValueError:
            bad.append(str(row["date"]))
            continue
        money = [to_decimal(row[k]) for k in ("total_value", "cash_balance", "invested_value",
                                               "net_external_flow_eur")]
        if any(m is None for m in money):
            bad.append(str(row["date"]))
            continue
        good.append(row)
    return good, bad


def snapshot_totals(db: Database, since: date) -> dict[str, float]:
    """``{ISO day: total EUR}`` of the snapshots from ``since``, oldest first; rows whose
    date or total is unreadable are left out (:func:`read_snapshots` without the rest
    of each row: the sync cycle's turnover needs only the totals)."""
    rows = db.fetch_all("SELECT date, total_value FROM portfolio_snapshots "
                        "WHERE date >= ? ORDER BY date", (since.isoformat(),))
    out: dict[str, float] = {}
    for day, total in rows:
        value = to_decimal(total)
        if value is None:
            continue
        try:
            date.fromisoformat(str(day))
        except ValueError:
            continue
        out[str(day)] = float(value)
    return out


def snapshot_holdings(db: Database, since: date) -> dict[str, dict[str, float]]:
    """Per snapshot day, the EUR value of each holding (keyed by ISIN, else symbol)."""
    rows = db.fetch_all("SELECT date, symbol, isin, value_eur FROM "
                        "portfolio_snapshot_positions WHERE date >= ?",
                        (since.isoformat(),))
    out: dict[str, dict[str, float]] = {}
    for r in rows:
        value = to_decimal(r["value_eur"])
        if value is not None:
            out.setdefault(str(r["date"]), {})[str(r["isin"] or r["symbol"])] = float(value)
    return out
