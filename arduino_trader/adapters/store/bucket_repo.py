"""The satellites store's bucket side (migration 0600): the buckets themselves, each
satellite's settings, the allocation settings and which bucket a security belongs to."""

from __future__ import annotations

import sqlite3
from collections.abc import Iterable
from datetime import datetime
from decimal import Decimal
from typing import Any

from arduino_trader.protocols.buckets import BucketStore
from arduino_trader.protocols.money import decimal_to_str
from arduino_trader.protocols.satellite_records import (
    AllocationSettings,
    Bucket,
    CooldownState,
    ReawakeningState,
    SatelliteSettings,
)
from arduino_trader.protocols.store import Database, Transaction

from .epoch import from_epoch, from_epoch_or_none, to_epoch

# ----------------------------------------------------------------------- buckets
_BUCKET_COLUMNS = ("id", "name", "type", "notes", "target_pct", "min_pct", "max_pct",
                   "consecutive_losses", "max_consecutive_losses", "high_water_mark",
                   "high_water_mark_date", "loss_streak_paused_at", "status",
                   "reawaken_stage", "reawaken_wins", "reawaken_trades",
                   "cooldown_started_at", "cooldown_trigger_gain", "last_reallocated_at",
                   "created_at", "updated_at")


def bucket_from_row(row: sqlite3.Row) -> Bucket:
    """A :class:`Bucket` from a ``buckets`` row."""
    gain = row["cooldown_trigger_gain"]
    return Bucket(
        id=row["id"], name=row["name"], type=row["type"], status=row["status"],
        created_at=from_epoch(row["created_at"]), updated_at=from_epoch(row["updated_at"]),
        notes=row["notes"], target_pct=Decimal(row["target_pct"]),
        min_pct=Decimal(row["min_pct"]), max_pct=Decimal(row["max_pct"]),
        consecutive_losses=int(row["consecutive_losses"]),
        max_consecutive_losses=int(row["max_consecutive_losses"]),
        high_water_mark=Decimal(row["high_water_mark"]),
        high_water_mark_date=from_epoch_or_none(row["high_water_mark_date"]),
        loss_streak_paused_at=from_epoch_or_none(row["loss_streak_paused_at"]),
        reawakening=ReawakeningState(stage=int(row["reawaken_stage"]),
                                     wins=int(row["reawaken_wins"]),
                                     trades=int(row["reawaken_trades"])),
        cooldown=CooldownState(started_at=from_epoch_or_none(row["cooldown_started_at"]),
                               trigger_gain=None if gain is None else Decimal(gain)),
        last_reallocated_at=from_epoch_or_none(row["last_reallocated_at"]))


def _bucket_params(b: Bucket) -> tuple[Any, ...]:
    gain = b.cooldown.trigger_gain
    return (b.id, b.name, b.type, b.notes, decimal_to_str(b.target_pct),
            decimal_to_str(b.min_pct), decimal_to_str(b.max_pct), b.consecutive_losses,
            b.max_consecutive_losses, decimal_to_str(b.high_water_mark),
            to_epoch(b.high_water_mark_date), to_epoch(b.loss_streak_paused_at), b.status,
            b.reawakening.stage, b.reawakening.wins, b.reawakening.trades,
            to_epoch(b.cooldown.started_at), None if gain is None else decimal_to_str(gain),
            to_epoch(b.last_reallocated_at), to_epoch(b.created_at), to_epoch(b.updated_at))


_UPSERT_BUCKET = (
    f"INSERT INTO buckets ({', '.join(_BUCKET_COLUMNS)}) "  # noqa: S608
    f"VALUES ({', '.join('?' for _ in _BUCKET_COLUMNS)}) "
    "ON CONFLICT (id) DO UPDATE SET "
    + ", ".join(f"{c} = excluded.{c}" for c in _BUCKET_COLUMNS if c not in ("id", "created_at"))
)


_SELECT_BUCKETS = f"SELECT {', '.join(_BUCKET_COLUMNS)} FROM buckets ORDER BY id"  # noqa: S608


def load_buckets(db: Database | Transaction) -> dict[str, Bucket]:
    """Every bucket by id."""
    rows = db.fetch_all(_SELECT_BUCKETS)
    return {row["id"]: bucket_from_row(row) for row in rows}


def write_buckets(tx: Transaction, buckets: Iterable[Bucket]) -> None:
    """Insert or update ``buckets`` inside the caller's transaction."""
    rows = [_bucket_params(b) for b in buckets]
    if rows:
        tx.executemany(_UPSERT_BUCKET, rows)


def save_buckets(db: Database, buckets: Iterable[Bucket]) -> None:
    """Insert or update ``buckets`` together (one transaction)."""
    with db.transaction() as tx:
        write_buckets(tx, buckets)


# ---------------------------------------------------------------------- settings
_SETTINGS_COLUMNS = ("satellite_id", "preset", "risk_appetite", "hold_duration", "entry_style",
                     "position_spread", "profit_taking", "trailing_stops", "follow_regime",
                     "auto_harvest", "pause_high_volatility", "dividend_handling",
                     "risk_free_rate", "sortino_mar", "evaluation_period_days",
                     "volatility_window")
_DECIMAL_SETTINGS = frozenset({"risk_appetite", "hold_duration", "entry_style",
                               "position_spread", "profit_taking", "risk_free_rate",
                               "sortino_mar"})
_BOOL_SETTINGS = frozenset({"trailing_stops", "follow_regime", "auto_harvest",
                            "pause_high_volatility"})


