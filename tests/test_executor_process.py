"""SIGKILL the daemon process between "journal written" and "broker answered": after a
restart the order exists exactly once at the broker and its fills once in the ledger."""

from __future__ import annotations

import json
import os
import signal
import socket
import sqlite3
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
from broker_support import running_sandbox

from arduino_trader.adapters.market_data.calendars import MarketCalendars
from arduino_trader.adapters.sandbox.server import DEMO_PRIVATE_KEY, DEMO_PUBLIC_KEY
from arduino_trader.adapters.store import market_repo, securities_repo
from arduino_trader.adapters.store.price_history_repo import SqlitePriceHistory
from arduino_trader.adapters.store.sqlite import SqliteStore
from arduino_trader.daemon.io_loop import IoLoop
from arduino_trader.protocols.market_data import FxRate, PriceBar

ROOT = Path(__file__).parent.parent
# Sandbox instruments and their exchanges: the test trades one whose market is open now.
CANDIDATES = (("US0378331005", "AAPL.US", "USD", "XNAS", 190.0),
              ("DE0007164600", "SAP.EU", "EUR", "XETR", 180.0))


def _open_instrument() -> tuple[str, str, str, str, float] | None:
    now = datetime.now(UTC)
    calendars = MarketCalendars(today=now.date())
    for candidate in CANDIDATES:
        # Open now and for the next two minutes (the test's duration).
        if all(calendars.is_tradable(candidate[3], now + timedelta(seconds=s))
               for s in (0, 120)):
            return candidate
    return None


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _seed(state: Path, inst: tuple[str, str, str, str, float]) -> None:
    io = IoLoop()
    io.start()
    store = SqliteStore(state / "arduino-trader.db")
    try:
        store.open()
        now = datetime.now(UTC)
        isin, symbol, currency, mic, price = inst
        securities_repo.insert_security(store, {
            "isin": isin, "symbol": symbol, "name": symbol, "currency": currency,
            "mic": mic, "source": "test"}, now)
        start = date.today() - timedelta(days=300)
        bars = [PriceBar(start + timedelta(days=i), price, high=price * 1.5)
                for i in range(299)]
        SqlitePriceHistory(store).write_history({isin: (bars, [])}, "test", now)
        market_repo.write_fx(store, [
            FxRate("USD", Decimal("0.92"), now.date(), now, "test"),
            FxRate("HKD", Decimal("0.118"), now.date(), now, "test")], now)
    finally:
        store.close()
        io.stop()


class Proc:
    def __init__(self, state: Path, port: int, url: str) -> None:
        env = {**os.environ, "ARDUINO_TRADER_API__PORT": str(port),
               "ARDUINO_TRADER_BROKER__KIND": "tradernet",
               "ARDUINO_TRADER_BROKER__BASE_URL": url,
               "ARDUINO_TRADER_TRADERNET_API_KEY": DEMO_PUBLIC_KEY,
               "ARDUINO_TRADER_TRADERNET_API_SECRET": DEMO_PRIVATE_KEY,
               "ARDUINO_TRADER_TRADE_FREQUENCY_LIMITS_ENABLED": "false"}
        env.pop("ARDUINO_TRADER_CONFIG", None)
        self.base = f"http://127.0.0.1:{port}"
        self.state = state
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "arduino_trader", "run", "--data-dir", str(state)],
            env=env, cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            try:
                if self.call("GET", "/health")[0] in (200, 503):
                    break
            except OSError:
                time.sleep(0.1)
        self.token = (state / "api-token").read_text().strip()

    def call(self, method: str, path: str, body: Any = None,
             timeout: float = 60) -> tuple[int, Any]:
        data = None if body is None else json.dumps(body).encode()
        req = urllib.request.Request(self.base + path, data=data, method=method)
        req.add_header("Content-Type", "application/json")
        if getattr(self, "token", None):
            req.add_header("Authorization", f"Bearer {self.token}")
        try:
            with urllib.request.urlopen(req, timeout=timeout) as resp:
                return resp.status, json.loads(resp.read() or b"null")
        except urllib.error.HTTPError as exc:
            return exc.code, json.loads(exc.read() or b"null")

    def kill(self) -> None:
        self.proc.send_signal(signal.SIGKILL)
        self.proc.wait(10)

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(15)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(5)


