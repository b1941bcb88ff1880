"""The SQLite store: migrations, all-or-nothing transactions, typed errors — for the
daemon's store and for an inline one (a backtest's, on a plain or an inline I/O loop),
which must behave the same."""

from __future__ import annotations

import os
import sqlite3
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest

from arduino_trader.adapters.store.migrations import migration_files
from arduino_trader.adapters.store.sqlite import SqliteStore
from arduino_trader.daemon.io_loop import IoLoop
from arduino_trader.protocols.store import StoreBusy, StoreError, StoreFull, StoreReadOnly

KINDS = ("aiosqlite-thread", "inline", "inline-io")


@pytest.fixture(params=KINDS)
def kind(request: pytest.FixtureRequest) -> str:
    """Where statements run: aiosqlite's thread, the loop's, or the thread asking."""
    return str(request.param)


@pytest.fixture
def io(kind: str) -> Iterator[IoLoop]:
    """A running I/O loop; an inline one (backtests) for the ``inline-io`` kind."""
    loop = IoLoop(inline=kind == "inline-io")
    loop.start()
    yield loop
    loop.stop()


@pytest.fixture
def store(kind: str, io: IoLoop, tmp_path: Path) -> Iterator[SqliteStore]:
    """A migrated store of the given kind."""
    db = SqliteStore(tmp_path / "test.db", busy_timeout_ms=200,
                     inline=kind != "aiosqlite-thread")
    io.run(db.open(), timeout=30)
    yield db
    io.run(db.close(), timeout=10)


def test_migrations_are_numbered_and_recorded(io: IoLoop, store: SqliteStore) -> None:
    rows = io.run(store.fetch_all("SELECT number, name FROM schema_migrations"), 5)
    assert [r["name"] for r in rows] == [name for _, name, _ in migration_files()]
    mode = io.run(store.fetch_one("PRAGMA journal_mode"), 5)
    assert mode is not None and mode[0] == "wal"
    fk = io.run(store.fetch_one("PRAGMA foreign_keys"), 5)
    assert fk is not None and fk[0] == 1


def test_reopen_applies_nothing_twice(io: IoLoop, tmp_path: Path) -> None:
    first = SqliteStore(tmp_path / "a.db")
    assert io.run(first.open(), 10) != []
    io.run(first.close(), 5)
    second = SqliteStore(tmp_path / "a.db")
    assert io.run(second.open(), 10) == []
    io.run(second.close(), 5)


def test_transaction_rolls_back_everything(io: IoLoop, store: SqliteStore) -> None:
    async def failing() -> None:
        async with store.transaction() as tx:
            await tx.execute("INSERT INTO audit_log (at, actor, action) VALUES (1, 'a', 'x')")
            await tx.execute("INSERT INTO no_such_table VALUES (1)")

    with pytest.raises(StoreError):
        io.run(failing(), 5)
    rows = io.run(store.fetch_all("SELECT * FROM audit_log"), 5)
    assert rows == []


def test_failed_migration_leaves_database_untouched(io: IoLoop, tmp_path: Path,
                                                    monkeypatch: pytest.MonkeyPatch) -> None:
    from arduino_trader.adapters.store import migrations

    real = migrations.migration_files()
    broken = (9999, "9999_broken.sql", "CREATE TABLE half (x INTEGER);\nTHIS IS NOT SQL;\n")
    monkeypatch.setattr(migrations, "migration_files", lambda: [*real, broken])
    db = SqliteStore(tmp_path / "b.db")
    with pytest.raises(StoreError):
        io.run(db.open(), 10)
    conn = sqlite3.connect(tmp_path / "b.db")
    tables = {r[0] for r in conn.execute("SELECT name FROM sqlite_master WHERE type='table'")}
    numbers = {r[0] for r in conn.execute("SELECT number FROM schema_migrations")}
    conn.close()
    assert "half" not in tables and 9999 not in numbers and 1 in numbers


def test_locked_database_is_a_typed_error(io: IoLoop, store: SqliteStore) -> None:
    other = sqlite3.connect(store.path, timeout=0.1, isolation_level=None)
    other.execute("BEGIN EXCLUSIVE")
    try:
        with pytest.raises(StoreBusy):
            io.run(store.execute("INSERT INTO audit_log (at, actor, action) VALUES (1,'a','b')"),
                   5)
    finally:
        other.execute("ROLLBACK")
        other.close()
    assert io.run(store.fetch_all("SELECT * FROM audit_log"), 5) == []


@pytest.mark.skipif(os.geteuid() == 0, reason="root ignores file permissions")
def test_read_only_database_is_a_typed_error(io: IoLoop, tmp_path: Path) -> None:
    db = SqliteStore(tmp_path / "ro.db")
    io.run(db.open(), 10)
    io.run(db.close(), 5)
    os.chmod(tmp_path / "ro.db", 0o444)
    os.chmod(tmp_path, 0o555)
    try:
        ro = SqliteStore(tmp_path / "ro.db")
        with pytest.raises(StoreError):
            io.run(ro.open(), 10)
    finally:
        os.chmod(tmp_path, 0o755)


