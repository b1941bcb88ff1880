"""Actor supervision: start in dependency order, restart with backoff, stop in reverse.

pykka has no supervision of its own: a ``tell`` whose handler raises stops the actor.
The supervisor watches every actor it started, reports lifecycle events to the health
monitor, and restarts a dead actor with exponential backoff. An actor that keeps dying
is given up (health then reports ``failing``).
"""

from __future__ import annotations

import threading
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import pykka
import structlog

from arduino_trader.actors.base import HEALTH_ACTOR, BaseActor, RuntimeContext, check_wiring
from arduino_trader.protocols.clock import Clock
from arduino_trader.protocols.messages import ActorLifecycle, Ping
from arduino_trader.protocols.runtime import ActorUnavailable

from .bus import ActorBus

log = structlog.get_logger(component="supervisor")


@dataclass(frozen=True)
class ActorSpec:
    """How to start one actor and what it depends on."""

    name: str
    actor_class: type[BaseActor]
    kwargs: dict[str, Any] = field(default_factory=dict)
    depends_on: tuple[str, ...] = ()
    subscriptions: tuple[type, ...] = ()
    on_give_up: Callable[[str], None] | None = None


@dataclass
class _Supervised:
    spec: ActorSpec
    ref: pykka.ActorRef[Any] | None = None
    restarts: int = 0
    deaths: deque[float] = field(default_factory=deque)
    restart_at: float | None = None
    gave_up: bool = False


def start_order(specs: list[ActorSpec]) -> list[ActorSpec]:
    """Topological order by ``depends_on``; ValueError on unknown names or cycles."""
    by_name = {s.name: s for s in specs}
    ordered: list[ActorSpec] = []
    state: dict[str, str] = {}

    def visit(name: str, chain: tuple[str, ...]) -> None:
        if state.get(name) == "done":
            return
        if state.get(name) == "visiting":
            raise ValueError(f"actor dependency cycle: {' -> '.join((*chain, name))}")
        if name not in by_name:
            raise ValueError(f"unknown actor dependency {name!r} (from {chain[-1]})")
        state[name] = "visiting"
        for dep in by_name[name].depends_on:
            visit(dep, (*chain, name))
        state[name] = "done"
        ordered.append(by_name[name])

    for spec in specs:
        visit(spec.name, ())
    return ordered


