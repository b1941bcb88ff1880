"""The order safety pipeline: each layer, its order, fail-closed on unknowns, bypasses."""

from __future__ import annotations

import dataclasses
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from arduino_trader.domain.execution.costs import CostModel
from arduino_trader.domain.execution.facts import (
    OpenOrderFact,
    OrderIntent,
    PriceFacts,
    SafetyFacts,
    SafetyLimits,
    SecurityFacts,
    TradeFact,
)
from arduino_trader.domain.execution.safety import LAYERS, evaluate

NOW = datetime(2026, 3, 10, 15, 0, tzinfo=UTC)
ISIN = "US0378331005"
LIMITS = SafetyLimits(costs=CostModel(Decimal("2.00"), Decimal("0.002")))
SEC = SecurityFacts(ISIN, "AAPL.US", "USD", "XNAS")


def intent(side: str = "BUY", qty: str = "10", source: str = "autonomous") -> OrderIntent:
    return OrderIntent(ISIN, "AAPL.US", side, Decimal(qty), source)  # type: ignore[arg-type]


def facts(**changes: Any) -> SafetyFacts:
    base = SafetyFacts(
        now=NOW, trading_mode="live", security=SEC, quantity_held=Decimal(20),
        trades=(TradeFact(ISIN, "BUY", NOW - timedelta(days=200), "live", "1"),),
        market_open=True, cash={"USD": Decimal(10_000), "EUR": Decimal(500)},
        fx_rate=Decimal("1.1"), open_orders=(), unresolved_isins=frozenset(),
        price=PriceFacts(Decimal(100), NOW - timedelta(minutes=1),
                         tuple(Decimal(95) for _ in range(30)), Decimal(130)),
        day_pnl_fraction=Decimal("0.001"), portfolio_value_eur=Decimal(100_000),
        position_value_eur=Decimal(1_000), trade_history_known=True)
    return dataclasses.replace(base, **changes)


def code(i: OrderIntent, f: SafetyFacts, **kw: Any) -> str | None:
    verdict = evaluate(i, f, LIMITS, **kw)
    return verdict.rejection.code if verdict.rejection else None


def test_a_sound_buy_and_sell_pass_every_layer() -> None:
    for side in ("BUY", "SELL"):
        verdict = evaluate(intent(side), facts(), LIMITS)
        assert verdict.allowed, verdict.rejection
        assert verdict.checked == tuple(name for name, _ in LAYERS)


RECENT = (TradeFact(ISIN, "BUY", NOW - timedelta(days=3), "live", "9"),)


