"""The funding arithmetic of a buy short of its currency (domain/fx_funding.py), pure:
which currency pays, how much the exchange must deliver, and that it never spends what
the source holds for its reserve or its open buys."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from decimal import ROUND_HALF_UP, Decimal

import pytest
from hypothesis import event, given, settings
from hypothesis import strategies as st

from arduino_trader.domain.execution.costs import CostModel
from arduino_trader.domain.execution.facts import (
    OpenOrderFact,
    OrderIntent,
    PriceFacts,
    SafetyFacts,
    SafetyLimits,
    SecurityFacts,
)
from arduino_trader.domain.execution.safety import evaluate
from arduino_trader.domain.execution.safety_cash import cash_shortfall
from arduino_trader.domain.fx_exchange import FxError, FxFee, direct_pair, order_to_receive
from arduino_trader.domain.fx_funding import (
    FundingEntry,
    SpendOf,
    funding_amount,
    funding_key,
    funding_status,
    plan_funding,
    source_order,
    surplus,
)

D = Decimal
FEE = FxFee(D("2.00"), D("0.002"))
BUFFER = D("0.005")
CURRENCIES = ("EUR", "USD", "GBP", "HKD")


def _spend_of(eur_per: dict[str, Decimal], spread: Decimal) -> SpendOf:
    """Worst-case spend of the real order, quoted from the cross of the EUR rates."""

    def spend(source: str, target: str, amount: Decimal) -> Decimal | None:
        pair = direct_pair(source, target)
        assert pair is not None
        mid = eur_per[pair.base] / eur_per[pair.quote]
        tick = pair.min_step
        bid = ((mid * (1 - spread)) / tick).quantize(D(1), ROUND_HALF_UP) * tick
        ask = ((mid * (1 + spread)) / tick).quantize(D(1), ROUND_HALF_UP) * tick
        try:
            return order_to_receive(source, target, amount, bid, ask, buffer=BUFFER,
                                    fee=FEE).max_spend
        except FxError:
            return None

    return spend


def test_keys_and_amounts_are_deterministic() -> None:
    assert funding_key("plan:p|0|buy") == funding_key("plan:p|0|buy") == "plan:p|0|buy|fx-fund:1"
    assert funding_key("plan:p|0|buy", 2) != funding_key("plan:p|0|buy", 1)
    with pytest.raises(ValueError):
        funding_key("k", 0)
    assert funding_amount(D("100"), D("0.02")) == D("102.00")
    assert funding_amount(D("100.001"), D("0.02")) == D("102.01")  # rounded up
    assert surplus(D("100"), D("30"), D("5")) == D("65")
    assert surplus(D("10"), D("30"), D("5")) == 0


def test_eur_first_then_the_largest_eur_surplus() -> None:
    rates = {"EUR": D(1), "USD": D("0.92"), "GBP": D("1.17"), "HKD": D("0.118"),
             "CHF": D("1.05")}
    balances = {"EUR": D("50"), "GBP": D("300"), "HKD": D("90000"), "USD": D("0"),
                "CHF": D("9000")}
    # CHF has no pair; EUR first although HKD holds more; GBP before nothing
    assert source_order("USD", balances, {}, rates) == ["EUR", "HKD", "GBP"]
    # GBP -> HKD has no direct pair: GBP is no candidate for HKD
    assert source_order("HKD", balances, {}, rates) == ["EUR"]
    # a currency at its reserve, or held by open buys, gives nothing
    assert source_order("USD", balances, {"EUR": D("46")}, rates) == ["HKD", "GBP"]
    # no EUR rate: cannot be ranked, left out
    assert source_order("USD", balances, {}, {"EUR": D(1)}) == ["EUR"]


def test_an_unaffordable_eur_source_falls_through_to_the_next() -> None:
    rates = {"EUR": D(1), "USD": D("0.92"), "HKD": D("0.118")}
    balances = {"EUR": D("100"), "HKD": D("50000"), "USD": D(0)}
    plan = plan_funding("USD", D("500"), balances, {}, rates,
                        _spend_of(rates, D("0.0005")), buffer=D("0.02"))
    assert plan is not None and plan.source == "HKD" and plan.receive == D("510.00")
    assert plan_funding("USD", D(0), balances, {}, rates, _spend_of(rates, D(0)),
                        buffer=D("0.02")) is None


amounts = st.decimals(min_value=D("0"), max_value=D("50000"), places=2)


@settings(max_examples=300, deadline=None)
@given(balances=st.fixed_dictionaries({c: amounts for c in CURRENCIES}),
       reserved=st.fixed_dictionaries({c: st.decimals(min_value=D(0), max_value=D("2000"),
                                                      places=2) for c in CURRENCIES}),
       usd=st.decimals(min_value=D("0.5"), max_value=D("1.5"), places=4),
       gbp=st.decimals(min_value=D("0.8"), max_value=D("1.6"), places=4),
       hkd=st.decimals(min_value=D("0.05"), max_value=D("0.2"), places=4),
       target=st.sampled_from(CURRENCIES),
       shortfall=st.decimals(min_value=D("0.01"), max_value=D("20000"), places=4),
       buffer=st.decimals(min_value=D(0), max_value=D("0.1"), places=3),
       spread=st.decimals(min_value=D(0), max_value=D("0.01"), places=4))
def test_funding_never_overspends_and_always_covers(
        balances: dict[str, Decimal], reserved: dict[str, Decimal], usd: Decimal,
        gbp: Decimal, hkd: Decimal, target: str, shortfall: Decimal, buffer: Decimal,
        spread: Decimal) -> None:
    rates = {"EUR": D(1), "USD": usd, "GBP": gbp, "HKD": hkd}
    spend_of = _spend_of(rates, spread)
    plan = plan_funding(target, shortfall, balances, reserved, rates, spend_of,
                        buffer=buffer)
    candidates = source_order(target, balances, reserved, rates)
    event("funded" if plan else "not funded")
    if plan is None:  # no candidate could have paid for it
        for source in candidates:
            spend = spend_of(source, target, funding_amount(shortfall, buffer))
            assert spend is None or spend > surplus(balances[source], reserved[source],
                                                    D(5))
        return
    assert plan.source != target and direct_pair(plan.source, target) is not None
    # never asks more than the source has above its reserve and open buys
    assert plan.max_spend <= balances[plan.source] - reserved[plan.source] - D(5)
    assert plan.max_spend == plan.surplus or plan.max_spend < plan.surplus
    # always covers the shortfall: the sized order delivers at least the asked amount
    assert plan.receive >= shortfall * (1 + buffer) >= shortfall
    pair = direct_pair(plan.source, target)
    assert pair is not None
    mid = rates[pair.base] / rates[pair.quote]
    tick = pair.min_step
    order = order_to_receive(
        plan.source, target, plan.receive,
        ((mid * (1 - spread)) / tick).quantize(D(1), ROUND_HALF_UP) * tick,
        ((mid * (1 + spread)) / tick).quantize(D(1), ROUND_HALF_UP) * tick,
        buffer=BUFFER, fee=FEE)
    assert order.max_spend == plan.max_spend and order.min_receive >= shortfall
    # every better-ranked candidate could not pay; EUR wins whenever it can
    for source in candidates[:candidates.index(plan.source)]:
        spend = spend_of(source, target, plan.receive)
        assert spend is None or spend > surplus(balances[source], reserved[source], D(5))


def _buy_facts(usd: str, open_buys: tuple[OpenOrderFact, ...] = ()) -> SafetyFacts:
    now = datetime(2026, 3, 10, 15, 0, tzinfo=UTC)
    return SafetyFacts(
        now=now, trading_mode="live",
        security=SecurityFacts("US0378331005", "AAPL.US", "USD", "XNAS"),
        quantity_held=D(0), trades=(), market_open=True,
        cash={"USD": D(usd), "EUR": D(5000)}, fx_rate=D("1.1"), open_orders=open_buys,
        unresolved_isins=frozenset(),
        price=PriceFacts(D(100), now, tuple(D(95) for _ in range(30)), D(130)),
        day_pnl_fraction=D(0), portfolio_value_eur=D(100_000), position_value_eur=D(0))


def test_the_shortfall_is_what_the_cash_layer_misses_to_the_cent() -> None:
    limits = SafetyLimits(costs=CostModel(D("2.00"), D("0.002")))
    intent = OrderIntent("US0378331005", "AAPL.US", "BUY", D(10), "autonomous")
    # 10 × 100 × 1.01 = 1010 USD at the limit, fee 2 EUR × 1.1 + 0.2 % = 4.22 USD
    held = OpenOrderFact("MSFT.US", "", "BUY", D(1), D("100"), "USD")
    facts = _buy_facts("300", (held,))
    assert cash_shortfall(intent, facts, limits) == D("1014.22") - D(200)
    verdict = evaluate(intent, facts, limits)
    assert verdict.rejection is not None and verdict.rejection.code == "insufficient_cash"
    assert evaluate(intent, facts, limits, skip=frozenset({"cash"})).allowed
    covered = _buy_facts(str(D("1014.22") + 100), (held,))
    assert cash_shortfall(intent, covered, limits) == 0 and evaluate(intent, covered,
                                                                     limits).allowed
    # the shortfall funded exactly makes the cash layer pass
    topped = _buy_facts(str(D(300) + cash_shortfall(intent, facts, limits)), (held,))
    assert evaluate(intent, topped, limits).allowed


def test_funding_status_follows_the_latest_exchange_of_a_deferred_buy() -> None:
    """The order follow-up resumes a deferred buy on ``filled`` or ``none`` (nothing
    journaled yet: a crash before the exchange), ends it on ``unfilled``, and waits on
    ``pending`` — including a sent exchange ``not_placed`` that a late look at the broker
    may still reopen within the recheck window."""
    now = datetime(2026, 3, 10, 15, 0, tzinfo=UTC)

    def entry(state: str, filled: str = "0", age_h: float = 0.0,
              may_reopen: bool = True) -> FundingEntry:
        return FundingEntry(state, Decimal(filled), now - timedelta(hours=age_h), may_reopen)

    assert funding_status([], now) == "none"
    assert funding_status([entry("sent")], now) == "pending"
    assert funding_status([entry("unresolved")], now) == "pending"
    assert funding_status([entry("partially_filled", "5")], now) == "pending"
    assert funding_status([entry("filled", "500")], now) == "filled"
    assert funding_status([entry("cancelled", "200")], now) == "filled"  # in part
    assert funding_status([entry("cancelled")], now) == "unfilled"
    assert funding_status([entry("not_placed", age_h=1)], now) == "pending"
    assert funding_status([entry("not_placed", age_h=25)], now) == "unfilled"
    assert funding_status([entry("not_placed", may_reopen=False)], now) == "unfilled"
    # two legs: the first filled, the second decides
    assert funding_status([entry("filled", "500"), entry("sent")], now) == "pending"
    assert funding_status([entry("filled", "500"), entry("expired")], now) == "unfilled"
