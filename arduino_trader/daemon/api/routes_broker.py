"""Broker routes: connection status from a real probe, and the broker's account."""

from __future__ import annotations

from typing import Any

from aiohttp import web

from arduino_trader.adapters.broker_factory import probe_broker
from arduino_trader.protocols.broker import AccountSnapshot, Broker
from arduino_trader.protocols.broker_errors import BrokerError
from arduino_trader.protocols.messages import ComponentStatus
from arduino_trader.protocols.runtime import ActorUnavailable

from .context import ctx_of
from .errors import ApiError
from .helpers import json_response
from .router import ApiRouter

router = ApiRouter("broker")

PROBE_TIMEOUT_S = 20.0

STATUS_SCHEMA: dict[str, Any] = {
    "type": "object",
    "required": ["connected", "message", "last_check"],
    "properties": {"connected": {"type": "boolean"}, "message": {"type": "string"},
                   "last_check": {"type": "string", "format": "date-time"},
                   "broker": {"enum": ["paper", "tradernet"]},
                   "simulated": {"type": "boolean"}},
}
MONEY = {"type": "string", "description": "exact decimal"}
ACCOUNT_SCHEMA: dict[str, Any] = {
    "type": "object",
    "required": ["simulated", "positions", "cash"],
    "properties": {
        "simulated": {"type": "boolean"},
        "positions": {"type": "array", "items": {
            "type": "object", "properties": {
                "symbol": {"type": "string"}, "quantity": MONEY, "avg_price": MONEY,
                "market_price": MONEY, "market_value": MONEY, "currency": {"type": "string"}}}},
        "cash": {"type": "array", "items": {
            "type": "object", "properties": {"currency": {"type": "string"},
                                             "amount": MONEY}}},
    },
}


def _broker(request: web.Request) -> Broker:
    broker = ctx_of(request).broker
    if broker is None:
        raise ApiError(503, "broker_not_configured", "no broker is wired into this daemon")
    return broker


@router.route("GET", "/api/system/tradernet", summary="Broker connection: a real probe now",
              response=STATUS_SCHEMA, errors={503: "no broker wired"})
async def tradernet_status(request: web.Request) -> web.Response:
    """Probe the configured broker and report it (also to the health monitor)."""
    ctx = ctx_of(request)
    broker = _broker(request)
    connected, message = await probe_broker(broker, PROBE_TIMEOUT_S)
    now = ctx.clock.now()
    try:
        ctx.bus.tell("health", ComponentStatus("broker", "ok" if connected else "degraded",
                                               message, now))
    except ActorUnavailable:
        pass
    return json_response({"connected": connected, "message": message, "last_check": now,
                          "broker": ctx.settings.current().typed.broker.kind,
                          "simulated": bool(getattr(broker, "simulated", False))})


def account_json(snapshot: AccountSnapshot) -> dict[str, Any]:
    """JSON form of an account snapshot (money as strings)."""
    return {
        "simulated": snapshot.simulated,
        "positions": [{"symbol": p.symbol, "quantity": p.quantity, "avg_price": p.avg_price,
                       "market_price": p.market_price, "market_value": p.market_value,
                       "currency": p.currency, "name": p.name} for p in snapshot.positions],
        "cash": [{"currency": c.currency, "amount": c.amount} for c in snapshot.cash],
    }


@router.route("GET", "/api/broker/account", summary="Positions and cash as the broker reports",
              response=ACCOUNT_SCHEMA, errors={503: "broker unavailable or refused"})
async def broker_account(request: web.Request) -> web.Response:
    """The broker's account now; a broker failure is a 503 with its kind, never empty."""
    broker = _broker(request)
    try:
        snapshot = await broker.account()
    except BrokerError as exc:
        raise ApiError(503, exc.kind, exc.message) from None
    return json_response(account_json(snapshot))
