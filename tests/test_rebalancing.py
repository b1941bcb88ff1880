"""Rebalancing toward the optimiser's targets (domain/rebalancing.py)."""

from __future__ import annotations

from decimal import Decimal

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from arduino_trader.domain.rebalancing import (
    MissingRate,
    RebalancePlan,
    RebalanceSecurity,
    account_targets,
    rebalance_trades,
    split_sale,
)

D = Decimal
RATES = {"EUR": D(1), "USD": D("0.9")}
MIN_TRADE = D(250)


def rebalance(holdings: dict[str, Decimal], securities: dict[str, RebalanceSecurity],
              targets: dict[str, Decimal], cash: Decimal, rates: dict[str, Decimal],
              scope: set[str] | None = None) -> RebalancePlan:
    return rebalance_trades(holdings, securities, targets, cash, rates,
                            min_trade_eur=MIN_TRADE, cost_fixed=D(2), cost_pct=D("0.002"),
                            scope=scope)


def sec(symbol: str, price: str, currency: str = "EUR", lot: int = 1, *, buy: bool = True,
        sell: bool = True, bucket: str = "core") -> RebalanceSecurity:
    return RebalanceSecurity(symbol, f"XX{symbol}", currency, D(price), lot, buy, sell, bucket)


def test_account_targets_scale_each_bucket_by_its_share() -> None:
    targets = account_targets({"core": {"A": 0.5, "B": 0.3}, "s1": {"C": 0.9}},
                              {"core": D("0.9"), "s1": D("0.1")})
    assert targets == {"A": D("0.45"), "B": D("0.27"), "C": D("0.09")}
    # core without a stored share is the whole account; an unknown satellite counts 0
    assert account_targets({"core": {"A": 0.6}, "x": {"B": 0.5}}, {}) == {"A": D("0.6"),
                                                                        "B": D(0)}
    assert account_targets({"core": {"A": float("nan"), "B": -0.1}}, {}) == {}


def test_sells_above_target_fund_buys_below_target() -> None:
    securities = {"A": sec("A", "100"), "B": sec("B", "50"), "C": sec("C", "10", "USD")}
    plan = rebalance({"A": D(80), "B": D(0)}, securities,
                            {"A": D("0.4"), "B": D("0.3"), "C": D("0.2")}, D(2000), RATES)
    assert plan.total_eur == D(10000)
    sides = [(t.side, t.symbol) for t in plan.trades]
    assert sides == [("SELL", "A"), ("BUY", "B"), ("BUY", "C")]  # sells first
    sell, buy_b, buy_c = plan.trades
    assert sell.quantity == 40 and sell.value_eur == D("4000.00")  # 8000 → 4000
    assert buy_b.quantity == 59  # 3000 EUR wanted, 59 × 50 + cost fits
    assert buy_c.quantity == 221  # (2000 − 2 fixed) / 1.002 / 9 EUR each
    spent = sum(t.value_eur + t.cost_eur for t in plan.trades if t.side == "BUY")
    proceeds = sell.value_eur - sell.cost_eur
    assert spent <= D(2000) + proceeds
    assert buy_c.current_weight == 0 and buy_c.target_weight == D("0.2")
    assert "below target" in buy_b.reason and "above target" in sell.reason


def test_untargeted_holding_is_sold_whole_unless_out_of_scope_or_not_allowed() -> None:
    securities = {"A": sec("A", "100"), "S": sec("S", "100", bucket="s1"),
                  "N": sec("N", "100", sell=False)}
    holdings = {"A": D("10.5"), "S": D(10), "N": D(10)}
    plan = rebalance(holdings, securities, {}, D(0), RATES,
                     scope={"A", "N"})
    assert [(t.symbol, t.side, t.quantity) for t in plan.trades] == [("A", "SELL", 10)]
    assert dict(plan.skipped) == {"S": "its bucket did not plan",
                                  "N": "selling not allowed"}


def test_small_drift_cash_limits_and_lots() -> None:
    securities = {"A": sec("A", "100", lot=10), "B": sec("B", "100", buy=False)}
    # A is 100 EUR below target: under the minimum trade → nothing
    plan = rebalance({"A": D(10)}, securities, {"A": D("0.55")}, D(1000), RATES)
    assert plan.trades == ()
    # lots of 10 × 100 EUR: 2,000 EUR of room buys one lot (1,000 + cost) only once cash allows
    plan = rebalance({}, securities, {"A": D("0.9"), "B": D("0.1")}, D(2500),
                            RATES)
    assert [(t.symbol, t.quantity) for t in plan.trades] == [("A", 20)]
    assert dict(plan.skipped) == {"B": "buying not allowed"}
    plan = rebalance({}, securities, {"A": D("0.9")}, D(900), RATES)
    assert plan.trades == ()
    assert dict(plan.skipped) == {"A": "not enough cash for a minimum trade"}


