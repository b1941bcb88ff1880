"""Valuing the account in EUR exactly: stored rates only, never 1:1 for a foreign currency."""

from __future__ import annotations

from decimal import Decimal

from hypothesis import given
from hypothesis import strategies as st

from arduino_trader.domain.valuation import eur, rate_for, value_account
from arduino_trader.protocols.broker import CashBalance, Position

money = st.decimals(min_value=Decimal("-100000"), max_value=Decimal("100000"), places=2)
price = st.decimals(min_value=Decimal("0.01"), max_value=Decimal("5000"), places=2)
qty = st.integers(min_value=1, max_value=10_000).map(Decimal)
rate = st.decimals(min_value=Decimal("0.0001"), max_value=Decimal("5"), places=4)
ccy = st.sampled_from(["EUR", "USD", "GBP", "HKD"])


@st.composite
def accounts(draw: st.DrawFn) -> tuple[list[Position], list[CashBalance], dict[str, Decimal]]:
    positions = [Position(f"S{i}", draw(qty), draw(price), draw(price), draw(ccy))
                 for i in range(draw(st.integers(0, 5)))]
    cash = [CashBalance(draw(ccy), draw(money)) for _ in range(draw(st.integers(0, 5)))]
    rates = {c: draw(rate) for c in draw(st.sets(st.sampled_from(["USD", "GBP", "HKD"])))}
    return positions, cash, rates


@given(accounts())
def test_totals_are_exact_sums_or_unknown(account: tuple[list[Position], list[CashBalance],
                                                         dict[str, Decimal]]) -> None:
    positions, cash, rates = account
    v = value_account(positions, cash, rates, {})
    used = {p.currency for p in positions} | {c.currency for c in cash}
    missing = {c for c in used if c != "EUR" and c not in rates}
    assert set(v.missing_fx) == missing
    if missing:
        assert v.total_eur is None
    else:
        unit = {c: rate_for(c, rates) or Decimal(0) for c in used}
        assert v.invested_eur == sum((eur(p.quantity * p.market_price * unit[p.currency])
                                      for p in positions), Decimal(0))
        assert v.total_eur == (v.invested_eur or 0) + (v.cash_eur or 0)
    for p in v.positions:
        if p.currency in missing:
            assert p.market_value_eur is None and p.cost_basis_eur is None
        else:
            assert p.market_value_eur is not None
    # Cash rows of one currency are summed, and negative balances are reported.
    for c in v.cash:
        assert c.amount == sum((r.amount for r in cash if r.currency == c.currency), Decimal(0))
    assert v.negative_cash == {c.currency: c.amount for c in v.cash if c.amount < 0}


def test_a_missing_rate_is_never_parity() -> None:
    v = value_account([Position("A", Decimal(2), Decimal(10), Decimal(12), "USD")],
                      [CashBalance("USD", Decimal(5)), CashBalance("EUR", Decimal(7))],
                      {"USD": Decimal(0)}, {"A": "US0378331005"})
    assert v.missing_fx == ("USD",) and v.total_eur is None and v.cash_eur is None
    assert v.positions[0].market_value == Decimal(24)
    assert v.positions[0].isin == "US0378331005"
    assert v.positions[0].unrealized_pnl_pct == 20.0


def test_eur_figures() -> None:
    v = value_account([Position("A", Decimal(3), Decimal("10.005"), Decimal("11.115"), "USD")],
                      [], {"USD": Decimal("0.9")}, {})
    p = v.positions[0]
    assert p.market_value_eur == Decimal("30.01")  # 33.345 × 0.9 = 30.0105
    assert p.cost_basis_eur == Decimal("27.01")  # 30.015 × 0.9 = 27.0135
    assert p.unrealized_pnl_eur == Decimal("3.00")
    assert rate_for("EUR", {}) == Decimal(1)
