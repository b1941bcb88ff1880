"""Reads of the dividend records (analytics)."""

from __future__ import annotations

from .connection import Reader


async def dividend_history(db: Reader) -> list[tuple[str, str, bool]]:
    """``(symbol, amount_eur, reinvested)`` of every recorded dividend."""
    rows = await db.fetch_all("SELECT symbol, amount_eur, reinvested FROM dividend_history")
    return [(str(r["symbol"]), str(r["amount_eur"]), bool(r["reinvested"])) for r in rows]
