"""The trades endpoints on a running daemon: manual execution behind the pipeline,
dry-run validation, the journal views, the kill switch; bad input changes nothing."""

from __future__ import annotations

from collections.abc import Iterator
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
from daemon_harness import Client, ProbeDaemon, start_daemon

from arduino_trader.daemon.api import order_guard


@pytest.fixture
def daemon(tmp_path: Path) -> Iterator[ProbeDaemon]:
    order_guard.clear_rate_limits()
    d = start_daemon(tmp_path / "state")
    yield d
    d.gate.set()
    d.stop()


@pytest.fixture
def api(daemon: ProbeDaemon) -> Client:
    return Client(daemon)


def _count(daemon: ProbeDaemon, table: str) -> int:
    row = daemon.store.fetch_one(f"SELECT COUNT(*) FROM {table}")
    assert row is not None
    return int(row[0])


ORDER = {"symbol": "DE0007164600", "side": "BUY", "quantity": 3, "confirm": "EXECUTE",
         "request_id": "trades-1"}


@pytest.mark.parametrize(("body", "error"), [
    ({**ORDER, "confirm": None}, "confirmation_required"),
    ({k: v for k, v in ORDER.items() if k != "confirm"}, "confirmation_required"),
    ({**ORDER, "side": "HOLD"}, "invalid_field"),
    ({**ORDER, "quantity": "three"}, "invalid_field"),
    ({**ORDER, "quantity": 2.5}, "invalid_field"),
    ({**ORDER, "quantity": 0}, "invalid_field"),
    ({**ORDER, "quantity": -4}, "invalid_field"),
    ({**ORDER, "quantity": 1_000_001}, "invalid_field"),
    ({**ORDER, "extra": 1}, "unknown_field"),
    ({"side": "BUY", "quantity": 1, "confirm": "EXECUTE"}, "missing_field"),
    ({k: v for k, v in ORDER.items() if k != "request_id"}, "missing_field"),
])
def test_bad_orders_are_refused_and_write_nothing(daemon: ProbeDaemon, api: Client,
                                                  body: dict[str, Any], error: str) -> None:
    code, answer = api.call("POST", "/api/trades/execute", body)
    assert (code, answer["error"]) == (400, error), answer
    assert _count(daemon, "orders") == 0 and _count(daemon, "order_rejections") == 0


def test_pipeline_rejections_map_to_status_codes(daemon: ProbeDaemon, api: Client) -> None:
    code, answer = api.call("POST", "/api/trades/execute", {**ORDER, "symbol": "NOT-AN-ISIN"})
    assert (code, answer["error"], answer["layer"]) == (400, "isin_invalid", "security")
    code, answer = api.call("POST", "/api/trades/execute", ORDER)
    assert (code, answer["error"]) == (404, "security_unknown")
    assert _count(daemon, "orders") == 0  # nothing reached the journal
    _, listed = api.call("GET", "/api/trades/rejections")
    assert [r["code"] for r in listed["rejections"]] == ["security_unknown", "isin_invalid"]


def test_validate_is_a_dry_run(daemon: ProbeDaemon, api: Client) -> None:
    body = {k: v for k, v in ORDER.items() if k not in ("confirm", "request_id")}
    code, answer = api.call("POST", "/api/trades/validate", body)
    assert code == 404 and answer["layer"] == "security"
    assert _count(daemon, "orders") == 0


def test_execution_needs_the_token(api: Client) -> None:
    assert api.call("POST", "/api/trades/execute", ORDER, token=None)[0] == 401
    assert api.call("POST", "/api/trades/kill-switch", {"confirm": "STOP TRADING"},
                    token="nope")[0] == 403


def test_execution_is_rate_limited(api: Client) -> None:
    codes = [api.call("POST", "/api/trades/execute", ORDER)[0] for _ in range(11)]
    assert codes[:10] == [404] * 10 and codes[10] == 429


