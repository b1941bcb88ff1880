"""Universe identifiers: ISIN check digits, classification, Yahoo symbol mapping."""

from __future__ import annotations

import csv
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from arduino_trader.domain.universe import (
    IdentifierError,
    analyst_score,
    classify,
    is_valid_isin,
    isin_check_digit,
    mic_for_exchange,
    product_type_for,
    upside_pct,
    validate_isin,
    yahoo_symbol_for,
)

REAL_ISINS = ["US0378331005", "DE0007164600", "NL0010273215", "GB0002634946",
              "JP3633400001", "HK0000069689", "CH0012032048", "FR0000131104", "US46625H1005"]
DATA = Path(__file__).resolve().parent.parent / "arduino_trader" / "data"


@pytest.mark.parametrize("isin", REAL_ISINS)
def test_real_isins_pass(isin: str) -> None:
    assert is_valid_isin(isin) and validate_isin(isin.lower()) == isin


def test_bundled_universe_isins_are_valid() -> None:
    with (DATA / "demo_universe.csv").open(encoding="utf-8") as fh:
        rows = list(csv.DictReader(fh))
    assert len(rows) == 20
    assert all(is_valid_isin(r["isin"]) for r in rows)


@given(st.sampled_from(REAL_ISINS), st.integers(1, 9))
def test_any_wrong_check_digit_is_refused(isin: str, shift: int) -> None:
    bad = isin[:11] + str((int(isin[11]) + shift) % 10)
    assert not is_valid_isin(bad)
    with pytest.raises(IdentifierError, match="check digit"):
        validate_isin(bad)
    with pytest.raises(IdentifierError):
        classify(bad)


@given(st.text(alphabet="ABCDEFGHIJKLMNOPQRSTUVWXYZ", min_size=2, max_size=2),
       st.text(alphabet="ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789", min_size=9, max_size=9))
def test_check_digit_makes_a_valid_isin(country: str, body: str) -> None:
    isin = country + body + str(isin_check_digit(country + body))
    assert is_valid_isin(isin)
    assert classify(isin).kind == "isin"


@pytest.mark.parametrize(("text", "kind", "value"), [
    (" us0378331005 ", "isin", "US0378331005"),
    ("AAPL.US", "broker_ticker", "AAPL.US"),
    ("sap.de", "broker_ticker", "SAP.DE"),
    ("0700.HK", "broker_ticker", "0700.HK"),
    ("AAPL", "yahoo_symbol", "AAPL"),
    ("BRK-B", "yahoo_symbol", "BRK-B"),
    ("7203.T", "yahoo_symbol", "7203.T"),
])
def test_classify(text: str, kind: str, value: str) -> None:
    ident = classify(text)
    assert (ident.kind, ident.value) == (kind, value)


@pytest.mark.parametrize("text", ["", "   ", "SPX.IDX", "^GSPC", "not a ticker!", "A B"])
def test_classify_refuses(text: str) -> None:
    with pytest.raises(IdentifierError):
        classify(text)


@pytest.mark.parametrize(("ticker", "kw", "expected"), [
    ("AAPL.US", {}, "AAPL"),
    ("OTE.GR", {}, "OTE.AT"),
    ("7203.JP", {}, "7203.T"),
    ("SAP.EU", {"mic": "XETR"}, "SAP.DE"),
    ("ASML.EU", {"mic": "XAMS"}, "ASML.AS"),
    ("700.AS", {"mic": "XHKG"}, "0700.HK"),
    ("00700.HK", {"mic": "XHKG"}, "0700.HK"),
    ("X.US", {"override": "xyz.l"}, "XYZ.L"),
    # US share classes take a dash on Yahoo.
    ("BRK.B.US", {}, "BRK-B"),
    ("BRK.B", {}, None),  # no venue: a one-letter suffix could be a Yahoo venue
    ("BRK.B.US", {"mic": "XNYS"}, "BRK-B"),
    ("BRK.B", {"mic": "XNYS"}, "BRK-B"),
    ("RDS.A.GR", {}, "RDS.A.AT"),
    # `.AS` and `.EU` are ambiguous without the exchange: never passed through.
    ("1234.AS", {}, None),
    ("SAP.EU", {}, None),
    ("SAP.EU", {"isin": "DE0007164600"}, "DE0007164600"),
    ("SAP.EU", {"isin": "DE0007164601"}, None),
])
def test_yahoo_symbol_mapping(ticker: str, kw: dict[str, str], expected: str | None) -> None:
    assert yahoo_symbol_for(ticker, **kw) == expected


def test_exchange_names_and_types() -> None:
    assert mic_for_exchange("NasdaqGS") == "XNAS"
    assert mic_for_exchange("NYSE") == "XNYS"
    assert mic_for_exchange("Tokyo") == "XTKS" and mic_for_exchange("Toronto") == "XTSE"
    assert mic_for_exchange("Nowhere") is None and mic_for_exchange(None) is None
    assert product_type_for("EQUITY") == "EQUITY"
    assert product_type_for("ETF", "iShares Physical Gold ETC") == "ETC"
    assert product_type_for("ETF", "Vanguard FTSE All-World") == "ETF"
    assert product_type_for("CRYPTOCURRENCY") == "UNKNOWN"


def test_analyst_helpers() -> None:
    assert analyst_score("strongBuy") == 1.0 and analyst_score("strong_sell") == 0.0
    assert analyst_score(None) == 0.5 and analyst_score("weird") == 0.5
    assert upside_pct(120.0, 100.0) == pytest.approx(20.0)
    assert upside_pct(None, 100.0) is None and upside_pct(120.0, 0.0) is None
