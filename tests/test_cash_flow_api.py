"""The cash-flow, dividend, rebalancing and allocation endpoints on a running daemon
(paper broker): each is served, does its real work, and bad input is a 4xx that writes
nothing."""

from __future__ import annotations

from collections.abc import Iterator
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
from daemon_harness import Client, ProbeDaemon, start_daemon, wait_for


@pytest.fixture
def daemon(tmp_path: Path) -> Iterator[ProbeDaemon]:
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


def test_sync_runs_the_job_and_a_resync_changes_nothing(daemon: ProbeDaemon,
                                                        api: Client) -> None:
    # the start-up run synced the paper account's opening deposit first
    wait_for(lambda: _count(daemon, "cash_flows") > 0 and not daemon.store.fetch_all(
        "SELECT 1 FROM job_runs WHERE job = 'cash_flow_sync' AND finished_at IS NULL"), 60,
        "the start-up cash-flow sync")
    stored = _count(daemon, "cash_flows")
    code, first = api.call("POST", "/api/cash-flows/sync")
    assert code == 200 and first["ok"], first
    assert first["synced"] == 0 and first["total_from_api"] == stored, (first, stored)
    code, again = api.call("POST", "/api/cash-flows/sync")
    assert code == 200 and again["synced"] == 0 and again["deposits_processed"] == 0
    assert _count(daemon, "cash_flows") == stored
    code, listed = api.call("GET", "/api/cash-flows?limit=5")
    assert code == 200 and listed["count"] == min(stored, 5)
    assert all("params_json" not in row for row in listed["cash_flows"])
    code, summary = api.call("GET", "/api/cash-flows/summary")
    assert code == 200 and {"total_transactions", "total_deposits_eur", "by_type"} <= set(
        summary)
    assert api.call("POST", "/api/cash-flows/sync", token=None)[0] == 401


def test_the_owners_sync_reads_the_whole_ledger_a_scheduled_one_its_recent_end(
        daemon: ProbeDaemon, api: Client) -> None:
    """Between daily full reads the scheduled sync reads only the newest rows; the
    owner's ``POST /api/cash-flows/sync`` always reads everything, so a movement the
    broker dated months back is booked when the owner asks."""
    wait_for(lambda: _count(daemon, "cash_flows") > 0 and not daemon.store.fetch_all(
        "SELECT 1 FROM job_runs WHERE job = 'cash_flow_sync' AND finished_at IS NULL"), 60,
        "the start-up cash-flow sync")
    now = int(daemon.clock.now().timestamp())
    day = 86_400
    with daemon.store.transaction() as tx:  # the paper account's older movements
        for n in range(60):
            tx.execute("INSERT INTO paper_cash_flows (type_code, amount, currency, at, "
                       "comment) VALUES ('deposit', ?, 'EUR', ?, 'older')",
                       (str(10 + n), now - (40 + 2 * n) * day))
    code, first = api.call("POST", "/api/cash-flows/sync")
    assert code == 200 and first["ledger_read"] == "full" and first["synced"] == 60, first
    assert daemon.scheduler is not None
    scheduled = daemon.scheduler.run_now("cash_flow_sync", "schedule")
    assert scheduled.details["ledger_read"] == "recent", scheduled
    with daemon.store.transaction() as tx:  # booked late, dated 90 days back
        tx.execute("INSERT INTO paper_cash_flows (type_code, amount, currency, at, comment) "
                   "VALUES ('deposit', '777', 'EUR', ?, 'late')", (now - 90 * day,))
    assert daemon.scheduler.run_now("cash_flow_sync", "schedule").details["synced"] == 0
    code, owners = api.call("POST", "/api/cash-flows/sync")
    assert code == 200 and owners["ledger_read"] == "full" and owners["synced"] == 1, owners
    assert len(daemon.store.fetch_all("SELECT 1 FROM cash_flows WHERE amount = '777'")) == 1


BAD_QUERIES = ("limit=0", "limit=10001", "limit=ten", "start_date=2026-01-01",
               "start_date=2026-02-01&end_date=2026-01-01",
               "start_date=01/01/2026&end_date=2026-02-01")


# KO.US is not in this daemon's universe: its ISIN is given (Coca-Cola's).
DIVIDEND = {"symbol": "KO.US", "isin": "US1912161007", "amount": "12.40", "currency": "EUR",
            "payment_date": "2026-03-02"}


BAD_DIVIDENDS: list[tuple[dict[str, Any], str]] = [
    ({**DIVIDEND, "amount": "-1"}, "invalid_field"),
    ({**DIVIDEND, "amount": "abc"}, "invalid_field"),
    ({**DIVIDEND, "currency": "usd!"}, "invalid_field"),
    # no such currency in the books: it would hold a balance nothing can value
    ({**DIVIDEND, "currency": "XYZ", "amount_eur": "12.40"}, "invalid_field"),
    ({**DIVIDEND, "currency": "USD"}, "missing_field"),  # no EUR value: never 1:1
    ({**DIVIDEND, "payment_date": "March"}, "invalid_field"),
    ({**DIVIDEND, "symbol": " "}, "invalid_field"),
    ({**DIVIDEND, "extra": 1}, "unknown_field"),
    ({**DIVIDEND, "amount": "0.0000001"}, "invalid_field"),  # whole cents
    ({**DIVIDEND, "amount_eur": "100000"}, "amount_mismatch"),  # EUR: its own amount
    ({**DIVIDEND, "payment_date": "2099-01-01"}, "future_payment_date"),  # nothing paid
    ({**DIVIDEND, "bucket_id": "ghost"}, "unknown_bucket"),
]