def _settings_from_row(row: sqlite3.Row) -> SatelliteSettings:
    values: dict[str, Any] = {}
    for col in _SETTINGS_COLUMNS[1:]:
        raw = row[col]
        if col in _DECIMAL_SETTINGS:
            values[col] = Decimal(raw)
        elif col in _BOOL_SETTINGS:
            values[col] = bool(raw)
        else:
            values[col] = raw
    return SatelliteSettings(satellite_id=row["satellite_id"], **values)


_SELECT_SETTINGS = f"SELECT {', '.join(_SETTINGS_COLUMNS)} FROM satellite_settings"  # noqa: S608


def load_settings(db: Database | Transaction) -> dict[str, SatelliteSettings]:
    """Every satellite's settings by satellite id."""
    rows = db.fetch_all(_SELECT_SETTINGS)
    return {row["satellite_id"]: _settings_from_row(row) for row in rows}


def save_settings(db: Database, settings: SatelliteSettings, now: datetime) -> None:
    """Replace one satellite's settings."""
    values = [getattr(settings, c) for c in _SETTINGS_COLUMNS]
    params = [decimal_to_str(v) if isinstance(v, Decimal) else int(v) if isinstance(v, bool)
              else v for v in values]
    cols = (*_SETTINGS_COLUMNS, "updated_at")
    with db.transaction() as tx:
        tx.execute(
            f"INSERT INTO satellite_settings ({', '.join(cols)}) "  # noqa: S608
            f"VALUES ({', '.join('?' for _ in cols)}) ON CONFLICT (satellite_id) DO UPDATE SET "
            + ", ".join(f"{c} = excluded.{c}" for c in cols[1:]),
            (*params, to_epoch(now)))


def load_allocation(db: Database | Transaction) -> AllocationSettings:
    """The ``allocation_settings`` table as a record."""
    rows = db.fetch_all("SELECT key, value FROM allocation_settings")
    return AllocationSettings.from_rows({r["key"]: Decimal(r["value"]) for r in rows})


def save_allocation_value(db: Database, key: str, value: Decimal, now: datetime,
                          buckets: Iterable[Bucket] = ()) -> None:
    """Set one allocation setting, with the bucket changes it implies (core's target), in
    one transaction."""
    with db.transaction() as tx:
        tx.execute(
            "INSERT INTO allocation_settings (key, value, updated_at) VALUES (?, ?, ?) "
            "ON CONFLICT (key) DO UPDATE SET value = excluded.value, "
            "updated_at = excluded.updated_at", (key, decimal_to_str(value), to_epoch(now)))
        write_buckets(tx, buckets)


def security_buckets(db: Database) -> dict[str, str]:
    """{symbol: bucket_id} of every security (core when it has no assignment)."""
    rows = db.fetch_all("SELECT s.symbol AS symbol, COALESCE(b.bucket_id, 'core') AS "
                        "bucket_id FROM securities s LEFT JOIN security_buckets b "
                        "ON b.isin = s.isin")
    return {r["symbol"]: r["bucket_id"] for r in rows}


def assign_security(db: Database, isin: str, bucket_id: str, now: datetime) -> bool:
    """Put a security in a bucket's universe (core removes the assignment); False when
    the security is unknown."""
    with db.transaction() as tx:
        known = tx.fetch_one("SELECT 1 FROM securities WHERE isin = ?", (isin,))
        if known is None:
            return False
        if bucket_id == "core":
            tx.execute("DELETE FROM security_buckets WHERE isin = ?", (isin,))
        else:
            tx.execute(
                "INSERT INTO security_buckets (isin, bucket_id, updated_at) VALUES (?, ?, ?) "
                "ON CONFLICT (isin) DO UPDATE SET bucket_id = excluded.bucket_id, "
                "updated_at = excluded.updated_at", (isin, bucket_id, to_epoch(now)))
    return True


class SqliteBucketStore:
    """The buckets port on the SQLite store (see :class:`BucketStore`); the functions
    above, which the satellites' ledger also calls inside its own transactions."""

    def __init__(self, db: Database) -> None:
        self._db = db

    def load_buckets(self) -> dict[str, Bucket]:
        """Every bucket by id."""
        return load_buckets(self._db)

    def save_buckets(self, buckets: Iterable[Bucket]) -> None:
        """Insert or update ``buckets`` together (one transaction)."""
        save_buckets(self._db, buckets)

    def load_settings(self) -> dict[str, SatelliteSettings]:
        """Every satellite's settings by satellite id."""
        return load_settings(self._db)

    def save_settings(self, settings: SatelliteSettings, now: datetime) -> None:
        """Replace one satellite's settings."""
        save_settings(self._db, settings, now)

    def load_allocation(self) -> AllocationSettings:
        """The ``allocation_settings`` table as a record."""
        return load_allocation(self._db)

    def save_allocation_value(self, key: str, value: Decimal, now: datetime,
                              buckets: Iterable[Bucket] = ()) -> None:
        """Set one allocation setting with the bucket changes it implies, one transaction."""
        save_allocation_value(self._db, key, value, now, buckets)

    def security_buckets(self) -> dict[str, str]:
        """{symbol: bucket_id} of every security (core when it has no assignment)."""
        return security_buckets(self._db)

    def assign_security(self, isin: str, bucket_id: str, now: datetime) -> bool:
        """Put a security in a bucket's universe; False when the security is unknown."""
        return assign_security(self._db, isin, bucket_id, now)


_: type[BucketStore] = SqliteBucketStore  # mypy checks the implementation
