"""Portfolio rules through plan(): idle cash is deployed (or the blocking rule named),
positions past the cap + band are trimmed, collapsed theses are exited whole, rebuys wait
for the cooldown, and the position cap scales with the universe."""

from __future__ import annotations

from datetime import date

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st

from arduino_trader.domain.baselines import equal_weight, month_starts, rebalanced
from arduino_trader.domain.planner.models import Holding, PlanInput, PlannerSettings, SecurityInfo
from arduino_trader.domain.planner.plan import plan
from arduino_trader.domain.position_limits import position_cap

SMALL = PlannerSettings(monte_carlo_paths=12, max_sequences=60, beam_width=2,
                        use_optimizer=False, min_security_score=0.99)  # no searched buys


def universe(n: int = 6, t: int = 300, seed: int = 1, crash: int | None = None
             ) -> tuple[list[SecurityInfo], np.ndarray]:
    """Gently rising walks that sit 10 % below their high (buyable); ``crash``: that one
    loses 80 % over the last quarter."""
    rng = np.random.default_rng(seed)
    prices = 50 * np.exp(np.cumsum(rng.normal(0.0005, 0.01, (n, t)), axis=1))
    prices[:, -20:] *= np.linspace(1.0, 0.88, 20)
    if crash is not None:
        prices[crash, -60:] *= np.linspace(1.0, 0.2, 60)
    return [SecurityInfo(f"S{i}", currency="EUR", country="US") for i in range(n)], prices


def test_idle_cash_is_deployed_into_the_most_underweight_security() -> None:
    secs, prices = universe()
    holdings = [Holding("S0", 40, float(prices[0, -1]), 400, 400, None)]
    result = plan(PlanInput(secs, prices, holdings, 5_000.0, settings=SMALL))
    assert result.status == "plan" and len(result.steps) == 1, result.reason
    step = result.steps[0]
    assert step.side == "BUY" and step.symbol != "S0" and step.category == "deploy"
    assert "deploy: cash" in step.reason and step.estimated_value_eur >= 500 - step.estimated_price


def test_cash_within_the_tolerance_stays() -> None:
    secs, prices = universe()
    holdings = [Holding(s.symbol, 100, float(prices[i, -1]), 400, 400, None)
                for i, s in enumerate(secs)]
    tolerant = PlannerSettings(**{**SMALL.__dict__, "deploy_tolerance_eur": 5_000.0})
    kept = plan(PlanInput(secs, prices, holdings, 3_000.0, settings=tolerant))
    assert not any(s.category == "deploy" for s in kept.steps), kept.reason
    spent = plan(PlanInput(secs, prices, holdings, 3_000.0, settings=SMALL))
    assert [s.category for s in spent.steps] == ["deploy"], spent.reason


def test_when_every_candidate_is_blocked_the_plan_names_the_rules() -> None:
    secs, prices = universe()
    recent = {s.symbol: 3.0 for s in secs[:3]}
    sold = {s.symbol: 5.0 for s in secs[3:]}
    result = plan(PlanInput(secs, prices, (), 8_000.0, days_since_last_buy=recent,
                            days_since_last_sell=sold, settings=SMALL))
    assert result.status == "nothing_to_do"
    assert "every candidate is blocked by a safety rule" in result.reason
    assert "buy cooldown: 3" in result.reason and "rebuy cooldown after a sale: 3" \
        in result.reason


def test_a_position_past_cap_and_band_is_trimmed_to_the_cap() -> None:
    secs, prices = universe(n=10)
    big = Holding("S1", 600, float(prices[1, -1]), 400, 400, None)
    small = [Holding(f"S{i}", 10, float(prices[i, -1]), 400, 400, None) for i in (2, 3)]
    result = plan(PlanInput(secs, prices, [big, *small], 1_000.0, settings=SMALL))
    step = result.steps[0]
    assert (step.side, step.symbol, step.category) == ("SELL", "S1", "trim"), result.reason
    values = 600 * prices[1, -1] + sum(10 * prices[i, -1] for i in (2, 3)) + 1_000
    after = (600 - step.quantity) * prices[1, -1] / values
    cap = position_cap(0.15, 2.0, 10) * 0.99 / 1.01  # the planner's headroom
    assert after <= cap + 1e-9 and (600 - step.quantity + 1) * prices[1, -1] / values > cap


def test_a_position_traded_within_the_minimum_hold_is_not_trimmed() -> None:
    secs, prices = universe(n=10)
    big = Holding("S1", 600, float(prices[1, -1]), 400, 10, None)  # bought 10 days ago
    result = plan(PlanInput(secs, prices, [big], 1_000.0, settings=SMALL))
    assert not any(s.category == "trim" for s in result.steps)


def test_a_collapsed_thesis_is_sold_whole_at_a_loss() -> None:
    secs, prices = universe(crash=2)
    entry = float(prices[2, -61])
    holdings = [Holding("S2", 7, entry, 400, 400, None)]  # the last (only) lot too
    result = plan(PlanInput(secs, prices, holdings, 100.0, settings=SMALL))
    step = result.steps[0]
    assert (step.side, step.symbol, step.quantity, step.category) == ("SELL", "S2", 7,
                                                                     "thesis_break")
    assert step.estimated_price < 0.3 * entry and "thesis break" in step.reason


