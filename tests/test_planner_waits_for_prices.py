"""The demo's first plan waits for its prices (whole daemon): while the history sync has
not stored a held security's closes, the planner stores no plan and says which prices it
waits for; once they arrive it plans on its own, with the holding in the plan."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import date
from pathlib import Path
from typing import Any

import pytest
from daemon_harness import Client, wait_for
from reliability_support import GatedSourceDemo, gated_demo, last_plan


class SlowHistoryDemo(GatedSourceDemo):
    """The demo whose history sync stalls at AAPL until ``released`` is set."""

    def gate_source(self, source: Any) -> None:
        history = source.history

        def gated(symbol: str, start: date, end: date) -> Any:
            if "AAPL" in symbol:
                self.released.wait(120)
            return history(symbol, start, end)

        source.history = gated


@pytest.fixture
def demo(tmp_path: Path) -> Iterator[SlowHistoryDemo]:
    with gated_demo(SlowHistoryDemo, tmp_path / "state") as daemon:
        yield daemon


def _plans(d: SlowHistoryDemo) -> int:
    row = d.store.fetch_one("SELECT COUNT(*) FROM plans")
    assert row is not None
    return int(row[0])


def test_the_first_plan_waits_for_the_held_prices_then_plans(demo: SlowHistoryDemo) -> None:
    wait_for(lambda: (s := last_plan(demo)) is not None and s.status == "waiting", 120,
             "the planner waiting for prices")
    waiting = last_plan(demo)
    assert waiting is not None and waiting.ok and waiting.plan_id is None
    assert "waiting for prices of held AAPL.US" in waiting.reason, waiting.reason
    assert _plans(demo) == 0  # no nothing_to_do plan stored meanwhile
    api = Client(demo)
    # (the planner may be busy re-checking when asked: then the answer has no "waiting")
    wait_for(lambda: "waiting for prices of held AAPL.US" in str(
        api.call("GET", "/api/planner/status")[1]["waiting"]), 30, "waiting in the status")
    assert api.call("GET", "/api/planner/status")[1]["last_plan"] is None
    demo.released.set()
    wait_for(lambda: _plans(demo) >= 1, 180, "the plan made once the prices arrived")
    made = last_plan(demo)
    assert made is not None and made.status == "plan" and made.steps > 0, made
    assert not any("has no valid price" in w for w in made.warnings), made.warnings
    code, status = api.call("GET", "/api/planner/status")
    assert code == 200 and status["waiting"] is None and status["last_plan"], status
