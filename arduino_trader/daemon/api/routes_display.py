"""The board's LED matrix: what it should show now, for a sketch that only polls."""

from __future__ import annotations

import asyncio
from decimal import Decimal, InvalidOperation
from typing import Any

from aiohttp import web

from arduino_trader.domain.led_display import (
    HEIGHT,
    WIDTH,
    TickerAction,
    TickerOptions,
    portfolio_frame,
    stats_frame,
    ticker_text,
)
from arduino_trader.protocols.store import Database

from .context import ctx_of
from .helpers import json_response
from .router import ApiRouter

router = ApiRouter("display")

DISPLAY_SCHEMA: dict[str, Any] = {
    "type": "object",
    "required": ["mode", "brightness", "ticker", "frame"],
    "properties": {
        "mode": {"enum": ["STATS", "TICKER", "PORTFOLIO"]},
        "brightness": {"type": "integer"},
        "ticker": {"type": "object", "required": ["text", "speed_ms"]},
        "frame": {"type": ["object", "null"], "required": ["width", "height", "rows"]},
    },
}


def _dec(text: Any) -> Decimal | None:
    try:
        return None if text is None else Decimal(str(text))
    except InvalidOperation:
        return None


async def _facts(store: Database, mode: str) -> dict[str, Any]:
    snapshot = await asyncio.to_thread(store.fetch_one, "SELECT total_value, cash_balance FROM "
                                     "portfolio_snapshots ORDER BY date DESC LIMIT 1")
    pending = await asyncio.to_thread(store.fetch_all,
                                      "SELECT side, symbol, estimated_value FROM recommendations "
                                      "WHERE status = 'pending' "
        "AND plan_id = (SELECT MAX(id) FROM plans) ORDER BY step")
    facts: dict[str, Any] = {
        "value": _dec(snapshot["total_value"]) if snapshot else None,
        "cash": _dec(snapshot["cash_balance"]) if snapshot else None,
        "actions": [TickerAction(r["side"], r["symbol"], _dec(r["estimated_value"])
                                 or Decimal(0)) for r in pending]}
    if mode == "STATS":
        rows = await asyncio.to_thread(store.fetch_all,
                                       "SELECT total_value FROM portfolio_snapshots "
                                     "ORDER BY date DESC LIMIT ?", (WIDTH,))
        facts["values"] = [v for v in (_dec(r["total_value"]) for r in reversed(rows))
                           if v is not None]
    if mode == "PORTFOLIO":
        rows = await asyncio.to_thread(store.fetch_all,
                                       "SELECT market_value_eur FROM portfolio_positions "
                                     "WHERE market_value_eur IS NOT NULL")
        facts["weights"] = [v for v in (_dec(r["market_value_eur"]) for r in rows)
                            if v is not None]
    return facts


@router.route("GET", "/api/system/led/display", auth=False, response=DISPLAY_SCHEMA,
              summary="What the board's LED matrix shows now: mode, brightness, ticker "
                      "text and (STATS/PORTFOLIO) a 13x8 frame of '0'/'1' rows")
async def led_display(request: web.Request) -> web.Response:
    """Read-only and without a token, like /health: the board polls it on the LAN."""
    ctx = ctx_of(request)
    s = ctx.settings.current()
    mode = s.get_str("display_mode")
    facts = await _facts(ctx.store, mode)
    options = TickerOptions(s.get_bool("ticker_show_value"), s.get_bool("ticker_show_cash"),
                            s.get_bool("ticker_show_actions"),
                            s.get_bool("ticker_show_amounts"), s.get_int("ticker_max_actions"))
    rows: list[str] | None = None
    if mode == "STATS":
        rows = stats_frame(facts["values"])
    elif mode == "PORTFOLIO":
        rows = portfolio_frame(facts["weights"], s.get_int("display_top_holdings_count"),
                               s.get_int("display_min_cluster_size"))
    return json_response({
        "mode": mode, "brightness": s.get_int("led_brightness"),
        "ticker": {"text": ticker_text(facts["value"], facts["cash"], facts["actions"],
                                       options), "speed_ms": s.get_int("ticker_speed")},
        "frame": None if rows is None else {"width": WIDTH, "height": HEIGHT, "rows": rows},
    })
