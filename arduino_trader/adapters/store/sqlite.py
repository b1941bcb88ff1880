"""The SQLite store on aiosqlite: pragmas, serialized transactions, error mapping."""

from __future__ import annotations

import asyncio
import contextlib
import sqlite3
from collections.abc import AsyncIterator, Callable, Sequence
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import aiosqlite

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

PRAGMAS = (
    "PRAGMA journal_mode=WAL",
    "PRAGMA foreign_keys=ON",
    "PRAGMA temp_store=MEMORY",
    "PRAGMA cache_size=-8000",
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


class _Tx:
    """Statements on the open connection inside one transaction."""

    def __init__(self, conn: aiosqlite.Connection, inline: bool = False) -> None:
        self._conn = conn
        self._inline = inline

    async def execute(self, sql: str, params: Params = ()) -> aiosqlite.Cursor | sqlite3.Cursor:
        if self._inline:
            return self._conn._conn.execute(sql, params)
        return await self._conn.execute(sql, params)

    async def executemany(self, sql: str, rows: Sequence[Params]) -> None:
        if self._inline:
            self._conn._conn.executemany(sql, rows).close()
            return
        await self._conn.executemany(sql, rows)

    async def fetch_all(self, sql: str, params: Params = ()) -> list[sqlite3.Row]:
        rows: list[sqlite3.Row] = await _call(self._conn, self._inline, _fetch_all, sql,
                                              params)
        return rows

    async def fetch_one(self, sql: str, params: Params = ()) -> sqlite3.Row | None:
        row: sqlite3.Row | None = await _call(self._conn, self._inline, _fetch_one, sql,
                                              params)
        return row


# Each store operation is one trip to aiosqlite's connection thread: a trip costs a thread
# hand-off (~60 µs here), the query itself a few µs. aiosqlite's cursor API takes three
# (execute, fetch, close), so reads and single statements run these on that thread instead.
# An inline store (a backtest's) makes no trip at all: see SqliteStore.
async def _call(conn: aiosqlite.Connection, inline: bool,
                func: Callable[..., Any], *args: Any) -> Any:
    """``func(raw sqlite3 connection, *args)``: inline on the calling thread, else on
    aiosqlite's connection thread in one trip (aiosqlite has no public call for it)."""
    if inline:
        return func(conn._conn, *args)
    return await conn._execute(func, conn._conn, *args)


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


def _execute_alone(conn: sqlite3.Connection, sql: str, params: Params) -> int:
    """``sql`` in its own ``BEGIN IMMEDIATE`` … ``COMMIT``; rolled back on any error."""
    conn.execute("BEGIN IMMEDIATE")
    try:
        cur = conn.execute(sql, params)
        count = int(cur.rowcount)
        cur.close()
        conn.execute("COMMIT")
    except BaseException:
        with contextlib.suppress(sqlite3.Error):
            conn.execute("ROLLBACK")
        raise
    return count


class SqliteStore:
    """One SQLite file, one connection, every operation serialized by an asyncio lock.

    Implements :class:`arduino_trader.protocols.store.Database`. Must be used from the
    daemon's I/O loop (or any single event loop).

    An ``inline`` store runs its statements where its coroutines run (the event loop's
    thread, or the thread running one in the loop's turn: ``IoLoop(inline=True)``)
    instead of handing each to aiosqlite's connection thread. A hand-off costs more than
    a query here, and a backtest makes hundreds a simulated day; but a statement then
    blocks the loop while it runs, which only a loop that serves nothing else (a
    backtest's) can afford. The live daemon's store is never inline.
    """

    def __init__(self, path: Path, *, busy_timeout_ms: int = 60_000,
                 durable: bool = True, inline: bool = False) -> None:
        """``durable=False`` only for a store nobody keeps (a backtest's): no fsync per
        commit. ``inline=True`` only for a store whose loop does nothing else."""
        self.path = path
        self._busy_timeout_ms = busy_timeout_ms
        self._durable = durable
        self._inline = inline
        self._conn: aiosqlite.Connection | None = None
        self._lock = asyncio.Lock()

    @property
    def conn(self) -> aiosqlite.Connection:
        """The open connection (RuntimeError when closed)."""
        if self._conn is None:
            raise StoreError("store is not open")
        return self._conn

    async def open(self) -> list[str]:
        """Open the file, set pragmas, apply pending migrations; returns the applied names."""
        self.path.parent.mkdir(parents=True, exist_ok=True)
        try:
            create_private(self.path)
        except OSError as exc:
            raise StoreError(f"cannot create {self.path}: {exc}") from exc
        try:
            # Inline statements run on the loop's thread, not the one that opened the
            # connection; the asyncio lock still lets only one run at a time.
            conn = await aiosqlite.connect(self.path, isolation_level=None,
                                           check_same_thread=not self._inline)
        except sqlite3.Error as exc:
            raise map_sqlite_error(exc) from exc
        conn.row_factory = sqlite3.Row
        try:
            await conn.execute(f"PRAGMA busy_timeout={int(self._busy_timeout_ms)}")
            for pragma in (*PRAGMAS, DURABLE if self._durable else THROWAWAY):
                await conn.execute(pragma)
            applied = await apply_migrations(conn)
        except sqlite3.Error as exc:
            await conn.close()
            raise map_sqlite_error(exc) from exc
        except BaseException:
            await conn.close()
            raise
        self._conn = conn
        return applied

    async def close(self) -> None:
        """Checkpoint the WAL and close."""
        if self._conn is None:
            return
        async with self._lock:
            try:
                await self._conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
            except sqlite3.Error:
                pass
            await self._conn.close()
            self._conn = None

    async def fetch_all(self, sql: str, params: Params = ()) -> list[sqlite3.Row]:
        """All rows of a query."""
        async with self._lock:
            try:
                return await _Tx(self.conn, self._inline).fetch_all(sql, params)
            except sqlite3.Error as exc:
                raise map_sqlite_error(exc) from exc

    async def fetch_one(self, sql: str, params: Params = ()) -> sqlite3.Row | None:
        """The first row of a query, or None."""
        async with self._lock:
            try:
                return await _Tx(self.conn, self._inline).fetch_one(sql, params)
            except sqlite3.Error as exc:
                raise map_sqlite_error(exc) from exc

    async def execute(self, sql: str, params: Params = ()) -> int:
        """One statement in its own transaction; returns the row count."""
        async with self._lock:
            conn = self.conn
            try:
                count: int = await _call(conn, self._inline, _execute_alone, sql, params)
            except sqlite3.Error as exc:
                raise map_sqlite_error(exc) from exc
            crashpoints.hit("commit", "")  # test-only crash point (off unless armed)
        return count

    @asynccontextmanager
    async def transaction(self) -> AsyncIterator[_Tx]:
        """``BEGIN IMMEDIATE`` … ``COMMIT``; any exception rolls everything back."""
        async with self._lock:
            conn = self.conn
            try:
                await _call(conn, self._inline, _statement, "BEGIN IMMEDIATE")
            except sqlite3.Error as exc:
                raise map_sqlite_error(exc) from exc
            try:
                yield _Tx(conn, self._inline)
            except BaseException as exc:
                await _rollback(conn, self._inline)
                if isinstance(exc, sqlite3.Error):
                    raise map_sqlite_error(exc) from exc
                raise
            try:
                await _call(conn, self._inline, _statement, "COMMIT")
            except sqlite3.Error as exc:
                await _rollback(conn, self._inline)
                raise map_sqlite_error(exc) from exc
            crashpoints.hit("commit", "")  # test-only crash point (off unless armed)

    async def run_in_connection(self, func: Any) -> Any:
        """Run ``func(sqlite3.Connection)`` on the connection's own thread (serialized).

        For the backup API and checks that need the raw connection.
        """
        async with self._lock:
            conn = self.conn
            return await _call(conn, self._inline, func)


def _statement(conn: sqlite3.Connection, sql: str) -> None:
    conn.execute(sql).close()


async def _rollback(conn: aiosqlite.Connection, inline: bool) -> None:
    try:
        await _call(conn, inline, _statement, "ROLLBACK")
    except sqlite3.Error:
        pass
