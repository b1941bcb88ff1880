"""The demo trades: started on a weekday in session, its first plan cycle sends at least
one research order (the seeded buys are dated at the last session's close, so they leave
today's trade limits alone); started on a closed market, it says when the next session
opens and what it will send then; its re-dated history sits on NYSE sessions."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any

import pytest
import structlog
from daemon_harness import Client, wait_for
from reliability_support import ShiftedClock

from arduino_trader.config.settings import load_settings
from arduino_trader.daemon.demo import DEMO_HOLDINGS, DemoDaemon, demo_settings
from arduino_trader.daemon.demo_timing import session_close, sessions_ending
from arduino_trader.daemon.service import DaemonOptions

AAPL = "US0378331005"
TUESDAY_IN_SESSION = datetime(2026, 1, 6, 16, 0, tzinfo=UTC)  # NYSE open 14:30-21:00 UTC
SATURDAY = datetime(2026, 1, 10, 12, 0, tzinfo=UTC)
MONDAY_OPEN = datetime(2026, 1, 12, 14, 30, tzinfo=UTC)


def _demo(tmp_path: Path, start: datetime) -> DemoDaemon:
    settings = demo_settings(load_settings(None, environ={}))
    daemon = DemoDaemon(DaemonOptions(settings=settings, data_dir=tmp_path / "state",
                                      clock=ShiftedClock(start), configure_logs=False,
                                      port_override=0, supervisor_backoff_s=0.2))
    daemon.start()
    return daemon


@pytest.fixture
def weekday(tmp_path: Path) -> Iterator[DemoDaemon]:
    daemon = _demo(tmp_path, TUESDAY_IN_SESSION)
    try:
        yield daemon
    finally:
        daemon.stop()


def _plan(api: Client) -> None:
    def planned() -> bool:
        plan = api.call("GET", "/api/trades/recommendations")[1]
        return bool(isinstance(plan, dict) and plan.get("steps"))
    wait_for(planned, 90, "a plan with recommendations")


def _run_job(api: Client, name: str) -> dict[str, Any]:
    before = api.call("GET", f"/api/system/jobs/{name}")[1]["runs"]
    assert api.call("POST", f"/api/system/jobs/{name}", {"confirm": "EXECUTE"})[0] == 202

    def done() -> bool:
        state = api.call("GET", f"/api/system/jobs/{name}")[1]
        return bool(state["runs"] > before and state["status"] == "idle")
    wait_for(done, 120, name)
    state: dict[str, Any] = api.call("GET", f"/api/system/jobs/{name}")[1]
    return state


@pytest.mark.slow
def test_on_a_weekday_the_first_plan_cycle_sends_a_research_order(
        weekday: DemoDaemon) -> None:
    api = Client(weekday)
    seeds = weekday.store.fetch_all(
        "SELECT executed_at FROM paper_trades ORDER BY trade_id")
    seeded_at = session_close(date(2026, 1, 5))  # Monday's close: the history's last day
    assert [r["executed_at"] for r in seeds] == [int(seeded_at.timestamp())] * len(
        DEMO_HOLDINGS)
    _plan(api)
    outcome = _run_job(api, "autonomous_execution")
    assert outcome["last_result"] == "ok", outcome
    assert "placed" in outcome["last_summary"], outcome["last_summary"]
    orders = api.call("GET", "/api/trades/orders")[1]["orders"]
    assert any(o["mode"] == "research" for o in orders), orders


def test_on_a_closed_market_the_demo_says_when_it_will_trade(tmp_path: Path) -> None:
    with structlog.testing.capture_logs() as logs:
        daemon = _demo(tmp_path, SATURDAY)
        try:
            wait_for(lambda: any(e["event"] == "demo_market_closed" for e in logs), 90,
                     "the demo's closed-market notice")
        finally:
            daemon.stop()
    said = next(e for e in logs if e["event"] == "demo_market_closed")
    assert said["next_open"] == MONDAY_OPEN.isoformat()
    assert said["will_send"] and said["will_send"][0].split()[0] in ("BUY", "SELL")
    assert MONDAY_OPEN.isoformat() in said["message"]


def test_redated_history_lands_on_exchange_sessions(weekday: DemoDaemon) -> None:
    api = Client(weekday)
    wait_for(lambda: api.call("GET", f"/api/securities/{AAPL}/prices?limit=5")[0] == 200
             and len(api.call("GET", f"/api/securities/{AAPL}/prices?limit=5")[1]["prices"])
             == 5, 60, "AAPL history")
    code, body = api.call("GET", f"/api/securities/{AAPL}/prices?start=2025-12-20&end=2026-01-05")
    days = [p["date"] for p in body["prices"]]
    assert code == 200 and days, body
    assert "2025-12-25" not in days and "2026-01-01" not in days
    assert days == [d.isoformat() for d in sessions_ending(date(2026, 1, 5), len(days))]
    assert days[-1] == "2026-01-05"  # ends yesterday: Monday's session
