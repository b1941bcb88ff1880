"""Numbered SQL migrations (``NNNN_name.sql``), applied in order, each in a transaction."""

from __future__ import annotations

import re
import sqlite3
import time
from importlib import resources

_NAME_RE = re.compile(r"^(\d{4})_[a-z0-9_]+\.sql$")

REBUILDS_TABLES = "-- migration: rebuilds tables"
"""First line of a migration that recreates a table other tables reference (SQLite
cannot drop a column's UNIQUE otherwise): it runs with foreign-key enforcement off, and
``PRAGMA foreign_key_check`` must find nothing before it commits."""


def migration_files() -> list[tuple[int, str, str]]:
    """``(number, name, sql)`` of every shipped migration, sorted by number."""
    found: list[tuple[int, str, str]] = []
    for entry in resources.files(__package__).iterdir():
        match = _NAME_RE.match(entry.name)
        if match:
            found.append((int(match.group(1)), entry.name, entry.read_text(encoding="utf-8")))
    found.sort()
    numbers = [n for n, _, _ in found]
    if len(numbers) != len(set(numbers)):
        raise RuntimeError(f"duplicate migration numbers: {numbers}")
    return found


def apply_migrations(conn: sqlite3.Connection) -> list[str]:
    """Apply every migration not yet recorded; returns the names applied now.

    Each migration and its bookkeeping row are one transaction: a failing migration
    leaves the database exactly as it was before it.
    """
    conn.execute(
        "CREATE TABLE IF NOT EXISTS schema_migrations ("
        " number INTEGER PRIMARY KEY, name TEXT NOT NULL, applied_at INTEGER NOT NULL)"
    ).close()
    cur = conn.execute("SELECT number FROM schema_migrations")
    done = {int(row[0]) for row in cur.fetchall()}
    cur.close()
    applied: list[str] = []
    for number, name, sql in migration_files():
        if number in done:
            continue
        rebuilds = sql.lstrip().startswith(REBUILDS_TABLES)
        enforced = _foreign_keys(conn)
        if rebuilds and enforced:
            conn.execute("PRAGMA foreign_keys=OFF").close()  # before BEGIN: ignored inside one
        try:
            _apply_one(conn, number, name, sql, check_references=rebuilds)
        finally:
            if rebuilds and enforced:
                conn.execute("PRAGMA foreign_keys=ON").close()
        applied.append(name)
    return applied


def _foreign_keys(conn: sqlite3.Connection) -> bool:
    cur = conn.execute("PRAGMA foreign_keys")
    row = cur.fetchone()
    cur.close()
    return bool(row and row[0])


def _apply_one(conn: sqlite3.Connection, number: int, name: str, sql: str, *,
               check_references: bool) -> None:
    """One migration and its bookkeeping row in one transaction; with
    ``check_references`` a dangling reference found afterwards rolls it back."""
    conn.execute("BEGIN IMMEDIATE")
    try:
        for statement in _split_statements(sql):
            conn.execute(statement)
        if check_references:
            cur = conn.execute("PRAGMA foreign_key_check")
            dangling = cur.fetchall()
            cur.close()
            if dangling:
                raise sqlite3.IntegrityError(
                    f"migration {name} leaves dangling references: {dangling[:5]}")
        conn.execute(
            "INSERT INTO schema_migrations (number, name, applied_at) VALUES (?, ?, ?)",
            (number, name, int(time.time())),
        )
        conn.execute("COMMIT")
    except sqlite3.Error:
        conn.execute("ROLLBACK")
        raise


def _split_statements(sql: str) -> list[str]:
    """Split a script into complete statements (sqlite3.complete_statement aware)."""
    statements: list[str] = []
    buffer = ""
    for line in sql.splitlines(keepends=True):
        if line.strip().startswith("--") and not buffer.strip():
            continue
        buffer += line
        if sqlite3.complete_statement(buffer):
            if buffer.strip():
                statements.append(buffer.strip())
            buffer = ""
    if buffer.strip() and not all(
        part.strip().startswith("--") or not part.strip() for part in buffer.splitlines()
    ):
        raise sqlite3.OperationalError(f"incomplete SQL statement in migration: {buffer!r}")
    return statements
