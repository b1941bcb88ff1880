"""Costs, marketable limit prices, lot sizing and client order ids."""

from __future__ import annotations

from decimal import Decimal

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from arduino_trader.domain.execution.costs import CostError, CostModel
from arduino_trader.domain.execution.orders import (
    CLIENT_ID_SPACE,
    OrderConstructionError,
    buy_quantity,
    client_order_id,
    limit_price,
    sell_quantity,
)

D = Decimal
COSTS = CostModel(D("2.00"), D("0.002"))


def test_commission_converts_the_fixed_part_and_never_guesses_fx() -> None:
    assert COSTS.commission(D(1000), D("1.1")) == D("2.2") + D("2.000")
    assert COSTS.commission_eur(D(-500)) == D("3.000")
    with pytest.raises(CostError):
        COSTS.commission(D(1000), None)
    with pytest.raises(CostError):
        COSTS.commission(D(1000), D(0))


def test_minimum_worthwhile_trade_is_the_larger_of_formula_and_floor() -> None:
    assert COSTS.min_trade_eur(D(400)) == D(400)  # 2 / 0.008 = 250 < 400
    assert COSTS.min_trade_eur(D(0)) == D(250)
    assert CostModel(D(5), D("0.002")).min_trade_eur(D(400)) == D(625)
    assert CostModel(D(2), D("0.01")).min_trade_eur(D(400)) == D(1000)  # never ≤ 1 %
    assert COSTS.batch_estimate_eur([D(1000), D(-500)]) == D("7.000")


def test_cost_fraction_is_a_fraction_not_a_percent() -> None:
    with pytest.raises(CostError, match=r"0\.2%"):
        CostModel(D(2), D("0.2"))


def test_limit_prices_are_marketable_and_on_the_tick() -> None:
    assert limit_price("BUY", D(99), D(100), D("0.01"), D("0.05")) == D("101.00")
    assert limit_price("BUY", None, D("10.07"), D("0.01"), D("0.05")) == D("10.15")
    assert limit_price("SELL", D("10.07"), None, D("0.01"), D("0.05")) == D("10.00")
    with pytest.raises(OrderConstructionError, match="ask"):
        limit_price("BUY", D(99), None, D("0.01"), D("0.01"))
    with pytest.raises(OrderConstructionError, match="bid"):
        limit_price("SELL", D(0), D(100), D("0.01"), D("0.01"))


@settings(max_examples=300, deadline=None)
@given(ref=st.decimals(D("0.01"), D(10_000), places=4), step=st.sampled_from(
    [D("0.0001"), D("0.01"), D("0.05"), D("0.5"), D(1)]), buf=st.sampled_from(
    [D(0), D("0.005"), D("0.01"), D("0.05")]))
def test_limit_price_stays_within_the_buffer(ref: Decimal, step: Decimal, buf: Decimal) -> None:
    if ref * (1 - buf) < step:
        return
    buy = limit_price("BUY", None, ref, buf, step)
    sell = limit_price("SELL", ref, None, buf, step)
    assert buy <= ref * (1 + buf) and buy % step == 0
    assert sell >= ref * (1 - buf) and sell % step == 0


def test_buy_quantity_never_exceeds_the_target() -> None:
    assert buy_quantity(D(1000), D("1.1"), D(100), 1) == 11
    assert buy_quantity(D(1000), D("1.1"), D(100), 5) == 10
    assert buy_quantity(D(100), D("1.1"), D(200), 1) == 0  # one lot would overshoot: skip
    assert buy_quantity(D(0), D(1), D(1), 1) == 0


@settings(max_examples=300, deadline=None)
@given(target=st.decimals(D(0), D(1_000_000), places=2), rate=st.decimals(
    D("0.01"), D(200), places=4), price=st.decimals(D("0.01"), D(5000), places=2),
    lot=st.sampled_from([1, 2, 10, 100]))
def test_buy_quantity_property(target: Decimal, rate: Decimal, price: Decimal, lot: int) -> None:
    qty = buy_quantity(target, rate, price, lot)
    assert qty % lot == 0 and 0 <= qty <= 1_000_000
    assert qty * price <= target * rate
    if qty < 1_000_000 - lot:
        assert (qty + lot) * price > target * rate


def test_sell_quantity_rounds_down_and_caps() -> None:
    assert sell_quantity(D(25), D(20), 1) == 20
    assert sell_quantity(D(25), D(100), 10) == 20
    assert sell_quantity(D(5), D(100), 10) == 0


def test_client_order_ids_are_deterministic_in_range_and_salted() -> None:
    a = client_order_id("plan:abc|0|US0378331005|BUY|10")
    assert a == client_order_id("plan:abc|0|US0378331005|BUY|10")
    assert 1 <= a <= CLIENT_ID_SPACE
    assert a != client_order_id("plan:abc|0|US0378331005|BUY|10", attempt=1)
    ids = {client_order_id(f"k{i}") for i in range(5000)}
    assert len(ids) == 5000
