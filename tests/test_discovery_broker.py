"""The broker's screening commands for discovery: our Tradernet client against the sandbox
on 127.0.0.1, and the sandbox held to the published samples in tests/fixtures/tradernet."""

from __future__ import annotations

import json
import urllib.parse
import urllib.request
from collections.abc import AsyncIterator, Iterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest

from arduino_trader.adapters.sandbox.market import CATALOGUE, find
from arduino_trader.adapters.sandbox.server import Sandbox, SandboxThread
from arduino_trader.adapters.tradernet import normalise as nz
from arduino_trader.adapters.tradernet.client import TradernetClient
from arduino_trader.adapters.tradernet.screening import parse_top_securities, top_params
from arduino_trader.protocols.broker_errors import (
    BrokerAuthError,
    BrokerProtocolError,
    BrokerRejected,
)
from tests.broker_support import make_client, running_sandbox

FIXTURES = Path(__file__).resolve().parent / "fixtures" / "tradernet"


def raw(name: str) -> Any:
    return json.loads((FIXTURES / name).read_text(encoding="utf-8"))


@pytest.fixture
def sandbox(tmp_path: Path) -> Iterator[SandboxThread]:
    with running_sandbox(tmp_path / "sandbox.json") as thread:
        yield thread


@pytest.fixture
async def client(sandbox: SandboxThread) -> AsyncIterator[TradernetClient]:
    c = make_client(sandbox.url)
    yield c
    await c.close()


def _public_get(url: str, command: str, params: dict[str, Any]) -> Any:
    q = urllib.parse.quote(json.dumps({"cmd": command, "params": params}))
    with urllib.request.urlopen(f"{url}/api/?q={q}", timeout=5) as resp:
        return json.loads(resp.read())


# ------------------------------------------------------------------ the client
async def test_top_securities_per_exchange_type_and_limit(
        client: TradernetClient, sandbox: SandboxThread) -> None:
    assert await client.top_securities("usa") == ("AAPL.US", "MSFT.US")
    assert await client.top_securities("europe") == ("SAP.EU", "ASML.EU")  # shares only
    assert await client.top_securities("europe", kind="funds") == ("VWCE.EU",)
    assert await client.top_securities("usa", limit=1) == ("AAPL.US",)
    assert await client.top_securities("kazakhstan") == ()
    box = sandbox.sandbox
    now = box.now()
    growth = {i.ticker: box.account.market.close(i, now) /
              box.account.market.close(i, now - timedelta(days=365))
              for i in CATALOGUE if i.market == "EU" and i.instr_kind == 1}
    expected = tuple(sorted(growth, key=lambda t: -growth[t]))
    assert await client.top_securities("europe", gainers=True) == expected
    sent = list(box.requests).count("getTopSecurities")
    for bad in ({"exchange": "mars"}, {"exchange": "usa", "kind": "shares"},
                {"exchange": "usa", "limit": 0}):
        with pytest.raises(ValueError, match="getTopSecurities"):
            await client.top_securities(**bad)
    assert list(box.requests).count("getTopSecurities") == sent  # refused before sending


async def test_the_finder_searches_one_market_with_ticker_at_market(
        client: TradernetClient) -> None:
    (hit,) = await client.find_security("AAPL@FIX")
    assert (hit.symbol, hit.isin, hit.market, hit.instrument_type, hit.instrument_kind) == (
        "AAPL.US", "US0378331005", "FIX", 1, 1)
    assert await client.find_security("AAPL@EU") == ()
    (fund,) = await client.find_security("IE00BK5BQT80")
    assert (fund.instrument_type, fund.instrument_kind) == (1, 7)


async def test_public_screens_need_no_signature_but_the_currency_lookup_does(
        sandbox: SandboxThread) -> None:
    wrong = make_client(sandbox.url, private="not-the-secret")
    try:
        assert await wrong.top_securities("usa") == ("AAPL.US", "MSFT.US")
        assert (await wrong.find_security("MSFT.US"))[0].isin == "US5949181045"
        with pytest.raises(BrokerAuthError):
            await wrong.security_info("MSFT.US")  # signed: checked by the sandbox
    finally:
        await wrong.close()
    good = make_client(sandbox.url)
    try:
        assert (await good.security_info("MSFT.US")).currency == "USD"
    finally:
        await good.close()


# --------------------------------------------------- the published samples
def test_the_published_answer_parses() -> None:
    data = nz.read_envelope(200, (FIXTURES / "getTopSecurities.doc.json").read_text(),
                            "getTopSecurities")
    assert parse_top_securities(data) == ("AAPL.US", "T.US", "F.US")
    assert top_params("europe", "stocks", False, 10) == {
        "type": "stocks", "exchange": "europe", "gainers": 0, "limit": 10}


@pytest.mark.parametrize("bad", [{}, {"tickers": "AAPL.US"}, {"tickers": ["AAPL.US", 5]},
                                 {"tickers": [""]}, {"tickers": None}])
def test_a_malformed_answer_is_a_protocol_error(bad: dict[str, Any]) -> None:
    with pytest.raises(BrokerProtocolError, match="getTopSecurities"):
        parse_top_securities(bad)


def test_the_published_refusal_and_the_sandbox_refusal_are_the_same_error(
        sandbox: SandboxThread) -> None:
    with pytest.raises(BrokerRejected) as published:
        nz.raise_for_error(raw("error.exchange_missing.json"), "getTopSecurities")
    ours = _public_get(sandbox.url, "getTopSecurities", {"type": "stocks", "limit": 10})
    assert set(ours) <= set(raw("error.exchange_missing.json"))
    with pytest.raises(BrokerRejected) as sandboxed:
        nz.raise_for_error(ours, "getTopSecurities")
    assert sandboxed.value.code == published.value.code == 5
    assert "Exchange is missing" in sandboxed.value.message


def test_sandbox_rows_have_the_published_keys_and_types() -> None:
    box = Sandbox.create(None, 3)
    top = box.execute("getTopSecurities", {"type": "stocks", "exchange": "usa", "gainers": 0,
                                           "limit": 10}, public=True)
    assert set(top) == set(raw("getTopSecurities.doc.json"))
    assert all(isinstance(t, str) for t in top["tickers"])
    found = box.execute("tickerFinder", {"text": "AAPL.US"}, public=True)
    (published,) = raw("tickerFinder.one.json")["found"]
    (row,) = found["found"]
    assert set(row) == set(published)
    for key, value in row.items():
        assert type(value) is type(published[key]), key
    assert find("AAPL.US") is not None and row["code_nm"] == "AAPL.US"
