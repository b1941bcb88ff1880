"""Backups with retention, integrity check, WAL checkpoint, and the one-daemon PID lock."""

from __future__ import annotations

import sqlite3
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from arduino_trader.adapters.store import maintenance
from arduino_trader.adapters.store.sqlite import SqliteStore
from arduino_trader.daemon.io_loop import IoLoop
from arduino_trader.daemon.locks import AlreadyRunning, PidFile


def test_backup_is_a_consistent_copy_with_retention(io: IoLoop, store: SqliteStore,
                                                    tmp_path: Path) -> None:
    store.execute("INSERT INTO audit_log (at, actor, action) VALUES (1, 'a', 'b')")
    out = tmp_path / "backups"
    t0 = datetime(2026, 1, 1, tzinfo=UTC)
    paths = [maintenance.backup(store, out, 3, t0 + timedelta(days=i))
             for i in range(5)]
    kept = maintenance.list_backups(out)
    assert kept == paths[-3:]
    assert not list(out.glob("*.partial"))
    with sqlite3.connect(kept[-1]) as copy:
        assert copy.execute("SELECT count(*) FROM audit_log").fetchone() == (1,)
        assert copy.execute("PRAGMA integrity_check").fetchone() == ("ok",)


def test_quick_check_and_checkpoint(io: IoLoop, store: SqliteStore) -> None:
    assert maintenance.quick_check(store) == ["ok"]
    store.execute("INSERT INTO audit_log (at, actor, action) VALUES (1, 'a', 'b')")
    assert maintenance.wal_size_bytes(store.path) > 0
    busy, _, _ = maintenance.checkpoint(store, "TRUNCATE")
    assert busy == 0 and maintenance.wal_size_bytes(store.path) == 0


def test_second_daemon_on_the_same_directory_is_refused(tmp_path: Path) -> None:
    first = PidFile(tmp_path / "arduino-trader.pid")
    first.acquire()
    try:
        with pytest.raises(AlreadyRunning, match="another daemon"):
            PidFile(tmp_path / "arduino-trader.pid").acquire()
    finally:
        first.release()
    again = PidFile(tmp_path / "arduino-trader.pid")
    again.acquire()  # a released (or crashed) holder frees the directory
    again.release()
