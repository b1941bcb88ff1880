"""The official SDK (tradernet-sdk) is the oracle for the protocol.

1. The SDK's own client, pointed at the sandbox, gets every signed command it wraps
   accepted; the same calls with a wrong key, a changed body byte, a changed signature or
   a stale timestamp are rejected.
2. Our client produces the same headers and body bytes as the SDK for the same inputs.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Iterator
from datetime import date, datetime, timedelta
from typing import Any

import pytest
import tradernet.core as sdk_core
from hypothesis import given, settings
from hypothesis import strategies as st
from tradernet import Tradernet

from arduino_trader.adapters.sandbox.server import (
    DEMO_PRIVATE_KEY,
    DEMO_PUBLIC_KEY,
    MAX_SKEW_S,
    SandboxThread,
)
from arduino_trader.adapters.tradernet.signing import encode_body
from tests.broker_support import make_client, running_sandbox


class SdkAt(Tradernet):
    """The SDK, pointed at a local URL, optionally tampering with what it sends."""

    def __init__(self, base: str, public: str, private: str,
                 tamper: Callable[[dict[str, str], Any], tuple[dict[str, str], Any]] | None
                 = None) -> None:
        super().__init__(public, private)
        self._base = base
        self._tamper = tamper

    @property
    def url(self) -> str:  # type: ignore[override]
        return self._base

    def request(self, method: str, url: str, headers: dict[str, str] | None = None,
                params: Any = None, data: Any = None) -> Any:
        if self._tamper is not None and method == "post":
            headers, data = self._tamper(dict(headers or {}), data)
        return super().request(method, url, headers=headers, params=params, data=data)


def sdk_calls(order_holder: dict[str, int]) -> list[tuple[str, Callable[[Tradernet], Any]]]:
    """One call per signed command the SDK wraps (command name, call)."""
    start = datetime(2024, 1, 2)
    end = datetime(2024, 2, 1)
    return [
        ("GetAllUserTexInfo", lambda c: c.user_info()),
        ("getOPQ", lambda c: c.get_user_data()),
        ("getMarketStatus", lambda c: c.get_market_status()),
        ("getSecurityInfo", lambda c: c.security_info("AAPL.US")),
        ("getOptionsByMktNameAndBaseAsset", lambda c: c.get_options("AAPL.US", "FIX")),
        ("getHloc", lambda c: c.get_candles("SAP.EU", start, end)),
        ("getTradesHistory", lambda c: c.get_trades_history(date(2020, 1, 1), date.today(),
                                                            limit=10, symbol="AAPL.US")),
        ("getNews", lambda c: c.get_news("Apple", symbol="AAPL.US")),
        ("getPositionJson", lambda c: c.account_summary()),
        ("getAlertsList", lambda c: c.get_price_alerts("AAPL.US")),
        ("addPriceAlert", lambda c: c.add_price_alert("AAPL.US", [180.5, 200])),
        ("addPriceAlert(del)", lambda c: c.delete_price_alert(1)),
        ("getClientCpsHistory", lambda c: c.get_requests_history(limit=5, status=3)),
        ("getCpsFiles", lambda c: c.get_order_files(123, None)),
        ("getBrokerReport", lambda c: c.get_broker_report(date(2024, 1, 1), date(2024, 2, 1))),
        ("getStockData", lambda c: c.symbol("MSFT.US")),
        ("getReadyList", lambda c: c.symbols()),
        ("getPlannedCorpActions", lambda c: c.corporate_actions()),
        ("getStockQuotesJson", lambda c: c.get_quotes(["AAPL.US", "SAP.EU"])),
        ("putTradeOrder", lambda c: order_holder.__setitem__(
            "id", c.buy("AAPL.US", 2, price=10.0, use_margin=False,
                        custom_order_id=int(time.time() * 1000) % 10**9)["order_id"])),
        ("putTradeOrder(sell)", lambda c: c.sell("AAPL.US", 1, use_margin=False)),
        ("putStopLoss", lambda c: c.stop("AAPL.US", 100.0)),
        ("putStopLoss(trailing)", lambda c: c.trailing_stop("AAPL.US", 2)),
        ("putStopLoss(tp)", lambda c: c.take_profit("AAPL.US", 300.0)),
        ("getNotifyOrderJson", lambda c: c.get_placed(active=False)),
        ("delTradeOrder", lambda c: c.cancel(order_holder.get("id", 1))),
        ("getOrdersHistory", lambda c: c.get_historical(datetime.now() - timedelta(days=3),
                                                        datetime.now() + timedelta(days=1))),
        ("GetListTariffs", lambda c: c.get_tariffs_list()),
        ("checkStep", lambda c: c.check_missing_fields(1, "sandbox")),
        ("getAnketaFields", lambda c: c.get_profile_fields(35)),
        ("getSecuritySessions", lambda c: c.list_security_sessions()),
        ("submitCps", lambda c: c.send_money(100.0, "EUR", "ACC-1", comment="Überweisung")),
    ]


@pytest.fixture(scope="module")
def sandbox() -> Iterator[SandboxThread]:
    with running_sandbox() as thread:
        yield thread


def _accepted(answer: Any) -> bool:
    return not (isinstance(answer, dict) and ("errMsg" in answer or "error" in answer))


def test_sdk_gets_every_signed_command_accepted(sandbox: SandboxThread) -> None:
    holder: dict[str, int] = {}
    client = SdkAt(sandbox.url, DEMO_PUBLIC_KEY, DEMO_PRIVATE_KEY)
    refused = []
    for name, call in sdk_calls(holder):
        answer = call(client)
        if name.startswith("putTradeOrder") and name != "putTradeOrder(sell)":
            continue  # the holder captured the order id: the call succeeded
        if not _accepted(answer):
            refused.append(f"{name}: {answer}")
    assert not refused, "\n".join(refused)
    assert "id" in holder
    commands = {n.split("(")[0] for n, _ in sdk_calls({})}
    assert commands <= set(sandbox.sandbox.requests)


def _flip_body_byte(headers: dict[str, str], data: Any) -> tuple[dict[str, str], Any]:
    text = data if isinstance(data, str) else data.decode()
    index = len(text) // 2
    changed = text[:index] + ("A" if text[index] != "A" else "B") + text[index + 1:]
    return headers, changed


def _flip_signature(headers: dict[str, str], data: Any) -> tuple[dict[str, str], Any]:
    sig = headers["X-NtApi-Sig"]
    headers["X-NtApi-Sig"] = ("0" if sig[0] != "0" else "1") + sig[1:]
    return headers, data


def _add_space(headers: dict[str, str], data: Any) -> tuple[dict[str, str], Any]:
    return headers, (data if isinstance(data, str) else data.decode()) + " "


@pytest.mark.parametrize("variant", ["wrong_private", "wrong_public", "body_byte", "signature",
                                     "trailing_space", "stale", "future"])
def test_sdk_requests_with_bad_auth_are_rejected(sandbox: SandboxThread, variant: str,
                                                 monkeypatch: pytest.MonkeyPatch) -> None:
    public, private = DEMO_PUBLIC_KEY, DEMO_PRIVATE_KEY
    tamper = None
    if variant == "wrong_private":
        private = DEMO_PRIVATE_KEY + "x"
    elif variant == "wrong_public":
        public = "someone-else"
    elif variant == "body_byte":
        tamper = _flip_body_byte
    elif variant == "signature":
        tamper = _flip_signature
    elif variant == "trailing_space":
        tamper = _add_space
    else:
        # Well outside the window: a loaded machine may take seconds between the SDK's
        # stamp and the sandbox's check, which would pull a stamp just past it back in.
        shift = MAX_SKEW_S + 30
        shift = -shift if variant == "stale" else shift
        real = time.time
        monkeypatch.setattr(sdk_core, "time", lambda: real() + shift)
    client = SdkAt(sandbox.url, public, private, tamper)
    before = json.dumps(sandbox.sandbox.account.state, sort_keys=True)
    for name, call in sdk_calls({}):
        if name == "getBrokerReport":
            continue  # the SDK indexes ['report'] itself: see the test below
        answer = call(client) if not name.startswith("putTradeOrder") else \
            client.authorized_request("putTradeOrder", {"instr_name": "AAPL.US", "action_id": 1,
                                                        "order_type_id": 1, "qty": 1,
                                                        "expiration_id": 1})
        assert isinstance(answer, dict) and "errMsg" in answer, f"{variant}/{name}: {answer}"
    after = json.dumps(sandbox.sandbox.account.state, sort_keys=True)
    assert before == after, "a rejected request changed the account"


def test_sdk_broker_report_is_rejected_with_bad_key(sandbox: SandboxThread) -> None:
    client = SdkAt(sandbox.url, DEMO_PUBLIC_KEY, "wrong")
    with pytest.raises(KeyError):
        client.get_broker_report(date(2024, 1, 1), date(2024, 2, 1))


# ------------------------------------------------------------------ byte equality
class CapturingSdk(Tradernet):
    """Records the headers and body the SDK would send; sends nothing."""

    def __init__(self) -> None:
        super().__init__("pub-Ключ", "priv-秘密")
        self.sent: list[tuple[str, dict[str, str], Any]] = []

    def request(self, method: str, url: str, headers: dict[str, str] | None = None,
                params: Any = None, data: Any = None) -> Any:
        self.sent.append((url, dict(headers or {}), data))

        class Answer:
            @staticmethod
            def json() -> dict[str, Any]:
                return {}

        return Answer()


PARAM_CASES: list[Any] = [
    None,
    {},
    {"ticker": "AAPL.US", "sup": True},
    {"text": "Société Générale — ü 株式会社 \U0001F600", "quote": 'a"b\\c/\n'},
    {"take": 10, "skip": 0, "filter": {"filters": [{"field": "mkt_short_code",
                                                    "operator": "eq", "value": "FIX"}]},
     "sort": [], "price": [180.5, 1e-7, -3], "none": None},
    {"z": 1, "a": 2, "m": {"y": [1, {"b": False}], "x": 0.1}},
]


def _compare(command: str, params: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(sdk_core, "time", lambda: 1_700_000_000.9)
    sdk = CapturingSdk()
    sdk.authorized_request(command, params)
    url, sdk_headers, sdk_body = sdk.sent[-1]
    ours = make_client("https://freedom24.com", public="pub-Ключ", private="priv-秘密")
    our_url, our_headers, our_body = ours.build_request(command, params, "1700000000")
    assert our_url == url
    assert our_headers == sdk_headers
    assert list(our_headers) == list(sdk_headers)
    assert our_body == sdk_body.encode()


@pytest.mark.parametrize("params", PARAM_CASES)
def test_our_headers_and_body_equal_the_sdk(params: Any,
                                            monkeypatch: pytest.MonkeyPatch) -> None:
    _compare("getSomething", params, monkeypatch)


JSON_LEAF = st.none() | st.booleans() | st.integers(-10**12, 10**12) | st.text(max_size=12) \
    | st.floats(allow_nan=False, allow_infinity=False)
JSON_VALUE = st.recursive(JSON_LEAF, lambda inner: st.lists(inner, max_size=4)
                          | st.dictionaries(st.text(max_size=6), inner, max_size=4),
                          max_leaves=12)


@settings(max_examples=60, deadline=None)
@given(params=st.dictionaries(st.text(max_size=8), JSON_VALUE, max_size=5))
def test_signing_matches_the_sdk_for_any_params(params: dict[str, Any]) -> None:
    with pytest.MonkeyPatch.context() as mp:
        _compare("putTradeOrder", params, mp)


def test_body_keeps_construction_order_and_is_compact() -> None:
    assert encode_body({"b": 1, "a": [1, 2]}) == '{"b":1,"a":[1,2]}'
    assert encode_body(None) == "{}"
    assert encode_body({"s": "é"}) == '{"s":"\\u00e9"}'


def test_sdk_public_commands_are_served(sandbox: SandboxThread) -> None:
    client = SdkAt(sandbox.url, DEMO_PUBLIC_KEY, DEMO_PRIVATE_KEY)
    found = client.find_symbol("SAP", "EU")
    assert found["found"][0]["t"] == "SAP.EU"
    top = client.get_most_traded(limit=3)  # the SDK's defaults: US stocks, gainers
    assert sorted(top["tickers"]) == ["AAPL.US", "MSFT.US"]  # the sandbox's only two
    top = client.get_most_traded(exchange="europe", gainers=False, limit=1)
    assert top["tickers"] == ["SAP.EU"]
