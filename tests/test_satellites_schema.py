"""The 0600 migration: the satellites tables, the never-stored state, seeds, and the ledger's
idempotency key."""

from __future__ import annotations

import sqlite3
from decimal import Decimal

import pytest

from arduino_trader.adapters.store.migrations import _split_statements, migration_files
from arduino_trader.config.schema import SETTINGS
from arduino_trader.protocols.satellite_records import ALLOCATION_DEFAULTS, ENTRY_TYPES


@pytest.fixture
def db() -> sqlite3.Connection:
    (sql,) = [text for _, name, text in migration_files() if name == "0600_satellites.sql"]
    conn = sqlite3.connect(":memory:")
    conn.execute("PRAGMA foreign_keys = ON")
    for statement in _split_statements(sql):
        conn.execute(statement)
    return conn


def test_core_exists_and_seeds_match_the_domain_defaults(db: sqlite3.Connection) -> None:
    row = db.execute("SELECT type, status, target_pct FROM buckets WHERE id = 'core'").fetchone()
    assert row == ("core", "active", "1")
    seeds = {k: Decimal(v) for k, v in db.execute("SELECT key, value FROM allocation_settings")}
    assert seeds == dict(ALLOCATION_DEFAULTS)


def test_never_stored_state_has_columns(db: sqlite3.Connection) -> None:
    columns = {r[1] for r in db.execute("PRAGMA table_info(buckets)")}
    assert {"reawaken_stage", "reawaken_wins", "reawaken_trades", "cooldown_started_at",
            "cooldown_trigger_gain", "last_reallocated_at"} <= columns


def _sat(db: sqlite3.Connection, bucket_id: str = "s1") -> None:
    db.execute("INSERT INTO buckets (id, name, type, status, created_at, updated_at) "
               "VALUES (?, 'S', 'satellite', 'research', 0, 0)", (bucket_id,))


def test_ledger_key_makes_reprocessing_a_no_op(db: sqlite3.Connection) -> None:
    _sat(db)
    insert = ("INSERT OR IGNORE INTO bucket_transactions (bucket_id, type, amount, currency,"
              " source_kind, source_id, created_at) VALUES (?, ?, ?, 'EUR', ?, ?, 0)")
    for _ in range(3):
        db.execute(insert, ("s1", "deposit", "100.00", "cash_flow", "cf-1"))
    db.execute(insert, ("core", "deposit", "900.00", "cash_flow", "cf-1"))
    assert db.execute("SELECT COUNT(*) FROM bucket_transactions").fetchone() == (2,)
    for entry_type in ENTRY_TYPES:
        db.execute(insert, ("s1", entry_type, "-1", "manual", f"m-{entry_type}"))
    strict = insert.replace("OR IGNORE ", "")
    with pytest.raises(sqlite3.IntegrityError):
        db.execute(strict, ("s1", "bonus", "1", "manual", "x"))
    with pytest.raises(sqlite3.IntegrityError):
        db.execute(strict, ("nobody", "deposit", "1", "manual", "y"))
    with pytest.raises(sqlite3.IntegrityError):
        db.execute(strict, ("s1", "deposit", "100.00", "cash_flow", "cf-1"))


def test_checks_guard_core_and_settings(db: sqlite3.Connection) -> None:
    with pytest.raises(sqlite3.IntegrityError):
        db.execute("INSERT INTO buckets (id, name, type, created_at, updated_at) "
                   "VALUES ('x', 'X', 'core', 0, 0)")
    with pytest.raises(sqlite3.IntegrityError):
        db.execute("UPDATE buckets SET status = 'hibernating' WHERE id = 'core'")
    _sat(db)
    db.execute("INSERT INTO satellite_settings (satellite_id, updated_at) VALUES ('s1', 0)")
    with pytest.raises(sqlite3.IntegrityError):
        db.execute("UPDATE satellite_settings SET dividend_handling = 'burn'")
    db.execute("DELETE FROM buckets WHERE id = 's1'")
    assert db.execute("SELECT COUNT(*) FROM satellite_settings").fetchone() == (0,)


def test_satellite_settings_keys_are_declared() -> None:
    assert SETTINGS["job_satellite_maintenance_hour"].default == 11
    assert SETTINGS["satellite_reconcile_auto_correct_eur"].default == Decimal("5")
