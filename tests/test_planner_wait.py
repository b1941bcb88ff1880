"""The planner's wait for its inputs: which holdings count as unpriced or as having no
imported trade history, and that the wait ends after ``planner_price_wait_s`` so a
security that never gets a price cannot stop planning."""

from __future__ import annotations

import numpy as np

from arduino_trader.actors.planner_wait import InputWait, Missing
from arduino_trader.domain.planner.models import Holding, PlanInput, SecurityInfo
from arduino_trader.domain.planner.readiness import missing_prices, missing_trade_history

NAN = np.nan


def _input(prices: list[list[float]], fx: float = 1.0,
           unknown_history: tuple[str, ...] = ()) -> PlanInput:
    secs = [SecurityInfo("A"), SecurityInfo("B", fx_rate=fx), SecurityInfo("C")]
    holdings = [Holding(s, q, p, trade_history_known=s not in unknown_history)
                for s, q, p in (("A", 5, 10.0), ("B", 3, 10.0), ("C", 0, 0.0), ("X", 2, 1.0))]
    # C not held any more, X not in the universe
    return PlanInput(secs, np.array(prices), holdings, 100.0)


def test_held_securities_without_any_positive_close_or_fx_are_missing() -> None:
    assert missing_prices(_input([[1, 2], [NAN, NAN], [NAN, NAN]])) == ("B",)
    assert missing_prices(_input([[NAN, 0], [NAN, 3], [NAN, NAN]])) == ("A",)
    assert missing_prices(_input([[1, 2], [2, 3], [NAN, NAN]])) == ()
    assert missing_prices(_input([[1, 2], [2, 3], [NAN, NAN]], fx=0.0)) == ("B",)


def test_held_universe_securities_without_imported_trade_history_are_missing() -> None:
    priced = [[1, 2], [2, 3], [1, 1]]
    assert missing_trade_history(_input(priced)) == ()
    assert missing_trade_history(_input(priced, unknown_history=("B",))) == ("B",)
    # not held any more, or outside the universe: nothing to wait for
    assert missing_trade_history(_input(priced, unknown_history=("C", "X"))) == ()


def test_the_wait_ends_and_does_not_start_again_for_the_same_prices() -> None:
    inp = _input([[1, 2], [NAN, NAN], [1, 1]])
    wait = InputWait()
    assert wait.waiting_for(inp, 0.0, 60) == Missing(prices=("B",))
    assert wait.waiting_for(inp, 59.0, 60) == Missing(prices=("B",))
    assert not wait.waiting_for(inp, 60.0, 60)  # gave up: plan without B
    assert not wait.waiting_for(inp, 61.0, 60)
    other = _input([[NAN, NAN], [NAN, NAN], [1, 1]])  # a new gap: wait for it again
    assert wait.waiting_for(other, 62.0, 60) == Missing(prices=("A", "B"))
    priced = _input([[1, 2], [2, 3], [1, 1]])
    assert not wait.waiting_for(priced, 63.0, 60)


def test_the_wait_names_both_inputs_and_gives_up_on_each() -> None:
    inp = _input([[1, 2], [NAN, NAN], [1, 1]], unknown_history=("A",))
    wait = InputWait()
    missing = wait.waiting_for(inp, 0.0, 60)
    assert missing == Missing(prices=("B",), trade_history=("A",))
    assert missing.symbols() == ["A", "B"]
    assert missing.reason() == (
        "waiting for prices of held B (history not stored yet); the trade history of held A "
        "(not imported from the broker yet: hold time unknown); re-planning when they arrive")
    assert not wait.waiting_for(inp, 60.0, 60)
    later = _input([[1, 2], [NAN, NAN], [1, 1]], unknown_history=("A", "B"))
    assert wait.waiting_for(later, 61.0, 60) == Missing(prices=("B",),
                                                        trade_history=("A", "B"))


def test_unseen_currencies_and_an_empty_universe_are_waited_for_then_given_up() -> None:
    inp = _input([[1, 2], [2, 3], [1, 1]])  # every held price there
    unseen = Missing(fx_rates=("USD",), universe=("AAPL.US",))
    wait = InputWait()
    missing = wait.waiting_for(inp, 0.0, 60, unseen)
    assert missing == unseen
    assert missing.symbols() == ["AAPL.US", "USD"]
    assert missing.reason() == (
        "waiting for the FX rate of USD (positions and cash in it cannot be valued yet); "
        "the universe (not seeded yet: held AAPL.US would be left out); re-planning when "
        "they arrive")
    assert not wait.waiting_for(inp, 60.0, 60, unseen)  # gave up on both
    assert wait.waiting_for(inp, 61.0, 60, Missing(fx_rates=("GBP",))) == Missing(
        fx_rates=("GBP",))  # a currency not given up on: waited for
    assert not wait.waiting_for(inp, 62.0, 60, Missing())


def test_missing_within_compares_every_input() -> None:
    assert Missing().within(Missing())
    assert Missing(prices=("A",)).within(Missing(prices=("A", "B")))
    assert not Missing(fx_rates=("USD",)).within(Missing(prices=("USD",)))
    assert not Missing(universe=("A",)).within(Missing(trade_history=("A",)))
