"""Emergency rebalancing: detection, the three steps in order, exact FX, gating."""

from __future__ import annotations

from decimal import Decimal

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from arduino_trader.domain.cash_flows.fx import MissingRate, RateTable
from arduino_trader.domain.emergency import (
    SELL_BUFFER,
    Exchange,
    Holding,
    Sale,
    check_balances,
    check_rebalance_triggers,
    order_allowed,
    plan_emergency,
    shortfalls,
)

D = Decimal
RATES = RateTable(latest={"USD": D("0.9"), "GBP": D("1.15"), "HKD": D("0.115")})


def _open(exchange: str) -> bool:
    return exchange in {"XNYS", "XETR"}


def test_detection_counts_negative_and_thin_balances_per_currency() -> None:
    check = check_balances({"EUR": D("100"), "USD": D("-20"), "GBP": D("3")}, ["EUR", "GBP"],
                           RATES)
    assert check.has_negative and check.below_minimum
    assert check.shortfalls == {"USD": D("25"), "GBP": D("2")}
    assert check.total_shortfall_eur == D("24.80")  # 25 × 0.9 + 2 × 1.15
    assert shortfalls({}, ["HKD"]) == {"HKD": D("5")}  # a missing balance counts as 0


def test_no_shortfall_means_dismiss_and_no_action() -> None:
    plan = plan_emergency({"EUR": D("100")}, ["EUR"], [], RATES, _open)
    assert plan.actions == () and plan.dismiss_stale_recommendations and plan.resolved


def test_negative_usd_is_repaired_by_exchange_first() -> None:
    plan = plan_emergency({"EUR": D("1000"), "USD": D("-100")}, ["USD"], [], RATES, _open)
    (ex,) = plan.actions
    assert isinstance(ex, Exchange) and ex.step == 1
    assert (ex.sell_currency, ex.buy_currency) == ("EUR", "USD")
    assert ex.buy_amount >= D("107.1")  # 105 shortfall × 1.02
    # exact FX through EUR, never 1:1: 107.10 USD cost 96.39 EUR
    assert ex.sell_amount == D("96.39") and ex.buy_amount == D("107.10")
    assert plan.resolved and not plan.dismiss_stale_recommendations


def test_largest_eur_excess_is_used_first_and_split_across_sources() -> None:
    plan = plan_emergency({"EUR": D("50"), "GBP": D("60"), "USD": D("-100")}, ["USD"], [],
                          RATES, _open)
    sources = [a.sell_currency for a in plan.actions if isinstance(a, Exchange)]
    assert sources == ["GBP", "EUR"] and plan.resolved
    assert all(a.sell_currency != "USD" for a in plan.actions if isinstance(a, Exchange))


def test_three_steps_in_order_exchange_sell_exchange() -> None:
    holdings = [Holding("SAP.EU", D("10"), D("100"), "EUR", "XETR"),
                Holding("KO.US", D("50"), D("60"), "USD", "XNYS", lot=1),
                Holding("HK.1", D("1000"), D("10"), "HKD", "XHKG")]
    plan = plan_emergency({"EUR": D("20"), "USD": D("-300")}, ["USD"], holdings, RATES,
                          _open)
    steps = [a.step for a in plan.actions]
    assert steps == sorted(steps) and steps[0] == 1 and 2 in steps
    sales = [a for a in plan.actions if isinstance(a, Sale)]
    assert sales[0].symbol == "KO.US"  # the short currency first; HK market closed
    assert all(s.symbol != "HK.1" for s in sales)
    assert plan.resolved


def test_research_mode_skips_exchanges_but_plans_sales() -> None:
    holdings = [Holding("SAP.EU", D("10"), D("100"), "EUR", "XETR")]
    plan = plan_emergency({"EUR": D("1000"), "USD": D("-50")}, ["USD"], holdings, RATES,
                          _open, exchanges_enabled=False)
    assert all(isinstance(a, Sale) for a in plan.actions) and plan.actions
    assert not plan.resolved and any("research" in n for n in plan.notes)


def test_closed_markets_leave_the_shortfall_reported() -> None:
    holdings = [Holding("HK.1", D("1000"), D("10"), "HKD", "XHKG")]
    plan = plan_emergency({"USD": D("-50")}, ["USD"], holdings, RATES, _open)
    assert plan.actions == () and plan.final_shortfalls == {"USD": D("55")}
    assert any("open market" in n for n in plan.notes)


def test_missing_rate_for_the_short_currency_blocks() -> None:
    with pytest.raises(MissingRate):
        plan_emergency({"EUR": D("1000"), "CHF": D("-10")}, ["CHF"], [], RATES, _open)


def test_source_without_rate_is_skipped_not_one_to_one() -> None:
    plan = plan_emergency({"CHF": D("1000"), "EUR": D("100"), "USD": D("-10")}, ["USD"], [],
                          RATES, _open)
    assert {a.sell_currency for a in plan.actions if isinstance(a, Exchange)} == {"EUR"}
    assert any("CHF" in n for n in plan.notes)


def test_market_hours_gate() -> None:
    assert order_allowed("SELL", "XNYS", _open) and not order_allowed("SELL", "XHKG", _open)
    assert order_allowed("BUY", "XLON", _open) and not order_allowed("BUY", "XHKG", _open)
    assert not order_allowed("SELL", "UNKNOWN", _open)


