"""Message delivery by actor name; the supervisor keeps the name → ref directory."""

from __future__ import annotations

import threading
from collections import defaultdict
from typing import Any

import pykka

from arduino_trader.protocols.runtime import ActorUnavailable


class ActorBus:
    """Implements :class:`arduino_trader.protocols.runtime.Bus` over pykka refs."""

    def __init__(self) -> None:
        self._refs: dict[str, pykka.ActorRef[Any]] = {}
        self._subscribers: dict[type, list[str]] = defaultdict(list)
        self._lock = threading.Lock()

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

    def ask(self, actor: str, message: object, timeout: float) -> Any:
        """Send and wait for the reply (``TimeoutError`` after ``timeout``)."""
        try:
            future = self.ref(actor).ask(message, block=False)
        except pykka.ActorDeadError:
            raise ActorUnavailable(f"actor {actor!r} is not running") from None
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
        for name in names:
            try:
                self.tell(name, event)
            except ActorUnavailable:
                continue
