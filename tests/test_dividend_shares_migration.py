"""Migration 0960: one dividend row per (cash flow, bucket). The table is rebuilt with
the DRIP allocations still pointing at the same rows, the id sequence kept, and foreign
keys enforced again afterwards; a rebuild that would leave a dangling reference rolls
back whole."""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator
from pathlib import Path

import pytest

from arduino_trader.adapters.store import migrations

BEFORE = 960


def _connect(path: Path) -> sqlite3.Connection:
    conn = sqlite3.connect(path, isolation_level=None)
    conn.execute("PRAGMA foreign_keys=ON")
    return conn


@pytest.fixture
def old_db(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[sqlite3.Connection]:
    """A database as the previous release left it, with two dividends (the newest one
    deleted again, so the sequence is ahead of the ids) and a DRIP allocation."""
    real = migrations.migration_files()
    monkeypatch.setattr(migrations, "migration_files",
                        lambda: [m for m in real if m[0] < BEFORE])
    conn = _connect(tmp_path / "old.db")
    migrations.apply_migrations(conn)
    conn.execute(
        "INSERT INTO cash_flows (transaction_id, source, type_doc_id, transaction_type, kind,"
        " date, amount, currency, amount_eur, status, created_at) VALUES"
        " ('ucf:1', 'user_cash_flow', '', 'dividend', 'dividend', '2026-03-02', '3', 'USD',"
        " '2.70', 'completed', 1)")
    add = ("INSERT INTO dividend_history (symbol, cash_flow_id, bucket_id, amount, currency,"
           " amount_eur, payment_date, created_at) VALUES ('KO.US', ?, 'core', '3', 'USD',"
           " '2.70', '2026-03-02', 1)")
    conn.execute(add, ("ucf:1",))
    conn.execute(add, (None,))
    conn.execute(add, (None,))
    conn.execute("DELETE FROM dividend_history WHERE id = 3")
    conn.execute("INSERT INTO dividend_allocations (dividend_id, fill_key, symbol, quantity,"
                 " amount_eur, created_at) VALUES (1, 'trade:5', 'KO.US', '1', '2.70', 1)")
    monkeypatch.undo()
    yield conn
    conn.close()


def test_the_rebuild_keeps_rows_ids_references_and_sequence(
        old_db: sqlite3.Connection) -> None:
    applied = migrations.apply_migrations(old_db)
    assert applied[0] == "0960_dividend_shares.sql"
    assert old_db.execute("PRAGMA foreign_keys").fetchone() == (1,)
    assert old_db.execute("SELECT id, cash_flow_id FROM dividend_history ORDER BY id"
                          ).fetchall() == [(1, "ucf:1"), (2, None)]
    assert old_db.execute("SELECT d.id FROM dividend_allocations a JOIN dividend_history d"
                          " ON d.id = a.dividend_id").fetchall() == [(1,)]
    split = ("INSERT INTO dividend_history (symbol, cash_flow_id, bucket_id, amount, currency,"
             " amount_eur, payment_date, created_at) VALUES ('KO.US', 'ucf:1', ?, '1',"
             " 'USD', '0.90', '2026-03-02', 1)")
    cur = old_db.execute(split, ("s1",))  # a second bucket's share of the same payment
    assert cur.lastrowid == 4  # id 3 was used and deleted: never handed out again
    with pytest.raises(sqlite3.IntegrityError):
        old_db.execute(split, ("s1",))  # but one row per (cash flow, bucket)
    with pytest.raises(sqlite3.IntegrityError):  # references are enforced again
        old_db.execute("INSERT INTO dividend_allocations (dividend_id, fill_key, symbol,"
                       " quantity, amount_eur, created_at) VALUES (99, 't', 'X', '1', '1', 1)")
    indexes = {r[0] for r in old_db.execute(
        "SELECT name FROM sqlite_master WHERE type = 'index' AND tbl_name = 'dividend_history'"
        " AND name NOT LIKE 'sqlite_autoindex%'")}
    assert indexes == {"dividend_history_symbol", "dividend_history_isin",
                       "dividend_history_payment_date", "dividend_history_pending",
                       "dividend_history_unreinvested"}


def test_a_rebuild_leaving_a_dangling_reference_rolls_back(
        old_db: sqlite3.Connection, monkeypatch: pytest.MonkeyPatch) -> None:
    broken = (BEFORE, "0960_broken.sql",
              f"{migrations.REBUILDS_TABLES}\n"
              "CREATE TABLE dividend_history_new (id INTEGER PRIMARY KEY, symbol TEXT);\n"
              "DROP TABLE dividend_history;\n"
              "ALTER TABLE dividend_history_new RENAME TO dividend_history;\n")
    monkeypatch.setattr(migrations, "migration_files", lambda: [broken])
    with pytest.raises(sqlite3.IntegrityError, match="dangling references"):
        migrations.apply_migrations(old_db)
    assert old_db.execute("SELECT count(*) FROM dividend_history").fetchone() == (2,)
    assert old_db.execute("SELECT max(number) FROM schema_migrations").fetchone() < (BEFORE,)
    assert old_db.execute("PRAGMA foreign_keys").fetchone() == (1,)