def _rows(state: Path, sql: str) -> list[sqlite3.Row]:
    with sqlite3.connect(f"file:{state / 'arduino-trader.db'}?mode=ro", uri=True,
                         timeout=10) as conn:
        conn.row_factory = sqlite3.Row
        return conn.execute(sql).fetchall()


@pytest.fixture
def procs() -> Iterator[list[Proc]]:
    started: list[Proc] = []
    yield started
    for p in started:
        p.stop()


@pytest.mark.slow
def test_sigkill_between_journal_and_broker_answer(tmp_path: Path, procs: list[Proc]) -> None:
    inst = _open_instrument()
    if inst is None:
        pytest.skip("no sandbox exchange is open now (weekend or night)")
    state = tmp_path / "state"
    _seed(state, inst)
    port = _free_port()
    with running_sandbox(tmp_path / "sandbox.json") as sandbox:
        sandbox.sandbox.account.deposit("HKD", Decimal("100"), datetime.now(UTC))
        first = Proc(state, port, sandbox.url)
        procs.append(first)
        code, body = first.call("POST", "/api/settings/trading-mode",
                                {"mode": "live", "confirm": "ENABLE LIVE TRADING"})
        assert code == 200, body
        # The broker accepts the order only after 4 s: the daemon dies before the answer.
        sandbox.sandbox.inject("latency", command="putTradeOrder", delay_s=4.0)
        order = {"symbol": inst[0], "side": "BUY", "quantity": 2, "confirm": "EXECUTE",
                 "request_id": "kill-test-1"}
        threading.Thread(target=lambda: _swallow(first.call, "POST", "/api/trades/execute",
                                                  order, 30), daemon=True).start()
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline and not _rows(state, "SELECT 1 FROM orders"):
            time.sleep(0.05)
        journaled = _rows(state, "SELECT client_order_id, state FROM orders")
        assert [r["state"] for r in journaled] == ["journaled"], "no journal entry was written"
        deadline = time.monotonic() + 10  # the request is at the broker, its answer is not
        while time.monotonic() < deadline and "putTradeOrder" not in sandbox.sandbox.requests:
            time.sleep(0.01)
        first.kill()
        client_id = int(journaled[0]["client_order_id"])
        deadline = time.monotonic() + 15  # the sandbox finishes accepting after the delay
        while time.monotonic() < deadline and not sandbox.sandbox.account.state["orders"]:
            time.sleep(0.1)
        assert [o["user_order_id"] for o in sandbox.sandbox.account.state["orders"]] == \
            [client_id]

        second = Proc(state, port, sandbox.url)
        procs.append(second)
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            second.call("POST", "/api/system/jobs/order_follow_up", {})
            rows = _rows(state, "SELECT state FROM orders")
            if rows and rows[0]["state"] == "filled":
                break
            time.sleep(0.5)
        code, again = second.call("POST", "/api/trades/execute", order)
        assert code == 200 and again["status"] == "duplicate", again
        assert again["order_id"] == client_id

    assert [r["state"] for r in _rows(state, "SELECT state FROM orders")] == ["filled"]
    assert len(sandbox.sandbox.account.state["orders"]) == 1
    trades = _rows(state, "SELECT quantity, trade_key FROM trades")
    assert sum(Decimal(t["quantity"]) for t in trades) == 2
    assert len({t["trade_key"] for t in trades}) == len(trades)
    assert _rows(state, "PRAGMA integrity_check")[0][0] == "ok"


def _swallow(func: Any, *args: Any) -> None:
    try:
        func(*args)
    except OSError:
        pass  # the daemon was killed mid-request: expected
