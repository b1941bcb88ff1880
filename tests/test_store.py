"""The SQLite store: migrations, all-or-nothing transactions, typed errors, one writer
at a time whichever thread calls it, files only the owner may read."""

from __future__ import annotations

import os
import sqlite3
import stat
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest

from arduino_trader.adapters.store.migrations import migration_files
from arduino_trader.adapters.store.sqlite import SqliteStore
from arduino_trader.protocols.store import StoreBusy, StoreError, StoreFull, StoreReadOnly


@pytest.fixture
def store(tmp_path: Path) -> Iterator[SqliteStore]:
    """A migrated store in a temp dir."""
    db = SqliteStore(tmp_path / "test.db", busy_timeout_ms=200)
    db.open()
    yield db
    db.close()


def test_migrations_are_numbered_and_recorded(store: SqliteStore) -> None:
    rows = store.fetch_all("SELECT number, name FROM schema_migrations")
    assert [r["name"] for r in rows] == [name for _, name, _ in migration_files()]
    mode = store.fetch_one("PRAGMA journal_mode")
    assert mode is not None and mode[0] == "wal"
    fk = store.fetch_one("PRAGMA foreign_keys")
    assert fk is not None and fk[0] == 1


def test_reopen_applies_nothing_twice(tmp_path: Path) -> None:
    first = SqliteStore(tmp_path / "a.db")
    assert first.open() != []
    first.close()
    second = SqliteStore(tmp_path / "a.db")
    assert second.open() == []
    second.close()


def test_transaction_rolls_back_everything(store: SqliteStore) -> None:
    with pytest.raises(StoreError), store.transaction() as tx:
        tx.execute("INSERT INTO audit_log (at, actor, action) VALUES (1, 'a', 'x')")
        tx.execute("INSERT INTO no_such_table VALUES (1)")
    rows = store.fetch_all("SELECT * FROM audit_log")
    assert rows == []


def test_failed_migration_leaves_database_untouched(tmp_path: Path,
                                                    monkeypatch: pytest.MonkeyPatch) -> None:
    from arduino_trader.adapters.store import migrations

    real = migrations.migration_files()
    broken = (9999, "9999_broken.sql", "CREATE TABLE half (x INTEGER);\nTHIS IS NOT SQL;\n")
    monkeypatch.setattr(migrations, "migration_files", lambda: [*real, broken])
    db = SqliteStore(tmp_path / "b.db")
    with pytest.raises(StoreError):
        db.open()
    conn = sqlite3.connect(tmp_path / "b.db")
    tables = {r[0] for r in conn.execute("SELECT name FROM sqlite_master WHERE type='table'")}
    numbers = {r[0] for r in conn.execute("SELECT number FROM schema_migrations")}
    conn.close()
    assert "half" not in tables and 9999 not in numbers and 1 in numbers


def test_locked_database_is_a_typed_error(store: SqliteStore) -> None:
    other = sqlite3.connect(store.path, timeout=0.1, isolation_level=None)
    other.execute("BEGIN EXCLUSIVE")
    try:
        with pytest.raises(StoreBusy):
            store.execute("INSERT INTO audit_log (at, actor, action) VALUES (1,'a','b')")
    finally:
        other.execute("ROLLBACK")
        other.close()
    assert store.fetch_all("SELECT * FROM audit_log") == []


@pytest.mark.skipif(os.geteuid() == 0, reason="root ignores file permissions")
def test_read_only_database_is_a_typed_error(tmp_path: Path) -> None:
    db = SqliteStore(tmp_path / "ro.db")
    db.open()
    db.close()
    os.chmod(tmp_path / "ro.db", 0o444)
    os.chmod(tmp_path, 0o555)
    try:
        ro = SqliteStore(tmp_path / "ro.db")
        with pytest.raises(StoreError):
            ro.open()
    finally:
        os.chmod(tmp_path, 0o755)


def test_read_only_connection_refuses_writes(store: SqliteStore) -> None:
    """Works as root too: SQLite's query_only pragma makes the connection read-only."""
    store.conn.execute("PRAGMA query_only=ON")
    with pytest.raises(StoreReadOnly):
        store.execute("INSERT INTO audit_log (at, actor, action) VALUES (1,'a','b')")
    store.conn.execute("PRAGMA query_only=OFF")
    assert store.fetch_all("SELECT * FROM audit_log") == []


