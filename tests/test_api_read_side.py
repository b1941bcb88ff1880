"""The admin API holds no SQL: its reads are query objects on a read-only connection."""

from __future__ import annotations

import ast
import asyncio
import re
import sqlite3
from pathlib import Path

import pytest

from arduino_trader.adapters.store.api_queries import securities
from arduino_trader.adapters.store.api_queries.connection import ReadOnlyDb
from arduino_trader.protocols.store import StoreReadOnly

API_DIR = Path(__file__).resolve().parent.parent / "arduino_trader" / "daemon" / "api"
# The shape of a statement, not a lone word ("DELETE" is also an HTTP method).
_SQL = re.compile(r"\bSELECT\b.*\bFROM\b|\bSELECT\s+\d|\bINSERT\s+(OR\s+\w+\s+)?INTO\b"
                  r"|\bUPDATE\s+\w+\s+SET\b|\bDELETE\s+FROM\b|\bPRAGMA\s+\w+"
                  r"|\b(CREATE|DROP|ALTER)\s+(TABLE|INDEX|VIEW|TRIGGER)\b"
                  r"|\bWITH\s+\w+\s+AS\s*\(|\bVACUUM\b|\bBEGIN\s+(IMMEDIATE|EXCLUSIVE)\b",
                  re.IGNORECASE | re.DOTALL)
_DB_CALLS = {"fetch_all", "fetch_one", "execute", "executemany", "execute_fetchall",
             "transaction"}


def _offences(path: Path) -> list[str]:
    tree = ast.parse(path.read_text(encoding="utf-8"))
    found = []
    for node in ast.walk(tree):
        text = None
        if isinstance(node, ast.Constant) and isinstance(node.value, str):
            text = node.value
        elif isinstance(node, ast.JoinedStr):
            text = "".join(v.value for v in node.values
                           if isinstance(v, ast.Constant) and isinstance(v.value, str))
        if text is not None and _SQL.search(text):
            found.append(f"{path.name}:{node.lineno}: {text[:50]!r}")
        if isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute) \
                and node.func.attr in _DB_CALLS:
            found.append(f"{path.name}:{node.lineno}: .{node.func.attr}(...)")
    return found


def test_the_api_package_contains_no_sql_statement() -> None:
    modules = sorted(API_DIR.glob("*.py"))
    assert len(modules) > 20
    offences = [o for path in modules for o in _offences(path)]
    assert offences == [], "SQL in daemon/api (move it to adapters/store/api_queries):\n" \
        + "\n".join(offences)


def test_the_detector_finds_a_statement(tmp_path: Path) -> None:
    sample = tmp_path / "sample.py"
    sample.write_text('q = "SELECT 1 FROM t"\nasync def f(db):\n    await db.fetch_one(q)\n')
    assert len(_offences(sample)) == 2


@pytest.fixture
def db_file(tmp_path: Path) -> Path:
    path = tmp_path / "store.db"
    with sqlite3.connect(path) as conn:
        conn.execute("PRAGMA journal_mode=WAL")
        conn.execute("CREATE TABLE securities (isin TEXT PRIMARY KEY, symbol TEXT, "
                     "active INTEGER)")
        conn.execute("INSERT INTO securities VALUES ('US0378331005', 'AAPL.US', 1)")
    return path


def test_the_read_connection_cannot_write_and_sees_every_commit(db_file: Path) -> None:
    async def scenario() -> None:
        reads = ReadOnlyDb(db_file)
        try:
            assert await securities.symbol_of(reads, "US0378331005") == "AAPL.US"
            with pytest.raises(StoreReadOnly):
                await reads.fetch_all("INSERT INTO securities VALUES ('X', 'X', 1)")
            writer = sqlite3.connect(db_file)  # the daemon's writer commits meanwhile
            with writer:
                writer.execute("INSERT INTO securities VALUES ('NL0010273215', 'ASML.EU', 1)")
            writer.close()
            assert await securities.symbol_of(reads, "NL0010273215") == "ASML.EU"
            assert await securities.active_symbols(reads) == ["AAPL.US", "ASML.EU"]
        finally:
            await reads.close()
        with sqlite3.connect(db_file) as check:
            assert check.execute("SELECT COUNT(*) FROM securities").fetchone()[0] == 2

    asyncio.run(scenario())
