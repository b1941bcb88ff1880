"""Currency exchange orders on FX pairs (domain/fx_exchange.py): the pair table, the path
through EUR, and exact order sizing in base units with worst-case guarantees."""

from __future__ import annotations

from decimal import Decimal

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from arduino_trader.domain.fx_exchange import (
    FX_PAIRS,
    FxError,
    FxFee,
    FxOrder,
    UnsupportedPair,
    capped_order,
    cash_moves,
    conversion_path,
    fx_market_open,
    order_to_receive,
    order_to_spend,
    pair_by_symbol,
    pair_from_journal_isin,
)

D = Decimal
BUFFER = D("0.005")
FEE = FxFee(D("2.00"), D("0.002"))


def test_pair_table_and_sides() -> None:
    # forex convention on every pair: BUY receives the base, SELL pays it
    (leg,) = conversion_path("EUR", "USD")
    assert (leg.pair.symbol, leg.side) == ("EUR/USD", "SELL")
    (leg,) = conversion_path("USD", "EUR")
    assert (leg.pair.symbol, leg.side) == ("EUR/USD", "BUY")
    (leg,) = conversion_path("EUR", "GBP")
    assert (leg.pair.symbol, leg.side) == ("EUR/GBP", "SELL")
    (leg,) = conversion_path("GBP", "USD")
    assert (leg.pair.symbol, leg.side) == ("GBP/USD", "SELL")
    (leg,) = conversion_path("EUR", "HKD")  # the base of HKD pairs is HKD: BUY gets HKD
    assert (leg.pair.symbol, leg.side) == ("HKD/EUR", "BUY")
    (leg,) = conversion_path("HKD", "USD")
    assert (leg.pair.symbol, leg.side) == ("HKD/USD", "SELL")
    (leg,) = conversion_path("usd", "hkd")
    assert (leg.pair.symbol, leg.side) == ("HKD/USD", "BUY")
    assert conversion_path("EUR", "EUR") == ()
    assert pair_by_symbol("hkd/eur") is pair_by_symbol("HKD/EUR")
    assert pair_from_journal_isin("FX:EUR/GBP") is pair_by_symbol("EUR/GBP")
    assert pair_from_journal_isin("US0378331005") is None
    for pair in FX_PAIRS:  # each direction of a pair is the opposite side
        assert {pair.side_to_receive(pair.base), pair.side_to_receive(pair.quote)} == {
            "BUY", "SELL"}


def test_cash_moves_are_exact_in_both_currencies() -> None:
    eurusd, hkdeur = pair_by_symbol("EUR/USD"), pair_by_symbol("HKD/EUR")
    assert eurusd is not None and hkdeur is not None
    assert cash_moves(eurusd, "SELL", D("100"), D("1.0851"), D("1.09")) == {
        "EUR": D("-100"), "USD": D("107.42")}
    assert cash_moves(eurusd, "BUY", D("100"), D("1.0851"), D("1.09")) == {
        "EUR": D("100"), "USD": D("-109.60")}
    assert cash_moves(hkdeur, "BUY", D("1000"), D("0.11808"), D("1.00")) == {
        "HKD": D("1000"), "EUR": D("-119.08")}


def test_gbp_hkd_is_routed_through_eur() -> None:
    legs = conversion_path("GBP", "HKD")
    assert [(x.source, x.target, x.pair.symbol, x.side) for x in legs] == [
        ("GBP", "EUR", "EUR/GBP", "BUY"), ("EUR", "HKD", "HKD/EUR", "BUY")]
    legs = conversion_path("HKD", "GBP")
    assert [(x.pair.symbol, x.side) for x in legs] == [("HKD/EUR", "SELL"),
                                                       ("EUR/GBP", "SELL")]
    with pytest.raises(UnsupportedPair):  # a two-leg path is never one order
        order_to_receive("GBP", "HKD", D("100"), D("1"), D("1"), buffer=BUFFER)


def test_unsupported_currencies_are_clear_errors() -> None:
    with pytest.raises(UnsupportedPair, match="CHF"):
        conversion_path("EUR", "CHF")
    with pytest.raises(UnsupportedPair):
        conversion_path("JPY", "CHF")
    with pytest.raises(FxError, match="positive"):
        order_to_receive("EUR", "USD", D("0"), D("1.08"), D("1.09"), buffer=BUFFER)
    with pytest.raises(FxError, match="ask"):
        order_to_receive("USD", "EUR", D("10"), D("1.08"), None, buffer=BUFFER)
    with pytest.raises(FxError, match="below one lot"):
        order_to_spend("USD", "EUR", D("0.5"), D("1.08"), D("1.09"), buffer=BUFFER)


