"""The satellite endpoints on the whole daemon (paper broker):
every route answers, bad input is a 4xx that writes nothing, the jobs are registered."""

from __future__ import annotations

from collections.abc import Iterator
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest

from tests.daemon_harness import Client, ProbeDaemon, start_daemon, wait_for

P = "/api/satellites"


@pytest.fixture
def daemon(tmp_path: Path) -> Iterator[ProbeDaemon]:
    d = start_daemon(tmp_path / "state")
    yield d
    d.gate.set()
    d.stop()


@pytest.fixture
def api(daemon: ProbeDaemon) -> Client:
    return Client(daemon)


def _ledger(daemon: ProbeDaemon) -> list[Any]:
    rows = daemon.store.fetch_all(
        "SELECT bucket_id, type, amount, currency FROM bucket_transactions ORDER BY id")
    return [tuple(r) for r in rows]


def _buckets(api: Client) -> dict[str, dict[str, Any]]:
    code, body = api.call("GET", f"{P}/buckets")
    assert code == 200
    return {b["id"]: b for b in body}


def _run_job(api: Client, name: str) -> dict[str, Any]:
    code, _ = api.call("POST", f"/api/system/jobs/{name}")
    assert code == 202
    wait_for(lambda: api.call("GET", f"/api/system/jobs/{name}")[1]["status"] == "idle",
             what=name)
    return api.call("GET", f"/api/system/jobs/{name}")[1]


def test_01_jobs_and_actor_are_wired(daemon: ProbeDaemon, api: Client) -> None:
    _, jobs = api.call("GET", "/api/system/jobs")
    names = {j["name"] for j in jobs["jobs"]}
    assert {"satellite_maintenance", "satellite_reconciliation",
            "satellite_evaluation"} <= names
    wait_for(lambda: (r := daemon.health()) is not None and "satellites" in r.actors,
             what="satellites actor in health")
    assert set(_buckets(api)) == {"core"}


def _step_02_reconciliation_job_initialises_from_paper_cash(daemon: ProbeDaemon,
                                                           api: Client) -> None:
    # the paper broker's opening deposit reaches core through the cash-flow actor
    assert _run_job(api, "cash_flow_sync")["last_result"] == "ok"
    job = _run_job(api, "satellite_reconciliation")
    assert job["last_result"] == "ok", job
    code, init = api.call("POST", f"{P}/reconcile/initialize")
    assert code == 200 and init == {"initialised": {}}
    code, summary = api.call("GET", f"{P}/balances/summary")
    assert code == 200 and summary == {"core": {"EUR": "10000"}}
    code, check = api.call("GET", f"{P}/reconcile/EUR/check")
    assert code == 200 and check["is_reconciled"] is True


def _step_03_create_and_bad_input_writes_nothing(daemon: ProbeDaemon, api: Client) -> None:
    for body in ({"id": "Bad Id", "name": "x"}, {"id": "s1"}, {"id": "s1", "name": "x",
                                                               "extra": 1},
                 {"id": "s1", "name": "x", "start_in_research": "no"}):
        code, err = api.call("POST", f"{P}/satellites", body)
        assert code == 400 and err["error"], body
    code, _ = api.call("POST", f"{P}/satellites", raw=b"{not json")
    assert code == 400
    assert set(_buckets(api)) == {"core"}
    code, s1 = api.call("POST", f"{P}/satellites", {"id": "s1", "name": "Momentum",
                                                    "start_in_research": False})
    assert code == 201 and s1["status"] == "accumulating"
    code, _ = api.call("POST", f"{P}/satellites", {"id": "s2", "name": "Dips"})
    assert code == 201
    code, dup = api.call("POST", f"{P}/satellites", {"id": "s2", "name": "Again"})
    assert code == 400 and dup["error"] == "invalid_bucket"
    code, one = api.call("GET", f"{P}/buckets/s2")
    assert code == 200 and one["status"] == "research"
    assert api.call("GET", f"{P}/buckets/nope")[0] == 404


def _step_04_budget_targets_and_lifecycle(api: Client) -> None:
    code, err = api.call("PATCH", f"{P}/buckets/s1", {"target_pct": "0.1"})
    assert code == 409 and err["error"] == "target_refused"       # budget still 0
    assert api.call("PUT", f"{P}/settings/satellite-budget?budget_pct=0.5")[0] == 409  # cap
    assert api.call("PUT", f"{P}/settings/satellite-budget?budget_pct=abc")[0] == 400
    assert api.call("PUT", f"{P}/settings/satellite-budget")[0] == 400
    code, alloc = api.call("PUT", f"{P}/settings/satellite-budget?budget_pct=0.2")
    assert code == 200 and alloc["satellite_budget_pct"] == "0.2"
    assert api.call("PATCH", f"{P}/buckets/s1", {})[0] == 400
    assert api.call("PATCH", f"{P}/buckets/s1", {"target_pct": "0.5"})[0] == 409
    assert api.call("PATCH", f"{P}/buckets/s1", {"target_pct": "x"})[0] == 400
    assert api.call("PATCH", f"{P}/buckets/nope", {"name": "y"})[0] == 404
    code, s1 = api.call("PATCH", f"{P}/buckets/s1", {"target_pct": "0.1", "notes": "n"})
    assert code == 200 and s1["target_pct"] == "0.1" and s1["notes"] == "n"
    assert _buckets(api)["core"]["target_pct"] == "0.9"
    code, s1 = api.call("POST", f"{P}/satellites/s1/activate")
    assert code == 200 and s1["status"] == "active"
    code, err = api.call("POST", f"{P}/buckets/s1/resume")
    assert code == 409 and err["error"] == "invalid_transition"
    assert api.call("POST", f"{P}/buckets/s2/pause")[1]["status"] == "paused"
    assert api.call("POST", f"{P}/buckets/s2/resume")[1]["status"] == "accumulating"
    assert api.call("POST", f"{P}/buckets/s2/hibernate")[1]["status"] == "hibernating"
    assert api.call("POST", f"{P}/buckets/core/hibernate")[0] == 409
    assert api.call("GET", f"{P}/settings/allocation")[1]["satellite_min_pct"] == "0.02"