def test_lists_are_bounded(api: Client) -> None:
    assert api.call("GET", "/api/trades")[1] == {"trades": []}
    assert api.call("GET", "/api/trades/orders?limit=5")[1] == {"orders": []}
    code, answer = api.call("GET", "/api/trades?limit=100000")
    assert (code, answer["error"]) == (400, "invalid_query")


def test_kill_switch_forces_research_and_cancels(daemon: ProbeDaemon, api: Client) -> None:
    code, answer = api.call("POST", "/api/trades/kill-switch", {"confirm": "yes"})
    assert (code, answer["error"]) == (400, "confirmation_required")
    code, answer = api.call("POST", "/api/trades/kill-switch", {"confirm": "STOP TRADING"})
    assert code == 200, answer
    assert answer["trading_mode"] == "research" and answer["errors"] == []
    audit = daemon.store.fetch_all(
        "SELECT actor, action FROM audit_log WHERE actor = 'kill-switch'")
    assert [tuple(r) for r in audit] == [("kill-switch", "trading_mode")]


def test_research_order_runs_the_whole_path_on_the_paper_broker(tmp_path: Path) -> None:
    """Research mode against the sandbox: the pipeline, journal and ledger all run, the
    fill is simulated by the paper broker, and the sandbox never sees an order."""
    from datetime import UTC, datetime

    from broker_support import running_sandbox
    from daemon_harness import wait_for

    from arduino_trader.adapters.clock import ManualClock
    from arduino_trader.adapters.sandbox.server import DEMO_PRIVATE_KEY, DEMO_PUBLIC_KEY

    # Inside the bundled history: Tuesday 2022-12-20, 16:00 UTC, NASDAQ open.
    clock = ManualClock(datetime(2022, 12, 20, 16, 0, tzinfo=UTC))
    with running_sandbox() as sandbox:
        env = {"ARDUINO_TRADER_BROKER__KIND": "tradernet",
               "ARDUINO_TRADER_BROKER__BASE_URL": sandbox.url,
               "ARDUINO_TRADER_TRADERNET_API_KEY": DEMO_PUBLIC_KEY,
               "ARDUINO_TRADER_TRADERNET_API_SECRET": DEMO_PRIVATE_KEY}
        d = start_daemon(tmp_path / "state", env=env, clock=clock)
        try:
            api = Client(d)
            wait_for(lambda: _count(d, "price_history") > 1000, 60, "bundled history")
            paper = d._broker_pair()[1]
            d.io.run(paper.deposit("USD", Decimal("5000")), 10)
            aapl = {"symbol": "US0378331005", "side": "BUY", "quantity": 2,
                    "confirm": "EXECUTE", "request_id": "research-1"}
            code, answer = api.call("POST", "/api/trades/execute", aapl)
            assert code == 200 and answer["status"] == "placed", answer
            assert answer["mode"] == "research" and answer["state"] == "filled"
            _, trades = api.call("GET", "/api/trades")
            assert [(t["symbol"], t["side"], t["mode"]) for t in trades["trades"]] == \
                [("AAPL.US", "BUY", "research")]
            # The same request again is answered from the journal, not placed twice.
            assert api.call("POST", "/api/trades/execute", aapl)[1]["status"] == "duplicate"
            # A second buy right away is held by the frequency limit, as it would be live.
            code, answer = api.call("POST", "/api/trades/execute",
                                    {**aapl, "symbol": "US0079031078", "request_id": "r-2"})
            assert (code, answer["error"]) == (400, "frequency_min_interval"), answer
        finally:
            d.stop()
        assert "putTradeOrder" not in sandbox.sandbox.requests


def test_kill_switch_cli(daemon: ProbeDaemon, capsys: pytest.CaptureFixture[str]) -> None:
    from arduino_trader.daemon.cli import main

    url = f"http://127.0.0.1:{daemon.port}"
    assert main(["kill-switch", "--data-dir", str(daemon.data_dir), "--url", url]) == 0
    assert '"trading_mode": "research"' in capsys.readouterr().out
    assert main(["kill-switch", "--data-dir", str(daemon.data_dir / "nowhere"),
                 "--url", url]) == 1  # no token file: refused before any request
