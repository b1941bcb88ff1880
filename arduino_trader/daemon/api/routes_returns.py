"""Return since inception, time-weighted and money-weighted (the dashboard's header).

Time-weighted: the daily snapshots' flow-adjusted returns compounded from the first
snapshot. Money-weighted: the XIRR of the dated deposits and
withdrawals against today's value (``domain/money_weighted.py``). Either is null with
its reason when it cannot be computed; nothing here is a 500.
"""

from __future__ import annotations

import asyncio
import math
from datetime import date
from decimal import Decimal
from typing import Any

from aiohttp import web

from arduino_trader.adapters.store import portfolio_repo, returns_repo, snapshot_repo
from arduino_trader.domain import analytics
from arduino_trader.domain.money_weighted import NoRate, owner_flows, xirr

from .context import ctx_of
from .helpers import json_response
from .router import ApiRouter

router = ApiRouter("returns")
_FRACTION = Decimal("0.0000000001")
_MAX_FRACTION = 1e9


async def _value_eur(request: web.Request) -> tuple[Decimal | None, list[str]]:
    """Positions plus cash in EUR as last synced (the value ``/api/portfolio`` shows)."""
    store = ctx_of(request).store
    rows = [*(p["market_value_eur"] for p in await asyncio.to_thread(portfolio_repo.list_positions,
                                                                     store)),
            *(c["amount_eur"] for c in await asyncio.to_thread(portfolio_repo.list_cash, store))]
    values = [portfolio_repo.to_decimal(v) for v in rows]
    if any(v is None for v in values):
        return None, ["a position or cash balance has no EUR value (missing FX rate)"]
    return sum((v for v in values if v is not None), Decimal(0)), []


async def _time_weighted(request: web.Request) -> dict[str, Any]:
    rows, _ = await asyncio.to_thread(snapshot_repo.read_snapshots, ctx_of(request).store,
                                      date.min)
    if len(rows) < 2:
        return {"status": "insufficient_data",
                "reason": f"{len(rows)} daily snapshot(s); at least 2 are needed"}
    perf = analytics.performance(
        [date.fromisoformat(r["date"]) for r in rows],
        [float(portfolio_repo.to_decimal(r["total_value"]) or 0) for r in rows],
        [float(portfolio_repo.to_decimal(r["net_external_flow_eur"]) or 0) for r in rows])
    return {"status": "ok", "since_inception": _fraction(perf.total),
            "annual": _fraction(perf.annual), "start": perf.start.isoformat(),
            "end": perf.end.isoformat()}


def _fraction(value: float) -> Decimal | None:
    """To 10 places; a result that rounds to zero is 0, never −0. None when the figure
    is not finite or beyond ±1e9 (100,000,000,000 %): an annual rate extrapolated from a
    few days can be astronomically large, and it means nothing."""
    if not math.isfinite(value) or abs(value) >= _MAX_FRACTION:
        return None
    rounded = Decimal(repr(value)).quantize(_FRACTION)
    return rounded if rounded != 0 else Decimal(0).quantize(_FRACTION)


@router.route("GET", "/api/portfolio/returns", summary="Return since inception: "
              "time-weighted and money-weighted (XIRR of deposits and withdrawals)",
              response={"type": "object", "required": ["time_weighted", "money_weighted"]})
async def returns(request: web.Request) -> web.Response:
    """Fractions (0.1 = 10 %); ``annual`` is per year, ``since_inception`` over the span."""
    ctx = ctx_of(request)
    today = ctx.clock.now().date()
    value, missing = await _value_eur(request)
    flows = await asyncio.to_thread(returns_repo.external_flows, ctx.store)
    paid_in = sum((a for _, a in flows if a > 0), Decimal(0))
    withdrawn = -sum((a for _, a in flows if a < 0), Decimal(0))
    money: dict[str, Any]
    if value is None:
        money = {"status": "insufficient_data", "reason": missing[0]}
    else:
        try:
            mw = xirr(owner_flows(flows, today, value))
            money = {"status": "ok", "since_inception": mw.since_inception,
                     "annual": mw.annual, "start": mw.start.isoformat(),
                     "end": mw.end.isoformat()}
        except NoRate as exc:
            money = {"status": "insufficient_data", "reason": str(exc)}
    return json_response({"as_of": today.isoformat(), "value_eur": value,
                          "paid_in_eur": paid_in, "withdrawn_eur": withdrawn,
                          "flows": len(flows), "time_weighted": await _time_weighted(request),
                          "money_weighted": money})