class Supervisor:
    """Starts, watches, restarts and stops the daemon's actors."""

    def __init__(self, bus: ActorBus, ctx: RuntimeContext, clock: Clock, *,
                 backoff_base_s: float = 1.0, backoff_max_s: float = 60.0,
                 max_restarts: int = 5, restart_window_s: float = 600.0,
                 watch_interval_s: float = 0.2, ping_interval_s: float = 5.0) -> None:
        self._bus = bus
        self._ctx = ctx
        self._clock = clock
        self._children: dict[str, _Supervised] = {}
        self._order: list[str] = []
        self._lock = threading.RLock()
        self._stopping = threading.Event()
        self._thread: threading.Thread | None = None
        self.backoff_base_s = backoff_base_s
        self.backoff_max_s = backoff_max_s
        self.max_restarts = max_restarts
        self.restart_window_s = restart_window_s
        self._watch_interval = watch_interval_s
        self._ping_interval = ping_interval_s

    def start_all(self, specs: list[ActorSpec]) -> None:
        """Start every actor in dependency order, then begin watching them. Raises
        :class:`MissingDependency` before starting any when one is not fully wired."""
        ordered = start_order(specs)
        for spec in ordered:
            check_wiring(spec.actor_class.name, self._ctx, spec.actor_class.needs)
        for spec in ordered:
            for event_type in spec.subscriptions:
                self._bus.subscribe(event_type, spec.name)
            child = _Supervised(spec)
            with self._lock:
                self._children[spec.name] = child
                self._order.append(spec.name)
            self._start_child(child)
            self._report(spec.name, "started")
        self._thread = threading.Thread(target=self._watch, name="supervisor", daemon=True)
        self._thread.start()

    def _start_child(self, child: _Supervised) -> None:
        spec = child.spec
        child.ref = spec.actor_class.start(self._ctx, **spec.kwargs)
        self._bus.register(spec.name, child.ref)
        log.info("actor_started", actor=spec.name, restarts=child.restarts)

    def names(self) -> list[str]:
        """Supervised actor names in start order."""
        with self._lock:
            return list(self._order)

    def status(self) -> dict[str, dict[str, Any]]:
        """Per actor: alive, restarts, gave_up."""
        with self._lock:
            return {
                name: {"alive": bool(c.ref and c.ref.is_alive()), "restarts": c.restarts,
                       "gave_up": c.gave_up}
                for name, c in self._children.items()
            }

    def _report(self, actor: str, event: Any, *, restarts: int = 0, error: str = "") -> None:
        message = ActorLifecycle(actor, event, self._clock.now(), restarts, error)
        try:
            self._bus.tell(HEALTH_ACTOR, message)
        except ActorUnavailable:
            pass

    def _watch(self) -> None:
        last_ping = 0.0
        while not self._stopping.wait(self._watch_interval):
            try:
                self.check_children()
                if time.monotonic() - last_ping >= self._ping_interval:
                    last_ping = time.monotonic()
                    self.ping_all()
            except Exception as exc:  # the watcher must survive anything
                log.error("supervisor_watch_failed", error=repr(exc))

    def ping_all(self) -> None:
        """Send every live actor a Ping (they answer health with a Heartbeat)."""
        ping = Ping(self._clock.now())
        with self._lock:
            refs = [c.ref for c in self._children.values() if c.ref is not None]
        for ref in refs:
            try:
                ref.tell(ping)
            except pykka.ActorDeadError:
                continue

    def check_children(self) -> None:
        """Detect dead actors and restart those whose backoff has elapsed."""
        now = time.monotonic()
        with self._lock:
            children = list(self._children.values())
        for child in children:
            if self._stopping.is_set() or child.gave_up:
                continue
            if child.ref is not None and child.ref.is_alive():
                continue
            if child.restart_at is None:
                self._on_death(child, now)
            elif now >= child.restart_at:
                self._restart(child)

    def _on_death(self, child: _Supervised, now: float) -> None:
        name = child.spec.name
        self._bus.unregister(name)
        child.deaths.append(now)
        while child.deaths and now - child.deaths[0] > self.restart_window_s:
            child.deaths.popleft()
        if len(child.deaths) > self.max_restarts:
            child.gave_up = True
            log.critical("actor_gave_up", actor=name, deaths=len(child.deaths),
                         window_s=self.restart_window_s)
            self._report(name, "gave_up", restarts=child.restarts)
            if child.spec.on_give_up is not None:
                child.spec.on_give_up(name)
            return
        delay = min(self.backoff_max_s, self.backoff_base_s * 2 ** (len(child.deaths) - 1))
        child.restart_at = now + delay
        log.error("actor_died", actor=name, restart_in_s=round(delay, 2))
        self._report(name, "died", restarts=child.restarts)

    def _restart(self, child: _Supervised) -> None:
        child.restart_at = None
        child.restarts += 1
        try:
            self._start_child(child)
        except Exception as exc:
            log.error("actor_restart_failed", actor=child.spec.name, error=repr(exc))
            child.ref = None
            return
        self._report(child.spec.name, "restarted", restarts=child.restarts)

    def stop_all(self, timeout: float = 8.0) -> list[str]:
        """Stop every actor in reverse start order within ``timeout``; returns the names
        that did not stop in time."""
        self._stopping.set()
        if self._thread is not None:
            self._thread.join(2)
        deadline = time.monotonic() + timeout
        stuck: list[str] = []
        with self._lock:
            order = list(reversed(self._order))
        for name in order:
            child = self._children[name]
            ref = child.ref
            self._bus.unregister(name)
            if ref is None or not ref.is_alive():
                continue
            remaining = max(0.1, deadline - time.monotonic())
            try:
                ref.stop(block=True, timeout=remaining)
                log.info("actor_stopped", actor=name)
            except pykka.Timeout:
                stuck.append(name)
                log.error("actor_stop_timeout", actor=name)
        return stuck
