"""The exchange layers (domain/execution/fx_safety.py): order, fail-closed facts, and
which stock layers do not apply to a currency exchange."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime, timedelta
from decimal import Decimal

import pytest

from arduino_trader.domain.execution.facts import OpenOrderFact
from arduino_trader.domain.execution.fx_safety import FxFacts, FxLimits, evaluate_exchange
from arduino_trader.domain.fx_exchange import FxOrder, FxPair, order_to_receive, pair_by_symbol

D = Decimal
NOW = datetime(2026, 3, 10, 11, 0, tzinfo=UTC)  # a Tuesday


def _eurusd() -> FxPair:
    pair = pair_by_symbol("EUR/USD")
    assert pair is not None
    return pair


PAIR = _eurusd()
LIMITS = FxLimits(max_exchange_eur=D("5000"))


def _facts(**kw: object) -> FxFacts:
    base = FxFacts(now=NOW, trading_mode="live", pair=PAIR, bid=D("1.0848"), ask=D("1.0852"),
                   quoted_at=NOW - timedelta(minutes=1),
                   cash={"EUR": D("1000"), "USD": D("-300"), "HKD": D("-5")},
                   open_orders=(), unresolved_isins=frozenset(),
                   eur_per_unit={"EUR": D(1), "USD": D("0.92")})
    return replace(base, **kw)  # type: ignore[arg-type]


def _build(amount: str = "300") -> object:
    def build(bid: Decimal | None, ask: Decimal | None) -> FxOrder:
        return order_to_receive("EUR", "USD", D(amount), bid, ask, buffer=D("0.005"))
    return build


def _code(facts: FxFacts, amount: str = "300", simulate: bool = False) -> str | None:
    verdict, order = evaluate_exchange(facts, LIMITS, _build(amount),  # type: ignore[arg-type]
                                       simulate=simulate)
    assert (order is None) == (verdict.rejection is not None)
    return None if verdict.rejection is None else verdict.rejection.code


def test_an_exchange_repairing_a_negative_balance_passes() -> None:
    verdict, order = evaluate_exchange(_facts(), LIMITS, _build())  # type: ignore[arg-type]
    assert verdict.allowed and order is not None and order.min_receive >= 300
    # no universe, lot, cooldown, hold, loss-breaker, guardrail or stock-hours layer
    assert verdict.checked == ("mode", "market_hours", "price", "order", "amount", "cash",
                               "pending")


@pytest.mark.parametrize(("change", "code"), [
    ({"trading_mode": "research"}, "mode_not_live"),
    ({"trading_mode": None}, "mode_not_live"),
    ({"now": NOW + timedelta(days=4)}, "fx_market_closed"),  # Saturday
    ({"bid": None}, "price_missing"),
    ({"quoted_at": None}, "price_missing"),
    ({"bid": D("1.2"), "ask": D("1.1")}, "price_crossed"),
    ({"quoted_at": NOW - timedelta(minutes=16)}, "price_stale"),
    ({"eur_per_unit": {"USD": D("0.92")}}, "fx_rate_missing"),
    ({"cash": None}, "cash_unknown"),
    ({"cash": {"EUR": D("100")}}, "insufficient_cash"),
    ({"open_orders": (OpenOrderFact("SAP.EU", "DE0007164600", "BUY", D(5), D("180"),
                                    "EUR"),)}, "insufficient_cash"),
    ({"open_orders": None}, "open_orders_unknown"),
    ({"unresolved_isins": None}, "pending_unknown"),
    ({"unresolved_isins": frozenset({"FX:EUR/USD"})}, "unresolved_order"),
    ({"open_orders": (OpenOrderFact("EUR/USD", "", "SELL", D(5), D("1.1"), "USD"),)},
     "pending_order"),
])
def test_each_layer_blocks_fail_closed(change: dict[str, object], code: str) -> None:
    assert _code(_facts(**change)) == code


def test_research_rehearsal_passes_the_mode_layer_and_sizes_are_capped() -> None:
    assert _code(_facts(trading_mode="research"), simulate=True) is None
    assert _code(_facts(cash={"EUR": D("1e7")}), amount="6000") == "fx_amount_too_large"
    assert _code(_facts(), amount="0") == "fx_order"
