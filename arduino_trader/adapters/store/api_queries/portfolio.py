"""Reads of the portfolio's snapshots, positions and cash (status, display, metrics)."""

from __future__ import annotations

import sqlite3

from .connection import Reader


async def latest_snapshot(db: Reader) -> sqlite3.Row | None:
    """The newest snapshot: ``date, total_value, invested_value, cash_balance``."""
    return await db.fetch_one("SELECT date, total_value, invested_value, cash_balance "
                              "FROM portfolio_snapshots ORDER BY date DESC LIMIT 1")


async def recent_totals(db: Reader, count: int) -> list[str | None]:
    """The total values of the last ``count`` snapshots, oldest first."""
    rows = await db.fetch_all("SELECT total_value FROM portfolio_snapshots "
                              "ORDER BY date DESC LIMIT ?", (count,))
    return [r["total_value"] for r in reversed(rows)]


async def position_values_eur(db: Reader) -> list[str]:
    """The EUR value of every held position that has one."""
    rows = await db.fetch_all("SELECT market_value_eur FROM portfolio_positions "
                              "WHERE market_value_eur IS NOT NULL")
    return [r["market_value_eur"] for r in rows]


async def positions_by_isin(db: Reader) -> dict[str, dict[str, object]]:
    """Held quantity and value per ISIN from the last portfolio sync."""
    rows = await db.fetch_all(
        "SELECT isin, quantity, current_price, market_value, market_value_eur, currency "
        "FROM portfolio_positions WHERE isin IS NOT NULL")
    return {str(r["isin"]): {k: r[k] for k in ("quantity", "current_price", "market_value",
                                                 "market_value_eur", "currency")}
            for r in rows}


async def position_count(db: Reader) -> int:
    """How many positions the last sync stored."""
    row = await db.fetch_one("SELECT COUNT(*) AS n FROM portfolio_positions")
    return int(row["n"]) if row else 0


async def cash_balances(db: Reader) -> list[tuple[str, str]]:
    """``(currency, amount)`` of every broker cash balance, by currency."""
    rows = await db.fetch_all("SELECT currency, amount FROM portfolio_cash ORDER BY 1")
    return [(r[0], r[1]) for r in rows]


async def pending_actions(db: Reader) -> list[sqlite3.Row]:
    """``side, symbol, estimated_value`` of the newest plan's pending steps, in order."""
    return await db.fetch_all(
        "SELECT side, symbol, estimated_value FROM recommendations WHERE status = 'pending' "
        "AND plan_id = (SELECT MAX(id) FROM plans) ORDER BY step")