def test_a_holding_with_an_unknown_hold_time_is_not_sold() -> None:
    """The same collapse, but the holding's trade history is not imported: it may have
    been bought yesterday, so neither the thesis break nor any other sell takes it."""
    secs, prices = universe(crash=2)
    unknown = Holding("S2", 7, float(prices[2, -61]), None, None, None,
                      trade_history_known=False)
    result = plan(PlanInput(secs, prices, [unknown], 100.0, settings=SMALL))
    assert not any(s.side == "SELL" for s in result.steps), result.steps


def test_no_thesis_break_above_the_score_threshold() -> None:
    secs, prices = universe(crash=2)
    holdings = [Holding("S2", 7, float(prices[2, -61]), 400, 400, None)]
    lenient = PlannerSettings(**{**SMALL.__dict__, "thesis_break_max_score": 0.0})
    result = plan(PlanInput(secs, prices, holdings, 100.0, settings=lenient))
    assert not any(s.category == "thesis_break" for s in result.steps)


@given(st.floats(0.01, 1.0), st.floats(0, 10), st.integers(1, 500))
def test_the_cap_scales_with_the_universe_and_stays_a_fraction(
        floor: float, multiple: float, n: int) -> None:
    cap = position_cap(floor, multiple, n)
    assert floor <= cap <= 1.0 or cap == 1.0
    assert cap * n >= min(1.0 * n, multiple) - 1e-12 or cap == 1.0


def test_a_small_universe_can_be_fully_invested() -> None:
    assert position_cap(0.15, 2.0, 5) == 0.4 and position_cap(0.15, 2.0, 20) == 0.15


@settings(max_examples=30)
@given(st.floats(1, 100), st.floats(1, 100), st.lists(st.floats(0, 5000), min_size=30,
                                                       max_size=30))
def test_rebalancing_at_constant_prices_keeps_every_euro(a: float, b: float,
                                                         flows: list[float]) -> None:
    days = [date(2020, 1 + i // 10, 1 + i % 10) for i in range(30)]
    values = rebalanced(days, {"A": [a] * 30, "B": [b] * 30}, flows, equal_weight(days))
    assert np.allclose(values, np.cumsum(flows), rtol=1e-9, atol=1e-6)


def test_monthly_equal_weight_sells_the_winner_at_each_month_start() -> None:
    days = [date(2020, 1, 2), date(2020, 1, 3), date(2020, 2, 3), date(2020, 2, 4)]
    closes = {"A": [10.0, 20.0, 20.0, 40.0], "B": [10.0, 10.0, 10.0, 10.0]}
    flows = [100.0, 0.0, 0.0, 0.0]
    # Feb 3: 150 rebalanced to 75 / 75 (A 3.75 shares); A doubles again: 150 + 75
    assert rebalanced(days, closes, flows, equal_weight(days)) == [100.0, 150.0, 150.0, 225.0]
    assert month_starts(days) == {0, 2}


def test_warm_up_with_a_month_of_history_still_deploys() -> None:
    """With the history that exists (a month of closes) the cash goes in, not idle."""
    secs, prices = universe(t=25)
    result = plan(PlanInput(secs, prices, (), 10_000.0, settings=SMALL))
    assert result.status == "plan" and result.steps[0].side == "BUY", result.reason


def _fully_held() -> tuple[list[SecurityInfo], np.ndarray, list[Holding]]:
    secs, prices = universe()
    return secs, prices, [Holding(s.symbol, 100, float(prices[i, -1]), 400, 400, None)
                          for i, s in enumerate(secs)]


def test_a_deployment_never_buys_less_than_its_minimum_and_takes_the_rest_along() -> None:
    secs, prices, holdings = _fully_held()
    fixed = PlannerSettings(**{**SMALL.__dict__, "regime_cash_reserve": dict.fromkeys(
        ("bull", "sideways", "bear"), 0.0)})  # the reserve is min_cash_reserve: 500
    small = plan(PlanInput(secs, prices, holdings, 500 + 400.0, settings=fixed))
    assert small.cash_reserve_eur == 500
    assert not any(s.category == "deploy" for s in small.steps), small.reason  # 400 < 500
    one = plan(PlanInput(secs, prices, holdings, 500 + 900.0, settings=fixed))
    [step] = one.steps
    # 900 is above the minimum; what a 500 buy would leave (~400) could not be deployed
    # on its own, so it goes into the same buy: one fixed fee instead of two
    assert step.category == "deploy" and step.estimated_value_eur > 900 - 2 * step.estimated_price


def test_the_52_week_high_guardrail_is_a_setting() -> None:
    secs, prices, holdings = _fully_held()
    prices[:, -1] = prices.max(axis=1)  # every security at its 52-week high
    at_high = PlannerSettings(**{**SMALL.__dict__, "thesis_break_max_score": 0.0})
    guarded = plan(PlanInput(secs, prices, holdings, 5_000.0, settings=at_high))
    assert guarded.status == "nothing_to_do" and "near the 52-week high: 6" in guarded.reason
    off = PlannerSettings(**{**at_high.__dict__, "max_buy_vs_52w_high": 1.0})
    result = plan(PlanInput(secs, prices, holdings, 5_000.0, settings=off))
    assert [s.category for s in result.steps] == ["deploy"], result.reason
