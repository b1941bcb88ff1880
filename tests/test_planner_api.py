"""Planner endpoints on the whole daemon, research mode, on the bundled real history
(simulated clock inside it): explained recommendations, dismissal by portfolio hash,
status/regenerate, and plan → autonomous_execution → a research fill in the ledger."""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
from daemon_harness import Client, ProbeDaemon, start_daemon, wait_for
from reliability_support import wait_idle

from arduino_trader.adapters.clock import ManualClock
from arduino_trader.daemon.api import order_guard
from arduino_trader.daemon.scheduler import JobAlreadyRunning
from arduino_trader.protocols.planning import PlanSummary, RequestPlan

# Small, fast planning: depth 2, few sequences and paths; planning and execution are
# driven by the tests (the simulated clock jumps hours, which would make jobs due).
FAST = {"ARDUINO_TRADER_MAX_PLAN_DEPTH": "2", "ARDUINO_TRADER_PLANNER_MAX_SEQUENCES": "200",
        "ARDUINO_TRADER_MONTE_CARLO_PATH_COUNT": "20", "ARDUINO_TRADER_BEAM_WIDTH": "3",
        "ARDUINO_TRADER_PLANNER_HISTORY_DAYS": "800",
        "ARDUINO_TRADER_PLANNER_DEBOUNCE_SECONDS": "3600",
        "ARDUINO_TRADER_JOB_PLANNER_MINUTES": "1440",
        "ARDUINO_TRADER_JOB_AUTONOMOUS_EXECUTION_ENABLED": "false",
        # Fills land on the next close (2022-12-21: AAPL +2.4 %): the seed buys' limits
        # leave room for that day's move.
        "ARDUINO_TRADER_LIMIT_ORDER_BUFFER_PERCENT": "0.05"}


HELD = ("US0378331005", "US0079031078", "US0605051046")  # AAPL, AMD, BAC


def _scalar(d: ProbeDaemon, sql: str) -> int:
    row = d.store.fetch_one(sql)
    assert row is not None
    return int(row[0])


def _history_loaded(d: ProbeDaemon) -> bool:
    return _scalar(d, "SELECT COUNT(*) FROM job_runs WHERE job = 'sync_securities_data' "
                      "AND finished_at IS NOT NULL") >= 1 and \
        _scalar(d, "SELECT COUNT(*) FROM fx_rates WHERE currency = 'USD'") >= 1


@pytest.fixture
def daemon(tmp_path: Path) -> Iterator[ProbeDaemon]:
    """A research daemon holding three positions bought through the executor."""
    order_guard.clear_rate_limits()
    # Wednesday 2022-12-21 15:00 UTC: inside the bundled history, NASDAQ/NYSE open; the
    # newest published close is Tuesday's (the replay never shows a close before 16:00).
    clock = ManualClock(datetime(2022, 12, 21, 15, 0, tzinfo=UTC))
    d = start_daemon(tmp_path / "state", env=FAST, clock=clock)
    try:
        wait_for(lambda: _history_loaded(d), 90, "bundled history and FX")
        d.io.run(d._broker_pair()[1].deposit("USD", Decimal("20000")), 10)
        api = Client(d)
        for i, isin in enumerate(HELD):  # a small research portfolio, one trade an hour
            code, answer = api.call("POST", "/api/trades/execute", {
                "symbol": isin, "side": "BUY", "quantity": 20, "confirm": "EXECUTE",
                "request_id": f"seed-{i}"})
            assert code == 200 and answer["state"] == "filled", answer
            clock.advance(timedelta(minutes=61))
        d.clock_for_tests = clock  # type: ignore[attr-defined]
        yield d
    finally:
        d.stop()


@pytest.fixture
def api(daemon: ProbeDaemon) -> Client:
    return Client(daemon)


def _plan(d: ProbeDaemon) -> PlanSummary:
    summary = d.bus.ask("planner", RequestPlan("test"), 120)
    assert isinstance(summary, PlanSummary)
    return summary


