"""The rebalancing endpoints on a research daemon (bundled real history, paper broker):
per-symbol drift targets from the stored optimiser weights, calculate-trades with the
broker's or a given cash, execute-rebalance through the executor (a repeat is a
duplicate), bad input a 400 that changes nothing, and the OpenAPI declarations."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
from daemon_harness import Client, ProbeDaemon, start_daemon, wait_for

from arduino_trader.adapters.clock import ManualClock
from arduino_trader.adapters.store import plan_repo
from arduino_trader.daemon.api import order_guard
from arduino_trader.domain.planner.models import PlanResult

QUIET = {"ARDUINO_TRADER_PLANNER_DEBOUNCE_SECONDS": "3600",
         "ARDUINO_TRADER_JOB_PLANNER_MINUTES": "1440",
         "ARDUINO_TRADER_JOB_AUTONOMOUS_EXECUTION_ENABLED": "false"}
AAPL, AMD = "US0378331005", "US0079031078"
TABLES = ("trades", "order_journal", "plans", "recommendations", "paper_account")


def _scalar(d: ProbeDaemon, sql: str) -> int:
    row = d.store.fetch_one(sql)
    assert row is not None
    return int(row[0])


def _counts(d: ProbeDaemon) -> dict[str, int]:
    out = {}
    for table in TABLES:
        try:
            out[table] = _scalar(d, f"SELECT COUNT(*) FROM {table}")
        except Exception:  # a table another area may name differently
            continue
    return out


def _store_targets(d: ProbeDaemon, weights: dict[str, float]) -> int:
    """A stored plan whose optimiser gave ``weights`` (what every real plan stores)."""
    return int(plan_repo.store_plan(
        d.store, PlanResult("nothing_to_do", "test targets", target_weights=weights), "h",
        "test", {}, 1.0, d.clock.now()))


@pytest.fixture
def daemon(tmp_path: Path) -> Iterator[ProbeDaemon]:
    """A research daemon holding 20 AAPL bought through the executor, USD and EUR cash."""
    order_guard.clear_rate_limits()
    clock = ManualClock(datetime(2022, 12, 20, 15, 0, tzinfo=UTC))  # NYSE open
    d = start_daemon(tmp_path / "state", env=QUIET, clock=clock)
    try:
        wait_for(lambda: _scalar(d, "SELECT COUNT(*) FROM job_runs WHERE job = "
                                    "'sync_securities_data' AND finished_at IS NOT NULL") >= 1
                 and _scalar(d, "SELECT COUNT(*) FROM fx_rates WHERE currency = 'USD'") >= 1,
                 90, "bundled history and FX")
        paper = d._broker_pair()[1]
        d.io.run(paper.deposit("USD", Decimal("20000")), 10)
        d.io.run(paper.deposit("EUR", Decimal("10000")), 10)
        code, answer = Client(d).call("POST", "/api/trades/execute", {
            "symbol": AAPL, "side": "BUY", "quantity": 20, "confirm": "EXECUTE",
            "request_id": "seed"})
        assert code == 200 and answer["state"] == "filled", answer
        clock.advance(timedelta(minutes=61))
        yield d
    finally:
        d.stop()


@pytest.fixture
def api(daemon: ProbeDaemon) -> Client:
    return Client(daemon)


BAD_CASH: tuple[Any, ...] = ("-1", "abc", "1e12", "NaN", "Infinity", "")
CONFIRM = {"confirm": "EXECUTE"}


def test_routes_are_declared_in_the_openapi_document(api: Client) -> None:
    code, doc = api.call("GET", "/api/openapi.json")
    assert code == 200
    calc = doc["paths"]["/api/rebalancing/calculate-trades"]["get"]
    assert [p["name"] for p in calc["parameters"]] == ["available_cash"]
    execute = doc["paths"]["/api/rebalancing/execute-rebalance"]["post"]
    assert "available_cash" in execute["requestBody"]["content"]["application/json"][
        "schema"]["properties"]
    assert "/api/rebalancing/check-triggers" in doc["paths"]


def test_bad_cash_is_a_400_that_changes_nothing(daemon: ProbeDaemon, api: Client) -> None:
    before = _counts(daemon)
    for raw in BAD_CASH:
        if raw == "":
            continue
        code, body = api.call("GET", f"/api/rebalancing/calculate-trades?available_cash={raw}")
        assert (code, body["error"]) == (400, "invalid_cash"), (raw, body)
    for bad in ({"available_cash": -5}, {"available_cash": "ten"}, {"available_cash": None},
                {"available_cash": True}, {"available_cash": 10**12}, {"cash": 5}):
        code, body = api.call("POST", "/api/rebalancing/execute-rebalance",
                              {**CONFIRM, **bad})
        assert code == 400 and body["error"] in ("invalid_cash", "unknown_field"), (bad, body)
    assert api.call("POST", "/api/rebalancing/execute-rebalance", raw=b"[1]")[0] == 400
    assert api.call("POST", "/api/rebalancing/execute-rebalance", CONFIRM,
                    token=None)[0] == 401
    assert _counts(daemon) == before


def test_drift_targets_come_from_the_stored_optimiser_weights(daemon: ProbeDaemon,
                                                              api: Client) -> None:
    # before any plan nothing drifts (no targets: every bucket out of scope)
    code, triggers = api.call("GET", "/api/rebalancing/check-triggers?enabled=true"
                                     "&cash_threshold_multiplier=1000000")
    assert code == 200 and not triggers["triggered"], triggers
    # AAPL held without a target and AMD targeted but unheld both drift
    _store_targets(daemon, {"AAPL.US": 0.0, "AMD.US": 0.3})
    code, triggers = api.call("GET", "/api/rebalancing/check-triggers?enabled=true"
                                     "&cash_threshold_multiplier=1000000")
    assert code == 200 and triggers["triggered"], triggers
    assert any(r.startswith("AMD.US drift") for r in triggers["reasons"])
    assert any(r.startswith("AAPL.US drift") for r in triggers["reasons"])
    _store_targets(daemon, {"AAPL.US": 0.1, "AMD.US": 0.0})
    code, triggers = api.call("GET", "/api/rebalancing/check-triggers?enabled=true"
                                     "&cash_threshold_multiplier=1000000"
                                     "&drift_threshold=0.2")
    assert code == 200 and not triggers["triggered"], triggers
    assert api.call("GET", "/api/rebalancing/check-triggers?drift_threshold=x")[0] == 400


def test_calculate_then_execute_through_the_executor(daemon: ProbeDaemon,
                                                     api: Client) -> None:
    _store_targets(daemon, {"AMD.US": 0.1})
    code, view = api.call("GET", "/api/rebalancing/calculate-trades")
    assert code == 200, view
    sale = next(t for t in view["trades"] if t["symbol"] == "AAPL.US")
    assert sale["side"] == "SELL" and sale["quantity"] == 20  # untargeted: sold whole
    # AAPL targeted at its current weight: only AMD is bought
    plan_id = _store_targets(daemon, {"AAPL.US": float(sale["current_weight"]),
                                      "AMD.US": 0.1})
    code, view = api.call("GET", "/api/rebalancing/calculate-trades")
    assert code == 200 and view["plan_id"] == plan_id, view
    account = daemon.io.run(daemon._broker_pair()[0].account(), 10)
    usd = daemon.store.fetch_one(
        "SELECT eur_per FROM fx_rates WHERE currency = 'USD' ORDER BY day DESC LIMIT 1")
    assert usd is not None  # the default cash: every currency in EUR
    reserve = daemon.settings.current().typed.min_cash_reserve  # never spent
    assert Decimal(view["available_cash_eur"]) == account.cash_in("EUR") + account.cash_in(
        "USD") * Decimal(usd[0]) - reserve
    assert [(t["symbol"], t["side"]) for t in view["trades"]] == [("AMD.US", "BUY")], view
    amd = view["trades"][0]
    assert amd["isin"] == AMD and amd["quantity"] >= 1 and amd["bucket_id"] == "core"
    total = Decimal(view["total_value_eur"])
    assert Decimal(amd["value_eur"]) <= Decimal("0.1") * total
    code, small = api.call("GET", "/api/rebalancing/calculate-trades?available_cash=300")
    assert code == 200, small
    proceeds = sum(Decimal(t["value_eur"]) - Decimal(t["cost_eur"])
                   for t in small["trades"] if t["side"] == "SELL")
    assert sum(Decimal(t["value_eur"]) + Decimal(t["cost_eur"]) for t in small["trades"]
               if t["side"] == "BUY") <= 300 + proceeds
    before = _scalar(daemon, "SELECT COUNT(*) FROM trades WHERE symbol = 'AMD.US'")
    code, unconfirmed = api.call("POST", "/api/rebalancing/execute-rebalance", {})
    assert (code, unconfirmed["error"]) == (400, "confirmation_required"), unconfirmed
    assert _scalar(daemon, "SELECT COUNT(*) FROM trades WHERE symbol = 'AMD.US'") == before
    code, done = api.call("POST", "/api/rebalancing/execute-rebalance", CONFIRM)
    assert code == 200 and done["success"], done
    assert [(o["symbol"], o["status"]) for o in done["orders"]] == [("AMD.US", "placed")]
    assert done["orders"][0]["intent_key"].startswith(f"rebalance:{plan_id}:2022-12-20:")
    assert _scalar(daemon, "SELECT COUNT(*) FROM trades WHERE symbol = 'AMD.US'") > before
    # the account moved to the target: with the same cash nothing is left to buy
    code, again = api.call("GET", "/api/rebalancing/calculate-trades")
    assert code == 200 and not any(t["symbol"] == "AMD.US" for t in again["trades"]), again


def test_an_execution_never_spends_the_cash_reserve(daemon: ProbeDaemon, api: Client) -> None:
    _store_targets(daemon, {"AMD.US": 0.1})
    code, view = api.call("GET", "/api/rebalancing/calculate-trades")
    assert code == 200, view
    sale = next(t for t in view["trades"] if t["symbol"] == "AAPL.US")
    _store_targets(daemon, {"AAPL.US": float(sale["current_weight"]), "AMD.US": 0.1})
    reserve = daemon.settings.current().typed.min_cash_reserve
    spendable = Decimal(api.call("GET", "/api/rebalancing/calculate-trades")[1][
        "available_cash_eur"])
    code, changed = api.call("PUT", "/api/settings/min_cash_reserve",
                             {"value": str(reserve + spendable - 50)})
    assert code == 200, changed
    code, view = api.call("GET", "/api/rebalancing/calculate-trades")
    assert code == 200 and Decimal(view["available_cash_eur"]) == 50, view
    before = _counts(daemon)
    code, done = api.call("POST", "/api/rebalancing/execute-rebalance",
                          {**CONFIRM, "available_cash": "100000"})  # asked for more
    assert code == 200 and Decimal(done["available_cash_eur"]) == 50, done
    assert [t for t in done["trades"] if t["side"] == "BUY"] == [], done
    assert _counts(daemon) == before  # nothing sent, nothing journalled
