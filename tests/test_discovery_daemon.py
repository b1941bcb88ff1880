"""Security discovery end to end: the daemon against the broker sandbox on 127.0.0.1
(``getTopSecurities`` + ``tickerFinder``) with a replay price file as the market-data
source. Candidates are found, scored, proposed within the monthly cap, approved into the
universe or rejected for good, through the admin API."""

from __future__ import annotations

import math
import urllib.request
from collections.abc import Iterator
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from daemon_harness import Client, ProbeDaemon, start_daemon, wait_for
from prometheus_client.parser import text_string_to_metric_families

from arduino_trader.adapters.sandbox.server import DEMO_PRIVATE_KEY, DEMO_PUBLIC_KEY, SandboxThread
from tests.broker_support import running_sandbox

AAPL, MSFT = "US0378331005", "US5949181045"
JOB = "security_discovery"


def write_prices(path: Path, drifts: dict[str, float], days: int = 700) -> None:
    """Weekday closes ending yesterday: a steady trend per ticker (seeded noise)."""
    end = datetime.now(UTC).date() - timedelta(days=1)
    out: list[date] = []
    day = end
    while len(out) < days:
        if day.weekday() < 5:
            out.append(day)
        day -= timedelta(days=1)
    out.reverse()
    rng = np.random.default_rng(7)
    columns = {}
    for ticker, drift in drifts.items():
        steps = drift / 252 + 0.12 / math.sqrt(252) * rng.standard_normal(days)
        columns[ticker] = 100 * np.exp(np.cumsum(steps))
    lines = ["Date," + ",".join(drifts)]
    lines += [f"{d.isoformat()}," + ",".join(f"{columns[t][i]:.4f}" for t in drifts)
              for i, d in enumerate(out)]
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")


@pytest.fixture
def sandbox(tmp_path: Path) -> Iterator[SandboxThread]:
    with running_sandbox(tmp_path / "sandbox.json") as thread:
        yield thread


@pytest.fixture
def daemon(tmp_path: Path, sandbox: SandboxThread) -> Iterator[ProbeDaemon]:
    prices = tmp_path / "prices.csv"
    write_prices(prices, {"AAPL": 0.30, "MSFT": 0.05})  # scores ~0.51 and ~0.47
    env = {"ARDUINO_TRADER_BROKER__KIND": "tradernet",
           "ARDUINO_TRADER_BROKER__BASE_URL": sandbox.url,
           "ARDUINO_TRADER_TRADERNET_API_KEY": DEMO_PUBLIC_KEY,
           "ARDUINO_TRADER_TRADERNET_API_SECRET": DEMO_PRIVATE_KEY,
           "ARDUINO_TRADER_BROKER__READ_RETRIES": "0",
           "ARDUINO_TRADER_BROKER__REQUESTS_PER_MINUTE": "600",
           "ARDUINO_TRADER_BROKER__BURST": "50",
           "ARDUINO_TRADER_MARKET_DATA__REPLAY_PRICES_FILE": str(prices),
           "ARDUINO_TRADER_SECURITY_DISCOVERY_MIN_VOLUME": "0"}
    d = start_daemon(tmp_path / "state", env=env)
    yield d
    d.gate.set()
    d.stop()


def run_job(api: Client) -> dict[str, Any]:
    """Trigger the discovery and wait for its run to finish; the job's state."""
    before = api.call("GET", f"/api/system/jobs/{JOB}")[1]["runs"]
    code, body = api.call("POST", f"/api/system/jobs/{JOB}", {})
    assert code == 202, body

    def done() -> bool:
        state = api.call("GET", f"/api/system/jobs/{JOB}")[1]
        return bool(state["runs"] > before and state["status"] == "idle")
    wait_for(done, 60, "discovery run")
    state: dict[str, Any] = api.call("GET", f"/api/system/jobs/{JOB}")[1]
    return state


def setting(api: Client, key: str, value: Any) -> None:
    code, body = api.call("PUT", f"/api/settings/{key}", {"value": value})
    assert code == 200, body


