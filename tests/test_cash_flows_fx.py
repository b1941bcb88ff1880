"""EUR conversion at the record date: exact, bounded look-back, never 1:1."""

from __future__ import annotations

from datetime import date, timedelta
from decimal import Decimal

import pytest
from hypothesis import given
from hypothesis import strategies as st

from arduino_trader.domain.cash_flows.fx import MissingRate, RateTable, convert, to_eur

D = Decimal
FRI = date(2026, 3, 6)


def test_eur_is_exact_and_other_currencies_need_a_rate() -> None:
    table = RateTable()
    assert to_eur(D("12.345"), "EUR", FRI, table) == D("12.34")
    with pytest.raises(MissingRate, match="USD"):
        to_eur(D("1"), "USD", FRI, table)
    with pytest.raises(MissingRate):
        table.eur_per("USD")


def test_weekend_uses_the_last_rate_within_the_look_back_only() -> None:
    table = RateTable(by_date={("USD", FRI): D("0.9")}, max_age_days=3)
    assert table.eur_per("USD", FRI + timedelta(days=2)) == D("0.9")
    with pytest.raises(MissingRate):
        table.eur_per("USD", FRI + timedelta(days=4))
    with pytest.raises(MissingRate):  # never a future rate
        table.eur_per("USD", FRI - timedelta(days=1))


def test_broker_quotes_per_eur_are_inverted_once() -> None:
    table = RateTable.from_units_per_eur({"USD": D("1.25")}, {("USD", FRI): D("1.25")})
    assert table.eur_per("USD") == D("0.8") and to_eur(D("100"), "USD", FRI, table) == D("80")


def test_bad_rates_are_refused() -> None:
    for bad in (D(0), D(-1), D("NaN")):
        with pytest.raises(ValueError):
            RateTable(latest={"USD": bad})


def test_convert_rounds_down_for_proceeds_and_up_for_what_must_be_sold() -> None:
    table = RateTable(latest={"USD": D("0.9"), "GBP": D("1.17")})
    assert convert(D("100"), "USD", "GBP", None, table) == D("76.92")
    assert convert(D("100"), "USD", "GBP", None, table, round_up=True) == D("76.93")
    assert convert(D("1.005"), "EUR", "EUR", None, table) == D("1.00")


@given(ccy=st.from_regex(r"[A-Z]{3}", fullmatch=True).filter(lambda c: c != "EUR"),
       amount=st.decimals(D("0.01"), D("1e9"), places=2))
def test_never_silently_one_to_one(ccy: str, amount: Decimal) -> None:
    with pytest.raises(MissingRate):
        to_eur(amount, ccy, FRI, RateTable(by_date={("USD" if ccy != "USD" else "GBP", FRI):
                                                    D("0.9")}))
