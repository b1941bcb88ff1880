"""Currency exchange: the FX ledger and a manual exchange through the executor
(``SubmitExchange``: one FX-pair order, journaled, its own safety layers)."""

from __future__ import annotations

import asyncio
import uuid
from decimal import Decimal
from typing import Any

import structlog
from aiohttp import web

from arduino_trader.adapters.store import fx_journal
from arduino_trader.domain.fx_exchange import FX_PAIRS, direct_pair
from arduino_trader.protocols.execution import OrderResult, SubmitExchange
from arduino_trader.protocols.money import InvalidAmount, parse_decimal

from .context import ctx_of
from .errors import ApiError, bad_request
from .helpers import ask_actor, json_response, only_fields, read_json
from .router import ApiRouter, QueryParam
from .routes_trades import unresolved_response

router = ApiRouter("fx")
log = structlog.get_logger(component="api")

CURRENCIES: tuple[str, ...] = tuple(sorted({c for p in FX_PAIRS for c in (p.base, p.quote)}))
MAX_AMOUNT = Decimal(1_000_000_000)
EXCHANGE_TIMEOUT_S = 120.0
_KIND_STATUS = {"forbidden": 403, "not_found": 404, "invalid": 400, "blocked": 400,
                "conflict": 409}
EXCHANGE_BODY: dict[str, Any] = {
    "type": "object", "required": ["from", "to", "amount"],
    "properties": {"from": {"enum": list(CURRENCIES)}, "to": {"enum": list(CURRENCIES)},
                   "amount": {"type": ["number", "string"],
                              "description": "at least this much of `to` arrives"},
                   "request_id": {"type": "string", "maxLength": 100}},
    "additionalProperties": False,
}


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


def _currency(body: dict[str, Any], field: str) -> str:
    value = body.get(field)
    if not isinstance(value, str) or value.strip().upper() not in CURRENCIES:
        raise bad_request(f"{field} must be one of {', '.join(CURRENCIES)}",
                          code="invalid_field", field=field)
    return value.strip().upper()


def _exchange_request(body: dict[str, Any]) -> tuple[str, str, Decimal, str]:
    only_fields(body, {"from", "to", "amount", "request_id"})
    missing = sorted({"from", "to", "amount"} - set(body))
    if missing:
        raise bad_request(f"missing field(s): {', '.join(missing)}", code="missing_field")
    source, target = _currency(body, "from"), _currency(body, "to")
    if source == target:
        raise bad_request("from and to must differ", code="invalid_field", field="to")
    if direct_pair(source, target) is None:
        raise bad_request(f"no pair between {source} and {target}: exchange each leg "
                          "through EUR on its own", code="fx_pair_unsupported")
    try:
        amount = parse_decimal(body["amount"], field="amount")
    except InvalidAmount as exc:
        raise bad_request(str(exc), code="invalid_field", field="amount") from None
    if not 0 < amount <= MAX_AMOUNT:
        raise bad_request(f"amount must be in (0, {MAX_AMOUNT}]", code="invalid_field",
                          field="amount")
    request_id = body.get("request_id") or uuid.uuid4().hex
    if not isinstance(request_id, str) or len(request_id) > 100:
        raise bad_request("request_id must be a string of at most 100 characters",
                          code="invalid_field", field="request_id")
    return source, target, amount, request_id


@router.route("POST", "/api/fx/exchange", summary="Exchange currencies with one FX-pair "
              "order through the executor's safety layers", body=EXCHANGE_BODY,
              response={"type": "object", "required": ["status"]},
              errors={403: "mode", 409: "pending order on the pair",
                      502: "broker failure", 504: "executor timeout"})
async def exchange(request: web.Request) -> web.Response:
    """``{from, to, amount}``: at least ``amount`` of ``to`` for ``from`` (direct pairs
    only); a ``request_id`` makes a retry idempotent."""
    source, target, amount, request_id = _exchange_request(await read_json(request))
    log.warning("manual_exchange_requested", source=source, target=target,
                amount=str(amount), request_id=request_id)
    result = await ask_actor(request, "executor", SubmitExchange(
        source, target, amount, f"manual-fx|{request_id}", "manual",
        reason="manual exchange via the admin API"), timeout=EXCHANGE_TIMEOUT_S)
    if not isinstance(result, OrderResult):
        raise ApiError(502, "executor_error", f"unexpected executor answer: {result!r}")
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
