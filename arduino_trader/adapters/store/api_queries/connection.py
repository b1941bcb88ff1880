"""A read-only aiosqlite connection for the admin API's queries."""

from __future__ import annotations

import asyncio
import sqlite3
from pathlib import Path
from typing import Any, Protocol
from urllib.parse import quote

import aiosqlite

from arduino_trader.adapters.store.sqlite import map_sqlite_error
from arduino_trader.protocols.store import Params, StoreError


class Reader(Protocol):
    """What a query needs: rows of a statement."""

    async def fetch_all(self, sql: str, params: Params = ()) -> list[sqlite3.Row]:
        """All rows of a query."""
        ...

    async def fetch_one(self, sql: str, params: Params = ()) -> sqlite3.Row | None:
        """The first row of a query, or None."""
        ...


class ReadOnlyDb:
    """The database file opened ``mode=ro`` on first use (the daemon's writer creates and
    migrates it; a statement that tries to write fails as ``StoreReadOnly``).

    Each statement runs in its own read transaction (autocommit), so it sees everything
    committed before it started.
    """

    def __init__(self, path: Path, *, busy_timeout_ms: int = 10_000) -> None:
        self.path = path
        self._busy_timeout_ms = busy_timeout_ms
        self._conn: aiosqlite.Connection | None = None
        self._lock = asyncio.Lock()

    async def _connection(self) -> aiosqlite.Connection:
        async with self._lock:
            if self._conn is None:
                if not self.path.exists():
                    raise StoreError(f"no database at {self.path}")
                uri = f"file:{quote(str(self.path.resolve()))}?mode=ro"
                try:
                    conn = await aiosqlite.connect(uri, uri=True, isolation_level=None)
                    conn.row_factory = sqlite3.Row
                    await conn.execute(f"PRAGMA busy_timeout={int(self._busy_timeout_ms)}")
                except sqlite3.Error as exc:
                    raise map_sqlite_error(exc) from exc
                self._conn = conn
            return self._conn

    async def fetch_all(self, sql: str, params: Params = ()) -> list[sqlite3.Row]:
        """All rows of a query."""
        conn = await self._connection()
        try:
            return list(await conn.execute_fetchall(sql, params))
        except sqlite3.Error as exc:
            raise map_sqlite_error(exc) from exc

    async def fetch_one(self, sql: str, params: Params = ()) -> sqlite3.Row | None:
        """The first row of a query, or None."""
        conn = await self._connection()
        try:
            async with conn.execute(sql, params) as cursor:
                row: Any = await cursor.fetchone()
        except sqlite3.Error as exc:
            raise map_sqlite_error(exc) from exc
        return row if isinstance(row, sqlite3.Row) else None

    async def close(self) -> None:
        """Close the connection (a later query opens it again)."""
        async with self._lock:
            if self._conn is not None:
                await self._conn.close()
                self._conn = None