def test_missing_rate_of_a_holding_is_refused_never_one_to_one() -> None:
    with pytest.raises(MissingRate):
        rebalance({"H": D(1)}, {"H": sec("H", "10", "HKD")}, {}, D(0), RATES)
    # an unheld target without a rate is only skipped
    plan = rebalance({}, {"H": sec("H", "10", "HKD")}, {"H": D("0.5")}, D(1000),
                            RATES)
    assert plan.trades == () and plan.skipped == (("H", "unknown security, price or FX rate"),)


SYMBOLS = ("A", "B", "C", "D")


@settings(max_examples=150, deadline=None)
@given(st.fixed_dictionaries({s: st.integers(0, 500) for s in SYMBOLS}),
       st.fixed_dictionaries({s: st.integers(1, 400) for s in SYMBOLS}),
       st.fixed_dictionaries({s: st.sampled_from([1, 5, 10]) for s in SYMBOLS}),
       st.lists(st.integers(0, 100), min_size=4, max_size=4),
       st.integers(0, 100_000), st.sampled_from(["EUR", "USD"]))
def test_trades_stay_within_holdings_cash_lots_and_targets(
        held: dict[str, int], prices: dict[str, int], lots: dict[str, int],
        raw_targets: list[int], cash: int, ccy: str) -> None:
    securities = {s: sec(s, str(prices[s]), ccy if s in "AB" else "EUR", lots[s])
                  for s in SYMBOLS}
    scale = sum(raw_targets) or 1
    targets = {s: D(t) / D(scale) * D("0.95") for s, t in zip(SYMBOLS, raw_targets,
                                                                strict=True)}
    holdings = {s: D(q) for s, q in held.items()}
    plan = rebalance(holdings, securities, targets, D(cash), RATES)
    proceeds = sum((t.value_eur - t.cost_eur for t in plan.trades if t.side == "SELL"), D(0))
    spent = sum((t.value_eur + t.cost_eur for t in plan.trades if t.side == "BUY"), D(0))
    assert spent <= D(cash) + proceeds
    seen = set()
    for t in plan.trades:
        assert (t.symbol, t.side) not in seen and t.quantity > 0
        seen.add((t.symbol, t.side))
        assert t.value_eur >= MIN_TRADE
        if t.side == "SELL":
            assert t.quantity <= held[t.symbol] and t.target_weight < t.current_weight
        else:
            assert t.quantity % lots[t.symbol] == 0 and t.target_weight > t.current_weight
            # a buy never overshoots its target by more than rounding
            unit = D(prices[t.symbol]) * RATES[securities[t.symbol].currency]
            assert held[t.symbol] * unit + t.value_eur <= t.target_weight * plan.total_eur \
                + D("0.01")
    sides = [t.side for t in plan.trades]
    assert sides == sorted(sides, key=lambda side: side != "SELL")


def test_drift_targets_leave_buckets_that_did_not_plan_alone() -> None:
    from arduino_trader.daemon.api.routes_rebalancing import Targets, trigger_targets
    from arduino_trader.domain.emergency import check_rebalance_triggers

    targets = Targets(account_targets({"core": {"A": 0.5, "T": 0.2}}, {"core": D("0.9")}),
                      {"S": "s1"}, frozenset({"core"}), 7, None)
    assert targets.in_scope("A") and targets.in_scope("UNASSIGNED")
    assert not targets.in_scope("S")
    values = {"A": D(450), "S": D(300)}
    weights = trigger_targets(values, D(250), targets)
    assert weights == {"A": D("0.45"), "T": D("0.18"), "S": D("0.3")}
    result = check_rebalance_triggers(values, weights, D(250), drift_threshold=D("0.05"),
                                      cash_threshold_multiplier=D(100))
    # A sits on its target, S (s1 did not plan) on its own weight: only unheld T drifts
    assert result.reasons == ("T drift -0.1800 (weight 0.0000, target 0.1800)",)
    nothing = Targets({}, {}, frozenset(), None, None)  # before the first plan
    assert trigger_targets(values, D(250), nothing) == {"A": D("0.45"), "S": D("0.3")}


def test_a_sale_is_shared_among_the_buckets_holding_the_symbol() -> None:
    assert split_sale(12, "s1", {"core": D(20), "s1": D(5)}, 1) == [("s1", 5), ("core", 7)]
    # lots of 5: s1 can give one lot, core one lot, the rest joins the first part
    assert split_sale(12, "s1", {"core": D(6), "s1": D(5)}, 5) == [("s1", 7), ("core", 5)]
    assert split_sale(3, "s1", {}, 1) == [("s1", 3)]
    securities = {"A": sec("A", "100", bucket="s1")}
    plan = rebalance_trades({"A": D(30)}, securities, {}, D(0), RATES, min_trade_eur=D(250),
                            cost_fixed=D(2), cost_pct=D("0.002"),
                            bucket_holdings={"s1": {"A": D(10)}, "core": {"A": D(18)},
                                             "s2": {"A": D(2)}})
    # s1 sells its 10, core its 18; s2's 2 (200 EUR) is below the minimum: joins s1's part
    assert [(t.bucket_id, t.quantity) for t in plan.trades] == [("core", 18), ("s1", 12)]
    assert sum(t.quantity for t in plan.trades) == 30
