"""Migration 0500: UNIQUE broker keys, append-only cash flows, at-most-once DRIP rows,
one emergency run at a time."""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator

import pytest

from arduino_trader.adapters.store.migrations import migration_files


@pytest.fixture
def db() -> Iterator[sqlite3.Connection]:
    conn = sqlite3.connect(":memory:")
    conn.execute("PRAGMA foreign_keys = ON")
    for _, name, sql in migration_files():
        if name.startswith(("0001", "0500")):
            conn.executescript(sql)
    yield conn
    conn.close()


def _insert(conn: sqlite3.Connection, key: str, status: str = "pending") -> int:
    cur = conn.execute(
        "INSERT INTO cash_flows (transaction_id, source, type_doc_id, transaction_type, kind,"
        " date, amount, currency, amount_eur, status, created_at) VALUES"
        " (?, 'cps', '337', 'withdrawal', 'withdrawal', '2026-03-01', '-100', 'EUR',"
        " '-100', ?, 1) ON CONFLICT (transaction_id) DO NOTHING", (key, status))
    return cur.rowcount


def test_resync_inserts_nothing_and_status_is_an_update(db: sqlite3.Connection) -> None:
    assert _insert(db, "cps:1") == 1
    assert _insert(db, "cps:1", "completed") == 0
    db.execute("UPDATE cash_flows SET status = 'completed', processed_at = 5"
               " WHERE transaction_id = 'cps:1'")
    assert db.execute("SELECT count(*), status FROM cash_flows").fetchone() == (1, "completed")


def test_cash_flows_are_append_only_and_processed_once(db: sqlite3.Connection) -> None:
    _insert(db, "cps:2")
    with pytest.raises(sqlite3.IntegrityError, match="append-only"):
        db.execute("DELETE FROM cash_flows")
    with pytest.raises(sqlite3.IntegrityError, match="immutable"):
        db.execute("UPDATE cash_flows SET amount = '-1'")
    db.execute("UPDATE cash_flows SET processed_at = 1")
    db.execute("UPDATE cash_flows SET processed_at = 1, status = 'completed'")
    with pytest.raises(sqlite3.IntegrityError, match="already applied"):
        db.execute("UPDATE cash_flows SET processed_at = 2")


def test_one_dividend_per_cash_flow_and_fills_consumed_once(db: sqlite3.Connection) -> None:
    _insert(db, "ucf:9")
    add = ("INSERT INTO dividend_history (symbol, cash_flow_id, amount, currency, amount_eur,"
           " payment_date, created_at) VALUES ('KO.US', ?, '3', 'USD', '2.7', '2026-03-01', 1)")
    db.execute(add, ("ucf:9",))
    with pytest.raises(sqlite3.IntegrityError):
        db.execute(add, ("ucf:9",))
    db.execute(add, (None,))
    db.execute(add, (None,))  # manual entries have no cash flow
    with pytest.raises(sqlite3.IntegrityError):
        db.execute(add, ("ucf:missing",))
    fill = ("INSERT INTO dividend_allocations (dividend_id, fill_key, symbol, quantity,"
            " amount_eur, created_at) VALUES (1, 'trade:5', 'KO.US', '1', '2.7', 1)"
            " ON CONFLICT DO NOTHING")
    assert db.execute(fill).rowcount == 1 and db.execute(fill).rowcount == 0


def test_only_one_emergency_run_at_a_time(db: sqlite3.Connection) -> None:
    run = "INSERT INTO emergency_runs (run_id, started_at, mode) VALUES (?, 1, 'research')"
    db.execute(run, ("a",))
    with pytest.raises(sqlite3.IntegrityError):
        db.execute(run, ("b",))
    db.execute("UPDATE emergency_runs SET outcome = 'resolved' WHERE run_id = 'a'")
    db.execute(run, ("b",))


def test_allocation_targets_need_an_existing_group_and_a_fraction(
        db: sqlite3.Connection) -> None:
    target = ("INSERT INTO allocation_targets (type, name, target_pct, created_at, updated_at)"
              " VALUES (?, ?, ?, 1, 1)")
    with pytest.raises(sqlite3.IntegrityError, match="unknown group"):
        db.execute(target, ("country_group", "EU", "0.5"))
    db.execute("INSERT INTO country_groups VALUES ('EU', 'Germany', 1)")
    db.execute("INSERT INTO industry_groups VALUES ('Tech', '__EMPTY__', 1)")
    db.execute(target, ("country_group", "EU", "0.5"))
    db.execute(target, ("industry_group", "Tech", "0"))
    with pytest.raises(sqlite3.IntegrityError):
        db.execute(target, ("country_group", "EU", "0.6"))  # UNIQUE(type, name)
    with pytest.raises(sqlite3.IntegrityError):
        db.execute("UPDATE allocation_targets SET target_pct = '1.5' WHERE name = 'EU'")
