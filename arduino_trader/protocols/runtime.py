"""Ports of the actor runtime: the message bus and the bridge to the I/O loop."""

from __future__ import annotations

from collections.abc import Coroutine
from typing import Any, Protocol, TypeVar

T = TypeVar("T")


class ActorUnavailable(RuntimeError):
    """The named actor is not running (stopped, restarting or unknown)."""


class JobFailed(RuntimeError):
    """A job (``RunJob``) raised in its actor, which then restarts; the cause is chained.
    What its asker receives instead of the job's own exception, so that an actor that
    asks another for a job reports that job's failure without taking it for its own."""


ASK_FAILURES: tuple[type[Exception], ...] = (ActorUnavailable, TimeoutError)
"""What an ask raises when the asked actor gives no answer (it is not running, or the
timeout passed). The asked handler's own refusals come on top, named by each caller."""


class IoRunner(Protocol):
    """Runs coroutines on the daemon's single asyncio I/O loop."""

    def run(self, coro: Coroutine[Any, Any, T], timeout: float) -> T:
        """Run ``coro`` on the loop and block the calling (non-loop) thread for its result.

        Raises ``TimeoutError`` after ``timeout`` seconds (the coroutine is cancelled).
        """
        ...


class Bus(Protocol):
    """Message delivery between actors, by actor name (refs change on restart)."""

    def tell(self, actor: str, message: object) -> None:
        """Fire-and-forget; raises :class:`ActorUnavailable` if the actor is not running."""
        ...

    def ask(self, actor: str, message: object, timeout: float) -> Any:
        """Send and wait for the reply; ``TimeoutError`` after ``timeout`` seconds."""
        ...

    def publish(self, event: object) -> None:
        """Deliver ``event`` to every actor subscribed to its type (best effort)."""
        ...


class SettlingBus(Bus, Protocol):
    """A bus that can wait until the actors have handled everything handed to them."""

    def settle(self, timeout: float) -> bool:
        """Wait until every message so far, and those it caused, is handled; False when
        ``timeout`` ran out first."""
        ...
