"""Dividends and DRIP: minimum trade, 3 % rule, lots, FX, at-most-once spending."""

from __future__ import annotations

from datetime import date
from decimal import Decimal

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from arduino_trader.domain.cash_flows.fx import MissingRate, RateTable
from arduino_trader.domain.dividends import (
    Dividend,
    DripError,
    DripPlan,
    HistoryRow,
    Instrument,
    PendingBonus,
    apply_fill,
    clear_bonus,
    dividend_symbol,
    is_consistent,
    is_dividend_type,
    payout_ratio_stability,
    pending_bonus,
    plan_reinvestment,
    reinvestment_rate,
    stability_score,
    totals_by_symbol,
)

D = Decimal
RATES = RateTable(latest={"USD": D("0.9")})


def _div(i: int, symbol: str, eur: str, day: int = 1, bucket_id: str = "core",
         handling: str = "reinvest_same") -> Dividend:
    return Dividend(i, symbol, D(eur), date(2026, 1, day), bucket_id, handling)


def _plan(divs: list[Dividend], yields: dict[str, Decimal | None] | None = None,
          cash: str = "100000", inst: dict[str, Instrument] | None = None,
          today: date = date(2026, 2, 1)) -> DripPlan:
    return plan_reinvestment(
        divs, min_trade=D(250), yields=yields or {"KO.US": D("0.031")},
        instruments=inst or {"KO.US": Instrument("KO.US", D("60"), "USD")},
        eur_per=lambda c: RATES.eur_per(c), bucket_cash_eur={"core": D(cash), "sat": D(cash)},
        today=today)


def test_a_dividend_not_paid_yet_is_not_reinvested() -> None:
    """A payment date after today (a hand-entered future date, say) has no cash behind it
    yet: skipped, never bought, never parked as a bonus."""
    early, later = _div(1, "KO.US", "600", day=10), _div(2, "KO.US", "600", day=20)
    plan = _plan([early, later], today=date(2026, 1, 15))
    assert [dividend_id for b in plan.buys for dividend_id, _ in b.funding] == [1]
    assert plan.pending == ()
    assert ("KO.US", "dividend 2 is paid on 2026-01-20: not yet") in plan.skipped
    assert _plan([later], today=date(2026, 1, 20)).buys  # on its day it is


def test_detection_helpers() -> None:
    assert dividend_symbol({"symbol": " ", "ticker": "KO.US", "isin": "US1"}) == "KO.US"
    assert dividend_symbol({"other": "x"}) is None
    assert is_dividend_type("dividend") and is_dividend_type("corp_dividend")
    assert is_dividend_type("coupon") and not is_dividend_type("fee")


def test_small_totals_become_pending_bonus() -> None:
    plan = _plan([_div(1, "KO.US", "100"), _div(2, "KO.US", "100", day=2)])
    assert plan.buys == ()
    assert plan.pending == (PendingBonus(1, "KO.US", D(100)),
                            PendingBonus(2, "KO.US", D(100)))


def test_high_yield_buys_whole_lots_via_fx_oldest_first() -> None:
    plan = _plan([_div(1, "KO.US", "200"), _div(2, "KO.US", "150", day=3)])
    (buy,) = plan.buys
    # 350 EUR buys floor(350 / (60 × 0.9)) = 6 shares costing 324 EUR
    assert (buy.quantity, buy.cost_eur) == (6, D("324.00"))
    assert buy.funding == ((1, D(200)), (2, D(124)))


def test_low_or_missing_yield_parks_the_cash() -> None:
    divs = [_div(1, "KO.US", "300")]
    assert _plan(divs, yields={"KO.US": D("0.029")}).buys == ()
    assert _plan(divs, yields={"KO.US": None}).buys == ()


def test_lot_rounding_never_rounds_up() -> None:
    inst = Instrument("KO.US", D("60"), "USD", lot=10)  # one lot = 540 EUR
    plan = _plan([_div(1, "KO.US", "500")], inst={"KO.US": inst})
    assert plan.buys == () and plan.pending


def test_missing_fx_is_skipped_not_one_to_one() -> None:
    inst = Instrument("KO.US", D("60"), "GBP")
    plan = _plan([_div(1, "KO.US", "500")], inst={"KO.US": inst})
    assert plan.buys == ()
    assert "FX" in plan.skipped[0][1]
    with pytest.raises(MissingRate):
        RATES.eur_per("GBP")


def test_buckets_handling_and_cash_are_respected() -> None:
    divs = [_div(1, "KO.US", "300", bucket_id="sat", handling="accumulate_cash"),
            _div(2, "KO.US", "300", bucket_id="core")]
    plan = _plan(divs, cash="100")
    assert plan.buys == ()  # core has only 100 EUR
    plan = _plan(divs)
    assert [b.bucket_id for b in plan.buys] == ["core"]
    assert "accumulates" in plan.skipped[0][1]