def test_recommendations_are_explained_on_the_bundled_data(daemon: ProbeDaemon,
                                                           api: Client) -> None:
    summary = _plan(daemon)
    assert summary.ok and summary.status == "plan", summary
    code, view = api.call("GET", "/api/trades/recommendations")
    assert code == 200 and view["status"] == "plan", view
    assert view["portfolio_hash"] == summary.portfolio_hash and len(view["steps"]) >= 1
    first = view["steps"][0]
    assert first["step"] == 1 and first["side"] in ("BUY", "SELL")
    assert first["isin"].startswith("US") and first["quantity"] >= 1
    assert first["reason"] and first["score_breakdown"] and first["status"] == "pending"
    assert Decimal(first["estimated_value"]) > 0  # exact text, not a float
    assert view["total_score_improvement"] > 0 and view["evaluated_count"] > 1
    # the buy gates' refusals are shown as stored with the plan, each with its reason
    stored = daemon.store.fetch_one(
        "SELECT result_json FROM plans WHERE id = ?", (view["plan_id"],))
    assert view["refused_buys"] == json.loads(stored["result_json"])["refused_buys"]
    assert all(isinstance(r, str) and r for r in view["refused_buys"].values())
    assert view["forward_adjustment"] == 0.0  # the replay data has no ^VIX, ^TNX, ^IRX
    assert api.call("GET", "/api/planning/recommendations")[1]["steps"] == view["steps"]


def test_dismissal_sticks_for_the_same_portfolio(daemon: ProbeDaemon, api: Client) -> None:
    first = _plan(daemon)
    code, answer = api.call("POST", "/api/trades/recommendations/dismiss",
                            {"portfolio_hash": first.portfolio_hash})
    assert code == 200 and answer["dismissed"] == first.steps >= 1
    again = _plan(daemon)  # same portfolio: the dismissed steps stay hidden
    assert again.portfolio_hash == first.portfolio_hash
    assert api.call("GET", "/api/trades/recommendations")[1]["steps"] == []
    code, answer = api.call("POST", "/api/trades/recommendations/dismiss",
                            {"portfolio_hash": "not-a-hash"})
    assert (code, answer["error"]) == (400, "invalid_field")
    assert api.call("POST", "/api/trades/recommendations/dismiss",
                    {"portfolio_hash": first.portfolio_hash}, token=None)[0] == 401


def test_status_and_regenerate(daemon: ProbeDaemon, api: Client) -> None:
    before = _scalar(daemon, "SELECT COUNT(*) FROM plans")
    code, answer = api.call("POST", "/api/planner/regenerate")
    assert code == 202 and answer["job"] == "planner", answer
    wait_for(lambda: _scalar(daemon, "SELECT COUNT(*) FROM plans") > before, 60, "a new plan")
    wait_for(lambda: api.call("GET", "/api/planner/status")[1]["is_planning"] is False, 30,
             "planner idle")
    code, status = api.call("GET", "/api/planner/status")
    assert code == 200 and status["last_plan"]["trigger"] == "job:manual"
    assert status["portfolio_hash"] == status["last_plan"]["portfolio_hash"]
    assert status["pending"]["BUY"] + status["pending"]["SELL"] >= 1
    assert status["evaluated_count"] > 1
    wait_for(lambda: api.call("GET", "/api/planner/status")[1]["warmed_up"] is True, 60,
             "kernels warmed in the background")


def test_execute_needs_confirmation(api: Client) -> None:
    code, answer = api.call("POST", "/api/trades/recommendations/execute", {"confirm": "no"})
    assert (code, answer["error"]) == (400, "confirmation_required")
    assert api.call("POST", "/api/trades/recommendations/execute", {"confirm": "EXECUTE"},
                    token=None)[0] == 401


