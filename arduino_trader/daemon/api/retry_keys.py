"""Retry keys of the routes that send orders: one ``request_id`` names one request.

Every money-moving route requires a ``request_id`` (its body declares it, see
:data:`.body.RequestId`). The same key with the same request is a replay: the executor
answers ``duplicate`` from its journal and nothing is sent again. The same key with
another request is a 409 ``request_id_reused`` naming the key, before anything is written.
How the earlier request is known, per path:

- a manual order (``manual|<request_id>``): the order journal's entry under that intent
  key, or the buy deferred behind its funding exchange under it; ISIN, side and quantity
  are compared;
- a manual exchange (``manual-fx|<request_id>``): the journal's entry under that key,
  whose reason records the requested amount and currencies (:func:`exchange_reason`);
  the reason is compared;
- satellite transfers and deposits: the bucket ledger's rows under the key, compared by
  the satellite manager (actors/satellite_commands.py).

The check runs before the executor is asked and again when it answers ``duplicate``, so
two different requests racing under one key cannot both be answered as applied.
"""

from __future__ import annotations

import asyncio
from decimal import Decimal

from aiohttp import web

from arduino_trader.adapters.store import deferred_buys
from arduino_trader.adapters.store.order_journal import SqliteOrderJournal
from arduino_trader.protocols.execution import OrderIntent
from arduino_trader.protocols.store import Database

from .context import ctx_of
from .errors import ApiError

REUSED = "request_id_reused"


def reused(request_id: str, what: str) -> ApiError:
    """The 409 for a ``request_id`` that already names another request (``what``)."""
    return ApiError(409, REUSED, f"request_id {request_id!r} was already used for {what}; "
                    "a new request needs a new request_id", request_id=request_id)


def order_key(request_id: str) -> str:
    """The executor's intent key of a manual order."""
    return f"manual|{request_id}"


def exchange_key(request_id: str) -> str:
    """The executor's intent key of a manual exchange."""
    return f"manual-fx|{request_id}"


def exchange_reason(source: str, target: str, amount: Decimal) -> str:
    """The journaled reason of a manual exchange: the request itself (``amount`` is
    within the body's bounds, so writing it out is cheap)."""
    return (f"manual exchange via the admin API: {format(amount.normalize(), 'f')} "
            f"{target} for {source}")


def _order_under(db: Database, key: str) -> tuple[str, str, Decimal] | None:
    """ISIN, side and quantity of the order journaled or deferred under ``key``."""
    record = SqliteOrderJournal(db).find_by_intent(key)
    if record is not None:
        return record.isin, record.side, Decimal(record.quantity)
    deferred = deferred_buys.find(db, key)
    if deferred is None:
        return None
    intent = deferred.order.intent
    return intent.isin, intent.side, intent.quantity


async def check_order(request: web.Request, request_id: str, intent: OrderIntent) -> None:
    """409 when ``request_id`` already names another order than ``intent``."""
    found = await asyncio.to_thread(_order_under, ctx_of(request).store,
                                    order_key(request_id))
    if found is not None and found != (intent.isin, intent.side, intent.quantity):
        isin, side, quantity = found
        raise reused(request_id, f"another order ({side} {quantity} {isin})")


async def check_exchange(request: web.Request, request_id: str, reason: str) -> None:
    """409 when ``request_id`` already names another exchange than ``reason`` records."""
    record = await asyncio.to_thread(SqliteOrderJournal(ctx_of(request).store).find_by_intent,
                                     exchange_key(request_id))
    if record is not None and record.reason != reason:
        raise reused(request_id, f"another exchange ({record.reason})")
