"""A daemon in live mode against the sandbox, both on a clock moved into an open XNAS
session (so order tests run at any wall time), with one seeded instrument."""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

from daemon_harness import Client, ProbeDaemon, start_daemon
from reliability_support import ShiftedClock, clocked_sandbox, db_path, session_moment, wait_idle

from arduino_trader.adapters.sandbox.server import (
    DEMO_PRIVATE_KEY,
    DEMO_PUBLIC_KEY,
    SandboxThread,
)
from arduino_trader.adapters.store import market_repo, securities_repo
from arduino_trader.adapters.store.price_history_repo import SqlitePriceHistory
from arduino_trader.daemon.api import order_guard
from arduino_trader.daemon.scheduler import JobAlreadyRunning
from arduino_trader.protocols.market_data import FxRate, PriceBar

AAPL = ("US0378331005", "AAPL.US", "USD", "XNAS", 190.0)
MSFT = ("US5949181045", "MSFT.US", "USD", "XNAS", 410.0)


@dataclass
class LiveRig:
    daemon: ProbeDaemon
    sandbox: SandboxThread
    clock: ShiftedClock

    @property
    def api(self) -> Client:
        return Client(self.daemon)

    def run(self, job: str) -> Any:
        """Run ``job`` now (after a scheduled run of it that got there first)."""
        assert self.daemon.scheduler is not None
        for _ in range(5):
            wait_idle(self.daemon, 60)
            try:
                return self.daemon.scheduler.run_now(job)
            except JobAlreadyRunning:
                continue
        raise AssertionError(f"{job} kept running")

    def journal(self) -> list[dict[str, Any]]:
        with sqlite3.connect(f"file:{db_path(self.daemon)}?mode=ro", uri=True,
                             timeout=10) as conn:
            conn.row_factory = sqlite3.Row
            return [dict(r) for r in conn.execute("SELECT * FROM orders ORDER BY id")]

    def trades(self) -> list[dict[str, Any]]:
        with sqlite3.connect(f"file:{db_path(self.daemon)}?mode=ro", uri=True,
                             timeout=10) as conn:
            conn.row_factory = sqlite3.Row
            return [dict(r) for r in conn.execute("SELECT * FROM trades ORDER BY id")]

    def broker_orders(self, client_id: int | None = None) -> list[dict[str, Any]]:
        with self.sandbox.sandbox.account.lock:
            orders = [dict(o) for o in self.sandbox.sandbox.account.state["orders"]]
        return [o for o in orders
                if client_id is None or int(o["user_order_id"]) == client_id]


def live_env(url: str, **extra: str) -> dict[str, str]:
    return {"ARDUINO_TRADER_BROKER__KIND": "tradernet",
            "ARDUINO_TRADER_BROKER__BASE_URL": url,
            "ARDUINO_TRADER_TRADERNET_API_KEY": DEMO_PUBLIC_KEY,
            "ARDUINO_TRADER_TRADERNET_API_SECRET": DEMO_PRIVATE_KEY,
            "ARDUINO_TRADER_BROKER__READ_RETRIES": "0",
            "ARDUINO_TRADER_BROKER__TIMEOUT_S": "5",
            "ARDUINO_TRADER_BROKER__REQUESTS_PER_MINUTE": "600",
            "ARDUINO_TRADER_BROKER__BURST": "50",
            "ARDUINO_TRADER_BROKER__BREAKER_FAILURES": "100",
            "ARDUINO_TRADER_TRADE_FREQUENCY_LIMITS_ENABLED": "false", **extra}


@contextmanager
def live_rig(base: Path, **env: str) -> Iterator[LiveRig]:
    """The daemon switched to live mode (as the owner does it) against the sandbox."""
    order_guard.clear_rate_limits()  # the API's 10-per-minute manual order limit
    clock = ShiftedClock(session_moment(AAPL[3]))
    with clocked_sandbox(base / "sandbox.json", clock.now) as sandbox:
        # The demo account is HKD -12.5 (buys blocked): cover it first.
        sandbox.sandbox.account.deposit("HKD", Decimal("100"), sandbox.sandbox.now())
        daemon = start_daemon(base / "state", env=live_env(sandbox.url, **env), clock=clock)
        try:
            rig = LiveRig(daemon, sandbox, clock)
            wait_idle(daemon, 60)
            _seed(daemon)
            code, body = rig.api.call("POST", "/api/settings/trading-mode",
                                      {"mode": "live", "confirm": "ENABLE LIVE TRADING"})
            assert code == 200, body
            yield rig
        finally:
            daemon.stop()


def _seed(daemon: ProbeDaemon) -> None:
    now, store = daemon.clock.now(), daemon.store
    for isin, symbol, currency, mic, price in (AAPL, MSFT):
        # A start-up sync of the broker's positions may have added it first (AAPL).
        if securities_repo.get_security(store, isin) is None:
            securities_repo.insert_security(store, {
                "isin": isin, "symbol": symbol, "name": symbol, "currency": currency,
                "mic": mic, "source": "test"}, now)
        start = now.date() - timedelta(days=300)
        bars = [PriceBar(start + timedelta(days=i), price, high=price * 1.5)
                for i in range(299)]
        SqlitePriceHistory(store).write_history({isin: (bars, [])}, "test", now)
    market_repo.write_fx(store, [
        FxRate("USD", Decimal("0.92"), now.date(), now, "test"),
        FxRate("HKD", Decimal("0.118"), now.date(), now, "test")], now)
