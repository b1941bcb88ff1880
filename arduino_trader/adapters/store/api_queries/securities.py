"""Reads of the universe and its price history (market, charts, trades, status)."""

from __future__ import annotations

import sqlite3
from datetime import date

from .connection import Reader


async def universe_counts(db: Reader) -> tuple[int, int]:
    """``(securities, active securities)``."""
    row = await db.fetch_one(
        "SELECT COUNT(*) AS n, COALESCE(SUM(active), 0) AS active FROM securities")
    return (int(row["n"]), int(row["active"])) if row else (0, 0)


async def active_by_mic(db: Reader) -> dict[str | None, int]:
    """Active securities per exchange MIC (None: not mapped to one)."""
    rows = await db.fetch_all(
        "SELECT mic, COUNT(*) AS n FROM securities WHERE active = 1 GROUP BY mic")
    return {r["mic"]: int(r["n"]) for r in rows}


async def symbol_of(db: Reader, isin: str) -> str | None:
    """The broker symbol of ``isin``, or None when it is not in the universe."""
    row = await db.fetch_one("SELECT symbol FROM securities WHERE isin = ?", (isin,))
    return None if row is None else str(row["symbol"])


async def active_symbols(db: Reader) -> list[str]:
    """The symbols of every active security."""
    return [str(r["symbol"]) for r in
            await db.fetch_all("SELECT symbol FROM securities WHERE active = 1")]


async def active_closes_since(db: Reader, since: date) -> list[sqlite3.Row]:
    """``symbol, day, close`` of every active security from ``since``, by symbol and day."""
    return await db.fetch_all(
        "SELECT s.symbol AS symbol, p.day AS day, p.close AS close FROM price_history p "
        "JOIN securities s ON s.isin = p.isin WHERE s.active = 1 AND p.day >= ? "
        "ORDER BY s.symbol, p.day", (since.isoformat(),))


async def closes_since(db: Reader, isin: str, since: date) -> list[sqlite3.Row]:
    """``day, close`` of one security from ``since``, ascending."""
    return await db.fetch_all(
        "SELECT day, close FROM price_history WHERE isin = ? AND day >= ? ORDER BY day",
        (isin, since.isoformat()))