def test_fill_consumes_once_and_marks_reinvested_only_when_fully_consumed() -> None:
    divs = {1: _div(1, "KO.US", "200"), 2: _div(2, "KO.US", "150", day=3)}
    (buy,) = _plan(list(divs.values())).buys
    changed, rows = apply_fill(divs, buy, "trade:1", D(6), D("324"))
    assert changed[1].reinvested and not changed[2].reinvested
    assert changed[2].remaining_eur == D(26) and sum(r.amount_eur for r in rows) == D(324)
    divs.update(changed)
    again, rows2 = apply_fill(divs, buy, "trade:1", D(6), D("324"))
    assert again == {} and rows2 == ()
    with pytest.raises(DripError):
        apply_fill(divs, buy, "trade:2", D(7), D("1"))
    with pytest.raises(DripError):
        apply_fill(divs, buy, "", D(1), D("1"))


def test_failed_order_leaves_dividends_unmarked_and_plannable() -> None:
    divs = [_div(1, "KO.US", "300")]
    first = _plan(divs).buys
    second = _plan(divs).buys
    assert first == second and not divs[0].reinvested


def test_pending_bonus_is_a_bounded_fraction() -> None:
    assert pending_bonus(D("12.40"), D("1000"), D(250)) == D("0.0124")
    assert pending_bonus(D("100"), D("0"), D(250)) == D("0.05")
    assert pending_bonus(D("0"), D("10"), D(250)) == 0
    rows = (PendingBonus(1, "A", D(5)), PendingBonus(2, "B", D(6)))
    assert clear_bonus(rows, "A") == (PendingBonus(1, "A", D(0)),)


def test_stability_and_analytics() -> None:
    steady = {2019: D("1.0"), 2020: D("1.05"), 2021: D("1.1"), 2022: D("1.16"),
              2023: D("1.22"), 2024: D("1.28")}
    assert stability_score(steady, 2025, 0.05) == 1.0  # 0.5+0.15+0.30+0.30 clamped
    cut = {2022: D("1.0"), 2023: D("1.0"), 2024: D("0.7")}
    assert stability_score(cut, 2025, None) == 0.1  # 0.5 − 0.40 (recent cut), CAGR < 0
    assert stability_score({}, 2025, 0.03) == 0.65
    assert payout_ratio_stability(0.45) == 0.85 and payout_ratio_stability(0.9) == 0.40
    assert payout_ratio_stability(0.25) == 0.70 and payout_ratio_stability(0.7) == 0.60
    assert payout_ratio_stability(None) == 0.50 and payout_ratio_stability(0.1) == 0.50
    assert is_consistent(0.02, 0.6) and not is_consistent(0.0, 0.9)
    rows = [HistoryRow("A", D("10"), True), HistoryRow("A", D("5"), False),
            HistoryRow("B", D("5"), False)]
    assert totals_by_symbol(rows) == {"A": D("15.00"), "B": D("5.00")}
    assert reinvestment_rate(rows) == D("0.5000") and reinvestment_rate([]) == 0


@settings(max_examples=150, deadline=None)
@given(amounts=st.lists(st.decimals(D("1"), D("2000"), places=2), min_size=1, max_size=8),
       rounds=st.lists(st.tuples(st.sampled_from(["fail", "partial", "full", "dup"]),
                                 st.integers(1, 100)), min_size=1, max_size=6),
       price=st.decimals(D("5"), D("300"), places=2))
def test_a_dividends_euros_are_spent_at_most_once(amounts: list[Decimal],
                                                  rounds: list[tuple[str, int]],
                                                  price: Decimal) -> None:
    divs = {i: _div(i, "KO.US", str(a), day=1 + i) for i, a in enumerate(amounts)}
    inst = {"KO.US": Instrument("KO.US", price, "USD")}
    fills: dict[str, Decimal] = {}
    for n, (outcome, pct) in enumerate(rounds):
        plan = _plan(list(divs.values()), inst=inst)
        for buy in plan.buys:
            if outcome == "fail":
                continue
            qty = buy.quantity if outcome != "partial" else max(1, buy.quantity * pct // 100)
            cost = (qty * buy.price * D("0.9")).quantize(D("0.01"))
            key = f"trade:{n}"
            times = 2 if outcome == "dup" else 1
            for _ in range(times):
                changed, rows = apply_fill(divs, buy, key, D(qty), cost)
                divs.update(changed)
                fills[key] = fills.get(key, D(0)) + sum((r.amount_eur for r in rows), D(0))
    for d in divs.values():
        assert D(0) <= d.allocated_eur <= d.amount_eur
        assert d.reinvested == (d.allocated_eur >= d.amount_eur)
    total_consumed = sum((d.allocated_eur for d in divs.values()), D(0))
    assert total_consumed == sum(fills.values(), D(0))