def test_a_job_that_sends_orders_needs_the_same_confirmation(daemon: ProbeDaemon,
                                                              api: Client) -> None:
    """Triggering ``autonomous_execution`` (or DRIP, or the emergency repair) through the
    jobs route is guarded like the execute route: no confirmation, no run, no order."""
    daemon.clock_for_tests.advance(timedelta(minutes=61))  # type: ignore[attr-defined]
    assert _plan(daemon).status == "plan"
    jobs = {j["name"]: j for j in api.call("GET", "/api/system/jobs")[1]["jobs"]}
    assert {n for n, j in jobs.items() if j["places_orders"]} == {
        "autonomous_execution", "dividend_reinvestment", "emergency_rebalance"}
    runs = jobs["autonomous_execution"]["runs"]
    trades = _scalar(daemon, "SELECT COUNT(*) FROM trades")
    for body in (None, {}, {"confirm": "yes"}):
        code, answer = api.call("POST", "/api/system/jobs/autonomous_execution", body)
        assert (code, answer["error"]) == (400, "confirmation_required"), (body, answer)
    assert api.call("GET", "/api/system/jobs/autonomous_execution")[1]["runs"] == runs
    assert _scalar(daemon, "SELECT COUNT(*) FROM trades") == trades
    code, started = api.call("POST", "/api/system/jobs/autonomous_execution",
                             {"confirm": "EXECUTE"})
    assert code == 202, started
    wait_for(lambda: api.call("GET", "/api/system/jobs/autonomous_execution")[1]["runs"]
             > runs, 60, "the confirmed run")
    # the hour advanced above made the hourly concentration check due as well: once it
    # has run, triggering it by hand needs no confirmation (it sends no orders)
    wait_idle(daemon, 60)
    assert api.call("POST", "/api/system/jobs/concentration_check")[0] == 202


def test_plan_then_autonomous_execution_fills_in_research(daemon: ProbeDaemon,
                                                          api: Client) -> None:
    """The stored step 1 goes through the executor to the paper broker: one research
    trade in the ledger, the recommendation marked executed, the sandbox untouched."""
    daemon.clock_for_tests.advance(timedelta(minutes=61))  # type: ignore[attr-defined]
    summary = _plan(daemon)
    assert summary.status == "plan", summary
    step = api.call("GET", "/api/trades/recommendations")[1]["steps"][0]
    assert daemon.scheduler is not None
    outcome = daemon.scheduler.run_now("autonomous_execution", "manual")
    assert outcome.ok and outcome.details["status"] == "placed", outcome
    assert outcome.details["state"] == "filled"
    assert outcome.details["intent_key"] == (
        f"plan:{summary.portfolio_hash}|1|{step['isin']}|{step['side']}|{step['quantity']}")
    _, trades = api.call("GET", "/api/trades")
    newest = trades["trades"][0]
    assert (newest["symbol"], newest["side"], newest["mode"]) == \
        (step["symbol"], step["side"], "research")
    assert len(trades["trades"]) == len(HELD) + 1
    row = daemon.store.fetch_one(
        "SELECT status FROM recommendations WHERE uuid = ?", (step["uuid"],))
    assert row is not None and row["status"] == "executed"
    # The portfolio moved: with steps of the old plan still pending, the next run
    # re-plans first; the frequency limit then holds any new order (blocked is reported
    # with its layer, and the step stays pending).
    stale = _scalar(daemon, "SELECT COUNT(*) FROM recommendations WHERE status = 'pending'")
    outcome = daemon.scheduler.run_now("autonomous_execution", "manual")
    assert outcome.ok and outcome.details.get("replanned") is (stale > 0), outcome
    if outcome.details.get("status") == "blocked":
        assert outcome.details["layer"] and outcome.details["code"]
    assert _scalar(daemon, "SELECT COUNT(*) FROM trades") == len(HELD) + 1


def test_optimizer_endpoints_show_the_plans_targets(daemon: ProbeDaemon, api: Client) -> None:
    code, answer = api.call("GET", "/api/optimizer")
    assert code == 200 and answer["status"] == "never_run" and answer["last_run"] is None
    assert answer["settings"]["min_trade_amount"] == "400.00"  # max(2 / 0.008, 400)
    code, answer = api.call("POST", "/api/optimizer/run")
    assert code == 200 and answer["success"] is True, answer
    result = answer["result"]
    assert result["total_stocks_optimized"] >= 2
    assert abs(sum(result["target_weights"].values()) - 1) < 0.2  # minus the cash reserve
    held = {a["symbol"] for a in result["top_adjustments"] if a["current_pct"] > 0}
    assert held <= {"AAPL.US", "AMD.US", "BAC.US"}
    assert all(a["direction"] == ("buy" if a["change_pct"] > 0 else "sell")
               for a in result["top_adjustments"])
    code, answer = api.call("GET", "/api/optimizer")
    assert answer["status"] == "ok" and answer["last_run"]["plan_id"] >= 1, answer
    assert api.call("POST", "/api/optimizer/run", token=None)[0] == 401


