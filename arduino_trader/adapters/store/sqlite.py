"""The SQLite store on ``sqlite3``: pragmas, serialized transactions, error mapping.

Synchronous: the actors call it (and the repositories built on it) directly from their
own threads. One connection, one lock: every statement and every transaction runs
alone, so there is one writer at a time and nobody reads another thread's uncommitted
rows. Coroutines (the admin API) reach it through ``asyncio.to_thread``, never on the
event loop itself.
"""

from __future__ import annotations

import contextlib
import sqlite3
import threading
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path
from typing import TypeVar

from arduino_trader.protocols.store import (
    Params,
    StoreBusy,
    StoreError,
    StoreFull,
    StoreReadOnly,
)

from .. import crashpoints
from .migrations import apply_migrations
from .private_files import create_private

T = TypeVar("T")

PRAGMAS = (
    "PRAGMA journal_mode=WAL",
    "PRAGMA foreign_keys=ON",
    "PRAGMA temp_store=MEMORY",
    # SQLite's default 2 MB page cache: the file's pages are in the OS page cache anyway,
    # and 8 MB held up to 6 MB more for the same speed (benchmarks/README.md, soak).
    "PRAGMA cache_size=-2000",
)
DURABLE = "PRAGMA synchronous=FULL"  # the ledger lives here: durability over speed
# A throwaway store (a backtest's): nothing is fsynced, neither a commit (~0.2 ms each
# here) nor a WAL checkpoint (NORMAL still syncs those: ~1 s of a simulated year on
# ext4). The file stays consistent if the process dies; only an OS crash could corrupt
# it, and nobody keeps it.
THROWAWAY = "PRAGMA synchronous=OFF"


def map_sqlite_error(exc: sqlite3.Error) -> StoreError:
    """Translate sqlite's errors into the store's typed errors."""
    text = str(exc).lower()
    if "locked" in text or "busy" in text:
        return StoreBusy(f"database is locked: {exc}")
    if "readonly" in text or "read-only" in text or "attempt to write" in text:
        return StoreReadOnly(f"database is read-only: {exc}")
    if "full" in text:
        return StoreFull(f"disk full: {exc}")
    return StoreError(str(exc))


class Tx:
    """Statements on the open connection inside one transaction."""

    def __init__(self, conn: sqlite3.Connection) -> None:
        self._conn = conn

    def execute(self, sql: str, params: Params = ()) -> sqlite3.Cursor:
        """Run one statement; the cursor gives ``rowcount`` and ``lastrowid``."""
        return self._conn.execute(sql, params)

    def executemany(self, sql: str, rows: Sequence[Params]) -> None:
        """Run one statement for many parameter rows."""
        self._conn.executemany(sql, rows).close()

    def fetch_all(self, sql: str, params: Params = ()) -> list[sqlite3.Row]:
        """All rows of a query."""
        return _fetch_all(self._conn, sql, params)

    def fetch_one(self, sql: str, params: Params = ()) -> sqlite3.Row | None:
        """The first row of a query, or None."""
        return _fetch_one(self._conn, sql, params)


def _fetch_all(conn: sqlite3.Connection, sql: str, params: Params) -> list[sqlite3.Row]:
    cur = conn.execute(sql, params)
    try:
        return cur.fetchall()
    finally:
        cur.close()


def _fetch_one(conn: sqlite3.Connection, sql: str, params: Params) -> sqlite3.Row | None:
    cur = conn.execute(sql, params)
    try:
        row: sqlite3.Row | None = cur.fetchone()
        return row
    finally:
        cur.close()


def _rollback(conn: sqlite3.Connection) -> None:
    with contextlib.suppress(sqlite3.Error):
        conn.execute("ROLLBACK").close()