def candidates(api: Client, status: str | None = None) -> dict[str, dict[str, Any]]:
    path = "/api/universe/discovery" + (f"?status={status}" if status else "")
    code, body = api.call("GET", path)
    assert code == 200, body
    return {c["symbol"]: c for c in body["candidates"]}


def universe(api: Client) -> set[str]:
    code, body = api.call("GET", "/api/securities")
    assert code == 200, body
    rows = body["securities"] if isinstance(body, dict) else body
    return {r["isin"] for r in rows if r.get("active", True)}


def test_discovery_proposes_within_limits_and_the_owner_decides(
        daemon: ProbeDaemon, sandbox: SandboxThread) -> None:
    api = Client(daemon)
    job = api.call("GET", f"/api/system/jobs/{JOB}")[1]
    assert "-15T02:00" in job["next_run"]  # the 15th at job_security_discovery_hour
    setting(api, "job_security_discovery_hour", 5)
    assert "-15T05:00" in api.call("GET", f"/api/system/jobs/{JOB}")[1]["next_run"]
    assert universe(api) == set()

    # Geography: US issuers are left out when only EU is configured.
    setting(api, "security_discovery_geographies", "EU")
    state = run_job(api)
    assert state["last_result"] == "ok", state["last_summary"]
    assert "getTopSecurities" in sandbox.sandbox.requests
    assert "proposed []" in state["last_summary"] and candidates(api) == {}
    assert "AAPL.US: region US is not one of ['EU']" in state["last_summary"]
    assert "SAP.EU: the source cannot identify it (unknown_symbol" in state["last_summary"]
    setting(api, "security_discovery_geographies", "EU,US,ASIA")

    # Exchanges: only Europe is screened (SAP and ASML have no replay prices).
    setting(api, "security_discovery_exchanges", "europe")
    state = run_job(api)
    assert "{'europe': 'broker'}" in state["last_summary"] and candidates(api) == {}
    setting(api, "security_discovery_exchanges", "usa,europe")

    # Threshold: the replay has no fundamentals, so these score about 0.5.
    setting(api, "security_discovery_score_threshold", 0.9)
    state = run_job(api)
    assert "below 0.9: 2" in state["last_summary"] and candidates(api) == {}

    # Cap: one a month, the best first; a re-run proposes nothing more.
    setting(api, "security_discovery_score_threshold", 0.45)
    setting(api, "security_discovery_max_per_month", 1)
    state = run_job(api)
    assert "over the monthly cap: 1" in state["last_summary"], state["last_summary"]
    first = candidates(api, "pending")
    assert set(first) == {"AAPL.US"} and first["AAPL.US"]["isin"] == AAPL
    assert first["AAPL.US"]["score"] >= 0.45 and first["AAPL.US"]["region"] == "US"
    assert first["AAPL.US"]["exchange"] == "usa" and first["AAPL.US"]["source"] == "broker"
    run_job(api)
    assert candidates(api) == first  # idempotent: same rows, nothing added
    assert universe(api) == set()  # manual review is on by default: nothing joined

    setting(api, "security_discovery_max_per_month", 2)
    run_job(api)
    assert set(candidates(api, "pending")) == {"AAPL.US", "MSFT.US"}

    # Approve: behind the token, bad input refused, then onboarded into the universe.
    assert api.call("POST", f"/api/universe/discovery/{AAPL}/approve", token=None)[0] == 401
    code, err = api.call("POST", "/api/universe/discovery/NOTANISIN/approve")
    assert code == 400 and err["error"] == "invalid_isin"
    code, err = api.call("POST", "/api/universe/discovery/US0000000001/approve")
    assert code == 400  # fails its check digit
    code, err = api.call("POST", "/api/universe/discovery/DE0007164600/approve")
    assert code == 404 and err["error"] == "unknown_candidate"
    assert set(candidates(api, "pending")) == {"AAPL.US", "MSFT.US"}  # untouched
    code, body = api.call("POST", f"/api/universe/discovery/{AAPL}/approve")
    assert code == 200, body
    assert body["candidate"]["status"] == "approved" and body["security"]["isin"] == AAPL
    assert universe(api) == {AAPL}
    code, err = api.call("POST", f"/api/universe/discovery/{AAPL}/approve")
    assert code == 409 and err["error"] == "not_pending"

    # Reject: bad bodies refused with nothing changed, then rejected for good.
    for bad in ({"reason": 5}, {"why": "x"}, {"reason": "x" * 501}):
        code, err = api.call("POST", f"/api/universe/discovery/{MSFT}/reject", bad)
        assert code == 400, (bad, err)
    code, err = api.call("POST", f"/api/universe/discovery/{MSFT}/reject", raw=b"{not json")
    assert code == 400
    assert candidates(api)["MSFT.US"]["status"] == "pending"
    code, body = api.call("POST", f"/api/universe/discovery/{MSFT}/reject",
                          {"reason": "already enough US tech"})
    assert code == 200 and body["status"] == "rejected", body
    assert body["detail"]["reason"] == "already enough US tech"

    state = run_job(api)  # neither is proposed again (SAP and ASML: no replay prices)
    assert "(2 new" in state["last_summary"] and "proposed []" in state["last_summary"]
    final = candidates(api)
    assert {s: c["status"] for s, c in final.items()} == {"AAPL.US": "approved",
                                                         "MSFT.US": "rejected"}
    assert universe(api) == {AAPL}
    audits = daemon.store.fetch_all(
        "SELECT action FROM audit_log WHERE action LIKE 'security_discovery_%'")
    assert sorted(a["action"] for a in audits) == [
        "security_discovery_approved", "security_discovery_pending",
        "security_discovery_pending", "security_discovery_rejected"]


