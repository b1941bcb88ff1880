"""The sandbox on its own: status progression, expiry, public commands, CLI, persistence."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.parse
import urllib.request
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest

from arduino_trader.adapters.sandbox.account import SandboxReject
from arduino_trader.adapters.sandbox.server import STOP_GRACE_S, Sandbox
from tests.broker_support import make_client, running_sandbox

T0 = 1_772_445_600.0  # 2026-03-02 10:00 UTC, a Monday


class Wall:
    def __init__(self, t: float) -> None:
        self.t = t

    def __call__(self) -> float:
        return self.t


def order(sandbox: Sandbox, uid: int) -> dict[str, Any]:
    return next(o for o in sandbox.account.state["orders"] if o["user_order_id"] == uid)


def place(sandbox: Sandbox, uid: int, **kw: Any) -> int:
    params = {"instr_name": "AAPL.US", "action_id": 1, "order_type_id": 1, "qty": 2,
              "expiration_id": 1, "user_order_id": uid, **kw}
    return int(sandbox.execute("putTradeOrder", params)["order_id"])


def test_day_order_expires_on_the_next_day() -> None:
    wall = Wall(T0)
    sandbox = Sandbox.create(None, 3, wall_time=wall)
    place(sandbox, 1, order_type_id=2, limit_price=1.0)
    sandbox.execute("getPositionJson", {})
    assert order(sandbox, 1)["stat"] == 10
    wall.t += 86400
    sandbox.execute("getPositionJson", {})
    assert order(sandbox, 1)["stat"] == 71


def test_gtc_order_does_not_expire_and_partial_then_expired_is_72() -> None:
    wall = Wall(T0)
    sandbox = Sandbox.create(None, 3, wall_time=wall)
    place(sandbox, 1, order_type_id=2, limit_price=1.0, expiration_id=3)
    place(sandbox, 2, qty=4)
    sandbox.account.advance(sandbox.now())
    sandbox.account.advance(sandbox.now())
    assert order(sandbox, 2)["stat"] == 20
    wall.t += 86400
    sandbox.account.advance(sandbox.now())
    assert order(sandbox, 1)["stat"] == 10
    assert order(sandbox, 2)["stat"] == 72


def test_validation_refusals() -> None:
    sandbox = Sandbox.create(None, 1)
    for bad in ({"action_id": 2}, {"qty": 1.5}, {"qty": 0}, {"order_type_id": 9},
                {"instr_name": "XXX"}, {"order_type_id": 2, "limit_price": -1},
                {"expiration_id": 7}):
        with pytest.raises(SandboxReject):
            place(sandbox, 99, **bad)
    place(sandbox, 5)
    with pytest.raises(SandboxReject):
        place(sandbox, 5)  # duplicate client id
    assert len(sandbox.account.state["orders"]) == 1


def test_quirks_single_object_and_documented_number_types() -> None:
    sandbox = Sandbox.create(None, 1)
    sandbox.account.state["cash"] = {"EUR": "0"}
    sandbox.account.state["positions"] = {"SAP.EU": {"q": "1", "cost": "100"}}
    ps = sandbox.execute("getPositionJson", {})["result"]["ps"]
    assert isinstance(ps["acc"], dict) and ps["acc"]["s"] == ".00000000"
    # the documented types: zero cash as ".00000000", a position's quantity a number
    assert isinstance(ps["pos"], dict) and ps["pos"]["q"] == 1
    assert "order" not in sandbox.execute("getNotifyOrderJson",
                                          {"active_only": 1})["result"]["orders"]
    assert sandbox.execute("getPlannedCorpActions", {"reception": 35}) == []


async def test_public_get_and_control_api(tmp_path: Path) -> None:
    with running_sandbox(tmp_path / "s.json") as thread:
        q = urllib.parse.quote(json.dumps({"cmd": "tickerFinder",
                                           "params": {"text": "AAPL.US"}}))
        with urllib.request.urlopen(f"{thread.url}/api/?q={q}", timeout=5) as resp:
            assert json.loads(resp.read())["found"][0]["isin"] == "US0378331005"
        req = urllib.request.Request(thread.url + "/sandbox/deposit", method="POST",
                                     data=json.dumps({"amount": "250.5",
                                                      "currency": "usd"}).encode())
        with urllib.request.urlopen(req, timeout=5) as resp:
            assert json.loads(resp.read())["cash"]["USD"] == "2750.5"
        req = urllib.request.Request(thread.url + "/sandbox/markets", method="POST",
                                     data=json.dumps({"closed": ["FIX"]}).encode())
        urllib.request.urlopen(req, timeout=5).close()
        client = make_client(thread.url)
        try:
            markets = {m.code: m.is_open for m in await client.market_status()}
            flows = await client.cash_flows()
        finally:
            await client.close()
        assert markets == {"FIX": False, "EU": True, "HKEX": True}
        assert flows[0].amount == 250.5 and flows[0].currency == "USD"
    saved = json.loads((tmp_path / "s.json").read_text())
    assert saved["cash"]["USD"] == "2750.5" and saved["closed_markets"] == ["FIX"]


def test_cli_sandbox_runs_and_persists(tmp_path: Path) -> None:
    state = tmp_path / "cli-state.json"
    exe = Path(sys.executable).with_name("arduino-trader")
    proc = subprocess.Popen([str(exe), "sandbox", "--port", "0", "--state", str(state),
                             "--seed", "5", "--public-key", "pk", "--private-key", "sk"],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            env={**os.environ, "PYTHONUNBUFFERED": "1"})
    try:
        assert proc.stdout is not None
        first = proc.stdout.readline()
        assert first.startswith("Tradernet sandbox listening on http://127.0.0.1:"), first
        url = first.split()[-1]
        lines = [proc.stdout.readline() for _ in range(4)]
        assert "pk" in lines[0] and "sk" in lines[1] and str(state) in lines[2]
        import asyncio

        async def read() -> Any:
            client = make_client(url, public="pk", private="sk")
            try:
                return await client.account()
            finally:
                await client.close()

        account = asyncio.run(read())
        assert account.cash_in("EUR") == 10000
    finally:
        proc.send_signal(signal.SIGINT)
        proc.wait(10)
    assert json.loads(state.read_text())["seed"] == 5


def test_cli_refuses_half_a_key_pair() -> None:
    exe = Path(sys.executable).with_name("arduino-trader")
    done = subprocess.run([str(exe), "sandbox", "--public-key", "x"], capture_output=True,
                          text=True, timeout=60)
    assert done.returncode == 2 and "both" in done.stderr


def test_prices_are_deterministic_per_seed() -> None:
    a, b, c = (Sandbox.create(None, s, wall_time=Wall(T0)) for s in (4, 4, 5))
    qa, qb, qc = (x.execute("getStockQuotesJson", {"tickers": "AAPL.US"})["result"]["q"]
                  for x in (a, b, c))
    assert qa == qb and qa["ltp"] != qc["ltp"]


def test_all_securities_filters_and_pages() -> None:
    sandbox = Sandbox.create(None, 1)
    eu = sandbox.execute("getAllSecurities", {"take": 2, "skip": 0, "filter": {"filters": [
        {"field": "mkt_short_code", "operator": "eq", "value": "EU"}]}})
    assert eu["total"] == 3 and len(eu["securities"]) == 2
    assert json.loads(eu["securities"][0]["attributes"])["CntryOfRisk"] == "DE"


# ------------------------------------------------------------------- FX-pair orders
def _cash(sandbox: Sandbox) -> dict[str, Any]:
    return {k: Decimal(v) for k, v in sandbox.account.state["cash"].items()}


def test_fx_pair_order_moves_cash_in_both_currencies_exactly() -> None:
    sandbox = Sandbox.create(None, 3, wall_time=Wall(T0))
    before = _cash(sandbox)
    q = sandbox.execute("getStockQuotesJson", {"tickers": "EUR/USD"})["result"]["q"]
    bid, ask = Decimal(q["bbp"]), Decimal(q["bap"])
    assert (q["x_curr"], bid, ask) == ("USD", Decimal("1.0848"), Decimal("1.0852"))
    # SELL EUR/USD pays EUR (the base) and receives USD: 1000 EUR at the bid or better
    place(sandbox, 1, instr_name="EUR/USD", qty=1000, order_type_id=2, action_id=3,
          limit_price=str(bid))
    for _ in range(4):
        sandbox.account.advance(sandbox.now())
    filled = order(sandbox, 1)
    assert filled["stat"] == 21 and len(filled["trade"]) == 2  # partial, then the rest
    after = _cash(sandbox)
    fees = sum((Decimal(t["_fee"]) for t in sandbox.account.state["trades"]),
               Decimal(0))
    assert after["EUR"] == before["EUR"] - 1000
    assert after["USD"] == before["USD"] + 1000 * bid - fees
    assert sandbox.account.state["positions"].keys() == {"AAPL.US", "VWCE.EU"}  # no position
    assert after["HKD"] == before["HKD"]


def test_fx_hkd_pair_buys_hkd_with_eur_and_refuses_to_borrow() -> None:
    sandbox = Sandbox.create(None, 3, wall_time=Wall(T0))
    q = sandbox.execute("getStockQuotesJson", {"tickers": "HKD/EUR"})["result"]["q"]
    ask = Decimal(q["bap"])
    assert q["x_curr"] == "EUR" and ask == Decimal("0.11808")
    before = _cash(sandbox)
    place(sandbox, 1, instr_name="HKD/EUR", qty=1, order_type_id=1)
    for _ in range(3):
        sandbox.account.advance(sandbox.now())
    assert order(sandbox, 1)["stat"] == 21
    after = _cash(sandbox)
    assert after["HKD"] == before["HKD"] + 1
    assert after["EUR"] == before["EUR"] - ask - Decimal("1.00")  # the 1.00 minimum fee
    # selling HKD the account does not have is refused at execution, nothing moves
    place(sandbox, 2, instr_name="HKD/EUR", qty=5000, action_id=3)
    for _ in range(3):
        sandbox.account.advance(sandbox.now())
    assert order(sandbox, 2)["stat"] == 70 and "HKD" in order(sandbox, 2)["reject_reason"]
    assert _cash(sandbox) == after


async def test_fx_quotes_parse_through_the_client_and_orders_need_nothing_new() -> None:
    with running_sandbox() as thread:
        client = make_client(thread.url)
        try:
            quotes = await client.quotes(("EUR/USD", "HKD/USD", "GBP/USD"))
            info = await client.security_info("EUR/GBP")
        finally:
            await client.close()
    by = {q.symbol: q for q in quotes}
    assert by["EUR/USD"].currency == "USD" and by["HKD/USD"].currency == "USD"
    assert by["GBP/USD"].bid is not None and by["GBP/USD"].ask is not None
    assert by["GBP/USD"].bid < by["GBP/USD"].ask
    assert by["HKD/USD"].min_step == Decimal("0.00001") and by["HKD/USD"].at is not None
    assert (info.currency, info.lot) == ("GBP", 1)


def test_cli_sandbox_stops_promptly_while_a_client_holds_a_half_sent_request() -> None:
    """Ctrl-C is not held by a request whose body never comes (aiohttp would wait ~10 s
    for it): the sandbox grants open requests STOP_GRACE_S, then exits."""
    exe = Path(sys.executable).with_name("arduino-trader")
    proc = subprocess.Popen([str(exe), "sandbox", "--port", "0", "--seed", "5"],
                            stdout=subprocess.PIPE, text=True,
                            env={**os.environ, "PYTHONUNBUFFERED": "1"})
    try:
        assert proc.stdout is not None
        url = proc.stdout.readline().split()[-1]
        host, port = url.split("//")[1].rstrip("/").split(":")
        with socket.create_connection((host, int(port)), timeout=10) as held:
            held.sendall(b"POST /api/ HTTP/1.1\r\nHost: x\r\nExpect: 100-continue\r\n"
                         b"Content-Length: 100\r\n\r\n")
            # the server answers 100 Continue once the request is in its hands
            assert held.recv(100).startswith(b"HTTP/1.1 100 Continue")
            started = time.monotonic()
            proc.send_signal(signal.SIGINT)
            assert proc.wait(10) == 0
            assert time.monotonic() - started < STOP_GRACE_S + 3
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait(10)


@pytest.mark.parametrize("inherited", ["blocked", "ignored"])
def test_cli_sandbox_stops_on_ctrl_c_whatever_its_parent_did_with_sigint(
        inherited: str) -> None:
    """A parent can hand SIGINT down blocked (a thread's signal mask survives fork and
    exec) or ignored (a shell's background job without job control); the sandbox sets
    its own handling, so Ctrl-C and SIGTERM still stop it."""
    exe = str(Path(sys.executable).with_name("arduino-trader"))
    change = ("signal.pthread_sigmask(signal.SIG_BLOCK, {signal.SIGINT})"
              if inherited == "blocked" else "signal.signal(signal.SIGINT, signal.SIG_IGN)")
    launcher = (f"import os, signal; {change}; "
                f"os.execv({exe!r}, [{exe!r}, 'sandbox', '--port', '0', '--seed', '5'])")
    proc = subprocess.Popen([sys.executable, "-c", launcher], stdout=subprocess.PIPE,
                            text=True, env={**os.environ, "PYTHONUNBUFFERED": "1"})
    try:
        assert proc.stdout is not None
        assert proc.stdout.readline().startswith("Tradernet sandbox listening on")
        proc.send_signal(signal.SIGINT)
        assert proc.wait(10) == 0
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait(10)
