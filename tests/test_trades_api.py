"""The trades endpoints on a running daemon: manual execution behind the pipeline,
dry-run validation, the journal views, the kill switch; bad input changes nothing."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from daemon_harness import Client, ProbeDaemon, start_daemon

from arduino_trader.daemon.api import routes_trades


@pytest.fixture
def daemon(tmp_path: Path) -> Iterator[ProbeDaemon]:
    routes_trades._recent.clear()
    d = start_daemon(tmp_path / "state")
    yield d
    d.gate.set()
    d.stop()


@pytest.fixture
def api(daemon: ProbeDaemon) -> Client:
    return Client(daemon)


def _count(daemon: ProbeDaemon, table: str) -> int:
    row = daemon.io.run(daemon.store.fetch_one(f"SELECT COUNT(*) FROM {table}"), 5)
    assert row is not None
    return int(row[0])


ORDER = {"symbol": "DE0007164600", "side": "BUY", "quantity": 3, "confirm": "EXECUTE"}


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
    body = {k: v for k, v in ORDER.items() if k != "confirm"}
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
    audit = daemon.io.run(daemon.store.fetch_all(
        "SELECT actor, action FROM audit_log WHERE actor = 'kill-switch'"), 5)
    assert [tuple(r) for r in audit] == [("kill-switch", "trading_mode")]