def test_without_review_the_best_candidates_join_the_universe(daemon: ProbeDaemon) -> None:
    api = Client(daemon)
    for key, value in (("security_discovery_require_manual_review", False),
                       ("security_discovery_score_threshold", 0.45)):
        setting(api, key, value)
    state = run_job(api)
    assert state["last_result"] == "ok", state["last_summary"]
    assert universe(api) == {AAPL, MSFT}
    assert {c["status"] for c in candidates(api).values()} == {"added"}
    wait_for(lambda: api.call("GET", f"/api/securities/{AAPL}")[1].get("history", {})
             .get("count", 1) > 0, 30, "history of the added security")
    state = run_job(api)  # a re-run: both known, nothing added twice
    assert "added []" in state["last_summary"] and len(candidates(api)) == 2


def test_a_bad_setting_fails_the_run_and_shows_in_health(daemon: ProbeDaemon) -> None:
    api = Client(daemon)
    setting(api, "health.job_failures_degraded", 2)
    setting(api, "security_discovery_exchanges", "usa,mars")
    for _ in range(2):
        state = run_job(api)
        assert state["last_result"] == "failed"
        assert "security_discovery_exchanges" in state["last_summary"]
        assert "mars" in state["last_summary"]
    assert state["consecutive_failures"] == 2 and candidates(api) == {}
    with urllib.request.urlopen(f"http://127.0.0.1:{daemon.port}/metrics", timeout=10) as r:
        families = {f.name: f.samples for f in text_string_to_metric_families(r.read().decode())}
    failures = {s.labels["job"]: s.value
                for s in families["arduino_trader_job_consecutive_failures"]}
    assert failures[JOB] == 2

    def degraded() -> bool:
        report = daemon.health(timeout=5)
        return report is not None and any(JOB in r for r in report.reasons)
    wait_for(degraded, 10, "health naming the failing discovery")


def test_approving_one_already_added_by_hand_approves_it(daemon: ProbeDaemon) -> None:
    api = Client(daemon)
    setting(api, "security_discovery_score_threshold", 0.45)
    run_job(api)
    assert set(candidates(api, "pending")) == {"AAPL.US", "MSFT.US"}
    code, body = api.call("POST", "/api/securities", {"isin": MSFT, "symbol": "MSFT.US",
                                                      "name": "Microsoft", "currency": "USD"})
    assert code == 202, body
    code, body = api.call("POST", f"/api/universe/discovery/{MSFT}/approve")
    assert code == 200 and body["candidate"]["status"] == "approved", body
    assert body["security"]["name"] == "Microsoft"  # the owner's record is kept
    assert universe(api) == {MSFT}