def test_dividend_endpoints(daemon: ProbeDaemon, api: Client) -> None:
    for query in BAD_QUERIES:
        code, body = api.call("GET", f"/api/cash-flows?{query}")
        assert (code, body["error"]) == (400, "invalid_query"), query
    for bad, error in BAD_DIVIDENDS:
        code, answer = api.call("POST", "/api/dividends", bad)
        assert (code, answer["error"]) == (400, error), answer
    assert _count(daemon, "dividend_history") == 0  # bad input wrote nothing
    code, created = api.call("POST", "/api/dividends", DIVIDEND)
    assert code == 201 and created["symbol"] == "KO.US" and not created["reinvested"]
    did = created["id"]
    code, again = api.call("POST", "/api/dividends", DIVIDEND)  # a client's retry
    assert (code, again["error"], again["existing_id"]) == (409, "duplicate_dividend", did)
    assert _count(daemon, "dividend_history") == 1
    assert api.call("GET", f"/api/dividends/{did}")[1]["amount_eur"] == "12.4"
    assert api.call("GET", "/api/dividends/abc")[0] == 400
    assert api.call("GET", "/api/dividends/99999")[0] == 404
    assert api.call("POST", f"/api/dividends/{did}/pending-bonus", {"amount": -1})[0] == 400
    assert api.call("POST", "/api/dividends/99999/pending-bonus", {"amount": 1})[0] == 404
    assert api.call("POST", f"/api/dividends/{did}/pending-bonus", {"amount": "12.40"})[0] \
        == 204
    code, pending = api.call("GET", "/api/dividends/pending-bonuses")
    assert code == 200 and {"symbol": "KO.US", "pending_bonus": "12.4"} in pending
    code, unreinvested = api.call("GET", "/api/dividends/unreinvested?min_amount_eur=10")
    assert code == 200 and did in [d["id"] for d in unreinvested["dividends"]]
    assert api.call("GET", "/api/dividends/unreinvested?min_amount_eur=x")[0] == 400
    code, huge = api.call("GET", "/api/dividends/unreinvested?min_amount_eur=1e-99999999")
    assert (code, huge["field"]) == (400, "min_amount_eur"), huge  # never expanded
    assert api.call("POST", f"/api/dividends/{did}/mark-reinvested", {"quantity": 0})[0] \
        == 400
    code, cleared = api.call("POST", "/api/dividends/clear-bonus/KO.US")
    assert code == 200 and cleared == {"symbol": "KO.US", "rows_affected": 1}
    assert api.call("POST", f"/api/dividends/{did}/mark-reinvested", {"quantity": 2})[0] \
        == 204
    assert api.call("GET", f"/api/dividends/{did}")[1]["reinvested"] is True
    assert api.call("GET", "/api/dividends/symbol/KO.US")[1]["count"] >= 1
    assert api.call("GET", "/api/dividends/analytics/total")[1]["KO.US"] == "12.40"
    code, rate = api.call("GET", "/api/dividends/analytics/reinvestment-rate")
    assert code == 200 and rate["rate"] == "1.0000"
    assert api.call("GET", "/api/dividends?limit=0")[0] == 400
    assert api.call("GET", "/api/dividends")[1]["count"] >= 1


def test_rebalancing_endpoints(daemon: ProbeDaemon, api: Client) -> None:
    # the paper account holds euros only: no rate is needed to value it
    code, check = api.call("GET", "/api/rebalancing/check-negative-balances")
    assert code == 200, check
    assert check == {"has_negative": False, "below_minimum": False, "shortfalls": {},
                     "total_shortfall_eur": "0.00"}
    code, run = api.call("POST", "/api/rebalancing/emergency/run")
    assert code == 200 and run["mode"] == "research", run
    code, runs = api.call("GET", "/api/rebalancing/emergency/runs")
    assert code == 200 and runs["runs"][0]["run_id"] == run["run_id"]
    code, triggers = api.call("GET", "/api/rebalancing/check-triggers?enabled=false")
    assert code == 200 and triggers["triggered"] is False, triggers
    assert api.call("GET", "/api/rebalancing/check-triggers?drift_threshold=-1")[0] == 400
    assert api.call("GET", "/api/rebalancing/check-triggers?enabled=maybe")[0] == 400


