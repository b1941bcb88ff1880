"""Tradernet's response quirks: each is read correctly, and nothing unknown reads as empty."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

import pytest

from arduino_trader.adapters.tradernet import normalise as nz
from arduino_trader.protocols.broker import is_terminal, status_name
from arduino_trader.protocols.broker_errors import (
    BrokerAuthError,
    BrokerProtocolError,
    BrokerRateLimited,
    BrokerRejected,
    BrokerUnavailable,
)


def test_envelope_errors_are_typed() -> None:
    with pytest.raises(BrokerRateLimited) as info:
        nz.read_envelope(429, "slow down", "x", retry_after="7")
    assert info.value.retry_after_s == 7
    with pytest.raises(BrokerUnavailable):
        nz.read_envelope(502, "<html>", "x")
    with pytest.raises(BrokerAuthError):
        nz.read_envelope(403, "", "x")
    with pytest.raises(BrokerProtocolError):
        nz.read_envelope(200, "<html>oops</html>", "x")
    with pytest.raises(BrokerProtocolError):
        nz.read_envelope(200, '"just a string"', "x")
    with pytest.raises(BrokerAuthError):
        nz.read_envelope(200, '{"errMsg":"Invalid signature","code":2}', "x")
    with pytest.raises(BrokerRejected) as rejected:
        nz.read_envelope(200, '{"error":"No permission","code":12}', "x")
    assert rejected.value.code == 12
    with pytest.raises(BrokerAuthError):
        nz.read_envelope(200, '{"error":"User not found","code":7}', "x")
    with pytest.raises(BrokerUnavailable):
        nz.read_envelope(200, '{"error":"Service unavailable","code":14}', "x")


def test_top_level_array_becomes_result() -> None:
    assert nz.read_envelope(200, "[1,2]", "x") == {"result": [1, 2]}


def test_numbers_as_strings_and_commas() -> None:
    assert nz.dec(".00000000", "s") == 0
    assert nz.dec("1,5", "s") == Decimal("1.5")
    assert nz.dec(12.1, "s") == Decimal("12.1")
    assert nz.integer("12", "q") == 12 and nz.integer(3.0, "q") == 3
    with pytest.raises(BrokerProtocolError):
        nz.integer("1.5", "q")
    with pytest.raises(BrokerProtocolError):
        nz.dec("abc", "s")
    with pytest.raises(BrokerProtocolError):
        nz.dec(None, "s")


def _account(ps: Any) -> dict[str, Any]:
    return {"result": {"ps": ps}}


def test_account_single_objects_and_negative_cash() -> None:
    snap = nz.parse_account(_account({
        "acc": {"curr": "usd", "s": "-42.10", "currval": "1.08"},
        "pos": {"i": "AAPL.US", "q": "3", "bal_price_a": "100", "mkt_price": "110,5",
                "curr": "USD"},
    }))
    assert snap.cash[0].amount == Decimal("-42.10") and snap.cash[0].currency == "USD"
    assert snap.positions[0].market_value == Decimal("331.5")


def test_account_without_positions_is_empty_but_missing_shape_is_an_error() -> None:
    assert nz.parse_account(_account({"acc": []})).positions == ()
    for bad in ({}, {"result": {}}, {"result": {"ps": []}}, {"result": None},
                _account({"acc": [{"curr": "EUR"}]}),
                _account({"pos": [{"i": "X", "q": "1", "curr": "EUR"}]}),
                _account({"acc": "garbage"})):
        with pytest.raises(BrokerProtocolError):
            nz.parse_account(bad)


def test_orders_object_list_absent_and_both_spellings() -> None:
    one = {"id": "5", "instr": "A.US", "oper": "3", "q": "2", "stat": "20",
           "user_order_id": "9", "trade": {"id": 1, "p": "10", "q": "1"}}
    orders = nz.parse_orders({"result": {"orders": {"order": one}}}, "getNotifyOrderJson")
    assert orders[0].order_id == 5 and orders[0].side == "SELL"
    assert orders[0].fills[0].price == 10 and orders[0].user_order_id == 9
    assert nz.parse_orders({"result": {"orders": {"key": "k"}}}, "getNotifyOrderJson") == ()
    with pytest.raises(BrokerProtocolError):
        nz.parse_orders({"result": {}}, "getNotifyOrderJson")
    with pytest.raises(BrokerProtocolError):
        nz.parse_orders({}, "getNotifyOrderJson")
    with pytest.raises(BrokerProtocolError):
        nz.parse_orders({"result": {"orders": {"order": [{**one, "oper": 9}]}}},
                        "getNotifyOrderJson")


def test_hloc_order_is_high_low_open_close() -> None:
    data = {"hloc": {"X": [[12, 9, 10, 11]]}, "xSeries": {"X": [86400]}, "vl": {"X": [5]}}
    (bar,) = nz.parse_hloc(data, "X")
    assert (bar.high, bar.low, bar.open, bar.close, bar.volume) == (12, 9, 10, 11, 5)
    with pytest.raises(BrokerProtocolError):
        nz.parse_hloc({"hloc": {"X": [[1, 2, 3]]}, "xSeries": {"X": [1]}}, "X")
    with pytest.raises(BrokerProtocolError):
        nz.parse_hloc({"hloc": {}}, "X")


def test_statuses() -> None:
    assert is_terminal(21) and is_terminal(31) and not is_terminal(10)
    assert not is_terminal(75) and not is_terminal(999)
    assert status_name(20) == "partially_executed" and status_name(5) == "unknown_5"
