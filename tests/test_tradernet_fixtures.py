"""Tradernet's documented answers, parsed by the real normalisers, and the sandbox held to
the same shapes key by key and type by type.

Fixtures in ``tests/fixtures/tradernet/`` are the broker's published samples (field names,
types and values), one file per shape. Doubts kept as both shapes:
- ``getNotifyOrderJson``: the documentation's sample is a bare array of rows (its
  websocket event); the SDK and the reference implementation read ``result.orders.order``.
- ``user_order_id``: documented as a number, but a stop order's sample carries
  ``"apiv2:…"``; ``getOrdersHistory`` spells it ``userOrderId``, a string (``"cps_21112"``).
- ``getSecurityInfo``: the documented answer has no lot (the quote's ``x_lot`` has it).
- ``getUserCashFlows``: the ``id`` is typed int but the sample is ``"9f0a11cc61"``.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest

from arduino_trader.adapters.sandbox.server import Sandbox
from arduino_trader.adapters.tradernet import normalise as nz
from arduino_trader.adapters.tradernet.fields import BROKER_TZ
from arduino_trader.adapters.tradernet.trade_fees import fees_by_trade
from arduino_trader.protocols.broker_errors import (
    BrokerAuthError,
    BrokerProtocolError,
    BrokerRejected,
    BrokerUnavailable,
)

FIXTURES = Path(__file__).parent / "fixtures" / "tradernet"
T0 = 1_772_445_600.0  # 2026-03-02 10:00 UTC


def raw(name: str) -> Any:
    return json.loads((FIXTURES / name).read_text(encoding="utf-8"))


def answer(name: str, command: str) -> dict[str, Any]:
    """A fixture through the real envelope reader, as the client receives it."""
    return nz.read_envelope(200, (FIXTURES / name).read_text(encoding="utf-8"), command)


# ------------------------------------------------------------------------ errors
@pytest.mark.parametrize(("name", "kind", "code"), [
    ("error.envelope.json", BrokerRejected, 2),
    ("error.unsupported_method.json", BrokerRejected, 2),
    ("error.method.json", BrokerRejected, 18),
    ("error.user_not_found.json", BrokerAuthError, 7),
    ("error.both_messages.json", BrokerRejected, 5),
])
def test_every_documented_error_shape_is_a_typed_error(name: str, kind: type, code: int) -> None:
    with pytest.raises(kind) as caught:
        answer(name, "getTradesHistory")
    assert type(caught.value) is kind and caught.value.code == code


def test_a_success_with_code_zero_is_not_an_error() -> None:
    data = answer("getSecurityInfo.doc.json", "getSecurityInfo")
    assert data["code"] == 0
    assert nz.read_envelope(200, '{"order_id": 5, "error": ""}', "putTradeOrder") == {
        "order_id": 5, "error": ""}
    with pytest.raises(BrokerRejected, match="Exec wrong"):  # an error that is not a string
        nz.read_envelope(200, '{"error": {"text": "Exec wrong"}, "code": 18}', "putTradeOrder")


# ------------------------------------------------------------------------ orders
def test_order_list_with_a_string_client_id_parses_every_row() -> None:
    orders = nz.parse_orders(answer("getNotifyOrderJson.many.json", "getNotifyOrderJson"),
                             "getNotifyOrderJson")
    assert [(o.order_id, o.user_order_id) for o in orders] == [
        (8757875, 1450879514204), (8757876, None)]  # "apiv2:…" is not one of ours
    assert orders[1].limit_price == Decimal("0.033925")


def test_order_list_one_row_and_empty() -> None:
    one = nz.parse_orders(answer("getNotifyOrderJson.one.json", "getNotifyOrderJson"),
                          "getNotifyOrderJson")
    assert [o.order_id for o in one] == [8757875]
    assert one[0].fills[0].trade_id == 13446624
    assert nz.parse_orders(answer("getNotifyOrderJson.empty.json", "getNotifyOrderJson"),
                           "getNotifyOrderJson") == ()


def test_order_list_as_the_documentation_shows_it_a_bare_array() -> None:
    orders = nz.parse_orders(answer("getNotifyOrderJson.doc_array.json",
                                    "getNotifyOrderJson"), "getNotifyOrderJson")
    assert [(o.order_id, o.status, o.side) for o in orders] == [(8757875, 21, "BUY")]
    # a naive broker time is Moscow time: 17:05:02 MSK is 14:05:02 UTC
    assert orders[0].placed_at == datetime(2015, 12, 23, 14, 5, 2, 133000, tzinfo=UTC)


def test_order_history_reads_user_order_id_from_user_order_id_string() -> None:
    orders = nz.parse_orders(answer("getOrdersHistory.many.json", "getOrdersHistory"),
                             "getOrdersHistory")
    assert [(o.order_id, o.user_order_id) for o in orders] == [
        (1111222222112, None), (1111222222113, 1733000000042)]
    assert nz.parse_orders(answer("getOrdersHistory.one.json", "getOrdersHistory"),
                           "getOrdersHistory")[0].fills[0].trade_id == 40543041
    assert nz.parse_orders(answer("getOrdersHistory.empty.json", "getOrdersHistory"),
                           "getOrdersHistory") == ()


# ------------------------------------------------------------------------ trades
def test_trade_rows_have_no_commission_and_name_the_exchange_order() -> None:
    data = answer("getTradesHistory.one.json", "getTradesHistory")
    bare = nz.parse_trades(data)
    assert bare[0].fee is None and bare[0].order_id is None  # 299998887727 is the exchange's
    joined = nz.parse_trades(data, orders={2229992229292: 1111222222113},
                             fees={2229992229292: Decimal("3.00")})
    assert (joined[0].order_id, joined[0].fee, joined[0].value) == (
        1111222222113, Decimal("3.00"), Decimal(2828))
    assert nz.parse_trades(answer("getTradesHistory.empty.json", "getTradesHistory")) == ()


def test_a_trade_fee_comes_from_the_commission_row_naming_the_trade() -> None:
    flows = nz.parse_cash_flows(answer("getUserCashFlows.one.json", "getUserCashFlows"))
    assert fees_by_trade(flows, {1515: "USD"}) == {1515: Decimal("3.00")}
    assert fees_by_trade(flows, {1515: "EUR"}) == {}  # another currency: never mixed
    assert fees_by_trade(flows, {1516: "USD"}) == {}
    assert nz.parse_cash_flows(answer("getUserCashFlows.empty.json", "getUserCashFlows")) == ()


# ----------------------------------------------------------------- security info
def test_security_info_without_a_lot_is_an_error_not_one() -> None:
    data = answer("getSecurityInfo.doc.json", "getSecurityInfo")
    with pytest.raises(BrokerProtocolError, match="no lot"):
        nz.parse_security_info(data, "AAPL.US")
    info = nz.parse_security_info(data, "AAPL.US", lot=1)
    assert (info.symbol, info.currency, info.min_step, info.lot) == (
        "AAPL.US", "USD", Decimal("0.01"), 1)
    quote = {"result": {"q": [{"c": "AAPL.US", "ltp": "1"}]}}
    with pytest.raises(BrokerProtocolError, match="x_lot"):
        nz.parse_quote_lot(quote, "AAPL.US")


def test_quotes_with_decimal_commas_and_an_empty_currency() -> None:
    quotes = nz.parse_quotes({"result": {"q": [{"c": "SAP.EU", "ltp": "181,42", "bbp": "181,4",
                                                "bap": "181,44", "x_curr": "", "x_lot": 1}]}})
    assert (quotes[0].last, quotes[0].bid, quotes[0].currency) == (
        Decimal("181.42"), Decimal("181.4"), "")


def test_naive_times_are_moscow_time() -> None:
    at = nz.parse_time("2026-03-02 13:00:00", "t")
    assert at == datetime(2026, 3, 2, 10, tzinfo=UTC) and at.tzinfo == BROKER_TZ
    assert nz.fmt_datetime(datetime(2026, 3, 2, 10, tzinfo=UTC)) == "2026-03-02T13:00:00"


# ---------------------------------------------------------- the sandbox's shapes
def _json_kind(value: Any) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "bool"
    if isinstance(value, int | float):
        return "number"
    return type(value).__name__


def _kinds(rows: list[dict[str, Any]]) -> dict[str, set[str]]:
    out: dict[str, set[str]] = {}
    for row in rows:
        for key, value in row.items():
            out.setdefault(key, set()).add(_json_kind(value))
    return out


def _rows(value: Any) -> list[dict[str, Any]]:
    """A collection as rows (the sandbox sends a one-element collection bare)."""
    if value in (None, ""):
        return []
    return [value] if isinstance(value, dict) else list(value)


def assert_same_shape(sandbox_rows: list[dict[str, Any]], fixture_rows: list[dict[str, Any]],
                      what: str) -> None:
    """Every key the sandbox sends is documented, with a documented JSON type."""
    assert sandbox_rows, f"{what}: the sandbox sent no rows to compare"
    documented = _kinds(fixture_rows)
    for key, kinds in _kinds(sandbox_rows).items():
        assert key in documented, f"{what}: the sandbox invents {key!r}"
        if "list" in kinds or "dict" in kinds:
            continue  # nested collections are compared on their own
        assert kinds <= documented[key] | {"null"} or documented[key] == {"null"}, (
            f"{what}.{key}: sandbox sends {kinds}, documented {documented[key]}")


@pytest.fixture
def sandbox() -> Sandbox:
    box = Sandbox.create(None, 3, wall_time=lambda: T0)
    box.execute("putTradeOrder", {"instr_name": "AAPL.US", "action_id": 1, "order_type_id": 1,
                                  "qty": 4, "expiration_id": 3, "user_order_id": 42})
    for _ in range(4):
        box.account.advance(box.now())
    return box


def _fixture_orders(name: str, notify: bool) -> list[dict[str, Any]]:
    data = raw(name)
    return _rows((data["result"] if notify else data)["orders"]["order"])


def test_sandbox_order_lists_match_the_documented_rows(sandbox: Sandbox) -> None:
    notify = _rows(sandbox.execute("getNotifyOrderJson", {"active_only": 0})
                   ["result"]["orders"]["order"])
    assert_same_shape(notify, _fixture_orders("getNotifyOrderJson.many.json", True),
                      "getNotifyOrderJson.order")
    assert_same_shape([t for r in notify for t in _rows(r.get("trade"))],
                      [t for r in _fixture_orders("getNotifyOrderJson.many.json", True)
                       for t in r["trade"]], "getNotifyOrderJson.trade")
    history = _rows(sandbox.execute("getOrdersHistory", {
        "from": "2026-03-01T00:00:00", "till": "2026-03-03T00:00:00"})["orders"]["order"])
    assert_same_shape(history, _fixture_orders("getOrdersHistory.many.json", False),
                      "getOrdersHistory.order")
    assert history[0]["userOrderId"] == "42" and "user_order_id" not in history[0]


def test_sandbox_trades_and_cash_flows_match_the_documented_rows(sandbox: Sandbox) -> None:
    trades = _rows(sandbox.execute("getTradesHistory", {
        "beginDate": "2026-03-01", "endDate": "2026-03-03", "max": 0})["trades"]["trade"])
    assert_same_shape(trades, raw("getTradesHistory.one.json")["trades"]["trade"],
                      "getTradesHistory.trade")
    flows = sandbox.execute("getUserCashFlows", {"take": 50, "skip": 0})["cashflow"]
    assert_same_shape(flows, raw("getUserCashFlows.one.json")["cashflow"],
                      "getUserCashFlows.cashflow")
    fees = [f for f in flows if f["type_code"] == "commission_for_trades"]
    assert {int(f["comment"].split()[1]) for f in fees} == {int(t["id"]) for t in trades}


def test_sandbox_security_info_keys_are_documented(sandbox: Sandbox) -> None:
    info = sandbox.execute("getSecurityInfo", {"ticker": "AAPL.US", "sup": True})
    assert_same_shape([info], [raw("getSecurityInfo.doc.json")], "getSecurityInfo")


# ------------------------------------------------------- the other commands
@pytest.mark.parametrize(("name", "kind", "code"), [
    ("error.service_unavailable.json", BrokerUnavailable, 14),
    ("error.bad_parameters.json", BrokerRejected, 2),
    ("error.method_code_zero.json", BrokerRejected, 0),  # an error, although code 0
    ("error.error_msg_and_error.json", BrokerRejected, 12),
])
def test_more_documented_error_shapes(name: str, kind: type, code: int) -> None:
    with pytest.raises(kind) as caught:
        answer(name, "delTradeOrder")
    assert type(caught.value) is kind and caught.value.code == code


def test_http_401_and_403_are_authentication_failures() -> None:
    for status in (401, 403):
        with pytest.raises(BrokerAuthError):
            nz.read_envelope(status, "", "getPositionJson")


@pytest.mark.parametrize("name", ["getPositionJson.many.json", "getPositionJson.doc_bare.json"])
def test_positions_in_both_documented_shapes(name: str) -> None:
    snap = nz.parse_account(answer(name, "getPositionJson"))
    aapl = next(p for p in snap.positions if p.symbol == "AAPL.US")
    assert (aapl.quantity, aapl.avg_price, aapl.market_price, aapl.currency) == (
        Decimal(100), Decimal("29.924"), Decimal("23.81"), "USD")
    assert snap.cash_in("USD") == 0
    assert nz.parse_account(answer("getPositionJson.empty.json", "getPositionJson")) \
        .positions == ()


def test_quotes_in_both_documented_shapes() -> None:
    (doc,) = nz.parse_quotes(answer("getStockQuotesJson.doc.json", "getStockQuotesJson"))
    assert (doc.last, doc.bid, doc.ask, doc.min_step, doc.currency) == (
        Decimal("147.42"), Decimal("147.39"), Decimal("147.45"), Decimal("0.01"), "")
    with pytest.raises(BrokerProtocolError, match="x_lot"):  # the sample names no lot
        nz.parse_quote_lot(answer("getStockQuotesJson.doc.json", "getStockQuotesJson"),
                           "AAPL.US")
    opq = answer("getStockQuotesJson.opq_row.json", "getStockQuotesJson")
    (row,) = nz.parse_quotes(opq)
    assert (row.currency, row.isin, row.lot) == ("USD", "US0378331005", 1)
    assert nz.parse_quote_lot(opq, "AAPL.US") == 1


def test_market_status_cross_rates_orders_and_history() -> None:
    (kase,) = nz.parse_market_status(answer("getMarketStatus.one.json", "getMarketStatus"))
    assert (kase.code, kase.is_open, kase.opens, kase.closes) == (
        "KASE", False, "08:20:00", "14:00:00")
    rates = nz.parse_cross_rates(answer("getCrossRatesForDate.many.json",
                                        "getCrossRatesForDate"))
    assert rates == {"EUR": Decimal("0.92261342533093"), "HKD": Decimal("7.8070160113905")}
    assert answer("putTradeOrder.ok.json", "putTradeOrder")["order_id"] == 4982349829328
    assert answer("delTradeOrder.ok.json", "delTradeOrder")["order_id"] == 2929292929
    bars = nz.parse_hloc(answer("getHloc.many.json", "getHloc"), "FB.US")
    assert len(bars) == 5 and bars[0].high == Decimal("107.25")
    assert bars[0].close == Decimal("106.26") and bars[0].volume == 7588957
    (cps,) = nz.parse_cps(answer("getClientCpsHistory.one.json", "getClientCpsHistory"))
    assert (cps.type_doc_id, cps.status) == (10160, 3)
    assert cps.created_at == datetime(2019, 11, 6, 12, 31, 55, tzinfo=UTC)  # 15:31:55 MSK
    (hit,) = nz.parse_finder(answer("tickerFinder.one.json", "tickerFinder"))
    assert (hit.symbol, hit.market_id, hit.currency) == ("AAPL.US", 900000001, "")


def _first_rows(data: Any, *path: str) -> list[dict[str, Any]]:
    for key in path:
        data = data[key]
    return _rows(data)


@pytest.mark.parametrize(("command", "params", "fixtures", "path"), [
    ("getPositionJson", {}, ["getPositionJson.many.json"], ("result", "ps", "pos")),
    ("getPositionJson", {}, ["getPositionJson.many.json"], ("result", "ps", "acc")),
    ("getStockQuotesJson", {"tickers": "AAPL.US,SAP.EU"},
     ["getStockQuotesJson.doc.json", "getStockQuotesJson.opq_row.json"], ("result", "q")),
    ("getMarketStatus", {"market": "*"}, ["getMarketStatus.one.json"],
     ("result", "markets", "m")),
    ("getClientCpsHistory", {}, ["getClientCpsHistory.one.json"], ("cps",)),
    ("tickerFinder", {"text": "AAPL"}, ["tickerFinder.one.json"], ("found",)),
])
def test_sandbox_rows_of_every_other_command_are_documented(
        sandbox: Sandbox, command: str, params: dict[str, Any], fixtures: list[str],
        path: tuple[str, ...]) -> None:
    if command == "getClientCpsHistory":
        sandbox.execute("submitCps", {"type_doc_id": 337, "totalMoneyOut": 5,
                                      "currency": "EUR"})
    ours = _first_rows(sandbox.execute(command, params, public=command == "tickerFinder"),
                       *path)
    documented = [row for name in fixtures for row in _first_rows(raw(name), *path)]
    assert_same_shape(ours, documented, f"{command}.{path[-1]}")


def test_sandbox_envelopes_are_documented(sandbox: Sandbox) -> None:
    """The top-level keys of each answer, as documented."""
    cases = [
        ("getCrossRatesForDate", {"base_currency": "USD", "currencies": ["EUR"]},
         "getCrossRatesForDate.many.json"),
        ("getHloc", {"id": "AAPL.US", "count": -1, "timeframe": 1440,
                     "date_from": "01.02.2026 00:00", "date_to": "01.03.2026 00:00",
                     "intervalMode": "ClosedRay"}, "getHloc.many.json"),
        ("putTradeOrder", {"instr_name": "SAP.EU", "action_id": 1, "order_type_id": 1,
                           "qty": 1, "expiration_id": 1, "user_order_id": 9},
         "putTradeOrder.ok.json"),
        ("getUserCashFlows", {"take": 5}, "getUserCashFlows.one.json"),
        ("getClientCpsHistory", {}, "getClientCpsHistory.one.json"),
    ]
    for command, params, fixture in cases:
        ours = sandbox.execute(command, params)
        assert set(ours) <= set(raw(fixture)), (command, set(ours) - set(raw(fixture)))
    bars = sandbox.execute(cases[1][0], cases[1][1])
    assert_same_shape(list(bars["info"].values()), list(raw("getHloc.many.json")["info"]
                                                        .values()), "getHloc.info")
    placed = sandbox.execute("putTradeOrder", {**cases[2][1], "user_order_id": 10,
                                               "order_type_id": 2, "limit_price": 1.0})
    cancel = sandbox.execute("delTradeOrder", {"order_id": placed["order_id"]})
    assert set(cancel) <= set(raw("delTradeOrder.ok.json"))