def test_full_disk_is_a_typed_error_and_writes_nothing(store: SqliteStore) -> None:
    """SQLITE_FULL simulated with max_page_count: the same error a full disk gives."""
    pages = store.fetch_one("PRAGMA page_count")
    assert pages is not None
    store.conn.execute(f"PRAGMA max_page_count={int(pages[0])}")

    with pytest.raises(StoreFull), store.transaction() as tx:
        for i in range(200):
            tx.execute("INSERT INTO audit_log (at, actor, action, detail) "
                       "VALUES (?, 'a', 'b', ?)", (i, "x" * 4000))
    store.conn.execute("PRAGMA max_page_count=1073741823")
    assert store.fetch_all("SELECT * FROM audit_log") == []


def test_a_failed_single_statement_is_rolled_back_and_the_store_goes_on(
        store: SqliteStore) -> None:
    """``execute`` runs BEGIN, the statement and COMMIT; a failing statement must leave
    no transaction open behind it."""
    sql = "INSERT INTO audit_log (id, at, actor, action) VALUES (1, 1, 'a', 'x')"
    assert store.execute(sql) == 1
    with pytest.raises(StoreError):
        store.execute(sql)  # the same primary key again
    assert store.execute(
        "INSERT INTO audit_log (at, actor, action) VALUES (2, 'a', 'y')") == 1
    in_tx = store.run_in_connection(lambda conn: conn.in_transaction)
    assert in_tx is False
    rows = store.fetch_all("SELECT action FROM audit_log ORDER BY at")
    assert [r["action"] for r in rows] == ["x", "y"]
    assert store.fetch_one("SELECT action FROM audit_log WHERE at = 9") is None


def test_only_a_throwaway_store_skips_fsync(tmp_path: Path) -> None:
    kept = SqliteStore(tmp_path / "kept.db")
    throwaway = SqliteStore(tmp_path / "backtest.db", durable=False)
    levels = []
    for db in (kept, throwaway):
        db.open()
        row = db.fetch_one("PRAGMA synchronous")
        assert row is not None
        levels.append(row[0])
        db.close()
    assert levels == [2, 0]  # FULL for the ledger, OFF for a backtest's copy


def test_statements_run_on_the_calling_thread_and_return_cursors(store: SqliteStore) -> None:
    where = store.run_in_connection(lambda _conn: threading.current_thread())
    assert where is threading.current_thread()
    with store.transaction() as tx:
        cur = tx.execute("INSERT INTO audit_log (at, actor, action) VALUES (1, 'a', 'x')")
        tx.executemany("INSERT INTO audit_log (at, actor, action) VALUES (?, 'a', 'y')",
                       [(2,), (3,)])
        assert (cur.rowcount, cur.lastrowid) == (1, 1)
    rows = store.fetch_all("SELECT action FROM audit_log ORDER BY at")
    assert [r["action"] for r in rows] == ["x", "y", "y"]
    assert store.run_in_connection(lambda conn: conn.in_transaction) is False


def test_one_writer_at_a_time_across_threads(store: SqliteStore) -> None:
    """Threads writing at once never interleave inside another's transaction: each
    transaction reads the counter and writes it back, and no increment is lost."""
    store.execute("INSERT INTO audit_log (id, at, actor, action) VALUES (1, 0, 'c', 'n')")
    errors: list[BaseException] = []

    def bump() -> None:
        try:
            for _ in range(50):
                with store.transaction() as tx:
                    row = tx.fetch_one("SELECT at FROM audit_log WHERE id = 1")
                    assert row is not None
                    tx.execute("UPDATE audit_log SET at = ? WHERE id = 1", (row[0] + 1,))
        except BaseException as exc:
            errors.append(exc)

    threads = [threading.Thread(target=bump) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(30)
    assert errors == []
    row = store.fetch_one("SELECT at FROM audit_log WHERE id = 1")
    assert row is not None and row[0] == 200


def test_the_database_file_is_private(tmp_path: Path) -> None:
    db = SqliteStore(tmp_path / "p.db")
    db.open()
    try:
        db.execute("INSERT INTO audit_log (at, actor, action) VALUES (1, 'a', 'x')")
        for path in tmp_path.glob("p.db*"):
            assert stat.S_IMODE(path.stat().st_mode) == 0o600, path
    finally:
        db.close()


def test_a_closed_store_is_a_typed_error(tmp_path: Path) -> None:
    db = SqliteStore(tmp_path / "c.db")
    db.open()
    db.close()
    db.close()  # idempotent
    with pytest.raises(StoreError):
        db.fetch_all("SELECT 1")