def _step_05_settings_and_presets(api: Client) -> None:
    assert api.call("GET", f"{P}/satellites/s1/settings")[0] == 404
    code, saved = api.call("PUT", f"{P}/satellites/s1/settings", {"risk_appetite": 0.0})
    assert code == 200 and saved["risk_appetite"] == "0"
    assert api.call("PUT", f"{P}/satellites/s1/settings", {"risk_appetite": 2})[0] == 400
    assert api.call("PUT", f"{P}/satellites/s1/settings", {"nope": 1})[0] == 400
    assert api.call("PUT", f"{P}/satellites/core/settings", {})[0] == 400
    assert api.call("GET", f"{P}/satellites/s1/settings")[1]["risk_appetite"] == "0"
    _, presets = api.call("GET", f"{P}/presets")
    assert {p["name"] for p in presets["presets"]} >= {"momentum_hunter", "dip_buyer"}
    code, applied = api.call("POST", f"{P}/satellites/s1/apply-preset",
                             {"preset_name": "dip_buyer"})
    assert code == 200 and applied["preset"] == "dip_buyer"
    assert api.call("POST", f"{P}/satellites/s1/apply-preset", {"preset_name": "zzz"})[0] == 400
    code, missing = api.call("POST", f"{P}/satellites/s1/apply-preset", {})
    assert code == 400 and missing["error"] == "missing_field", missing
    code, extra = api.call("POST", f"{P}/satellites/s1/apply-preset",
                           {"preset_name": "dip_buyer", "preset": "x"})
    assert code == 400 and extra["error"] == "unknown_field", extra


def _step_06_deposit_transfer_and_ledger(daemon: ProbeDaemon, api: Client) -> None:
    before = _ledger(daemon)
    for body in ({"amount": "-5"}, {"amount": "1.001"}, {"amount": "x"},
                 {"amount": "10", "currency": "eur"}, {"currency": "EUR"},
                 {"amount": "10", "request_id": ""}):
        code, err = api.call("POST", f"{P}/balances/deposit", {"request_id": "bad", **body})
        assert code == 400 and err["error"] != "internal_error", body
    assert _ledger(daemon) == before
    code, dep = api.call("POST", f"{P}/balances/deposit",
                         {"amount": "1000", "request_id": "dep-1"})
    assert code == 200 and sum(Decimal(v) for v in dep["allocations"].values()) == 1000
    assert Decimal(dep["allocations"]["s1"]) == 1000   # s1 is far below its 10 % target
    again = api.call("POST", f"{P}/balances/deposit", {"amount": "1000", "request_id": "dep-1"})
    assert again[1]["applied"] is False
    code, err = api.call("POST", f"{P}/balances/transfer",
                         {"from_bucket_id": "s1", "to_bucket_id": "core", "amount": "5000",
                          "request_id": "tr-1"})
    assert code == 409 and err["error"] == "insufficient_funds"
    code, err = api.call("POST", f"{P}/balances/transfer",
                         {"from_bucket_id": "s1", "to_bucket_id": "s1", "amount": "5",
                          "request_id": "tr-2"})
    assert code == 409
    code, err = api.call("POST", f"{P}/balances/transfer",
                         {"from_bucket_id": "s1", "to_bucket_id": "ghost", "amount": "5",
                          "request_id": "tr-3"})
    assert code == 404
    code, moved = api.call("POST", f"{P}/balances/transfer",
                           {"from_bucket_id": "s1", "to_bucket_id": "core", "amount": "100",
                            "request_id": "tr-4"})
    assert code == 200 and moved == {"from_balance": "900", "to_balance": "10100",
                                     "currency": "EUR", "applied": True}
    code, rows = api.call("GET", f"{P}/buckets/s1/transactions?transaction_type=transfer_out")
    assert code == 200 and [r["amount"] for r in rows] == ["-100"]
    assert api.call("GET", f"{P}/buckets/s1/transactions?limit=0")[0] == 400
    assert api.call("GET", f"{P}/buckets/s1/transactions?transaction_type=zz")[0] == 400
    code, bal = api.call("GET", f"{P}/buckets/s1/balances")
    assert code == 200 and bal[0]["balance"] == "900"
    assert api.call("GET", f"{P}/reconcile/EUR/breakdown")[1] == {"core": "10100",
                                                                  "s1": "900"}
    # a broker deposit arrives through the cash-flow actor, split with this actor's
    # bucket facts: s1 fills its deficit (12000 x 0.10 - 900), the rest goes to core
    daemon.io.run(daemon._broker_pair()[1].deposit("EUR", Decimal("1000")), 10)
    assert _run_job(api, "cash_flow_sync")["last_result"] == "ok"
    summary = api.call("GET", f"{P}/balances/summary")[1]
    assert {k: Decimal(v["EUR"]) for k, v in summary.items()} == {
        "core": Decimal("10800"), "s1": Decimal("1200")}


