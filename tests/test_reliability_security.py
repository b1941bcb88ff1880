"""Security review checks on a real daemon process against the sandbox.

The configured secrets (broker keys, the API token) never appear in a
log line or in the answer of any GET route, after a scenario that syncs, probes, trades
in research mode, changes a secret setting and provokes errors. The API binds loopback by
default and the restart endpoints are off unless configured.
"""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
from broker_support import running_sandbox

from arduino_trader.adapters.sandbox.server import DEMO_PRIVATE_KEY, DEMO_PUBLIC_KEY
from arduino_trader.config.settings import load_settings
from arduino_trader.daemon.api.app import ROUTERS

ROOT = Path(__file__).parent.parent
TOKEN = "tok-Reliability-7f3c9e21b4a8d605"
SECRETS = (DEMO_PUBLIC_KEY, DEMO_PRIVATE_KEY, TOKEN)


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class Proc:
    """The daemon as a child process; stdout (the JSON log) goes to a file."""

    def __init__(self, state: Path, url: str, log: Path) -> None:
        self.port = _free_port()
        env = {**os.environ, "ARDUINO_TRADER_API__PORT": str(self.port),
               "ARDUINO_TRADER_API__TOKEN": TOKEN,
               "ARDUINO_TRADER_BROKER__KIND": "tradernet",
               "ARDUINO_TRADER_BROKER__BASE_URL": url,
               "ARDUINO_TRADER_TRADERNET_API_KEY": DEMO_PUBLIC_KEY,
               "ARDUINO_TRADER_TRADERNET_API_SECRET": DEMO_PRIVATE_KEY,
               "ARDUINO_TRADER_LOG__LEVEL": "debug"}
        env.pop("ARDUINO_TRADER_CONFIG", None)
        self.base = f"http://127.0.0.1:{self.port}"
        self.log = log.open("wb")
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "arduino_trader", "run", "--data-dir", str(state)],
            env=env, cwd=ROOT, stdout=self.log, stderr=subprocess.STDOUT)
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            try:
                if self.call("GET", "/health")[0] in (200, 503):
                    return
            except OSError:
                time.sleep(0.1)
        raise AssertionError("daemon did not start")

    def call(self, method: str, path: str, body: Any = None, token: str | None = TOKEN,
             ) -> tuple[int, bytes]:
        data = None if body is None else json.dumps(body).encode()
        req = urllib.request.Request(self.base + path, data=data, method=method)
        req.add_header("Content-Type", "application/json")
        if token:
            req.add_header("Authorization", f"Bearer {token}")
        try:
            with urllib.request.urlopen(req, timeout=60) as resp:
                return resp.status, resp.read()
        except urllib.error.HTTPError as exc:
            return exc.code, exc.read()

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(20)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(5)
        self.log.close()


@pytest.fixture
def proc(tmp_path: Path) -> Iterator[tuple[Proc, Path]]:
    with running_sandbox(tmp_path / "sandbox.json") as sandbox:
        sandbox.sandbox.account.deposit("HKD", Decimal("100"), datetime.now(UTC))
        log = tmp_path / "daemon.log"
        p = Proc(tmp_path / "state", sandbox.url, log)
        try:
            yield p, log
        finally:
            p.stop()


def _get_routes() -> list[str]:
    """Every GET route without path parameters (plus the OpenAPI document)."""
    # Event streams never end; their payloads are the GET routes' and the bus events'.
    paths = {spec.path for router in ROUTERS for spec in router.routes
             if spec.method == "GET" and "{" not in spec.path
             and spec.content_type != "text/event-stream"}
    return sorted(paths | {"/api/openapi.json"})


@pytest.mark.slow
def test_secrets_never_in_logs_or_responses(proc: tuple[Proc, Path]) -> None:
    daemon, log = proc
    answers: dict[str, bytes] = {}
    # A scenario: jobs that call the broker, a research-mode order, a secret setting
    # changed (to the same value), bad tokens, bad input, a failing broker call.
    for job in ("broker_probe", "sync_cycle", "cash_flow_sync", "planner"):
        status, body = daemon.call("POST", f"/api/system/jobs/{job}", {})
        assert status in (200, 202, 409), body
        answers[f"POST jobs/{job}"] = body
    status, body = daemon.call("PUT", "/api/settings/tradernet_api_secret",
                               {"value": DEMO_PRIVATE_KEY})
    answers["PUT secret"] = body
    assert status == 200, body
    for token in (None, "wrong", TOKEN[:-1]):
        answers[f"bad token {token}"] = daemon.call("POST", "/api/trades/kill-switch",
                                                    {"confirm": "x"}, token=token)[1]
    answers["bad body"] = daemon.call("PUT", "/api/settings/tradernet_api_key",
                                      {"value": 12})[1]
    answers["order"] = daemon.call("POST", "/api/trades/execute", {
        "symbol": "AAPL.US", "side": "BUY", "quantity": 1, "confirm": "EXECUTE",
        "request_id": "security-1"})[1]
    time.sleep(1.0)
    for path in _get_routes():
        status, body = daemon.call("GET", path)
        assert status != 500, (path, status, body[:300])  # 503 = a declared outage
        answers[path] = body
    status, body = daemon.call("GET", "/api/system/logs?lines=1000")
    answers["logs"] = body
    for name, body in answers.items():
        text = body.decode(errors="replace")
        for secret in SECRETS:
            assert secret not in text, f"a secret appears in the answer of {name}"
    daemon.stop()
    lines = log.read_text(errors="replace").splitlines()
    assert len(lines) > 50, "the scenario logged almost nothing"
    for secret in SECRETS:
        leaks = [line for line in lines if secret in line]
        assert leaks == [], f"a secret appears in {len(leaks)} log lines: {leaks[0][:200]}"


def test_defaults_bind_loopback_and_keep_restart_off() -> None:
    settings = load_settings(None, environ={})
    assert settings.typed.api.host == "127.0.0.1"
    assert settings.typed.api.allow_restart is False
