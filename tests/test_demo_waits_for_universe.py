"""The demo's first plan waits for the universe and the FX rates (whole daemon).

On a slow board the demo's planner was asked for a plan (the EUR opening deposit arrived)
before the market-data actor had seeded the universe or stored a USD rate: the USD
positions and cash were invisible, and the first stored plan was "nothing to do: empty
universe" with 10,000 EUR of cash and no holdings. Now the planner waits while the
account holds positions the universe does not have yet, or positions and cash in a
currency without a rate, says so, and plans with them once they arrive."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from daemon_harness import wait_for
from reliability_support import GatedSourceDemo, gated_demo, last_plan

from arduino_trader.daemon.demo import DemoDaemon
from arduino_trader.daemon.service import DaemonOptions


class LateMarketDataDemo(GatedSourceDemo):
    """The demo whose market-data actor gets its universe and FX rates only once
    ``released`` is set (the seeding of the account itself is not held back)."""

    def __init__(self, options: DaemonOptions) -> None:
        super().__init__(options)
        self._actors_started = threading.Event()

    def gate_source(self, source: Any) -> None:
        universe, fx_rate = source.universe, source.fx_rate

        def hold() -> None:
            if self._actors_started.is_set():
                self.released.wait(120)

        def late_universe() -> Any:
            hold()
            return universe()

        def late_rate(currency: str) -> Any:
            hold()
            return fx_rate(currency)

        source.universe, source.fx_rate = late_universe, late_rate

    def _start_actors(self) -> None:
        self.seeded = self._seed()
        self._actors_started.set()
        super(DemoDaemon, self)._start_actors()


@pytest.fixture
def demo(tmp_path: Path) -> Iterator[LateMarketDataDemo]:
    with gated_demo(LateMarketDataDemo, tmp_path / "state") as daemon:
        yield daemon


def test_the_first_plan_waits_for_the_universe_and_the_usd_rate(
        demo: LateMarketDataDemo) -> None:
    wait_for(lambda: (s := last_plan(demo)) is not None and s.status == "waiting", 120,
             "the planner waiting for the universe")
    waiting = last_plan(demo)
    assert waiting is not None and waiting.plan_id is None
    assert "the FX rate of USD" in waiting.reason, waiting.reason
    assert "the universe (not seeded yet: held AAPL.US, AMD.US, BAC.US" in waiting.reason
    assert demo.store.fetch_all("SELECT id FROM plans") == []  # nothing stored meanwhile
    demo.released.set()
    wait_for(lambda: bool(demo.store.fetch_all("SELECT id FROM plans")), 180,
             "the plan made once the universe and the rate arrived")
    first = demo.store.fetch_one("SELECT id, status, reason, inputs_json FROM plans "
                                 "ORDER BY id LIMIT 1")
    assert first is not None
    assert first["status"] == "plan", first["reason"]
    assert '"holdings": 3' in first["inputs_json"]  # the USD positions were seen
    sides = {r["side"] for r in demo.store.fetch_all(
        f"SELECT side FROM recommendations WHERE plan_id = {first['id']}")}
    assert sides == {"BUY"}
