"""The planner's wait for held prices: which holdings count as unpriced, and that the
wait ends after ``planner_price_wait_s`` so a security that never gets a price cannot
stop planning."""

from __future__ import annotations

import numpy as np

from arduino_trader.actors.planner_wait import PriceWait
from arduino_trader.domain.planner.models import Holding, PlanInput, SecurityInfo
from arduino_trader.domain.planner.readiness import missing_prices

NAN = np.nan


def _input(prices: list[list[float]], fx: float = 1.0) -> PlanInput:
    secs = [SecurityInfo("A"), SecurityInfo("B", fx_rate=fx), SecurityInfo("C")]
    holdings = [Holding("A", 5, 10.0), Holding("B", 3, 10.0), Holding("C", 0, 0.0),
                Holding("X", 2, 1.0)]  # C not held any more, X not in the universe
    return PlanInput(secs, np.array(prices), holdings, 100.0)


def test_held_securities_without_any_positive_close_or_fx_are_missing() -> None:
    assert missing_prices(_input([[1, 2], [NAN, NAN], [NAN, NAN]])) == ("B",)
    assert missing_prices(_input([[NAN, 0], [NAN, 3], [NAN, NAN]])) == ("A",)
    assert missing_prices(_input([[1, 2], [2, 3], [NAN, NAN]])) == ()
    assert missing_prices(_input([[1, 2], [2, 3], [NAN, NAN]], fx=0.0)) == ("B",)


def test_the_wait_ends_and_does_not_start_again_for_the_same_prices() -> None:
    inp = _input([[1, 2], [NAN, NAN], [1, 1]])
    wait = PriceWait()
    assert wait.waiting_for(inp, 0.0, 60) == ("B",)
    assert wait.waiting_for(inp, 59.0, 60) == ("B",)
    assert wait.waiting_for(inp, 60.0, 60) == ()  # gave up: plan without B
    assert wait.waiting_for(inp, 61.0, 60) == ()
    other = _input([[NAN, NAN], [NAN, NAN], [1, 1]])  # a new gap: wait for it again
    assert wait.waiting_for(other, 62.0, 60) == ("A", "B")
    priced = _input([[1, 2], [2, 3], [1, 1]])
    assert wait.waiting_for(priced, 63.0, 60) == ()
