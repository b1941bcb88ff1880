"""Numbered SQL migrations (``NNNN_name.sql``), applied in order, each in a transaction."""

from __future__ import annotations

import re
import sqlite3
import time
from importlib import resources

_NAME_RE = re.compile(r"^(\d{4})_[a-z0-9_]+\.sql$")


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
        conn.execute("BEGIN IMMEDIATE")
        try:
            for statement in _split_statements(sql):
                conn.execute(statement)
            conn.execute(
                "INSERT INTO schema_migrations (number, name, applied_at) VALUES (?, ?, ?)",
                (number, name, int(time.time())),
            )
            conn.execute("COMMIT")
        except sqlite3.Error:
            conn.execute("ROLLBACK")
            raise
        applied.append(name)
    return applied


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
