"""Currency exchange: the FX ledger and a manual exchange through the executor
(``SubmitExchange``: one FX-pair order, journaled, its own safety layers)."""

from __future__ import annotations

import asyncio
from decimal import Decimal
from typing import Any

import structlog
from aiohttp import web

from arduino_trader.adapters.store import fx_journal
from arduino_trader.domain.fx_exchange import direct_pair
from arduino_trader.protocols.execution import OrderResult, SubmitExchange

from .bodies_trading import ExchangeBody
from .body import read_struct
from .context import ctx_of
from .errors import ApiError, bad_request
from .helpers import ask_actor, json_response
from .retry_keys import check_exchange, exchange_key, exchange_reason
from .router import ApiRouter, QueryParam
from .routes_trades import unresolved_response

router = ApiRouter("fx")
log = structlog.get_logger(component="api")

EXCHANGE_TIMEOUT_S = 120.0
_KIND_STATUS = {"forbidden": 403, "not_found": 404, "invalid": 400, "blocked": 400,
                "conflict": 409}


@router.route("GET", "/api/fx/trades", summary="The FX ledger: exchange fills, newest first "
              "(?limit=1..500)", query=(QueryParam("limit", {"type": "integer"}),),
              response={"type": "object", "required": ["trades"]},
              errors={400: "bad limit"})
async def list_trades(request: web.Request) -> web.Response:
    """Every fill of an exchange order: pair, side, base and quote amounts, mode."""
    raw = request.query.get("limit", "50")
    if not raw.isdigit() or not 1 <= int(raw) <= 500:
        raise bad_request("limit must be an integer in 1..500", code="invalid_query",
                          field="limit")
    rows = await asyncio.to_thread(fx_journal.list_fx_trades, ctx_of(request).store, int(raw))
    return json_response({"trades": rows})


def _exchange_request(body: ExchangeBody) -> tuple[str, str, Decimal, str]:
    source, target = body.source, body.target
    if source == target:
        raise bad_request("from and to must differ", code="invalid_field", field="to")
    if direct_pair(source, target) is None:
        raise bad_request(f"no pair between {source} and {target}: exchange each leg "
                          "through EUR on its own", code="fx_pair_unsupported")
    return source, target, body.amount, body.request_id


@router.route("POST", "/api/fx/exchange", summary="Exchange currencies with one FX-pair "
              "order through the executor's safety layers", body=ExchangeBody,
              response={"type": "object", "required": ["status"]},
              errors={400: "bad input or no request_id", 403: "mode",
                      409: "pending order on the pair, or request_id_reused",
                      502: "broker failure", 504: "executor timeout"})
async def exchange(request: web.Request) -> web.Response:
    """``{from, to, amount, request_id}``: at least ``amount`` of ``to`` for ``from``
    (direct pairs only). The same ``request_id`` again answers ``duplicate`` (never a
    second exchange); with another exchange it is a 409 (:mod:`.retry_keys`)."""
    source, target, amount, request_id = _exchange_request(await read_struct(request, ExchangeBody))
    reason = exchange_reason(source, target, amount)
    await check_exchange(request, request_id, reason)
    log.warning("manual_exchange_requested", source=source, target=target,
                amount=str(amount), request_id=request_id)
    result = await ask_actor(request, "executor", SubmitExchange(
        source, target, amount, exchange_key(request_id), "manual", reason=reason),
        timeout=EXCHANGE_TIMEOUT_S)
    if not isinstance(result, OrderResult):
        raise ApiError(502, "executor_error", f"unexpected executor answer: {result!r}")
    if result.status == "duplicate":
        await check_exchange(request, request_id, reason)  # another request raced the key
    body: dict[str, Any] = {"status": result.status, "message": result.message,
                            "order_id": result.client_order_id, "state": result.state,
                            **result.details}
    if result.status == "blocked":
        return json_response({"error": result.code or "blocked", "layer": result.layer,
                              **body}, status=_KIND_STATUS.get(result.kind or "blocked", 400))
    if result.status == "failed":
        return json_response({"error": result.code or "exchange_failed", **body}, status=502)
    if result.status == "placed" and result.state == "unresolved":
        return unresolved_response(body)
    return json_response(body)
