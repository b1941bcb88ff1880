"""Reads about the database itself and the trading records (stats, metrics)."""

from __future__ import annotations

from typing import Any

from .connection import Reader

PAGE_PRAGMAS = ("page_count", "page_size", "freelist_count")


async def page_facts(db: Reader) -> dict[str, int]:
    """``page_count``, ``page_size`` and ``freelist_count`` of the file."""
    out: dict[str, int] = {}
    for name in PAGE_PRAGMAS:  # fixed names, not input
        row = await db.fetch_one(f"PRAGMA {name}")
        out[name] = int(row[0]) if row is not None else 0
    return out


async def table_row_counts(db: Reader) -> list[dict[str, Any]]:
    """``{name, rows}`` of every table, by name."""
    names = [str(r["name"]) for r in await db.fetch_all(
        "SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite_%' "
        "ORDER BY name")]
    tables = []
    for name in names:  # names come from sqlite_master, quoted as identifiers
        quoted = '"' + name.replace('"', '""') + '"'
        row = await db.fetch_one(f"SELECT COUNT(*) FROM {quoted}")  # noqa: S608
        tables.append({"name": name, "rows": int(row[0]) if row is not None else 0})
    return tables


async def price_history_summary(db: Reader) -> dict[str, Any]:
    """Rows, securities and first/last day of the price history."""
    row = await db.fetch_one(
        "SELECT COUNT(*) AS n, COUNT(DISTINCT isin) AS securities, MIN(day) AS first, "
        "MAX(day) AS last FROM price_history")
    return {k: row[k] for k in row.keys()} if row else {}


async def order_counts(db: Reader) -> list[tuple[Any, ...]]:
    """``(mode, state, count)`` of the order journal."""
    return [tuple(r) for r in
            await db.fetch_all("SELECT mode, state, COUNT(*) FROM orders GROUP BY 1, 2")]


async def rejection_counts(db: Reader) -> list[tuple[Any, ...]]:
    """``(layer, code, count)`` of refused orders."""
    return [tuple(r) for r in await db.fetch_all(
        "SELECT layer, code, COUNT(*) FROM order_rejections GROUP BY 1, 2")]


async def trade_counts(db: Reader) -> list[tuple[Any, ...]]:
    """``(mode, count)`` of ledger trades."""
    return [tuple(r) for r in
            await db.fetch_all("SELECT mode, COUNT(*) FROM trades GROUP BY 1")]


async def planner_facts(db: Reader) -> tuple[Any, ...] | None:
    """``(last plan's duration_ms, plans)``, or None before the first plan."""
    row = await db.fetch_one(
        "SELECT (SELECT duration_ms FROM plans ORDER BY id DESC LIMIT 1), COUNT(*) FROM plans")
    return None if row is None or row[0] is None else tuple(row)
