"""Emergency recommendations on the whole daemon (research mode, bundled history, paper
broker): a negative USD balance with nothing to exchange from is repaired by a sale,
which is stored under a stable key and listed by GET /api/trades/recommendations with its
kind; the owner dismisses it through the dismissal route and it is not proposed again
until the situation changes; it never becomes the planner's plan or step 1, a new plan
does not wipe it, and no shortfall left resolves it."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
from daemon_harness import Client, ProbeDaemon, start_daemon, wait_for
from test_planner_api import FAST, _history_loaded

from arduino_trader.adapters.clock import ManualClock
from arduino_trader.daemon.api import order_guard
from arduino_trader.domain.emergency import EMERGENCY_PORTFOLIO_HASH
from arduino_trader.protocols.planning import PlanSummary, RequestPlan

AAPL = "US0378331005"


def _cash(d: ProbeDaemon, currency: str) -> Decimal:
    row = d.store.fetch_one("SELECT amount FROM paper_cash WHERE currency = ?",
                                     (currency,))
    return Decimal(row["amount"]) if row is not None else Decimal(0)


def _set_cash(d: ProbeDaemon, currency: str, amount: Decimal) -> None:
    d.io.run(d._broker_pair()[1].deposit(currency, amount - _cash(d, currency)), 10)


@pytest.fixture
def daemon(tmp_path: Path) -> Iterator[ProbeDaemon]:
    """A research daemon holding AAPL, with no EUR and USD at −100 after the buy."""
    order_guard.clear_rate_limits()
    clock = ManualClock(datetime(2022, 12, 20, 15, 0, tzinfo=UTC))  # NASDAQ open
    d = start_daemon(tmp_path / "state", env=FAST, clock=clock)
    try:
        wait_for(lambda: _history_loaded(d), 90, "bundled history and FX")
        d.io.run(d._broker_pair()[1].deposit("USD", Decimal("5000")), 10)
        code, answer = Client(d).call("POST", "/api/trades/execute", {
            "symbol": AAPL, "side": "BUY", "quantity": 10, "confirm": "EXECUTE",
            "request_id": "seed-aapl"})
        assert code == 200 and answer["state"] == "filled", answer
        _set_cash(d, "EUR", Decimal(0))
        _set_cash(d, "USD", Decimal("-100"))
        yield d
    finally:
        d.stop()


def _emergency(api: Client) -> dict[str, Any]:
    code, run = api.call("POST", "/api/rebalancing/emergency/run")
    assert code == 200, run
    return run


def _listed(api: Client) -> tuple[dict[str, Any], list[dict[str, Any]]]:
    code, view = api.call("GET", "/api/trades/recommendations")
    assert code == 200, view
    return view, view["emergency"]


def test_an_emergency_sale_is_stored_listed_dismissed_and_kept_apart_from_plans(
        daemon: ProbeDaemon) -> None:
    api = Client(daemon)
    run = _emergency(api)
    assert run["outcome"] == "unresolved" and set(run["shortfalls"]) == {"USD"}, run
    view, (rec,) = _listed(api)
    assert (rec["kind"], rec["symbol"], rec["side"], rec["bucket_id"]) == (
        "emergency", "AAPL.US", "SELL", "core")
    assert rec["portfolio_hash"] == EMERGENCY_PORTFOLIO_HASH and rec["status"] == "pending"
    assert rec["key"].startswith("emergency:") and rec["quantity"] >= 1
    assert all(s["kind"] == "plan" for s in view["steps"])
    # a second run in the same situation refreshes the same row (a stable key)
    _emergency(api)
    assert [r["key"] for r in _listed(api)[1]] == [rec["key"]]
    # never the planner's plan or its step 1; a new plan does not wipe it
    summary = daemon.bus.ask("planner", RequestPlan("test"), 120)
    assert isinstance(summary, PlanSummary) and summary.ok, summary
    view, emergency = _listed(api)
    assert view["portfolio_hash"] != EMERGENCY_PORTFOLIO_HASH
    assert [r["key"] for r in emergency] == [rec["key"]]
    assert all(s["kind"] == "plan" and s["portfolio_hash"] != EMERGENCY_PORTFOLIO_HASH
               for s in view["steps"])
    # the owner dismisses it through the dismissal route (a token is needed)
    body = {"portfolio_hash": EMERGENCY_PORTFOLIO_HASH, "key": rec["key"]}
    assert api.call("POST", "/api/trades/recommendations/dismiss", body, token=None)[0] == 401
    assert api.call("POST", "/api/trades/recommendations/dismiss",
                    {**body, "key": "plan:x"})[0] == 400
    code, answer = api.call("POST", "/api/trades/recommendations/dismiss", body)
    assert code == 200 and answer["dismissed"] == 1, answer
    assert _listed(api)[1] == []
    # the same situation: not proposed again
    _emergency(api)
    assert _listed(api)[1] == []
    # the situation changes (another 10 USD out): proposed again, under a new key
    _set_cash(daemon, "USD", Decimal("-110"))
    _emergency(api)
    (again,) = _listed(api)[1]
    assert again["symbol"] == "AAPL.US" and again["key"] != rec["key"]
    # dismissing every emergency recommendation at once, by the emergency hash
    code, answer = api.call("POST", "/api/trades/recommendations/dismiss",
                            {"portfolio_hash": EMERGENCY_PORTFOLIO_HASH})
    assert code == 200 and answer["dismissed"] == 1
    # money arrives: no shortfall, and nothing pending is left to act on
    _set_cash(daemon, "USD", Decimal("-110"))
    _set_cash(daemon, "USD", Decimal("-120"))
    _emergency(api)
    assert len(_listed(api)[1]) == 1
    _set_cash(daemon, "USD", Decimal("500"))
    assert _emergency(api)["outcome"] == "no_shortfall"
    assert _listed(api)[1] == []
    rows = daemon.store.fetch_all(
        "SELECT status, dismissed_by FROM emergency_recommendations ORDER BY created_at, key")
    assert sorted((r["status"], r["dismissed_by"]) for r in rows) == [
        ("dismissed", "resolved"), ("dismissed", "user"), ("dismissed", "user")]
