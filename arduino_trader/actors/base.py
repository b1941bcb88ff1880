"""The base of every actor: typed message dispatch, heartbeats, context, logging.

Subclasses declare handlers with :func:`handles`::

    class Planner(BaseActor):
        name = "planner"

        @handles(PricesUpdated)
        def _on_prices(self, msg: PricesUpdated) -> None: ...

A handler's return value is the reply to an ``ask``. An exception raised while handling
a ``tell`` stops the actor (the supervisor restarts it). During an ``ask`` it is returned
to the asker; a job (:class:`RunJob`) that raised answers :class:`JobFailed` and then
stops the actor as well, since it may have left the actor's memory half-updated: the
supervisor starts a fresh one that reads its state from the store. Other asks (commands
and queries refused with an error) keep the actor running.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from dataclasses import dataclass, field, fields
from typing import Any, ClassVar, TypeVar

import pykka
import structlog

from arduino_trader.config.settings import Settings
from arduino_trader.protocols.clock import Clock
from arduino_trader.protocols.messages import Heartbeat, Ping, RunJob, Settle
from arduino_trader.protocols.runtime import ActorUnavailable, Bus, IoRunner, JobFailed

from .dependencies import Dependencies
from .job_beat import JobBeat

M = TypeVar("M")
_HANDLER_ATTR = "_handles_message_types"
HEALTH_ACTOR = "health"


def handles(*message_types: type) -> Callable[[Callable[..., Any]], Callable[..., Any]]:
    """Mark a method as the handler of ``message_types``."""

    def mark(func: Callable[..., Any]) -> Callable[..., Any]:
        setattr(func, _HANDLER_ATTR, message_types)
        return func

    return mark


@dataclass(frozen=True)
class RuntimeContext:
    """What the runtime gives every actor: nothing else is shared between actors."""

    bus: Bus
    io: IoRunner
    clock: Clock
    settings: Callable[[], Settings]
    stopping: threading.Event = field(default_factory=threading.Event)
    """Set when the daemon shuts down: long jobs check it and stop early."""


@dataclass(frozen=True)
class ActorContext(RuntimeContext):
    """The runtime plus the adapters the daemon wired in: what an actor that reads the
    store or talks to a broker is started with."""

    deps: Dependencies = field(kw_only=True)


class MissingDependency(LookupError):
    """An actor was started without an adapter it needs (a wiring mistake)."""


def check_wiring(actor: str, ctx: RuntimeContext, needs: tuple[str, ...]) -> None:
    """Raise :class:`MissingDependency` naming every adapter in ``needs`` (fields of
    :class:`Dependencies`) that ``ctx`` does not carry."""
    if not needs:
        return
    deps = ctx.deps if isinstance(ctx, ActorContext) else None
    missing = [n for n in needs if deps is None or getattr(deps, n) is None]
    if missing:
        raise MissingDependency(f"actor {actor!r} needs {', '.join(missing)}, "
                                "which this daemon does not wire")


class UnknownMessage(TypeError):
    """An actor received a message type it has no handler for."""


class BaseActor(pykka.ThreadingActor):
    """Typed dispatch plus the liveness protocol shared by all actors."""

    name: ClassVar[str] = "actor"
    needs: ClassVar[tuple[str, ...]] = ()
    """The adapters (fields of :class:`Dependencies`) this actor uses, checked when it
    is started: a daemon that does not wire one fails at start, not at first use."""
    _dispatch: ClassVar[dict[type, str]]

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        unknown = set(cls.needs) - {f.name for f in fields(Dependencies)}
        if unknown:
            raise TypeError(f"{cls.__name__}.needs names no adapter: {sorted(unknown)}")
        table: dict[type, str] = {}
        for klass in reversed(cls.__mro__):
            for attr, value in vars(klass).items():
                for message_type in getattr(value, _HANDLER_ATTR, ()):
                    table[message_type] = attr
        cls._dispatch = table

    def __init__(self, ctx: RuntimeContext) -> None:
        check_wiring(self.name, ctx, self.needs)
        super().__init__()
        self.ctx = ctx
        self.log = structlog.get_logger(actor=self.name)
        # While a job with a budget runs, health hears the actor is busy, not dead.
        self._job_beat = JobBeat(self.name, self._send_heartbeat, ctx.clock)

    def on_receive(self, message: Any) -> Any:
        """Dispatch ``message`` to the handler declared for its type."""
        attr = self._dispatch.get(type(message))
        if attr is None:
            raise UnknownMessage(f"{self.name} has no handler for {type(message).__name__}")
        if not isinstance(message, RunJob):
            return getattr(self, attr)(message)
        if message.budget_s > 0:
            self._job_beat.begin(message.job, message.budget_s)
        try:
            return getattr(self, attr)(message)
        except Exception as exc:
            self.log.error("job_raised_actor_restarts", job=message.job, error=repr(exc))
            self.actor_ref.stop(block=False)  # after the answer; then restarted clean
            raise JobFailed(f"{message.job} raised {type(exc).__name__}: {exc}") from exc
        finally:
            if message.budget_s > 0:
                self._job_beat.end()

    def _send_heartbeat(self, beat: Heartbeat) -> None:
        try:
            self.ctx.bus.tell(HEALTH_ACTOR, beat)
        except ActorUnavailable:
            pass

    @handles(Settle)
    def _on_settle(self, message: Settle) -> None:
        return None

    @handles(Ping)
    def _on_ping(self, message: Ping) -> None:
        self._send_heartbeat(Heartbeat(self.name, self.ctx.clock.now()))

    def on_failure(self, exception_type: Any, exception_value: Any, traceback: Any) -> None:
        """Log the crash; the supervisor notices the dead actor and restarts it."""
        self.log.error("actor_crashed", error=repr(exception_value),
                       exc_info=(exception_type, exception_value, traceback))
