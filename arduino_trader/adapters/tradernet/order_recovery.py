"""A placement whose answer was lost: looked up by its client id, several times over,
until it is found (acknowledged, ``recovered``), concluded absent
(:class:`OrderNotPlaced`) or left unknown (:class:`OrderOutcomeUnknown`)."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable

import structlog

from arduino_trader.protocols.broker import Order, OrderAck, OrderRequest
from arduino_trader.protocols.broker_errors import (
    BrokerError,
    OrderNotPlaced,
    OrderOutcomeUnknown,
)

log = structlog.get_logger(component="tradernet")


def match_order(orders: tuple[Order, ...], user_order_id: int) -> Order | None:
    """The first of ``orders`` carrying ``user_order_id``, or None."""
    hits = [o for o in orders if o.user_order_id == user_order_id]
    return hits[0] if hits else None


async def recover_placement(request: OrderRequest, cause: BrokerError,
                            lookup: Callable[[], Awaitable[tuple[Order, ...]]], *,
                            attempts: int, delay_s: float) -> OrderAck:
    """Look a placement with a lost answer up by client id, several times over.

    The request may still be in flight at the broker, so "absent" is concluded only
    after every lookup (spaced by growing delays) succeeded without finding it.
    ``lookup`` reads the current period's orders.
    """
    uid = request.user_order_id
    log.warning("order_answer_lost", user_order_id=uid, error=cause.message)
    last: BrokerError | None = None
    looked = 0
    for attempt in range(max(1, attempts)):
        await asyncio.sleep(delay_s * (attempt + 1))
        try:
            found = match_order(await lookup(), uid)
        except BrokerError as exc:
            last = exc
            continue
        looked += 1
        if found is not None:
            log.warning("order_recovered", user_order_id=uid, order_id=found.order_id,
                        status=found.status)
            return OrderAck(order_id=found.order_id, user_order_id=uid, recovered=True)
    if looked and last is None:
        raise OrderNotPlaced(f"putTradeOrder: answer lost ({cause.message}) and no order "
                             f"with user_order_id {uid} appeared in {looked} lookups",
                             command="putTradeOrder")
    failure = last.message if last is not None else "no lookup"
    raise OrderOutcomeUnknown(f"putTradeOrder: answer lost ({cause.message}) and the "
                              f"lookup failed ({failure}); reconcile before any new "
                              "order", user_order_id=uid, command="putTradeOrder")