def test_quantity_is_in_base_units_whatever_the_direction() -> None:
    # 100 USD from EUR: SELL EUR/USD, quantity in EUR (the base), never int(100)
    usd = order_to_receive("EUR", "USD", D("100"), D("1.0848"), D("1.0852"), buffer=BUFFER)
    assert (usd.symbol, usd.side, usd.source, usd.target) == ("EUR/USD", "SELL", "EUR",
                                                              "USD")
    # paying EUR: limit = bid × (1 − 0.5 %) rounded up to the tick = 1.0794 → 93 EUR
    assert usd.limit_price == D("1.0794") and usd.quantity == 93
    assert usd.min_receive == D("93") * D("1.0794") >= D("100")
    assert usd.max_spend == D("93")
    eur = order_to_receive("USD", "EUR", D("100"), D("1.0848"), D("1.0852"), buffer=BUFFER)
    assert (eur.side, eur.quantity) == ("BUY", 100)  # 100 EUR are 100 base units
    assert eur.limit_price == D("1.0906") and eur.max_spend == D("109.06")
    hkd = order_to_receive("EUR", "HKD", D("1000"), D("0.11804"), D("0.11808"),
                           buffer=BUFFER)
    assert (hkd.symbol, hkd.side, hkd.quantity) == ("HKD/EUR", "BUY", 1000)
    assert hkd.max_spend == D("1000") * D("0.11867")
    usd2 = order_to_receive("HKD", "USD", D("100"), D("0.12808"), D("0.12812"),
                            buffer=BUFFER)
    assert (usd2.side, usd2.source) == ("SELL", "HKD") and usd2.min_receive >= 100


def test_fees_are_paid_in_the_quote_currency_and_covered() -> None:
    order = order_to_receive("EUR", "USD", D("100"), D("1.0848"), D("1.0852"),
                             buffer=BUFFER, fee=FEE)
    value = order.quantity * order.limit_price
    # a better fill may round its fee one cent higher: the guarantee keeps that cent
    assert order.min_receive == value - FEE.charge(value) - D("0.01") >= D("100")
    assert order.max_spend == D(order.quantity)
    spend = order_to_spend("USD", "EUR", D("500"), D("1.0848"), D("1.0852"), buffer=BUFFER,
                           fee=FEE)
    value = spend.quantity * spend.limit_price
    assert spend.max_spend == value + FEE.charge(value) <= D("500")
    assert spend.side == "BUY" and spend.min_receive == D(spend.quantity)


def test_capped_order_falls_back_to_what_the_cap_buys() -> None:
    full = capped_order("EUR", "USD", D("1000"), None, D("1.08"), D("1.09"), buffer=BUFFER)
    capped = capped_order("EUR", "USD", D("1000"), D("500"), D("1.08"), D("1.09"),
                          buffer=BUFFER)
    assert full.max_spend > D("500") >= capped.max_spend and capped.quantity == 500


def test_fx_market_is_open_on_weekdays() -> None:
    assert [fx_market_open(d) for d in range(7)] == [True] * 5 + [False] * 2


# ------------------------------------------------------------------------ properties
_pairs = st.sampled_from([(p.base, p.quote) for p in FX_PAIRS])
_amount = st.decimals(D("1"), D("200000"), places=2)
_mid = st.decimals(D("0.01"), D("20"), places=5)
_fee = st.builds(FxFee, st.decimals(D("0"), D("5"), places=2),
                 st.decimals(D("0"), D("0.005"), places=4))
_buffer = st.decimals(D("0"), D("0.05"), places=4)


def _quote(mid: Decimal, spread_ticks: int, step: Decimal) -> tuple[Decimal, Decimal]:
    bid = max(step, (mid / step).to_integral_value() * step)
    return bid, bid + spread_ticks * step


@settings(max_examples=300, deadline=None)
@given(pair=_pairs, flip=st.booleans(), amount=_amount, mid=_mid, spread=st.integers(0, 50),
       fee=_fee, buffer=_buffer, fill=st.floats(0, 1))