def _step_07_reconcile_reports_and_corrects(daemon: ProbeDaemon, api: Client) -> None:
    before = _ledger(daemon)
    code, out = api.call("POST", f"{P}/reconcile", {"currency": "EUR",
                                                    "actual_balance": "12500"})
    assert code == 200 and out["status"] == "gap_reported" and _ledger(daemon) == before
    code, out = api.call("GET", f"{P}/reconcile/EUR/check?actual_balance=12003")
    assert code == 200 and out["difference"] == "-3" and _ledger(daemon) == before
    code, out = api.call("POST", f"{P}/reconcile", {"currency": "EUR",
                                                    "actual_balance": "12003"})
    assert code == 200 and out["status"] == "corrected"
    assert _ledger(daemon)[-1] == ("core", "reconciliation", "3", "EUR")
    assert api.call("POST", f"{P}/reconcile", {"currency": "E"})[0] == 400
    code, out = api.call("POST", f"{P}/reconcile", {"currency": "XYZ", "actual_balance": "5"})
    assert code == 400 and "XYZ" in out["message"]
    assert _ledger(daemon) == [*before, ("core", "reconciliation", "3", "EUR")]
    assert api.call("POST", f"{P}/reconcile", {})[0] == 400
    history = api.call("GET", f"{P}/reconcile/history")[1]
    assert [h["status"] for h in history[:2]] == ["corrected", "gap_reported"]


def _step_08_meta_allocator_values_and_jobs(api: Client) -> None:
    code, plan = api.call("GET", f"{P}/meta-allocator/preview")
    assert code == 200 and plan["applied"] is False
    code, plan = api.call("POST", f"{P}/meta-allocator/apply")
    assert code == 200 and plan["applied"] is True
    buckets = _buckets(api)
    total = sum(float(b["target_pct"]) for b in buckets.values())
    assert abs(total - 1) < 1e-9
    code, values = api.call("GET", f"{P}/values")
    assert code == 200 and set(values) == {"core", "s1", "s2"}
    assert _run_job(api, "satellite_maintenance")["last_result"] == "ok"
    assert _run_job(api, "satellite_evaluation")["last_result"] == "ok"


def _step_09_retire_needs_an_empty_paused_satellite(api: Client) -> None:
    assert api.call("POST", f"{P}/satellites/s1/retire")[0] == 409    # not paused
    api.call("POST", f"{P}/buckets/s1/pause")
    code, err = api.call("POST", f"{P}/satellites/s1/retire")
    assert code == 409 and "cash left" in err["message"]
    api.call("POST", f"{P}/balances/transfer",
             {"from_bucket_id": "s1", "to_bucket_id": "core", "amount": "1200",
              "request_id": "tr-5"})
    code, s1 = api.call("POST", f"{P}/satellites/s1/retire")
    assert code == 200 and s1["status"] == "retired" and s1["target_pct"] == "0"


def test_endpoints_end_to_end(daemon: ProbeDaemon, api: Client) -> None:
    """Reconcile from paper cash, create, budget, lifecycle, settings, presets, deposit,
    transfer, reconciliation, meta-allocator, jobs, retire — each with its refusals."""
    _step_02_reconciliation_job_initialises_from_paper_cash(daemon, api)
    _step_03_create_and_bad_input_writes_nothing(daemon, api)
    _step_04_budget_targets_and_lifecycle(api)
    _step_05_settings_and_presets(api)
    _step_06_deposit_transfer_and_ledger(daemon, api)
    _step_07_reconcile_reports_and_corrects(daemon, api)
    _step_08_meta_allocator_values_and_jobs(api)
    _step_09_retire_needs_an_empty_paused_satellite(api)


def test_10_mutations_need_the_token(api: Client) -> None:
    code, _ = api.call("POST", f"{P}/satellites", {"id": "s9", "name": "x"}, token=None)
    assert code == 401
    assert "s9" not in _buckets(api)


def test_11_securities_join_a_bucket_universe(daemon: ProbeDaemon, api: Client) -> None:
    code, _ = api.call("PUT", f"{P}/securities/XX0000000000/bucket", {"bucket_id": "s2"})
    assert code == 404
    assert api.call("PUT", f"{P}/securities/XX0000000000/bucket", {})[0] == 400
