"""Message delivery by actor name; the supervisor keeps the name → ref directory."""

from __future__ import annotations

import threading
import time
from collections import defaultdict
from collections.abc import Callable
from typing import Any

import pykka

from arduino_trader.protocols.messages import Settle
from arduino_trader.protocols.runtime import ActorUnavailable

SETTLE = Settle()


class ActorBus:
    """Implements :class:`arduino_trader.protocols.runtime.Bus` over pykka refs."""

    def __init__(self) -> None:
        self._refs: dict[str, pykka.ActorRef[Any]] = {}
        self._subscribers: dict[type, list[str]] = defaultdict(list)
        self._lock = threading.Lock()
        # Actors handed a message since the last settle round, added after the hand-off
        # (a message enqueued after a round's barrier lands in the next round's set).
        self._touched: set[str] = set()
        self._listeners: list[Callable[[object], None]] = []

    def listen(self, listener: Callable[[object], None]) -> None:
        """Also hand every published event to ``listener`` (called on the publishing
        thread; it must be quick and thread-safe, e.g. the API's event streams)."""
        with self._lock:
            self._listeners.append(listener)

    def register(self, name: str, ref: pykka.ActorRef[Any]) -> None:
        """Point ``name`` at a (new) actor ref."""
        with self._lock:
            self._refs[name] = ref

    def unregister(self, name: str) -> None:
        """Forget ``name`` (the actor stopped or died)."""
        with self._lock:
            self._refs.pop(name, None)

    def subscribe(self, event_type: type, actor: str) -> None:
        """Deliver published events of ``event_type`` to ``actor``."""
        with self._lock:
            if actor not in self._subscribers[event_type]:
                self._subscribers[event_type].append(actor)

    def ref(self, name: str) -> pykka.ActorRef[Any]:
        """The live ref of ``name``; :class:`ActorUnavailable` when none is running."""
        with self._lock:
            ref = self._refs.get(name)
        if ref is None or not ref.is_alive():
            raise ActorUnavailable(f"actor {name!r} is not running")
        return ref

    def tell(self, actor: str, message: object) -> None:
        """Fire-and-forget to ``actor``."""
        try:
            self.ref(actor).tell(message)
        except pykka.ActorDeadError:
            raise ActorUnavailable(f"actor {actor!r} is not running") from None
        with self._lock:
            self._touched.add(actor)

    def ask(self, actor: str, message: object, timeout: float) -> Any:
        """Send and wait for the reply (``TimeoutError`` after ``timeout``)."""
        try:
            future = self.ref(actor).ask(message, block=False)
        except pykka.ActorDeadError:
            raise ActorUnavailable(f"actor {actor!r} is not running") from None
        with self._lock:
            self._touched.add(actor)
        try:
            return future.get(timeout=timeout)
        except pykka.Timeout:
            raise TimeoutError(f"actor {actor!r} did not answer within {timeout:.1f}s") from None
        except pykka.ActorDeadError:
            raise ActorUnavailable(f"actor {actor!r} stopped before answering") from None

    def publish(self, event: object) -> None:
        """Deliver ``event`` to every subscriber of its type; absent actors are skipped."""
        with self._lock:
            names = list(self._subscribers.get(type(event), ()))
            listeners = list(self._listeners)
        for listener in listeners:
            listener(event)
        for name in names:
            try:
                self.tell(name, event)
            except ActorUnavailable:
                continue

    def settle(self, timeout: float) -> bool:
        """Wait until every message handed to an actor so far, and every message those
        caused in turn, has been handled; False when ``timeout`` ran out first.

        Rounds of barriers (:class:`Settle`, asked of each actor handed a message since
        the last round: it queues behind them) until a round hands none out. The stepped
        scheduler settles after each job, so a job's events are handled before the next
        job reads what they wrote, however the threads are scheduled."""
        deadline = time.monotonic() + timeout
        while True:
            with self._lock:
                touched, self._touched = self._touched, set()
            if not touched:
                return True
            for name in sorted(touched):
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    return False
                try:
                    self.ref(name).ask(SETTLE, timeout=remaining)
                except pykka.Timeout:
                    return False
                except (ActorUnavailable, pykka.ActorDeadError):
                    pass  # stopped meanwhile: nothing left to wait for
