"""The kill switch's cancels: every open order at every broker orders were sent to.

The mode is already ``research`` when the kill switch cancels, so the brokers are not
chosen by the mode: the paper broker, and the real broker whenever one is configured
(live orders placed before the switch are still open there). Each order is listed as
cancelled or failed; the open orders are read again afterwards and any still open is an
error too, so the caller (and the CLI's exit status) sees what is left.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from arduino_trader.domain.execution.facts import LedgerMode
from arduino_trader.protocols.broker import Broker, Order
from arduino_trader.protocols.broker_errors import BrokerError

from .base import ActorContext
from .executor_facts import BROKER_TIMEOUT_S


@dataclass
class CancelReport:
    """What the cancels did, JSON-ready via :meth:`as_dict`."""

    cancelled: list[dict[str, Any]] = field(default_factory=list)
    failed: list[dict[str, Any]] = field(default_factory=list)
    still_open: list[dict[str, Any]] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)

    def as_dict(self) -> dict[str, Any]:
        """``cancelled``, ``failed``, ``still_open`` and ``errors`` (empty: all done)."""
        return {"cancelled": self.cancelled, "failed": self.failed,
                "still_open": self.still_open, "errors": self.errors}


def cancel_targets(ctx: ActorContext) -> list[tuple[LedgerMode, Broker]]:
    """The brokers orders may be open at, each once: the configured broker when it is
    a real one (first: live orders matter most), then the paper broker."""
    paper = ctx.deps.paper_broker
    real = ctx.deps.broker
    targets: list[tuple[LedgerMode, Broker]] = []
    if not real.simulated:
        targets.append(("live", real))
    if all(broker is not paper for _, broker in targets):
        targets.append(("research", paper))
    return targets


def _describe(mode: LedgerMode, order: Order) -> dict[str, Any]:
    return {"mode": mode, "order_id": order.order_id, "client_order_id": order.user_order_id,
            "symbol": order.symbol, "side": order.side, "status": order.status_name}


def cancel_open(ctx: ActorContext, mode: LedgerMode, broker: Broker,
                report: CancelReport) -> None:
    """Ask ``broker`` to cancel each of its open orders; record each outcome."""
    try:
        orders = ctx.io.run(broker.open_orders(), BROKER_TIMEOUT_S)
    except (BrokerError, TimeoutError) as exc:
        report.errors.append(f"{mode}: open orders unknown, nothing cancelled: {exc}")
        return
    for order in orders:
        entry = _describe(mode, order)
        try:
            ctx.io.run(broker.cancel_order(order.order_id), BROKER_TIMEOUT_S)
        except (BrokerError, TimeoutError) as exc:
            report.failed.append({**entry, "error": str(exc) or type(exc).__name__})
            report.errors.append(f"{mode} order {order.order_id}: not cancelled: {exc}")
        else:
            report.cancelled.append(entry)


def verify_closed(ctx: ActorContext, mode: LedgerMode, broker: Broker,
                  report: CancelReport) -> None:
    """Read the open orders again: any left is reported (check the broker's terminal)."""
    try:
        orders = ctx.io.run(broker.open_orders(), BROKER_TIMEOUT_S)
    except (BrokerError, TimeoutError) as exc:
        report.errors.append(f"{mode}: open orders could not be read again: {exc}")
        return
    for order in orders:
        report.still_open.append(_describe(mode, order))
        report.errors.append(f"{mode} order {order.order_id} is still open at the broker")