def test_receive_orders_deliver_at_least_the_asked_amount(
        pair: tuple[str, str], flip: bool, amount: Decimal, mid: Decimal, spread: int,
        fee: FxFee, buffer: Decimal, fill: float) -> None:
    source, target = (pair[1], pair[0]) if flip else pair
    (leg,) = conversion_path(source, target)
    bid, ask = _quote(mid, spread, leg.pair.min_step)
    try:
        order = order_to_receive(source, target, amount, bid, ask, buffer=buffer, fee=fee)
    except FxError as exc:
        assert "exceeds" in str(exc) or "rounds" in str(exc)
        return
    assert order.min_receive >= amount
    # any fill at or better than the limit delivers at least min_receive, costs max_spend
    price = _fill_price(order, bid, ask, fill)
    spent, got = _settle(order, order.quantity, price, fee)
    assert got >= order.min_receive >= amount and spent <= order.max_spend
    # minimal: one lot less would not guarantee the amount
    if order.quantity > order.pair.lot:
        smaller = order.quantity - order.pair.lot
        got_at_limit = _settle(order, smaller, order.limit_price, fee)[1]
        slack = D("0.01") if fee.fraction and not order.pair.receives_base(order.side) \
            else D(0)
        assert got_at_limit - slack < amount


@settings(max_examples=300, deadline=None)
@given(pair=_pairs, flip=st.booleans(), amount=_amount, mid=_mid, spread=st.integers(0, 50),
       fee=_fee, buffer=_buffer, fill=st.floats(0, 1))
def test_spend_orders_never_spend_more_than_available(
        pair: tuple[str, str], flip: bool, amount: Decimal, mid: Decimal, spread: int,
        fee: FxFee, buffer: Decimal, fill: float) -> None:
    source, target = (pair[1], pair[0]) if flip else pair
    (leg,) = conversion_path(source, target)
    bid, ask = _quote(mid, spread, leg.pair.min_step)
    try:
        order = order_to_spend(source, target, amount, bid, ask, buffer=buffer, fee=fee)
    except FxError as exc:
        assert "below one lot" in str(exc) or "exceeds" in str(exc)
        return
    assert order.max_spend <= amount
    price = _fill_price(order, bid, ask, fill)
    spent, got = _settle(order, order.quantity, price, fee)
    assert spent <= order.max_spend <= amount and got >= order.min_receive
    # maximal: one lot more would overspend
    bigger = order.quantity + order.pair.lot
    assert _settle(order, bigger, order.limit_price, fee)[0] > amount


@settings(max_examples=300, deadline=None)
@given(pair=_pairs, amount=_amount, mid=_mid, spread=st.integers(0, 50), fee=_fee,
       buffer=_buffer)
def test_round_trips_never_create_money(pair: tuple[str, str], amount: Decimal, mid: Decimal,
                                       spread: int, fee: FxFee, buffer: Decimal) -> None:
    base, quote = pair
    (leg,) = conversion_path(base, quote)
    bid, ask = _quote(mid, spread, leg.pair.min_step)
    (back,) = conversion_path(quote, base)
    assert back.pair == leg.pair and back.side != leg.side  # the same pair, mirrored
    try:
        there = order_to_spend(base, quote, amount, bid, ask, buffer=buffer, fee=fee)
        again = order_to_spend(quote, base, there.min_receive, bid, ask, buffer=buffer,
                               fee=fee)
    except FxError:
        return
    assert again.min_receive <= there.max_spend <= amount


def _fill_price(order: FxOrder, bid: Decimal, ask: Decimal, t: float) -> Decimal:
    """A fill price at or better than the limit: at most the limit when receiving base,
    at least the limit when paying base."""
    limit = order.limit_price
    if order.pair.receives_base(order.side):
        lo, hi = min(bid, limit), limit
    else:
        lo, hi = limit, max(ask, limit)
    return lo + (hi - lo) * D(str(round(t, 6)))


def _settle(order: FxOrder, quantity: int, price: Decimal,
            fee: FxFee) -> tuple[Decimal, Decimal]:
    """(spent, received) of a fill, fee in the quote currency."""
    value = quantity * price
    moves = cash_moves(order.pair, order.side, D(quantity), price, fee.charge(value))
    return -moves[order.source], moves[order.target]
