"""The rehearsal as a newcomer runs it (``run --rehearse`` against the sandbox), on any
day: the planner's plan is executed live at the sandbox and every fill is recorded once."""

from __future__ import annotations

import os
import sqlite3
from collections.abc import Iterator
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
from broker_support import running_sandbox
from daemon_harness import Client
from live_rig import live_env
from reliability_support import wait_idle

from arduino_trader.adapters.market_data.calendars import MarketCalendars
from arduino_trader.adapters.sandbox.server import SandboxThread
from arduino_trader.config.settings import load_settings
from arduino_trader.daemon.api import order_guard
from arduino_trader.daemon.cli import main
from arduino_trader.daemon.rehearsal import (
    AlwaysOpenCalendars,
    RehearsalDaemon,
    rehearsal_settings,
)
from arduino_trader.daemon.scheduler import JobAlreadyRunning
from arduino_trader.daemon.service import DaemonOptions

SANDBOX_LISTED = {"US0378331005", "US5949181045"}  # AAPL.US, MSFT.US


def _daemon(data_dir: Path, env: dict[str, str]) -> RehearsalDaemon:
    settings = rehearsal_settings(load_settings(None, environ=env))
    return RehearsalDaemon(DaemonOptions(settings=settings, data_dir=data_dir,
                                         configure_logs=False, port_override=0,
                                         supervisor_backoff_s=0.2))


@pytest.fixture
def rehearsal(tmp_path: Path) -> Iterator[tuple[RehearsalDaemon, SandboxThread]]:
    order_guard.clear_rate_limits()
    with running_sandbox(tmp_path / "sandbox.json") as sandbox:
        sandbox.sandbox.account.deposit("HKD", Decimal("100"), sandbox.sandbox.now())
        # The sandbox lists two securities, so the universe-scaled position cap would be
        # 100 %: the plan would buy with the EUR cash too, through an exchange that keeps
        # weekend hours even in a rehearsal. A 15 % cap keeps the buy within the USD cash.
        env = {**live_env(sandbox.url), "ARDUINO_TRADER_POSITION_CAP_UNIVERSE_MULTIPLE": "0.3"}
        daemon = _daemon(tmp_path / "state", env)
        daemon.start()
        try:
            yield daemon, sandbox
        finally:
            daemon.stop()


def _run(daemon: RehearsalDaemon, job: str) -> Any:
    assert daemon.scheduler is not None
    for _ in range(5):
        wait_idle(daemon, 120)  # type: ignore[arg-type]
        try:
            return daemon.scheduler.run_now(job)
        except JobAlreadyRunning:
            continue
    raise AssertionError(f"{job} kept running")


def _rows(daemon: RehearsalDaemon, sql: str) -> list[dict[str, Any]]:
    with sqlite3.connect(f"file:{daemon.store.path}?mode=ro", uri=True, timeout=10) as conn:
        conn.row_factory = sqlite3.Row
        return [dict(r) for r in conn.execute(sql)]


def test_planner_orders_go_live_to_the_sandbox_and_fill_once(
        rehearsal: tuple[RehearsalDaemon, SandboxThread]) -> None:
    daemon, sandbox = rehearsal
    api = Client(daemon)  # type: ignore[arg-type]
    wait_idle(daemon, 120)  # type: ignore[arg-type]
    code, body = api.call("POST", "/api/settings/trading-mode",
                          {"mode": "live", "confirm": "ENABLE LIVE TRADING"})
    assert code == 200, body
    for job in ("sync_cycle", "sync_historical", "sync_prices", "planner"):
        assert _run(daemon, job).ok
    # The universe is what the sandbox lists, with the sandbox's own history.
    assert {r["isin"] for r in _rows(daemon, "SELECT isin FROM securities")} == SANDBOX_LISTED
    outcome = _run(daemon, "autonomous_execution")
    assert outcome.details.get("status") == "placed", outcome
    cid = int(outcome.details["order_id"])
    for _ in range(6):
        _run(daemon, "order_follow_up")
        (entry,) = _rows(daemon, f"SELECT * FROM orders WHERE client_order_id = {cid}")
        if entry["state"] == "filled":
            break
    assert entry["state"] == "filled" and entry["source"] == "autonomous", entry
    at_broker = [o for o in sandbox.sandbox.account.state["orders"]
                 if int(o["user_order_id"]) == cid]
    assert len(at_broker) == 1 and len(sandbox.sandbox.account.state["orders"]) == 1
    broker_fills = {int(t["id"]): Decimal(str(t["q"])) for t in at_broker[0]["trade"]}
    for _ in range(2):  # the account sync imports the broker's trades: nothing doubles
        assert _run(daemon, "sync_cycle").ok
    trades = _rows(daemon, "SELECT * FROM trades WHERE mode = 'live'")
    assert len({t["trade_key"] for t in trades}) == len(trades)
    assert sum(Decimal(t["quantity"]) for t in trades) == sum(broker_fills.values()) == 5
    assert all(t["broker_order_id"] == entry["broker_order_id"] for t in trades), trades


@pytest.mark.parametrize(("env", "reason"), [
    ({}, "--rehearse needs broker.kind"),
    ({"ARDUINO_TRADER_BROKER__KIND": "tradernet"}, "is not a loopback address"),
    ({"ARDUINO_TRADER_BROKER__KIND": "tradernet",
      "ARDUINO_TRADER_BROKER__BASE_URL": "http://trader.example.com:8765"},
     "is not a loopback address"),
])
def test_rehearse_refuses_anything_but_a_local_sandbox(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str],
        env: dict[str, str], reason: str) -> None:
    for key in [k for k in os.environ if k.startswith("ARDUINO_TRADER_")]:
        monkeypatch.delenv(key)
    for key, value in env.items():
        monkeypatch.setenv(key, value)
    assert main(["run", "--rehearse", "--data-dir", str(tmp_path / "state")]) == 1
    err = capsys.readouterr().err
    assert err.startswith("arduino-trader: cannot start: ") and reason in err, err
    assert not (tmp_path / "state" / "arduino-trader.db").exists()


def test_rehearsal_markets_are_open_on_a_sunday_night() -> None:
    sunday = datetime(2026, 3, 8, 23, 0, tzinfo=UTC)
    assert AlwaysOpenCalendars(today=sunday.date()).is_tradable("XNAS", sunday)
    assert not MarketCalendars(today=sunday.date()).is_tradable("XNAS", sunday)
