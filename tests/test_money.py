"""Exact money parsing."""

from __future__ import annotations

from decimal import Decimal

import pytest
from hypothesis import given
from hypothesis import strategies as st

from arduino_trader.protocols.money import (
    InvalidAmount,
    decimal_to_str,
    parse_currency,
    parse_decimal,
    round_money,
)


@pytest.mark.parametrize(("raw", "expected"), [
    ("12.50", Decimal("12.50")), (".00000000", Decimal("0")), (7, Decimal(7)),
    (0.1, Decimal("0.1")), ("-3", Decimal("-3")), (" 1 000.5 ", Decimal("1000.5")),
])
def test_parse_decimal_accepts_broker_shapes(raw: object, expected: Decimal) -> None:
    assert parse_decimal(raw) == expected


@pytest.mark.parametrize("raw", [None, True, "", "abc", "NaN", "inf", [], "1,5"])
def test_parse_decimal_refuses_garbage(raw: object) -> None:
    with pytest.raises(InvalidAmount):
        parse_decimal(raw, field="sum")


def test_comma_decimal_only_when_allowed() -> None:
    assert parse_decimal("1,5", allow_comma=True) == Decimal("1.5")


def test_round_money_is_bankers() -> None:
    assert round_money(Decimal("0.125")) == Decimal("0.12")
    assert round_money(Decimal("0.135")) == Decimal("0.14")


def test_currency_codes() -> None:
    assert parse_currency("usd") == "USD"
    with pytest.raises(InvalidAmount):
        parse_currency("US")


@given(st.decimals(allow_nan=False, allow_infinity=False, places=8))
def test_text_round_trip_is_exact(amount: Decimal) -> None:
    assert parse_decimal(decimal_to_str(amount)) == amount
