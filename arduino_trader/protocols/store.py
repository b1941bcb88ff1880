"""The store port: a synchronous SQL database with serialized, all-or-nothing transactions."""

from __future__ import annotations

import sqlite3
from collections.abc import Sequence
from contextlib import AbstractContextManager
from typing import Any, Protocol

Params = Sequence[Any] | dict[str, Any]


class StoreError(RuntimeError):
    """The store could not do what was asked; nothing was written."""

    code = "store_error"


class StoreBusy(StoreError):
    """The database is locked by another process."""

    code = "store_busy"


class StoreReadOnly(StoreError):
    """The database (or its directory) is read-only."""

    code = "store_read_only"


class StoreFull(StoreError):
    """The disk holding the database is full."""

    code = "store_full"


class Transaction(Protocol):
    """Statements inside one transaction (committed together or not at all)."""

    def execute(self, sql: str, params: Params = ()) -> sqlite3.Cursor:
        """Run one statement."""
        ...

    def executemany(self, sql: str, rows: Sequence[Params]) -> None:
        """Run one statement for many parameter rows."""
        ...

    def fetch_all(self, sql: str, params: Params = ()) -> list[sqlite3.Row]:
        """All rows of a query."""
        ...

    def fetch_one(self, sql: str, params: Params = ()) -> sqlite3.Row | None:
        """The first row of a query, or None."""
        ...


class Database(Protocol):
    """The SQLite store as the actors see it: called directly from their own threads
    (a coroutine calls it through ``asyncio.to_thread``, never on the loop)."""

    def fetch_all(self, sql: str, params: Params = ()) -> list[sqlite3.Row]:
        """All rows of a query."""
        ...

    def fetch_one(self, sql: str, params: Params = ()) -> sqlite3.Row | None:
        """The first row of a query, or None."""
        ...

    def execute(self, sql: str, params: Params = ()) -> int:
        """One statement in its own transaction; returns the row count."""
        ...

    def transaction(self) -> AbstractContextManager[Transaction]:
        """``with db.transaction() as tx:`` — commit on exit, rollback on error."""
        ...
