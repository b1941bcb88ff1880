"""Trades and orders: the ledger, manual execution behind the safety pipeline, dry-run
validation, the order journal, and the kill switch."""

from __future__ import annotations

import asyncio
from typing import Any

import structlog
from aiohttp import web

from arduino_trader.adapters.store import deferred_buys, order_journal
from arduino_trader.adapters.store.api_queries import securities
from arduino_trader.protocols.execution import (
    CancelOpenOrders,
    OrderIntent,
    OrderResult,
    SubmitOrder,
    ValidateOrder,
)

from .bodies_trading import KILL_CONFIRMATION, KillSwitchBody, OrderBody, ValidateOrderBody
from .body import read_struct
from .context import ctx_of, reads_of
from .errors import ApiError, bad_request
from .helpers import ask_actor, json_response
from .order_guard import limit_rate
from .retry_keys import check_order, order_key
from .router import ApiRouter, QueryParam

__all__ = ["KILL_CONFIRMATION", "router", "unresolved_response"]

router = ApiRouter("trades")
log = structlog.get_logger(component="api")

_KIND_STATUS = {"forbidden": 403, "not_found": 404, "invalid": 400, "blocked": 400,
                "conflict": 409}


async def _intent(request: web.Request, body: ValidateOrderBody) -> OrderIntent:
    isin = body.symbol.strip().upper()
    symbol = await securities.symbol_of(reads_of(request), isin) or isin
    return OrderIntent(isin, symbol, body.side, body.quantity, "manual")


def _answer(result: Any) -> web.Response:
    if not isinstance(result, OrderResult):
        raise ApiError(502, "executor_error", f"unexpected executor answer: {result!r}")
    body: dict[str, Any] = {"status": result.status, "message": result.message,
                            "order_id": result.client_order_id, "state": result.state,
                            "warnings": list(result.warnings), **result.details}
    if result.status == "blocked":
        status = _KIND_STATUS.get(result.kind or "blocked", 400)
        return json_response({"error": result.code or "blocked", "layer": result.layer,
                              **body}, status=status)
    if result.status == "failed":
        return json_response({"error": result.code or "order_failed", **body}, status=502)
    if result.status == "placed" and result.state == "unresolved":
        return unresolved_response(body)
    return json_response(body, status=200)


def _limit_query(maximum: int) -> tuple[QueryParam, ...]:
    return (QueryParam("limit", {"type": "integer", "minimum": 1, "maximum": maximum}),)


def unresolved_response(body: dict[str, Any]) -> web.Response:
    """202: the order was sent but the broker's answer was lost. It is not a failure: a
    retry under a new request id could buy twice; the follow-up resolves it."""
    return json_response({**body, "status": "unresolved", "error": "outcome_unknown"},
                         status=202)


@router.route("GET", "/api/trades", summary="Ledger trades, newest first (?limit=1..500)",
              query=_limit_query(500), response={"type": "object", "required": ["trades"]})
async def list_trades(request: web.Request) -> web.Response:
    """``id, symbol, name, side, quantity, price, executed_at, order_id`` and more."""
    limit = _limit_param(request, 50, 500)
    rows = await asyncio.to_thread(order_journal.list_trades, ctx_of(request).store, limit)
    return json_response({"trades": rows})


def _limit_param(request: web.Request, default: int, maximum: int) -> int:
    raw = request.query.get("limit", str(default))
    if not raw.isdigit() or not 1 <= int(raw) <= maximum:
        raise bad_request(f"limit must be an integer in 1..{maximum}", code="invalid_query",
                          field="limit")
    return int(raw)


@router.route("GET", "/api/trades/orders", summary="The order journal, newest first",
              query=_limit_query(1000), response={"type": "object", "required": ["orders"]})
async def list_orders(request: web.Request) -> web.Response:
    """Every journal entry with its client id, broker id, state and fills."""
    limit = _limit_param(request, 100, 1000)
    rows = await asyncio.to_thread(order_journal.list_orders, ctx_of(request).store, limit)
    return json_response({"orders": rows})


