"""Fan-out of the daemon's bus events to server-sent-event clients.

The bus calls :meth:`EventHub.offer` from any actor thread; the hub numbers each event,
keeps the last ``replay`` of them for ``Last-Event-ID`` resumption and hands them to
every subscriber's bounded queue on the API's event loop. A subscriber whose queue is
full is cut off (it may reconnect and resume) rather than buffered without bound.
"""

from __future__ import annotations

import asyncio
from collections import deque
from dataclasses import asdict, dataclass, field
from typing import Any

from arduino_trader.protocols.cash_flows import (
    DepositReceived,
    DividendReceived,
    WithdrawalRecorded,
)
from arduino_trader.protocols.execution import OrderPlaced, OrderRejected, TradeExecuted
from arduino_trader.protocols.messages import JobFinished
from arduino_trader.protocols.planning import PlanReady

EVENT_KINDS: dict[type, str] = {
    PlanReady: "plan_ready",
    OrderPlaced: "order_placed",
    TradeExecuted: "order_filled",
    OrderRejected: "order_refused",
    JobFinished: "job_finished",
    DepositReceived: "deposit_booked",
    DividendReceived: "dividend_booked",
    WithdrawalRecorded: "withdrawal_booked",
}
HEALTH_KIND = "health_changed"


class HubFull(RuntimeError):
    """Every client slot is taken."""


@dataclass(frozen=True)
class StreamEvent:
    """One numbered event as sent to clients."""

    id: int
    kind: str
    data: dict[str, Any]


def describe(event: object) -> tuple[str, dict[str, Any]] | None:
    """The stream kind and payload of a bus event, or None for events not streamed."""
    kind = EVENT_KINDS.get(type(event))
    if kind is None:
        return None
    data = asdict(event)  # type: ignore[call-overload]
    if isinstance(event, PlanReady):
        data["steps"] = len(event.steps)
    return kind, data


@dataclass
class Subscription:
    """One client's bounded queue; ``None`` in it means "stop"."""

    queue: asyncio.Queue[StreamEvent | None]
    dropped: bool = False
    backlog: list[StreamEvent] = field(default_factory=list)
    reset: bool = False


class EventHub:
    """Bounded fan-out with a replay window (all methods but :meth:`offer` run on
    ``loop``)."""

    def __init__(self, loop: asyncio.AbstractEventLoop, *, max_clients: int = 8,
                 queue_size: int = 256, replay: int = 512, first_id: int = 1) -> None:
        """``first_id``: the daemon passes its start time in milliseconds, so the ids of a
        later run are above any earlier run's and a client resuming across a restart is
        told to reset instead of being handed unrelated events."""
        self.loop = loop
        self.max_clients = max_clients
        self.queue_size = queue_size
        self._replay: deque[StreamEvent] = deque(maxlen=replay)
        self._subs: list[Subscription] = []
        self._next_id = first_id
        self.closed = asyncio.Event()

    @property
    def last_id(self) -> int:
        """The id of the newest event (0 before the first)."""
        return self._next_id - 1

    def offer(self, event: object) -> None:
        """Thread-safe: stream ``event`` if it is one of :data:`EVENT_KINDS`."""
        described = describe(event)
        if described is None or self.loop.is_closed():
            return
        try:
            self.loop.call_soon_threadsafe(self.publish, *described)
        except RuntimeError:
            pass  # the loop closed meanwhile: the daemon is stopping

    def publish(self, kind: str, data: dict[str, Any]) -> StreamEvent:
        """Number the event, keep it for replay and hand it to every subscriber."""
        item = StreamEvent(self._next_id, kind, data)
        self._next_id += 1
        self._replay.append(item)
        for sub in self._subs:
            if sub.dropped:
                continue
            try:
                sub.queue.put_nowait(item)
            except asyncio.QueueFull:
                self._drop(sub)
        return item

    def subscribe(self, last_event_id: int | None = None) -> Subscription:
        """A new client; :class:`HubFull` beyond ``max_clients``. With ``last_event_id``
        the newer kept events come first; ``reset`` says some were already forgotten."""
        if len(self._subs) >= self.max_clients:
            raise HubFull(f"{self.max_clients} stream clients already connected")
        sub = Subscription(asyncio.Queue(self.queue_size))
        if self.closed.is_set():
            sub.queue.put_nowait(None)
        if last_event_id is not None:
            sub.backlog = [e for e in self._replay if e.id > last_event_id]
            oldest = self._replay[0].id if self._replay else self._next_id
            sub.reset = last_event_id + 1 < oldest or last_event_id > self.last_id
        self._subs.append(sub)
        return sub

    def unsubscribe(self, sub: Subscription) -> None:
        """Free the client's slot."""
        if sub in self._subs:
            self._subs.remove(sub)

    @property
    def clients(self) -> int:
        """Connected clients."""
        return len(self._subs)

    def close(self) -> None:
        """Tell every client to stop (the daemon is shutting down)."""
        self.closed.set()
        for sub in self._subs:
            self._drop(sub)

    @staticmethod
    def _drop(sub: Subscription) -> None:
        sub.dropped = True
        while not sub.queue.empty():
            sub.queue.get_nowait()
        sub.queue.put_nowait(None)
