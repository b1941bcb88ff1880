"""The instrument of a ``getUserCashFlows`` row: explicit fields, else an unambiguous
ticker/ISIN in the comment, else None (never a guess); carried into the port record and
through the cash-flow normaliser."""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal

import pytest
from hypothesis import given
from hypothesis import strategies as st

from arduino_trader.adapters.tradernet.flow_instrument import (
    flow_instrument,
    from_comment,
    valid_isin,
)
from arduino_trader.adapters.tradernet.normalise import parse_cash_flows
from arduino_trader.domain.cash_flows.normalise import (
    cash_flow_rows,
    normalise,
    with_instruments,
)
from arduino_trader.protocols.broker import CashFlow


@pytest.mark.parametrize("isin", ["US0378331005", "DE0007164600", "IE00BK5BQT80",
                                  "KYG875721634", "NL0010273215"])
def test_real_isins_are_valid(isin: str) -> None:
    assert valid_isin(isin)


@pytest.mark.parametrize("text", ["US0378331006", "us0378331005", "US037833100", "",
                                  "1234567890AB"])
def test_malformed_isins_are_refused(text: str) -> None:
    assert not valid_isin(text)


@pytest.mark.parametrize(("comment", "expected"), [
    ("Dividends AAPL.US (US0378331005), 10 shares", ("AAPL.US", "US0378331005")),
    ("Dividend payment for 700.HK: 0.24 HKD per share", ("700.HK", None)),
    ("Tax withheld on dividends SAP.EU.", ("SAP.EU", None)),
    ("Dividend VWCE.EU VWCE.EU", ("VWCE.EU", None)),  # the same ticker twice is one
    ("Dividends AAPL.US and MSFT.US", (None, None)),  # two tickers: ambiguous
    ("Coupon on DE0007164600", (None, "DE0007164600")),
    ("Coupon on DE0007164601", (None, None)),  # bad check digit
    ("Commission for trade 700000001", (None, None)),
    ("Sandbox deposit of 1.50 EUR", (None, None)),
    ("", (None, None)),
])
def test_the_comment_names_an_instrument_only_when_unambiguous(
        comment: str, expected: tuple[str | None, str | None]) -> None:
    assert from_comment(comment) == expected


def test_explicit_fields_win_over_the_comment() -> None:
    row = {"ticker": "SAP.EU", "isin": "de0007164600", "comment": "Dividends AAPL.US"}
    assert flow_instrument(row) == ("SAP.EU", "DE0007164600")
    assert flow_instrument({"params": {"stock_symbol": "KO.US"}}) == ("KO.US", None)
    assert flow_instrument({"isin": "not-an-isin", "comment": "x"}) == (None, None)
    assert flow_instrument({"comment": None}) == (None, None)


@given(st.lists(st.sampled_from(["AAPL.US", "MSFT.US", "SAP.EU", "700.HK"]), min_size=2,
                max_size=5, unique=True), st.text(alphabet=" ,;:()-", max_size=3))
def test_several_distinct_tickers_never_pick_one(tickers: list[str], sep: str) -> None:
    comment = f"Dividends{sep} " + f" {sep} ".join(tickers)
    assert from_comment(comment)[0] is None


def test_parse_cash_flows_fills_the_port_record() -> None:
    flows = parse_cash_flows({"result": {"total": 2, "cashflow": [
        {"id": "9", "type_code": "dividend", "date": "2026-03-02", "sum": "12,50",
         "currency": "usd", "comment": "Dividends AAPL.US (US0378331005), 10 shares"},
        {"id": "10", "type_code": "card", "date": "2026-03-02", "sum": "100",
         "currency": "EUR", "comment": "deposit"}]}})
    assert [(f.symbol, f.isin) for f in flows] == [("AAPL.US", "US0378331005"), (None, None)]
    assert flows[0].amount == Decimal("12.50") and flows[0].currency == "USD"


def test_the_port_symbol_reaches_the_dividend_record() -> None:
    at = datetime(2026, 3, 2, tzinfo=UTC)
    rows = cash_flow_rows([
        CashFlow("9", "dividend", Decimal("12.5"), "EUR", at, "x", symbol="SAP.EU",
                 isin="DE0007164600"),
        CashFlow("10", "dividend", Decimal("3"), "EUR", at, "y")])
    named, unnamed = normalise("user_cash_flow", rows).records
    assert (named.symbol, named.isin, named.key) == ("SAP.EU", "DE0007164600", "ucf:9")
    assert (unnamed.symbol, unnamed.isin) == ("", "")


def test_with_instruments_completes_from_the_universe_only() -> None:
    at = datetime(2026, 3, 2, tzinfo=UTC)
    rows = cash_flow_rows([
        CashFlow("1", "dividend", Decimal("5"), "EUR", at, isin="DE0007164600"),
        CashFlow("2", "dividend", Decimal("5"), "EUR", at, symbol="SAP.EU"),
        CashFlow("3", "dividend", Decimal("5"), "EUR", at, isin="US0378331005"),
        CashFlow("4", "dividend", Decimal("5"), "EUR", at)])
    records = normalise("user_cash_flow", rows).records
    done = with_instruments(records, {"DE0007164600": "SAP.EU"},
                            {"SAP.EU": "DE0007164600"})
    assert [(r.symbol, r.isin) for r in done] == [
        ("SAP.EU", "DE0007164600"), ("SAP.EU", "DE0007164600"), ("", "US0378331005"),
        ("", "")]
    assert [r.key for r in done] == [r.key for r in records]