def test_allocation_groups_and_targets(daemon: ProbeDaemon, api: Client) -> None:
    assert api.call("PUT", "/api/allocation/groups/country",
                    {"group_name": "  ", "country_names": ["US"]})[0] == 400
    assert api.call("PUT", "/api/allocation/groups/planet", {"group_name": "X"})[0] == 404
    assert _count(daemon, "country_groups") == 0
    code, group = api.call("PUT", "/api/allocation/groups/country",
                           {"group_name": " NA ", "country_names": [" US", "US", "CA", ""]})
    assert code == 200 and group == {"group_name": "NA", "country_names": ["US", "CA"]}
    assert api.call("PUT", "/api/allocation/groups/country",
                    {"group_name": "EMPTY", "country_names": []})[0] == 200
    assert api.call("GET", "/api/allocation/groups/country")[1]["groups"] == {
        "EMPTY": [], "NA": ["CA", "US"]}
    bad_targets: list[dict[str, Any]] = [
        {"targets": {"NOPE": 0.5}}, {"targets": {"NA": 1.5}}, {"targets": {"NA": -0.1}},
        {"targets": {"NA": "x"}}, {"targets": []}, {"weights": {}},
        {"targets": {"NA": 0.6, "EMPTY": 0.41}}]
    for bad in bad_targets:
        assert api.call("PUT", "/api/allocation/groups/targets/country", bad)[0] == 400
    code, refused = api.call("PUT", "/api/allocation/groups/targets/country",
                             {"targets": {"NA": 0.6, "EMPTY": 0.41}})
    assert code == 400 and "sum to 1.01" in refused["message"], refused
    assert _count(daemon, "allocation_targets") == 0
    code, saved = api.call("PUT", "/api/allocation/groups/targets/country",
                           {"targets": {"NA": 0.6, "EMPTY": 0}})
    assert code == 200 and saved == {"weights": {"NA": "0.6"}, "count": 1}
    assert api.call("GET", "/api/allocation/targets")[1] == {"country": {"NA": "0.6"},
                                                             "industry": {}}
    assert api.call("DELETE", "/api/allocation/groups/country/NA")[1] == {"deleted": "NA"}
    assert api.call("DELETE", "/api/allocation/groups/country/NA")[0] == 404
    assert api.call("GET", "/api/allocation/targets")[1]["country"] == {}
    for path in ("/api/allocation/current", "/api/allocation/deviations",
                 "/api/allocation/groups/allocation"):
        code, body = api.call("GET", path)
        assert code == 200, (path, body)
    assert api.call("GET", "/api/allocation/current")[1]["alerts"] is not None
    assert "countries" in api.call("GET", "/api/allocation/groups/available/countries")[1]
    assert "industries" in api.call("GET", "/api/allocation/groups/available/industries")[1]


def test_trades_allocation_has_targets_and_deviations(daemon: ProbeDaemon, api: Client) -> None:
    assert api.call("PUT", "/api/allocation/groups/country",
                    {"group_name": "NA", "country_names": ["United States"]})[0] == 200
    assert api.call("PUT", "/api/allocation/groups/targets/country",
                    {"targets": {"NA": 0.6}})[0] == 200
    code, body = api.call("GET", "/api/trades/allocation")
    assert code == 200, body
    assert {"total_value", "cash_balance", "country", "industry", "alerts"} <= set(body)
    (na,) = [row for row in body["country"] if row["name"] == "NA"]
    assert {"target_pct", "current_pct", "current_value", "deviation"} <= set(na)
    assert na["target_pct"] == "0.6"


def test_allocation_overview_sets_current_against_the_planners_targets(
        daemon: ProbeDaemon, api: Client) -> None:
    assert api.call("PUT", "/api/allocation/groups/country",
                    {"group_name": "NA", "country_names": ["United States"]})[0] == 200
    assert api.call("PUT", "/api/allocation/groups/targets/country",
                    {"targets": {"NA": 0.6}})[0] == 200
    wait_for(lambda: Decimal(str(api.call("GET", "/api/satellites/values")[1]["core"][
        "value_eur"] or 0)) > 0, 30, "the opening cash booked in core's ledger")
    code, body = api.call("GET", "/api/allocation/overview")
    assert code == 200, body
    (na,) = [r for r in body["country"] if r["name"] == "NA"]
    assert Decimal(str(na["target_pct"])) == Decimal("0.6")
    for kind in ("country", "industry", "bucket"):
        for row in body[kind]:  # drift is current − target, on every row
            assert Decimal(str(row["deviation"])) == (Decimal(str(row["current_pct"]))
                                                      - Decimal(str(row["target_pct"])))
    code, buckets = api.call("GET", "/api/satellites/buckets")
    targets = {b["id"]: Decimal(str(b["target_pct"])) for b in buckets}
    rows = {r["name"]: r for r in body["bucket"]}
    assert set(rows) == set(targets) and body["missing"] == []
    assert all(Decimal(str(rows[b]["target_pct"])) == t for b, t in targets.items())
    # the paper account is all core's cash: core holds 100 % of the buckets' value
    assert Decimal(str(rows["core"]["current_pct"])) == 1
