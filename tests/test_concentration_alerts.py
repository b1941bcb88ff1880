"""Concentration alerts: shares of the whole portfolio (positions + cash), announced once
per change of level (error only when the hard limit is reached), and acknowledged by the
owner through the API."""

from __future__ import annotations

from collections.abc import Iterator
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
import structlog
from daemon_harness import Client, ProbeDaemon, start_daemon, wait_for
from hypothesis import given
from hypothesis import strategies as st

from arduino_trader.domain.allocation import ConcentrationAlert, Holding, concentration_alerts
from arduino_trader.domain.concentration_watch import level_of, transitions
from arduino_trader.protocols.broker import OrderRequest

# ----------------------------------------------------------------------------- domain


def test_a_position_is_measured_against_the_whole_portfolio() -> None:
    holdings = [Holding("AAPL.US", Decimal("4660"), "United States", "Technology"),
                Holding("BAC.US", Decimal("2670"), "United States", "Banks"),
                Holding("AMD.US", Decimal("2670"), "United States", "Semiconductors")]
    invested_only = concentration_alerts(holdings)
    assert ("position", "AAPL.US") in {(a.type, a.name) for a in invested_only}
    whole = concentration_alerts(holdings, Decimal("38041"))  # AAPL 9.7 % of 48 041
    assert whole == []


def _alert(name: str, level: int) -> ConcentrationAlert:
    current = {1: Decimal("0.12"), 2: Decimal("0.14"), 3: Decimal("0.15")}[level]
    return ConcentrationAlert("position", name, current, Decimal("0.15"), Decimal("0.12"),
                              "critical" if level >= 2 else "warning")


@given(st.lists(st.dictionaries(st.sampled_from("ABCD"), st.integers(1, 3), max_size=4),
                min_size=1, max_size=12))
def test_each_change_of_level_is_announced_exactly_once(
        checks: list[dict[str, int]]) -> None:
    known: dict[tuple[str, str], int] = {}
    for levels in checks:
        alerts = [_alert(name, level) for name, level in sorted(levels.items())]
        changes = transitions(known, alerts)
        expected = {("position", n) for n in set(levels) | {k[1] for k in known}
                    if levels.get(n, 0) != known.get(("position", n), 0)}
        assert {c.key for c in changes} == expected
        for c in changes:
            assert c.log_level == "error" if c.level == 3 else c.log_level != "error"
        known = {(a.type, a.name): level_of(a) for a in alerts}
        assert transitions(known, alerts) == []  # the same check again: silence


# ------------------------------------------------------------------ daemon and API
@pytest.fixture
def daemon(tmp_path: Path) -> Iterator[ProbeDaemon]:
    d = start_daemon(tmp_path / "state")
    try:
        yield d
    finally:
        d.gate.set()
        d.stop()


def _run_check(api: Client) -> dict[str, Any]:
    before = api.call("GET", "/api/system/jobs/concentration_check")[1]["runs"]
    code, _ = api.call("POST", "/api/system/jobs/concentration_check")
    assert code == 202

    def done() -> bool:
        state = api.call("GET", "/api/system/jobs/concentration_check")[1]
        return bool(state["runs"] > before and state["status"] == "idle")
    wait_for(done, 30, "concentration_check")
    state: dict[str, Any] = api.call("GET", "/api/system/jobs/concentration_check")[1]
    assert state["last_result"] == "ok", state
    return state


def test_alerts_are_announced_once_and_can_be_acknowledged(daemon: ProbeDaemon) -> None:
    api = Client(daemon)
    paper = daemon._broker_pair()[1]
    wait_for(lambda: api.call("GET", "/api/system/jobs/sync_securities_data")[1]["runs"] >= 1,
             30, "universe")
    daemon.io.run(paper.deposit("USD", Decimal("10000"), "test deposit"), 10)
    daemon.io.run(paper.place_order(OrderRequest("AAPL.US", "BUY", 60, 1)), 10)

    with structlog.testing.capture_logs() as logs:
        first = _run_check(api)
        second = _run_check(api)
    announced = [e for e in logs if e["event"] == "concentration_alert"
                 and e["name"] == "AAPL.US"]
    assert len(announced) == 1, announced  # two checks, one announcement
    assert announced[0]["log_level"] == "error" and announced[0]["needs_action"] is True, \
        announced
    keys = [(e["type"], e["name"]) for e in logs if e["event"] == "concentration_alert"]
    assert len(keys) == len(set(keys)), keys  # nothing announced twice
    assert all(e["log_level"] == "error" for e in logs if e.get("needs_action") is True)
    assert all(e["log_level"] == "warning" for e in logs if e.get("needs_action") is False)
    assert "AAPL.US" in first["last_summary"] and first["last_summary"] == \
        second["last_summary"]

    code, listed = api.call("GET", "/api/allocation/alerts")
    aapl = next(a for a in listed["alerts"] if a["name"] == "AAPL.US")
    assert code == 200 and aapl["type"] == "position" and aapl["needs_action"]
    assert aapl["acknowledged"] is False and aapl["level"] == 3

    code, acked = api.call("POST", "/api/allocation/alerts/position/AAPL.US/acknowledge")
    assert code == 200 and acked["acknowledged"] is True and acked["acknowledged_at"]
    assert api.call("POST", "/api/allocation/alerts/position/MSFT.US/acknowledge")[0] == 404
    assert api.call("POST", "/api/allocation/alerts/planet/AAPL.US/acknowledge")[0] == 404
    assert api.call("POST", "/api/allocation/alerts/position/AAPL.US/acknowledge",
                    token=None)[0] == 401
    assert "AAPL.US" not in _run_check(api)["last_summary"]  # acknowledged: out of it
    document = api.call("GET", "/api/openapi.json")[1]
    assert "post" in document["paths"]["/api/allocation/alerts/{type}/{name}/acknowledge"]

    # Much more cash: AAPL falls under every threshold and the alert clears (info).
    daemon.io.run(paper.deposit("USD", Decimal("100000"), "test deposit 2"), 10)
    with structlog.testing.capture_logs() as logs:
        _run_check(api)
    cleared = [e for e in logs if e["event"] == "concentration_alert_cleared"
               and e["name"] == "AAPL.US"]
    assert len(cleared) == 1 and cleared[0]["log_level"] == "info"
    listed = api.call("GET", "/api/allocation/alerts")[1]["alerts"]
    assert all(a["name"] != "AAPL.US" for a in listed)