@pytest.mark.parametrize(("side", "qty", "changes", "expected"), [
    ("BUY", "10", {"trading_mode": "research"}, "mode_not_live"),
    ("BUY", "10", {"trading_mode": None}, "mode_not_live"),
    ("BUY", "10", {"security": None}, "security_unknown"),
    ("BUY", "10", {"security": dataclasses.replace(SEC, active=False)}, "security_inactive"),
    ("BUY", "10", {"security": dataclasses.replace(SEC, allow_buy=False)}, "buy_not_allowed"),
    ("SELL", "10", {"security": dataclasses.replace(SEC, allow_sell=False)},
     "sell_not_allowed"),
    ("BUY", "0", {}, "quantity_not_positive"),
    ("BUY", "-3", {}, "quantity_not_positive"),
    ("BUY", "1.5", {}, "quantity_fractional"),
    ("BUY", "1000001", {}, "quantity_too_large"),
    ("BUY", "15", {"security": dataclasses.replace(SEC, min_lot=10)},
     "quantity_not_lot_multiple"),
    ("BUY", "10", {"trades": (TradeFact("X", "SELL", NOW - timedelta(minutes=5), "live",
                                        "2"),)}, "frequency_min_interval"),
    ("BUY", "10", {"trades": tuple(TradeFact("X", "SELL", NOW - timedelta(hours=h), "live",
                                             str(h)) for h in (2, 3, 4, 5))},
     "frequency_daily"),
    ("BUY", "10", {"trades": tuple(TradeFact("X", "SELL", NOW - timedelta(days=d, hours=h),
                                             "live", f"{d}-{h}")
                                   for d in range(1, 6) for h in (0, 3))},
     "frequency_weekly"),
    ("BUY", "10", {"day_pnl_fraction": None}, "day_pnl_unknown"),
    ("BUY", "10", {"day_pnl_fraction": Decimal("-0.05")}, "loss_breaker_all"),
    ("SELL", "10", {"day_pnl_fraction": Decimal("-0.03")}, "loss_breaker_sells"),
    ("BUY", "10", {"trades": RECENT}, "buy_cooldown"),
    ("BUY", "10", {"trades": None}, "ledger_unavailable"),
    ("SELL", "10", {"trades": RECENT}, "min_hold"),
    # no trade known and the broker's trade history not imported: hold time unknown
    ("SELL", "10", {"trades": (), "trade_history_known": None}, "hold_unknown"),
    ("SELL", "10", {"trades": (), "trade_history_known": False}, "hold_unknown"),
    ("SELL", "10", {"quantity_held": None}, "position_unknown"),
    ("SELL", "10", {"quantity_held": Decimal(0)}, "position_missing"),
    ("SELL", "30", {}, "position_insufficient"),
    ("SELL", "10", {"market_open": False}, "market_closed"),
    ("BUY", "10", {"market_open": None}, "market_status_unknown"),
    ("BUY", "10", {"price": None}, "price_missing"),
    ("BUY", "10", {"price": PriceFacts(Decimal(0), NOW)}, "price_non_positive"),
    ("BUY", "10", {"price": PriceFacts(Decimal(100), NOW - timedelta(minutes=16))},
     "price_stale"),
    ("BUY", "10", {"price": PriceFacts(Decimal(1000), NOW, tuple(Decimal(99)
                                                                for _ in range(30)))},
     "price_anomaly"),
    ("BUY", "10", {"price": PriceFacts(Decimal(100), NOW, (), None)}, "high_52w_unknown"),
    ("BUY", "10", {"price": PriceFacts(Decimal(100), NOW, (), Decimal(104))}, "near_52w_high"),
    ("BUY", "10", {"portfolio_value_eur": None}, "portfolio_value_unknown"),
    ("BUY", "10", {"position_value_eur": Decimal(14_500)}, "position_limit"),
    ("BUY", "10", {"cash": None}, "cash_unknown"),
    ("BUY", "10", {"cash": {"USD": Decimal(10_000), "EUR": Decimal(-1)}}, "negative_balance"),
    ("BUY", "10", {"fx_rate": None}, "portfolio_value_unknown"),
    ("BUY", "10", {"cash": {"USD": Decimal(1_011)}}, "insufficient_cash"),
    ("BUY", "10", {"open_orders": (OpenOrderFact("MSFT.US", "US5949181045", "BUY", Decimal(90),
                                                 Decimal(100), "USD"),)},
     "insufficient_cash"),
    ("BUY", "10", {"open_orders": None}, "open_orders_unknown"),
    ("SELL", "10", {"open_orders": None}, "pending_unknown"),
    ("SELL", "10", {"unresolved_isins": None}, "pending_unknown"),
    ("SELL", "10", {"unresolved_isins": frozenset({ISIN})}, "unresolved_order"),
    ("SELL", "10", {"open_orders": (OpenOrderFact("AAPL.US", "", "BUY", Decimal(1), None,
                                                  "USD"),)}, "pending_order"),
])
def test_each_layer_blocks_with_its_code(side: str, qty: str, changes: dict[str, Any],
                                         expected: str) -> None:
    assert code(intent(side, qty), facts(**changes)) == expected


def test_cash_counts_fees_and_the_limit_buffer() -> None:
    # 10 × 100 × 1.01 = 1010 USD + 2 EUR × 1.1 + 0.2% of 1010 = 1014.22 USD
    assert code(intent(), facts(cash={"USD": Decimal("1014.22")})) is None
    assert code(intent(), facts(cash={"USD": Decimal("1014.21")})) == "insufficient_cash"


def test_research_ledger_rows_never_count_for_live_checks() -> None:
    research = (TradeFact(ISIN, "BUY", NOW - timedelta(days=1), "research", "R1"),
                TradeFact(ISIN, "BUY", NOW - timedelta(days=1), "live", None))
    assert code(intent(), facts(trades=research)) is None
    # ...but they do in a rehearsal, which judges research like the real thing.
    assert code(intent(), facts(trades=research[:1], trading_mode="research"),
                simulate=True) == "buy_cooldown"


def test_emergency_bypasses_only_cooldown_hold_and_frequency() -> None:
    burst = tuple(TradeFact(ISIN, "BUY", NOW - timedelta(minutes=m), "live", str(m))
                  for m in (5, 10, 20, 30, 40))
    emergency = intent("SELL", source="emergency_rebalancing")
    assert code(intent("SELL"), facts(trades=burst)) == "frequency_min_interval"
    assert code(emergency, facts(trades=burst)) is None
    assert code(emergency, facts(trades=burst, market_open=False)) == "market_closed"
    assert code(emergency, facts(trades=burst, quantity_held=Decimal(1))) == \
        "position_insufficient"
    assert code(emergency, facts(day_pnl_fraction=None)) == "day_pnl_unknown"


def test_anomalously_low_price_warns_without_blocking() -> None:
    low = PriceFacts(Decimal(5), NOW, tuple(Decimal(100) for _ in range(30)), Decimal(200))
    verdict = evaluate(intent("SELL"), facts(price=low), LIMITS)
    assert verdict.allowed and verdict.warnings


