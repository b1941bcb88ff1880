"""Actors receive typed adapters; one started without an adapter it needs fails at once,
and a daemon wired without one does not start."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import pytest

from arduino_trader.actors.base import (
    ActorContext,
    BaseActor,
    MissingDependency,
    RuntimeContext,
)
from arduino_trader.actors.dependencies import Dependencies
from arduino_trader.actors.executor import ExecutorActor
from arduino_trader.adapters.clock import SystemClock
from arduino_trader.adapters.store.sqlite import SqliteStore
from arduino_trader.config.settings import defaults
from arduino_trader.daemon.bus import ActorBus
from arduino_trader.daemon.demo_narrator import DemoNarrator
from arduino_trader.daemon.io_loop import IoLoop
from arduino_trader.daemon.service import StartupError
from tests.daemon_harness import ProbeDaemon, start_daemon, wait_for
from tests.wiring import wired


def test_an_actor_started_without_its_adapters_fails_naming_them(io: IoLoop) -> None:
    ctx = RuntimeContext(ActorBus(), io, SystemClock(), defaults)
    with pytest.raises(MissingDependency, match="actor 'executor' needs store, broker, "
                                                "paper_broker, order_journal, which this daemon "
                                                "does not wire"):
        ExecutorActor.start(ctx)


def test_an_unwired_optional_adapter_an_actor_needs_fails_at_start(io: IoLoop,
                                                                   store: SqliteStore) -> None:
    ctx = ActorContext(ActorBus(), io, SystemClock(), defaults, deps=wired(store))
    with pytest.raises(MissingDependency, match="'demo_narrator' needs calendars"):
        DemoNarrator.start(ctx)


def test_needs_names_only_adapters() -> None:
    with pytest.raises(TypeError, match=r"Typo.needs names no adapter: \['stor'\]"):
        type("Typo", (BaseActor,), {"name": "typo", "needs": ("stor",)})


class MissingMarketData(ProbeDaemon):
    """A daemon whose wiring leaves out the market-data source (discovery needs it)."""

    def dependencies(self) -> Dependencies:
        return replace(super().dependencies(), market_data=None)


def test_a_daemon_wired_without_an_adapter_does_not_start(tmp_path: Path) -> None:
    with pytest.raises(StartupError, match="'maintenance' needs market_data"):
        start_daemon(tmp_path / "state", daemon_class=MissingMarketData)
    # Nothing was left running or locked: the same directory starts cleanly.
    daemon = start_daemon(tmp_path / "state")
    try:
        wait_for(lambda: (r := daemon.health()) is not None and r.actors_alive, 30,
                 "every actor alive")
    finally:
        daemon.stop()