def test_an_optimiser_failure_is_a_failure_and_degrades_health(
        daemon: ProbeDaemon, api: Client, monkeypatch: pytest.MonkeyPatch) -> None:
    """What a plain install without ``packaging`` did: PyPortfolioOpt's import fails inside
    the optimiser; the API said ``success: true`` with the error inside, health stayed ok."""
    from arduino_trader.domain import optimizer

    def broken(*args: object, **kwargs: object) -> None:
        raise ModuleNotFoundError("No module named 'packaging'")

    monkeypatch.setattr(optimizer, "_optimize", broken)
    code, answer = api.call("POST", "/api/optimizer/run")
    assert code == 200 and answer["success"] is False, answer
    result = answer["result"]
    assert "packaging" in result["error"] and result["target_weights"] == {}
    assert result["target_reached"] is None
    code, answer = api.call("GET", "/api/optimizer")
    assert answer["status"] == "failed" and answer["last_run"]["success"] is False

    def optimizer_degraded() -> bool:
        body = api.call("GET", "/health", token=None)[1]
        return body["status"] == "degraded" and any(
            "optimizer" in r and "packaging" in r for r in body["reasons"])

    wait_for(optimizer_degraded, 10, "health degraded by the optimiser")
    monkeypatch.undo()
    code, answer = api.call("POST", "/api/optimizer/run")
    assert answer["success"] is True and answer["result"]["error"] is None, answer
    achieved = answer["result"]["achieved_return_pct"]
    assert answer["result"]["target_reached"] is (achieved >= 0.8 * 11.0 - 0.005)
    assert daemon.settings is not None
    daemon.settings.set("target_return_threshold_pct", 0.0, who="test")
    assert api.call("GET", "/api/optimizer")[1]["last_run"]["target_reached"] is True
    wait_for(lambda: not any("optimizer" in r for r in api.call(
        "GET", "/health", token=None)[1]["reasons"]), 10, "optimiser healthy again")


def test_a_blocked_step_stays_pending_and_names_the_layer(daemon: ProbeDaemon,
                                                          api: Client) -> None:
    assert daemon.settings is not None and daemon.scheduler is not None
    daemon.clock_for_tests.advance(timedelta(minutes=61))  # type: ignore[attr-defined]
    summary = _plan(daemon)
    assert summary.status == "plan", summary
    daemon.settings.set("max_trades_per_day", 3, who="test")  # 3 done
    outcome = daemon.scheduler.run_now("autonomous_execution", "manual")
    assert outcome.ok and outcome.details["status"] == "blocked", outcome
    assert outcome.details["layer"] == "frequency" and outcome.details["code"]
    pending = api.call("GET", "/api/trades/recommendations")[1]["steps"]
    assert pending and pending[0]["status"] == "pending"
    code, answer = api.call("POST", "/api/trades/recommendations/execute",
                            {"confirm": "EXECUTE"})
    assert code == 400 and answer["layer"] == "frequency", answer
    assert _scalar(daemon, "SELECT COUNT(*) FROM trades") == len(HELD)


def _score_universe_now(daemon: ProbeDaemon) -> None:
    """Run the score_universe job to its end (the fixture's clock made it due, so the
    scheduler may have started it already: then ours follows)."""
    assert daemon.scheduler is not None
    for _ in range(100):
        try:
            assert daemon.scheduler.run_now("score_universe", "manual").ok
            return
        except JobAlreadyRunning:
            wait_for(lambda: all(s["status"] != "running" for s in daemon.scheduler.states()
                                 if s["name"] == "score_universe"), 60, "score_universe")
    raise AssertionError("score_universe kept running")


