"""The executor's handling of outcomes in doubt (see domain/execution/placement.py).

A placement whose answer was lost leaves its entry ``unresolved``; the health monitor's
``orders`` component is degraded, naming each such order, until the follow-up resolves
it. Recent ``not_placed`` entries are asked about again: when the broker shows the order
after all, the entry is reopened and the same follow-up records its fills.
"""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from arduino_trader.domain.execution.facts import LedgerMode
from arduino_trader.domain.execution.placement import unresolved_report
from arduino_trader.protocols.broker import Broker
from arduino_trader.protocols.broker_errors import BrokerError
from arduino_trader.protocols.execution import OrderPlaced, OrderRejected
from arduino_trader.protocols.messages import ComponentStatus
from arduino_trader.protocols.order_journal import NewOrder, OrderJournal

from .base import HEALTH_ACTOR, ActorContext
from .executor_facts import BROKER_TIMEOUT_S

COMPONENT = "orders"


def placed_event(new: NewOrder, cid: int, broker_order_id: int) -> OrderPlaced:
    """The bus event of an order the broker acknowledged."""
    return OrderPlaced(cid, broker_order_id, new.intent.isin, new.intent.symbol,
                       new.intent.side, Decimal(new.quantity), new.limit_price, new.currency,
                       new.intent.source, new.bucket_id, new.mode)


def refused_event(new: NewOrder, state: str, note: str) -> OrderRejected | None:
    """The bus event of an order the broker refused (``rejected``) or that was never
    sent (``not_placed``); None when the outcome is unknown (``unresolved``)."""
    if state not in ("rejected", "not_placed"):
        return None
    return OrderRejected(new.intent.isin, new.intent.side, Decimal(new.quantity),
                         new.intent.source, "broker", state, note)


def recheck_not_placed(ctx: ActorContext, journal: OrderJournal, broker: Broker,
                       mode: LedgerMode, log: Any) -> int:
    """Ask the broker about recent ``not_placed`` entries; reopen those it shows.
    Returns how many were reopened (the caller's follow-up then settles them)."""
    now = ctx.clock.now()
    reopened = 0
    for record in journal.recheck_candidates(mode, now):
        cid = record.client_order_id
        try:
            order = ctx.io.run(broker.find_order(cid), BROKER_TIMEOUT_S)
        except (BrokerError, TimeoutError) as exc:
            log.warning("not_placed_recheck_failed", client_order_id=cid, error=str(exc))
            continue
        if order is None:
            journal.mark_rechecked(cid, now)
        elif journal.reopen(cid, order.order_id, now):
            log.error("not_placed_reopened", client_order_id=cid,
                      broker_order_id=order.order_id, status=order.status_name, mode=mode)
            reopened += 1
    return reopened


def report_in_doubt(ctx: ActorContext, journal: OrderJournal, log: Any) -> None:
    """Tell the health monitor which orders have an unknown outcome (none: ok)."""
    try:
        level, message = unresolved_report(journal.in_doubt())
        ctx.bus.tell(HEALTH_ACTOR, ComponentStatus(COMPONENT, level, message[:500],
                                                   ctx.clock.now()))
    except Exception as exc:  # a report must never break an order path
        log.warning("orders_health_not_reported", error=str(exc))