class SqliteStore:
    """One SQLite file, one connection, every operation serialized by one lock.

    Implements :class:`arduino_trader.protocols.store.Database`. Any thread may call it;
    a call blocks until the store is free (a coroutine must use ``asyncio.to_thread``).
    """

    def __init__(self, path: Path, *, busy_timeout_ms: int = 60_000,
                 durable: bool = True) -> None:
        """``durable=False`` only for a store nobody keeps (a backtest's): no fsync per
        commit."""
        self.path = path
        self._busy_timeout_ms = busy_timeout_ms
        self._durable = durable
        self._conn: sqlite3.Connection | None = None
        self._lock = threading.Lock()

    @property
    def conn(self) -> sqlite3.Connection:
        """The open connection (StoreError when closed)."""
        if self._conn is None:
            raise StoreError("store is not open")
        return self._conn

    def open(self) -> list[str]:
        """Open the file, set pragmas, apply pending migrations; returns the applied names."""
        self.path.parent.mkdir(parents=True, exist_ok=True)
        try:
            create_private(self.path)
        except OSError as exc:
            raise StoreError(f"cannot create {self.path}: {exc}") from exc
        try:
            # Any thread may use it: the lock lets one at a time.
            conn = sqlite3.connect(self.path, isolation_level=None, check_same_thread=False)
        except sqlite3.Error as exc:
            raise map_sqlite_error(exc) from exc
        conn.row_factory = sqlite3.Row
        try:
            conn.execute(f"PRAGMA busy_timeout={int(self._busy_timeout_ms)}").close()
            for pragma in (*PRAGMAS, DURABLE if self._durable else THROWAWAY):
                conn.execute(pragma).close()
            applied = apply_migrations(conn)
        except sqlite3.Error as exc:
            conn.close()
            raise map_sqlite_error(exc) from exc
        except BaseException:
            conn.close()
            raise
        with self._lock:
            self._conn = conn
        return applied

    def close(self) -> None:
        """Checkpoint the WAL and close (idempotent)."""
        with self._lock:
            if self._conn is None:
                return
            with contextlib.suppress(sqlite3.Error):
                self._conn.execute("PRAGMA wal_checkpoint(TRUNCATE)").close()
            self._conn.close()
            self._conn = None

    def fetch_all(self, sql: str, params: Params = ()) -> list[sqlite3.Row]:
        """All rows of a query."""
        with self._lock:
            try:
                return _fetch_all(self.conn, sql, params)
            except sqlite3.Error as exc:
                raise map_sqlite_error(exc) from exc

    def fetch_one(self, sql: str, params: Params = ()) -> sqlite3.Row | None:
        """The first row of a query, or None."""
        with self._lock:
            try:
                return _fetch_one(self.conn, sql, params)
            except sqlite3.Error as exc:
                raise map_sqlite_error(exc) from exc

    def execute(self, sql: str, params: Params = ()) -> int:
        """One statement in its own ``BEGIN IMMEDIATE`` … ``COMMIT``; returns the row count."""
        with self.transaction() as tx:
            cur = tx.execute(sql, params)
            count = int(cur.rowcount)
            cur.close()
        return count

    @contextlib.contextmanager
    def transaction(self) -> Iterator[Tx]:
        """``BEGIN IMMEDIATE`` … ``COMMIT``; any exception rolls everything back."""
        with self._lock:
            conn = self.conn
            try:
                conn.execute("BEGIN IMMEDIATE").close()
            except sqlite3.Error as exc:
                raise map_sqlite_error(exc) from exc
            try:
                yield Tx(conn)
            except BaseException as exc:
                _rollback(conn)
                if isinstance(exc, sqlite3.Error):
                    raise map_sqlite_error(exc) from exc
                raise
            try:
                conn.execute("COMMIT").close()
            except sqlite3.Error as exc:
                _rollback(conn)
                raise map_sqlite_error(exc) from exc
            crashpoints.hit("commit", "")  # test-only crash point (off unless armed)

    def run_in_connection(self, func: Callable[[sqlite3.Connection], T]) -> T:
        """``func(connection)`` while nobody else uses the store (backups, checks)."""
        with self._lock:
            return func(self.conn)