def test_scores_endpoints_explain_each_security(daemon: ProbeDaemon, api: Client) -> None:
    code, answer = api.call("GET", "/api/scores/US88160R1014")  # a valid ISIN, not ours
    assert (code, answer["error"]) == (404, "not_scored")
    # The job's scores first (the clock stays put, so it is not due again), then a plan's:
    # every plan stores the scores it computed, over the job's.
    _score_universe_now(daemon)
    assert api.call("GET", f"/api/scores/{HELD[0]}")[1]["source"] == "job"
    _plan(daemon)
    code, answer = api.call("GET", "/api/scores")
    assert code == 200 and answer["count"] >= 3, answer
    totals = [s["total_score"] for s in answer["scores"]]
    assert totals == sorted(totals, reverse=True)
    assert set(answer["scores"][0]["group_scores"]) >= {"long_term", "fundamentals"}
    code, one = api.call("GET", f"/api/scores/{HELD[0]}")
    assert code == 200 and one["symbol"] == "AAPL.US" and one["source"] == "plan"
    assert one["breakdown"]["groups"]["long_term"]["components"]
    assert api.call("GET", "/api/scores/not-an-isin")[0] == 400


def test_a_cash_only_account_gets_its_first_buys(tmp_path: Path) -> None:
    """A new research account with 10,000 EUR + 5,000 USD: explained BUY steps."""
    order_guard.clear_rate_limits()
    clock = ManualClock(datetime(2022, 12, 20, 15, 0, tzinfo=UTC))
    d = start_daemon(tmp_path / "state", env=FAST, clock=clock)
    try:
        wait_for(lambda: _history_loaded(d), 90, "bundled history and FX")
        paper = d._broker_pair()[1]
        d.io.run(paper.deposit("EUR", Decimal("10000")), 10)
        d.io.run(paper.deposit("USD", Decimal("5000")), 10)
        summary = _plan(d)
        assert summary.status == "plan", summary
        code, view = Client(d).call("GET", "/api/trades/recommendations")
        assert code == 200 and view["steps"], view
        assert all(s["side"] == "BUY" and s["reason"].startswith("Buy ")
                   and s["score_breakdown"] and s["bucket_id"] == "core"
                   for s in view["steps"])
        assert view["total_score_improvement"] > 0
        assert view["buckets"] == [{"bucket_id": "core", "plan_id": view["plan_id"],
                                    "status": "plan", "reason": view["reason"]}]
    finally:
        d.stop()


def test_the_regime_is_served_with_its_components_and_smoothed_daily(
        daemon: ProbeDaemon, api: Client) -> None:
    code, answer = api.call("GET", "/api/planner/regime")
    assert code == 200 and answer["status"] == "none" and answer["history"] == []
    assert answer["thresholds"] == {"bull": 0.3, "bear": -0.3}
    doc = api.call("GET", "/api/openapi.json", token=None)[1]
    assert "components" in str(doc["paths"]["/api/planner/regime"]["get"])
    _plan(daemon)  # the S&P 500 of the bundled history, December 2022
    code, first = api.call("GET", "/api/planner/regime")
    assert code == 200 and first["status"] == "ok" and first["day"] == "2022-12-21", first
    assert set(first["components"]) == {"return", "volatility", "drawdown"}
    assert all(-1 <= v <= 1 for v in first["components"].values())
    assert first["score"] == first["raw"]  # nothing stored before: no smoothing yet
    stored = daemon.store.fetch_one(
        "SELECT inputs_json FROM plans ORDER BY id DESC LIMIT 1")
    assert json.loads(stored["inputs_json"])["regime_score"] == first["score"]
    daemon.clock_for_tests.advance(timedelta(days=1))  # type: ignore[attr-defined]
    _plan(daemon)
    code, second = api.call("GET", "/api/planner/regime")
    assert second["day"] == "2022-12-22" and len(second["history"]) == 2
    assert second["score"] == pytest.approx(0.1 * second["raw"] + 0.9 * first["score"])
    daemon.settings.set("market_regime_bull_threshold", 0.95, who="test")
    daemon.settings.set("market_regime_bear_threshold", -0.95, who="test")
    assert api.call("GET", "/api/planner/regime")[1]["label"] == "sideways"


