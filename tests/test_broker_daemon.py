"""The daemon configured against the sandbox: broker connected, sandbox account readable."""

from __future__ import annotations

from collections.abc import Iterator
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest

from arduino_trader.adapters.sandbox.server import DEMO_PRIVATE_KEY, DEMO_PUBLIC_KEY, SandboxThread
from tests.broker_support import running_sandbox
from tests.daemon_harness import Client, ProbeDaemon, start_daemon, wait_for


@pytest.fixture
def sandbox(tmp_path: Path) -> Iterator[SandboxThread]:
    with running_sandbox(tmp_path / "sandbox.json") as thread:
        yield thread


def _env(url: str, **extra: str) -> dict[str, str]:
    return {"ARDUINO_TRADER_BROKER__KIND": "tradernet",
            "ARDUINO_TRADER_BROKER__BASE_URL": url,
            "ARDUINO_TRADER_TRADERNET_API_KEY": DEMO_PUBLIC_KEY,
            "ARDUINO_TRADER_TRADERNET_API_SECRET": DEMO_PRIVATE_KEY,
            "ARDUINO_TRADER_BROKER__READ_RETRIES": "0", **extra}


@pytest.fixture
def daemon_env(tmp_path: Path) -> Iterator[list[ProbeDaemon]]:
    started: list[ProbeDaemon] = []
    yield started
    for daemon in started:
        daemon.stop()


def _component(client: Client) -> dict[str, Any]:
    status, body = client.call("GET", "/api/system/status")
    assert status == 200
    return body["components"].get("broker", {})


def test_daemon_against_sandbox_is_connected_and_reads_the_account(
        tmp_path: Path, sandbox: SandboxThread, daemon_env: list[ProbeDaemon]) -> None:
    daemon = start_daemon(tmp_path / "data", env=_env(sandbox.url))
    daemon_env.append(daemon)
    client = Client(daemon)
    status, body = client.call("GET", "/api/system/tradernet")
    assert status == 200, body
    assert body["connected"] is True and body["broker"] == "tradernet"
    assert body["simulated"] is False and body["last_check"]
    assert "GetAllUserTexInfo" in sandbox.sandbox.requests
    wait_for(lambda: _component(client).get("level") == "ok", what="broker component ok")

    status, account = client.call("GET", "/api/broker/account")
    assert status == 200, account
    cash = {c["currency"]: Decimal(c["amount"]) for c in account["cash"]}
    assert cash == {"EUR": Decimal(10000), "HKD": Decimal("-12.5"), "USD": Decimal(2500)}
    assert {p["symbol"] for p in account["positions"]} == {"AAPL.US", "VWCE.EU"}
    assert account["simulated"] is False


def test_daemon_reports_a_broker_that_refuses_the_keys(
        tmp_path: Path, sandbox: SandboxThread, daemon_env: list[ProbeDaemon]) -> None:
    env = _env(sandbox.url, ARDUINO_TRADER_TRADERNET_API_SECRET="wrong")
    daemon = start_daemon(tmp_path / "data", env=env)
    daemon_env.append(daemon)
    client = Client(daemon)
    status, body = client.call("GET", "/api/system/tradernet")
    assert status == 200
    assert body["connected"] is False and "broker_auth_error" in body["message"]
    wait_for(lambda: _component(client).get("level") == "degraded", what="broker degraded")
    status, error = client.call("GET", "/api/broker/account")
    assert status == 503 and error["error"] == "broker_auth_error"


def test_daemon_with_unreachable_broker_is_not_connected(
        tmp_path: Path, daemon_env: list[ProbeDaemon]) -> None:
    env = _env("http://127.0.0.1:9", ARDUINO_TRADER_BROKER__TIMEOUT_S="1")
    daemon = start_daemon(tmp_path / "data", env=env)
    daemon_env.append(daemon)
    status, body = Client(daemon).call("GET", "/api/system/tradernet")
    assert status == 200 and body["connected"] is False
    assert "broker_unavailable" in body["message"]


def test_paper_broker_is_the_default(tmp_path: Path, daemon_env: list[ProbeDaemon]) -> None:
    daemon = start_daemon(tmp_path / "data")
    daemon_env.append(daemon)
    client = Client(daemon)
    status, body = client.call("GET", "/api/system/tradernet")
    assert status == 200 and body["connected"] is True and body["simulated"] is True
    status, account = client.call("GET", "/api/broker/account")
    assert status == 200 and account["simulated"] is True
    assert [(c["currency"], Decimal(c["amount"])) for c in account["cash"]] == \
        [("EUR", Decimal(10000))]
