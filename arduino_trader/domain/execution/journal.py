"""The order journal's state machine: what a broker answer means for a journal entry.

An entry is written (``journaled``) and committed before the order is sent. After that,
only a definite broker answer moves it: an unknown outcome stays ``unresolved`` and is
checked again, never assumed filled or absent.
"""

from __future__ import annotations

from datetime import datetime, timedelta

from arduino_trader.protocols.broker import Order
from arduino_trader.protocols.money import ZERO
from arduino_trader.protocols.order_journal import (
    FINAL_STATES,
    FollowUp,
    JournalEntry,
    JournalState,
)

__all__ = ["ABSENT_GRACE", "FINAL_STATES", "OPEN_STATES", "FollowUp", "JournalEntry",
           "JournalState", "follow_up"]

OPEN_STATES: frozenset[str] = frozenset({"journaled", "sent", "unresolved", "partially_filled"})
ABSENT_GRACE = timedelta(minutes=5)
"""How long the broker may lag before 'no order with this client id' means not placed."""

_STATUS_STATE: dict[int, JournalState] = {
    21: "filled", 30: "cancelled", 31: "cancelled", 70: "rejected", 74: "rejected",
    0: "rejected", 71: "expired", 72: "expired",
}


def follow_up(entry: JournalEntry, order: Order | None, now: datetime) -> FollowUp:
    """Apply a definite broker answer about ``entry`` (``None`` = the broker has no order
    with this client id)."""
    if order is None:
        if entry.state in ("journaled", "unresolved") and now - entry.created_at >= ABSENT_GRACE:
            return FollowUp("not_placed", None, None, ZERO, (),
                            "the broker has no order with this client id")
        return FollowUp(entry.state, entry.broker_order_id, None, entry.filled, (),
                        "not found yet; checked again later")
    if order.user_order_id is not None and order.user_order_id != entry.client_order_id:
        raise ValueError(f"order {order.order_id} has client id {order.user_order_id}, "
                         f"not {entry.client_order_id}")
    new_fills = tuple(f for f in order.fills if f.trade_id not in entry.known_trade_ids)
    from_fills = sum((f.quantity for f in order.fills), ZERO)
    filled = max(from_fills, order.quantity - order.leaves_quantity, entry.filled)
    if order.terminal:
        state = _STATUS_STATE.get(order.status, "cancelled")
        if state == "filled" and filled < order.quantity:
            filled = order.quantity
    else:
        state = "partially_filled" if filled > 0 else "sent"
    return FollowUp(state, order.order_id, order.status, filled, new_fills,
                    f"broker status {order.status_name}")