ENERGY = ("CVX.US", "XOM.US", "RRC.US")


def _latest_result(d: ProbeDaemon) -> tuple[dict[str, Any], dict[str, Any]]:
    row = d.store.fetch_one("SELECT result_json, inputs_json FROM plans WHERE "
                                     "bucket_id = 'core' ORDER BY id DESC LIMIT 1")
    assert row is not None
    return json.loads(row["result_json"]), json.loads(row["inputs_json"])


def test_allocation_targets_set_through_the_api_change_the_plan(daemon: ProbeDaemon,
                                                                api: Client) -> None:
    """The owner's industry groups and targets reach the planner: the optimiser's group
    limits, rebalance candidates and the diversification score all follow them."""
    _plan(daemon)
    before, inputs = _latest_result(daemon)
    assert inputs["industry_targets"] == {}
    energy_before = sum(before["target_weights"].get(s, 0.0) for s in ENERGY)
    for name, members in (("Energy", ["Oil & Gas Integrated", "Oil & Gas E&P"]),
                          ("Tech", ["Consumer Electronics", "Semiconductors",
                                    "Software - Infrastructure"]),
                          ("Banks", ["Banks - Diversified"])):
        code, _ = api.call("PUT", "/api/allocation/groups/industry",
                           {"group_name": name, "industry_names": members})
        assert code == 200
    code, answer = api.call("PUT", "/api/allocation/groups/targets/industry",
                            {"targets": {"Energy": 0.4, "Tech": 0.3, "Banks": 0.3}})
    assert code == 200, answer
    _plan(daemon)
    after, inputs = _latest_result(daemon)
    assert inputs["industry_targets"] == {"Banks": 0.3, "Energy": 0.4, "Tech": 0.3}
    energy_after = sum(after["target_weights"].get(s, 0.0) for s in ENERGY)
    assert energy_before < 0.1 and energy_after > 0.2  # the group's lower limit binds
    assert not any(s["symbol"] in ENERGY for s in before["steps"])
    assert any(s["side"] == "BUY" and s["symbol"] in ENERGY for s in after["steps"])
    code, view = api.call("GET", "/api/trades/recommendations")
    assert any(s["symbol"] in ENERGY for s in view["steps"]), view["steps"]


def test_priority_multiplier_and_pending_dividend_bonus_reach_expected_returns(
        daemon: ProbeDaemon, api: Client) -> None:
    """Both are set through the API and change the expected returns the optimiser uses
    (shown by ``GET /api/optimizer``): μ × the security's multiplier, + its bonus."""
    _plan(daemon)
    base = api.call("GET", "/api/optimizer")[1]["last_run"]["expected_returns"]
    assert 0 < base["HD.US"] < 0.14 and base["MSFT.US"] < 0.25, base  # below the clamp
    code, _ = api.call("PUT", "/api/securities/US4370761029", {"priority_multiplier": 2.0})
    assert code == 200  # HD.US
    code, dividend = api.call("POST", "/api/dividends", {
        "symbol": "MSFT.US", "amount": "20", "currency": "EUR", "payment_date": "2022-12-15"})
    assert code == 201, dividend
    code, _ = api.call("POST", f"/api/dividends/{dividend['id']}/pending-bonus",
                       {"amount": "20"})
    assert code == 204
    _plan(daemon)
    _, inputs = _latest_result(daemon)
    # 20 EUR over max(position value 0, minimum trade 250 EUR), capped at 5 %
    assert inputs["dividend_bonuses"] == {"MSFT.US": 0.05}
    after = api.call("GET", "/api/optimizer")[1]["last_run"]["expected_returns"]
    assert after["MSFT.US"] == pytest.approx(base["MSFT.US"] + 0.05)
    assert after["HD.US"] > 1.9 * base["HD.US"]  # ×2 before the (unchanged) cost haircut
    assert after["PFE.US"] == pytest.approx(base["PFE.US"])  # others unchanged
