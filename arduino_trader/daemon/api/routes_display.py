"""The board's LED matrix: what it should show now, for a sketch that only polls."""

from __future__ import annotations

from decimal import Decimal, InvalidOperation
from typing import Any

from aiohttp import web

from arduino_trader.adapters.store.api_queries import portfolio
from arduino_trader.adapters.store.api_queries.connection import Reader
from arduino_trader.domain.led_display import (
    HEIGHT,
    WIDTH,
    TickerAction,
    TickerOptions,
    portfolio_frame,
    stats_frame,
    ticker_text,
)

from .context import ctx_of, reads_of
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


async def _facts(db: Reader, mode: str) -> dict[str, Any]:
    snapshot = await portfolio.latest_snapshot(db)
    pending = await portfolio.pending_actions(db)
    facts: dict[str, Any] = {
        "value": _dec(snapshot["total_value"]) if snapshot else None,
        "cash": _dec(snapshot["cash_balance"]) if snapshot else None,
        "actions": [TickerAction(r["side"], r["symbol"], _dec(r["estimated_value"])
                                 or Decimal(0)) for r in pending]}
    if mode == "STATS":
        facts["values"] = [v for v in map(_dec, await portfolio.recent_totals(db, WIDTH))
                           if v is not None]
    if mode == "PORTFOLIO":
        facts["weights"] = [v for v in map(_dec, await portfolio.position_values_eur(db))
                            if v is not None]
    return facts


@router.route("GET", "/api/system/led/display", auth=False, response=DISPLAY_SCHEMA,
              summary="What the board's LED matrix shows now: mode, brightness, ticker "
                      "text and (STATS/PORTFOLIO) a 13x8 frame of '0'/'1' rows")
async def led_display(request: web.Request) -> web.Response:
    """Read-only and without a token, like /health: the board polls it on the LAN."""
    ctx = ctx_of(request)
    s = ctx.settings.current()
    mode = s.typed.display_mode
    facts = await _facts(reads_of(request), mode)
    options = TickerOptions(s.typed.ticker_show_value, s.typed.ticker_show_cash,
                            s.typed.ticker_show_actions,
                            s.typed.ticker_show_amounts, s.typed.ticker_max_actions)
    rows: list[str] | None = None
    if mode == "STATS":
        rows = stats_frame(facts["values"])
    elif mode == "PORTFOLIO":
        rows = portfolio_frame(facts["weights"], s.typed.display_top_holdings_count,
                               s.typed.display_min_cluster_size)
    return json_response({
        "mode": mode, "brightness": s.typed.led_brightness,
        "ticker": {"text": ticker_text(facts["value"], facts["cash"], facts["actions"],
                                       options), "speed_ms": s.typed.ticker_speed},
        "frame": None if rows is None else {"width": WIDTH, "height": HEIGHT, "rows": rows},
    })