@router.route("GET", "/api/trades/rejections", summary="Orders refused by the safety pipeline",
              query=_limit_query(500), response={"type": "object", "required": ["rejections"]})
async def list_rejections(request: web.Request) -> web.Response:
    """Newest first, with the blocking layer and code."""
    limit = _limit_param(request, 50, 500)
    rows = await asyncio.to_thread(order_journal.list_rejections, ctx_of(request).store, limit)
    return json_response({"rejections": rows})


@router.route("GET", "/api/trades/deferred",
              summary="Buys deferred behind their funding exchange, newest first",
              query=_limit_query(500), response={"type": "object", "required": ["deferred"]})
async def list_deferred(request: web.Request) -> web.Response:
    """Each buy that waited for its funding exchange: ``waiting`` (the order follow-up
    places it once the exchange filled), ``done`` or ``ended``, with its note."""
    limit = _limit_param(request, 50, 500)
    rows = await asyncio.to_thread(deferred_buys.list_deferred, ctx_of(request).store, limit)
    return json_response({"deferred": rows})


@router.route("POST", "/api/trades/execute",
              summary="Manual order through the safety pipeline ({confirm: \"EXECUTE\"})",
              body=OrderBody, response={"type": "object", "required": ["status"]},
              errors={202: "outcome unknown: do not retry, it is resolved with the broker",
                      400: "bad input or no request_id", 403: "mode", 404: "unknown ISIN",
                      409: "pending order, or request_id_reused", 429: "rate limited",
                      502: "broker failure"})
async def execute(request: web.Request) -> web.Response:
    """One order, exactly like an autonomous one; in research mode it is simulated. The
    same ``request_id`` again answers ``duplicate`` (never a second order); with another
    order it is a 409 (:mod:`.retry_keys`)."""
    limit_rate(request)
    body = await read_struct(request, OrderBody)
    intent = await _intent(request, body)
    request_id = body.request_id
    await check_order(request, request_id, intent)
    log.warning("manual_order_requested", isin=intent.isin, side=intent.side,
                quantity=str(intent.quantity), request_id=request_id)
    result = await ask_actor(request, "executor", SubmitOrder(
        intent, order_key(request_id), reason="manual order via the admin API"), timeout=120)
    if isinstance(result, OrderResult) and result.status == "duplicate":
        await check_order(request, request_id, intent)  # another request raced under the key
    return _answer(result)


@router.route("POST", "/api/trades/validate",
              summary="Dry run: which safety layer would block this order, and why",
              body=ValidateOrderBody, response={"type": "object", "required": ["status"]})
async def validate(request: web.Request) -> web.Response:
    """Runs the pipeline on live facts; writes nothing and sends nothing."""
    intent = await _intent(request, await read_struct(request, ValidateOrderBody))
    result = await ask_actor(request, "executor", ValidateOrder(intent), timeout=60)
    return _answer(result)


@router.route("POST", "/api/trades/kill-switch",
              summary="Stop trading: research mode now, then cancel open orders",
              body=KillSwitchBody,
              response={"type": "object", "required": ["trading_mode"]})
async def kill_switch(request: web.Request) -> web.Response:
    """Research first (no new orders), then every open order is asked to cancel."""
    await read_struct(request, KillSwitchBody)
    ctx = ctx_of(request)
    mode, previous = await asyncio.to_thread(ctx.settings.set_trading_mode, "research", None,
                                             who="kill-switch")
    log.warning("kill_switch", previous_mode=previous)
    cancel: Any
    try:
        cancel = await ask_actor(request, "executor", CancelOpenOrders("kill-switch"),
                                 timeout=120)
    except ApiError as exc:
        cancel = {"cancelled": [], "errors": [exc.message]}
    return json_response({"trading_mode": mode, "previous_mode": previous, **cancel})