def test_rebalance_triggers_drift_cash_and_unheld_targets() -> None:
    res = check_rebalance_triggers({"A": D("900")}, {"A": D("0.5"), "B": D("0.4")}, D("100"))
    assert res.triggered and len(res.reasons) == 2  # A overweight, B targeted but unheld
    res = check_rebalance_triggers({"A": D("500")}, {"A": D("0.5")}, D("500"))
    assert res.triggered and "cash" in res.reasons[0]
    res = check_rebalance_triggers({"A": D("600")}, {"A": D("0.6")}, D("400"))
    assert not res.triggered
    assert not check_rebalance_triggers({"A": D("1")}, {}, D("1e6"), enabled=False).triggered


_amount = st.decimals(D("-2000"), D("5000"), places=2)


@settings(max_examples=200, deadline=None)
@given(balances=st.fixed_dictionaries({"EUR": _amount, "USD": _amount, "GBP": _amount}),
       holdings=st.lists(st.tuples(st.sampled_from(["EUR", "USD", "GBP"]),
                                   st.integers(0, 200), st.decimals(D("1"), D("500"),
                                                                    places=2),
                                   st.integers(1, 10), st.booleans()), max_size=5),
       research=st.booleans())
def test_plan_invariants(balances: dict[str, Decimal],
                         holdings: list[tuple[str, int, Decimal, int, bool]],
                         research: bool) -> None:
    hs = [Holding(f"S{i}", D(q), p, c, "XNYS" if o else "XHKG", lot)
          for i, (c, q, p, lot, o) in enumerate(holdings)]
    plan = plan_emergency(balances, ["EUR"], hs, RATES, _open, exchanges_enabled=not research)
    bal = dict(balances)
    need_eur = D(0)
    sold_eur = D(0)
    steps = [a.step for a in plan.actions]
    assert steps == sorted(steps)  # exchange, then sales, then final exchange
    for action in plan.actions:
        if isinstance(action, Exchange):
            assert not research
            before = bal[action.sell_currency]
            bal[action.sell_currency] -= action.sell_amount
            bal[action.buy_currency] += action.buy_amount
            # an exchange never takes a source below the reserve, nor below zero
            assert bal[action.sell_currency] >= D(5) and before > D(5)
            # exact FX: what is received is worth no more than what is sold
            assert action.buy_amount * RATES.eur_per(action.buy_currency) <= \
                action.sell_amount * RATES.eur_per(action.sell_currency)
        else:
            if not need_eur:
                short = shortfalls(bal, _checked(balances), D(5))
                need_eur = sum((v * RATES.eur_per(c) for c, v in short.items()), D(0))
            h = next(x for x in hs if x.symbol == action.symbol)
            assert action.exchange == "XNYS" and action.quantity <= h.quantity
            # at most the buffered remaining need plus one lot per position (money invariant 7)
            lot_eur = h.lot * h.price * RATES.eur_per(h.currency)
            assert action.value_eur <= max(D(0), need_eur * SELL_BUFFER - sold_eur) + lot_eur
            sold_eur += action.value_eur
            bal[action.currency] += action.value
    assert shortfalls(bal, _checked(balances), D(5)) == plan.final_shortfalls


def _checked(balances: dict[str, Decimal]) -> set[str]:
    return {"EUR"} | {c for c, v in balances.items() if v < 0}


def test_emergency_sale_recommendation_carries_the_dismissable_hash() -> None:
    from arduino_trader.domain.emergency import (
        EMERGENCY_PORTFOLIO_HASH,
        recommendation_fields,
    )

    sale = Sale("KO.US", 3, D("60"), "USD", "XNYS", D("180"), D("162"))
    fields = recommendation_fields(sale)
    assert fields["priority"] == 999 and fields["side"] == "SELL"
    assert fields["portfolio_hash"] == EMERGENCY_PORTFOLIO_HASH


def test_one_step_at_a_time_on_fresh_balances() -> None:
    from arduino_trader.domain.emergency import plan_exchanges, plan_sales

    exchanges, _ = plan_exchanges(1, {"EUR": D("1000"), "USD": D("-100")}, ["USD"], RATES)
    full = plan_emergency({"EUR": D("1000"), "USD": D("-100")}, ["USD"], [], RATES, _open)
    assert tuple(exchanges) == full.actions  # the same first step as the full plan
    (final,), _ = plan_exchanges(3, {"EUR": D("1000"), "USD": D("-100")}, ["USD"], RATES)
    assert final.step == 3
    holdings = [Holding("KO.US", D("50"), D("60"), "USD", "XNYS")]
    # what the exchanges could not cover is sold; nothing when nothing is short
    sales, _ = plan_sales({"EUR": D("5"), "USD": D("-100")}, ["USD"], holdings, RATES, _open)
    assert [s.symbol for s in sales] == ["KO.US"] and sales[0].quantity == 2  # 115.5 USD
    assert plan_sales({"EUR": D("5"), "USD": D("10")}, ["USD"], holdings, RATES,
                      _open) == ([], ())


@given(short=st.dictionaries(st.sampled_from(["EUR", "USD", "HKD", "GBP"]),
                             st.decimals(min_value=Decimal("0.01"), max_value=Decimal("1e6"),
                                         places=2), min_size=1),
       bump=st.sampled_from(["EUR", "USD", "HKD", "GBP"]))
def test_a_situation_key_is_the_shortfalls_and_nothing_else(short: dict[str, Decimal],
                                                            bump: str) -> None:
    """The same shortfalls in any order (or written with more places) are one situation;
    a cent more short anywhere, or another currency short, is another situation."""
    from arduino_trader.domain.emergency import situation_key

    key = situation_key(short)
    assert situation_key(dict(reversed(list(short.items())))) == key
    assert situation_key({c: v.quantize(Decimal("0.0001")) for c, v in short.items()}) == key
    changed = {**short, bump: short.get(bump, Decimal(0)) + Decimal("0.01")}
    assert situation_key(changed) != key