def test_first_failure_wins_in_the_stated_order() -> None:
    everything_wrong = facts(trading_mode="research", security=None, market_open=False,
                             cash=None, open_orders=None)
    assert code(intent("BUY", "0"), everything_wrong) == "mode_not_live"
    assert code(intent("BUY", "0"), dataclasses.replace(everything_wrong,
                                                        trading_mode="live")) == \
        "security_unknown"


OPTIONAL_FACTS = ("trading_mode", "security", "quantity_held", "trades", "market_open", "cash",
                  "fx_rate", "open_orders", "unresolved_isins", "price", "day_pnl_fraction",
                  "portfolio_value_eur", "position_value_eur")


@settings(max_examples=200, deadline=None)
@given(unknown=st.sets(st.sampled_from(OPTIONAL_FACTS), min_size=1),
       side=st.sampled_from(["BUY", "SELL"]))
def test_unknown_facts_never_allow_an_order(unknown: set[str], side: str) -> None:
    """Fail closed: whichever facts are unknown, an order that needs them is blocked."""
    needed = set(OPTIONAL_FACTS) - (
        {"quantity_held"} if side == "BUY" else
        {"cash", "fx_rate", "portfolio_value_eur", "position_value_eur"})
    verdict = evaluate(intent(side), facts(**dict.fromkeys(unknown)), LIMITS)
    assert verdict.allowed == (not unknown & needed)


@settings(max_examples=300, deadline=None)
@given(qty=st.integers(1, 50), held=st.integers(0, 50), usd=st.integers(0, 20_000),
       side=st.sampled_from(["BUY", "SELL"]))
def test_an_allowed_order_is_covered_by_holdings_or_cash(qty: int, held: int, usd: int,
                                                         side: str) -> None:
    f = facts(quantity_held=Decimal(held), cash={"USD": Decimal(usd)})
    verdict = evaluate(intent(side, str(qty)), f, LIMITS)
    if verdict.allowed:
        if side == "SELL":
            assert qty <= held
        else:
            assert Decimal(usd) >= qty * Decimal(100) * Decimal("1.01")


def test_a_rebuy_waits_for_the_cooldown_after_a_sale() -> None:
    sold = (TradeFact(ISIN, "SELL", NOW - timedelta(days=10), "live", "9"),)
    limits = dataclasses.replace(LIMITS, rebuy_cooldown_days=30)
    verdict = evaluate(intent("BUY"), facts(trades=sold), limits)
    assert verdict.rejection is not None and verdict.rejection.code == "rebuy_cooldown"
    later = (TradeFact(ISIN, "SELL", NOW - timedelta(days=31), "live", "9"),)
    assert evaluate(intent("BUY"), facts(trades=later), limits).allowed


def test_the_position_guardrail_scales_with_the_universe() -> None:
    from arduino_trader.actors.executor_facts import safety_limits
    from arduino_trader.config.settings import load_settings

    settings = load_settings(None, environ={})
    five = safety_limits(settings, universe_size=5)
    assert five.max_position_fraction == Decimal("0.4")
    assert safety_limits(settings, universe_size=40).max_position_fraction == Decimal("0.15")
    big = facts(position_value_eur=Decimal(30_000))  # 30 % + this buy's ~0.9 %
    assert evaluate(intent("BUY"), big, five).allowed
    assert code(intent("BUY"), big) == "position_limit"



def test_the_52_week_high_guardrail_follows_its_setting() -> None:
    from arduino_trader.actors.executor_facts import safety_limits
    from arduino_trader.config.settings import load_settings

    quote = PriceFacts(Decimal(100), NOW - timedelta(minutes=1),
                       tuple(Decimal(95) for _ in range(30)), Decimal(102))
    near_high = facts(price=quote)
    verdict = evaluate(intent("BUY"), near_high, safety_limits(load_settings(None, environ={})))
    assert verdict.rejection is not None and verdict.rejection.code == "near_52w_high"
    off = safety_limits(load_settings(None, environ={}, overrides={"max_buy_vs_52w_high": 1}))
    assert off.max_buy_vs_52w_high == Decimal(1)
    assert evaluate(intent("BUY"), near_high, off).allowed
    unknown = facts(price=dataclasses.replace(quote, high_52w=None))
    assert evaluate(intent("BUY"), unknown, off).allowed
    assert code(intent("BUY"), unknown) == "high_52w_unknown"


def test_a_sale_without_a_known_trade_passes_the_hold_once_the_history_is_imported() -> None:
    verdict = evaluate(intent("SELL"), facts(trades=(), trade_history_known=True), LIMITS)
    assert verdict.allowed, verdict.rejection
    emergency = dataclasses.replace(intent("SELL"), source="emergency_rebalancing")
    assert evaluate(emergency, facts(trades=(), trade_history_known=None), LIMITS).allowed
