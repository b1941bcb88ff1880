"""What a failed placement lets the journal conclude (pure).

Only a definite answer is final: the broker refused the order (``rejected``), or the
adapter never sent the request (``not_placed``). Everything else (a timeout, a lost
answer, lookups that did not find the order yet, a 429, an open circuit) leaves the entry
``unresolved``: the request may still be in flight at the broker, which may accept it
seconds or minutes later. The follow-up then asks the broker's order list and history,
and only after :data:`~arduino_trader.domain.execution.journal.ABSENT_GRACE` does "no
order with this client id" become ``not_placed``.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

from arduino_trader.protocols.broker_errors import BrokerRejected, OrdersDisabled
from arduino_trader.protocols.messages import HealthLevel
from arduino_trader.protocols.order_journal import JournalRecord, JournalState

RECHECK_WINDOW = timedelta(days=1)
"""How long after its creation a ``not_placed`` entry is still asked about: a broker that
shows the order after all reopens it (its fills are recorded, never lost)."""
RECHECK_EVERY = timedelta(minutes=10)
"""The spacing of those late checks (each costs broker calls)."""

OUTCOME_UNKNOWN = ("outcome unknown: do not retry; the order is checked with the broker "
                   "until it is resolved")


_EVENTS = {"unresolved": "order_outcome_unknown", "rejected": "order_rejected_by_broker",
           "not_placed": "order_not_placed"}


@dataclass(frozen=True)
class PlacementFailure:
    """The journal state a failed placement leaves, and the note that says why."""

    state: JournalState
    note: str

    @property
    def event(self) -> str:
        """The log event naming it (the runbook's alert names)."""
        return _EVENTS.get(self.state, f"order_{self.state}")


def after_failure(exc: BaseException) -> PlacementFailure:
    """The state a placement that raised ``exc`` leaves its journal entry in."""
    if isinstance(exc, BrokerRejected):
        return PlacementFailure("rejected", str(exc))
    if isinstance(exc, OrdersDisabled):
        return PlacementFailure("not_placed", f"never sent: {exc}")
    reason = str(exc) or type(exc).__name__
    return PlacementFailure("unresolved", f"{OUTCOME_UNKNOWN} ({reason})")


def recheck_due(state: str, created_at: datetime, updated_at: datetime,
                now: datetime) -> bool:
    """Whether a final ``not_placed`` entry is asked about again now."""
    return (state == "not_placed" and now - created_at <= RECHECK_WINDOW
            and now - updated_at >= RECHECK_EVERY)


def unresolved_report(rows: Sequence[JournalRecord]) -> tuple[HealthLevel, str]:
    """The health level and message for the entries whose outcome is unknown."""
    if not rows:
        return "ok", "no order with an unknown outcome"
    named = ", ".join(f"client id {r.client_order_id} ({r.side} {r.quantity} "
                      f"{r.symbol}, {r.mode})" for r in rows[:5])
    more = f" and {len(rows) - 5} more" if len(rows) > 5 else ""
    return "degraded", (f"order outcome unknown, being resolved with the broker (do not "
                        f"retry): {named}{more}")
