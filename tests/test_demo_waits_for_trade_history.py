"""The demo's first plan waits for the trade history of its holdings (whole daemon).

The demo's account holds AAPL, BAC and AMD, bought at the last close. When the first
sync cycle runs before the universe exists, the broker's trades of those symbols cannot
be stored (the ledger needs their ISINs): without more, the planner took the holdings
for positions with no trade in a year and sold AMD on a thesis break the day after
buying it, past the 90-day minimum hold — and the executor let it through, for the same
reason. Now the universe's arrival imports the trade history at once, and a plan waits
for it."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from daemon_harness import wait_for
from reliability_support import GatedSourceDemo, gated_demo

from arduino_trader.adapters.store import trade_history_coverage

HELD = {"AAPL.US", "BAC.US", "AMD.US"}


class LateUniverseDemo(GatedSourceDemo):
    """The demo whose source hands out its universe only once the first sync cycle has
    fetched the broker's trades (``released``): the order a slow start can take."""

    def gate_source(self, source: Any) -> None:
        universe = source.universe

        def gated() -> Any:
            self.released.wait(120)
            return universe()

        source.universe = gated

    def _seed(self) -> bool:
        seeded = super()._seed()  # the seeding reads its own fills: not the gate
        broker = self._broker_pair()[0]
        trades = broker.trades

        async def fetched(start: Any, end: Any) -> Any:
            try:
                return await trades(start, end)
            finally:
                self.released.set()

        broker.trades = fetched  # type: ignore[method-assign]
        return seeded


@pytest.fixture
def demo(tmp_path: Path) -> Iterator[LateUniverseDemo]:
    with gated_demo(LateUniverseDemo, tmp_path / "state") as daemon:
        yield daemon


def _rows(d: LateUniverseDemo, sql: str) -> list[Any]:
    return d.store.fetch_all(sql)


def test_the_first_plan_waits_for_the_trade_history_and_keeps_the_minimum_hold(
        demo: LateUniverseDemo) -> None:
    wait_for(lambda: bool(_rows(demo, "SELECT 1 FROM plans WHERE status = 'plan'")), 240,
             "a plan with steps")
    first_sync = _rows(demo, "SELECT summary FROM job_runs WHERE job = 'sync_cycle' "
                             "ORDER BY started_at LIMIT 1")
    assert "3 symbol(s) not in the universe" in first_sync[0]["summary"]  # the race
    plans = _rows(demo, "SELECT id, status, reason FROM plans ORDER BY id")
    made = [p for p in plans if p["status"] == "plan"]
    sells = _rows(demo, "SELECT symbol, reason FROM recommendations WHERE side = 'SELL'")
    assert not sells, ([dict(p) for p in plans], [dict(s) for s in sells])  # held < 90 days
    trades = _rows(demo, "SELECT symbol, side FROM trades")
    assert {(t["symbol"], t["side"]) for t in trades} == {(s, "BUY") for s in HELD}
    covered = trade_history_coverage.covered_isins(demo.store, "research")
    held = _rows(demo, "SELECT isin FROM securities WHERE symbol IN "
                       "('AAPL.US', 'BAC.US', 'AMD.US')")
    assert len(held) == 3 and {str(r["isin"]) for r in held} <= covered
    steps = _rows(demo, f"SELECT side FROM recommendations WHERE plan_id = {made[0]['id']}")
    assert steps and {s["side"] for s in steps} == {"BUY"}