def test_read_only_connection_refuses_writes(io: IoLoop, store: SqliteStore) -> None:
    """Works as root too: SQLite's query_only pragma makes the connection read-only."""
    io.run(store.conn.execute("PRAGMA query_only=ON"), 5)
    with pytest.raises(StoreReadOnly):
        io.run(store.execute("INSERT INTO audit_log (at, actor, action) VALUES (1,'a','b')"), 5)
    io.run(store.conn.execute("PRAGMA query_only=OFF"), 5)
    assert io.run(store.fetch_all("SELECT * FROM audit_log"), 5) == []


def test_full_disk_is_a_typed_error_and_writes_nothing(io: IoLoop, store: SqliteStore) -> None:
    """SQLITE_FULL simulated with max_page_count: the same error a full disk gives."""
    pages = io.run(store.fetch_one("PRAGMA page_count"), 5)
    assert pages is not None
    io.run(store.conn.execute(f"PRAGMA max_page_count={int(pages[0])}"), 5)

    async def big_write() -> None:
        async with store.transaction() as tx:
            for i in range(200):
                await tx.execute("INSERT INTO audit_log (at, actor, action, detail) "
                                 "VALUES (?, 'a', 'b', ?)", (i, "x" * 4000))

    with pytest.raises(StoreFull):
        io.run(big_write(), 10)
    io.run(store.conn.execute("PRAGMA max_page_count=1073741823"), 5)
    assert io.run(store.fetch_all("SELECT * FROM audit_log"), 5) == []


def test_a_failed_single_statement_is_rolled_back_and_the_store_goes_on(
        io: IoLoop, store: SqliteStore) -> None:
    """``execute`` runs BEGIN, the statement and COMMIT in one trip to the connection
    thread; a failing statement must leave no transaction open behind it."""
    sql = "INSERT INTO audit_log (id, at, actor, action) VALUES (1, 1, 'a', 'x')"
    assert io.run(store.execute(sql), 5) == 1
    with pytest.raises(StoreError):
        io.run(store.execute(sql), 5)  # the same primary key again
    assert io.run(store.execute(
        "INSERT INTO audit_log (at, actor, action) VALUES (2, 'a', 'y')"), 5) == 1
    in_tx = io.run(store.run_in_connection(lambda conn: conn.in_transaction), 5)
    assert in_tx is False
    rows = io.run(store.fetch_all("SELECT action FROM audit_log ORDER BY at"), 5)
    assert [r["action"] for r in rows] == ["x", "y"]
    assert io.run(store.fetch_one("SELECT action FROM audit_log WHERE at = 9"), 5) is None


def test_only_a_throwaway_store_skips_fsync(io: IoLoop, tmp_path: Path) -> None:
    kept = SqliteStore(tmp_path / "kept.db")
    throwaway = SqliteStore(tmp_path / "backtest.db", durable=False)
    levels = []
    for db in (kept, throwaway):
        io.run(db.open(), 10)
        row = io.run(db.fetch_one("PRAGMA synchronous"), 5)
        assert row is not None
        levels.append(row[0])
        io.run(db.close(), 5)
    assert levels == [2, 0]  # FULL for the ledger, OFF for a backtest's copy


def test_where_statements_run(io: IoLoop, kind: str, tmp_path: Path) -> None:
    db = SqliteStore(tmp_path / "t.db", inline=kind != "aiosqlite-thread")
    io.run(db.open(), 10)
    try:
        where = io.run(db.run_in_connection(lambda _conn: threading.current_thread()), 5)
        expected = {"inline": io._thread, "inline-io": threading.current_thread()}
        if kind in expected:
            assert where is expected[kind]
        else:
            assert where not in (io._thread, threading.current_thread())

        async def insert() -> tuple[int, int]:
            async with db.transaction() as tx:
                cur = await tx.execute(
                    "INSERT INTO audit_log (at, actor, action) VALUES (1, 'a', 'x')")
                await tx.executemany(
                    "INSERT INTO audit_log (at, actor, action) VALUES (?, 'a', 'y')",
                    [(2,), (3,)])
                return int(cur.rowcount), int(cur.lastrowid or 0)

        assert io.run(insert(), 5) == (1, 1)
        rows = io.run(db.fetch_all("SELECT action FROM audit_log ORDER BY at"), 5)
        assert [r["action"] for r in rows] == ["x", "y", "y"]
        assert io.run(db.run_in_connection(lambda conn: conn.in_transaction), 5) is False
    finally:
        io.run(db.close(), 5)
