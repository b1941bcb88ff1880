"""Supervisor: dependency order, restart with backoff, give up, reverse stop."""

from __future__ import annotations

import time
from collections.abc import Iterator
from typing import Any

import pytest

from arduino_trader.actors.base import BaseActor, RuntimeContext, handles
from arduino_trader.adapters.clock import SystemClock
from arduino_trader.config.settings import defaults
from arduino_trader.daemon.bus import ActorBus
from arduino_trader.daemon.io_loop import IoLoop
from arduino_trader.daemon.supervisor import ActorSpec, Supervisor, start_order
from arduino_trader.protocols.messages import ActorLifecycle, Heartbeat

EVENTS: list[tuple[str, Any]] = []


class Crash:
    """Tell this to make the actor raise."""


class Recorder(BaseActor):
    name = "health"

    def on_start(self) -> None:
        EVENTS.append(("start", self.name))

    def on_stop(self) -> None:
        EVENTS.append(("stop", self.name))

    @handles(ActorLifecycle)
    def _life(self, msg: ActorLifecycle) -> None:
        EVENTS.append(("life", (msg.actor, msg.event)))

    @handles(Heartbeat)
    def _beat(self, msg: Heartbeat) -> None:
        EVENTS.append(("beat", msg.actor))

    @handles(Crash)
    def _crash(self, msg: Crash) -> None:
        raise RuntimeError("crash on purpose")


class Worker(Recorder):
    name = "worker"


@pytest.fixture
def ctx(io: IoLoop, bus: ActorBus) -> RuntimeContext:
    EVENTS.clear()
    return RuntimeContext(bus, io, SystemClock(), defaults)


@pytest.fixture
def started() -> Iterator[list[Supervisor]]:
    """Supervisors a test starts; stopped even when the test fails (their threads are not
    daemon threads: a leaked one would keep the test process from exiting)."""
    supervisors: list[Supervisor] = []
    yield supervisors
    for sup in supervisors:
        sup.stop_all(timeout=5)


def test_start_order_and_cycles() -> None:
    a = ActorSpec("a", Worker, depends_on=("b",))
    b = ActorSpec("b", Worker)
    assert [s.name for s in start_order([a, b])] == ["b", "a"]
    with pytest.raises(ValueError, match="cycle"):
        start_order([ActorSpec("a", Worker, depends_on=("b",)),
                     ActorSpec("b", Worker, depends_on=("a",))])
    with pytest.raises(ValueError, match="unknown"):
        start_order([ActorSpec("a", Worker, depends_on=("zzz",))])


def test_crashing_actor_is_restarted_with_backoff(ctx: RuntimeContext, bus: ActorBus,
                                                  started: list[Supervisor]) -> None:
    sup = Supervisor(bus, ctx, SystemClock(), backoff_base_s=0.3, watch_interval_s=0.05,
                     ping_interval_s=0.1)
    started.append(sup)
    sup.start_all([ActorSpec("health", Recorder), ActorSpec("worker", Worker,
                                                             depends_on=("health",))])
    first = bus.ref("worker")
    died_at = time.monotonic()
    bus.tell("worker", Crash())
    _wait(lambda: ("life", ("worker", "died")) in EVENTS)
    _wait(lambda: ("life", ("worker", "restarted")) in EVENTS)
    assert time.monotonic() - died_at >= 0.25  # backoff respected
    assert bus.ref("worker") is not first and bus.ref("worker").is_alive()
    assert sup.status()["worker"]["restarts"] == 1
    _wait(lambda: ("beat", "worker") in EVENTS)  # pings reach the new actor
    assert sup.stop_all(timeout=5) == []
    stops = [name for kind, name in EVENTS if kind == "stop"]
    assert stops[-2:] == ["worker", "health"]  # reverse order


def test_actor_that_keeps_crashing_is_given_up(ctx: RuntimeContext, bus: ActorBus,
                                               started: list[Supervisor]) -> None:
    given_up: list[str] = []
    sup = Supervisor(bus, ctx, SystemClock(), backoff_base_s=0.01, backoff_max_s=0.02,
                     max_restarts=2, watch_interval_s=0.02, ping_interval_s=10)
    started.append(sup)
    sup.start_all([ActorSpec("health", Recorder),
                   ActorSpec("worker", Worker, on_give_up=given_up.append)])
    for _ in range(3):
        _wait(lambda: _alive(bus, "worker"))
        crashed = bus.ref("worker")  # this incarnation: it stays dead once crashed, even
        bus.tell("worker", Crash())  # when the supervisor restarts a new one at once
        _wait(lambda ref=crashed: not ref.is_alive())
    _wait(lambda: sup.status()["worker"]["gave_up"])
    _wait(lambda: given_up != [])  # the callback runs just after the flag is set
    assert given_up == ["worker"]
    _wait(lambda: ("life", ("worker", "gave_up")) in EVENTS)
    sup.stop_all(timeout=5)


def _alive(bus: ActorBus, name: str) -> bool:
    try:
        return bus.ref(name).is_alive()
    except Exception:
        return False


def _wait(cond: Any, timeout: float = 5.0) -> None:
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        if cond():
            return
        time.sleep(0.01)
    raise AssertionError(f"condition not reached; events: {EVENTS[-10:]}")

