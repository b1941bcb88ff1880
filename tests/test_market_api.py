"""The whole daemon with the replay source, through the admin API: the bundled data fills
the universe and the price history, markets show their status, and every market-data
endpoint does its real work or refuses with a clear 4xx."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from daemon_harness import Client, ProbeDaemon, markets_view, start_daemon, wait_for

from arduino_trader.config.settings import env_name
from arduino_trader.domain.universe import isin_check_digit

AAPL = "US0378331005"


def _job_done(api: Client, name: str, runs: int = 1) -> dict[str, Any]:
    def done() -> bool:
        state = api.call("GET", f"/api/system/jobs/{name}")[1]
        return state["runs"] >= runs and state["status"] == "idle"
    wait_for(done, 30, f"job {name}")
    state: dict[str, Any] = api.call("GET", f"/api/system/jobs/{name}")[1]
    return state


@pytest.fixture
def demo(tmp_path: Path) -> Iterator[tuple[ProbeDaemon, Client]]:
    daemon = start_daemon(tmp_path / "state")
    yield daemon, Client(daemon)
    daemon.gate.set()
    daemon.stop()


def test_replay_daemon_fills_universe_history_and_markets(
        demo: tuple[ProbeDaemon, Client]) -> None:
    daemon, api = demo
    assert _job_done(api, "sync_securities_data")["last_result"] == "ok"
    wait_for(lambda: api.call("GET", "/api/securities")[1]["securities"][0]["last_price"]
             is not None, 30, "prices")

    code, body = api.call("GET", "/api/securities")
    assert code == 200 and body["count"] == 20
    aapl = next(s for s in body["securities"] if s["isin"] == AAPL)
    assert aapl["symbol"] == "AAPL.US" and aapl["mic"] == "XNAS"
    assert aapl["last_price"] == pytest.approx(125.674)
    assert aapl["price_as_of"].startswith("2022-12-28")

    code, detail = api.call("GET", f"/api/securities/{AAPL}")
    assert code == 200
    assert detail["history"]["daily_rows"] > 2500  # 10-year seed from the real data
    assert detail["history"]["last_day"] == "2022-12-28"
    assert detail["monthly_points"] >= 120
    rows = daemon.store.fetch_one(
        "SELECT COUNT(*) AS n, COUNT(DISTINCT isin) AS k FROM price_history")
    assert rows is not None and rows["k"] == 20 and rows["n"] > 20 * 2500

    code, prices = api.call("GET", f"/api/securities/{AAPL}/prices?limit=3")
    assert code == 200 and [p["date"] for p in prices["prices"]] == [
        "2022-12-23", "2022-12-27", "2022-12-28"]
    assert api.call("GET", f"/api/securities/{AAPL}/prices?limit=0")[0] == 400

    markets = markets_view(api)
    assert markets["total"] == 20
    by_mic = {m["mic"]: m for m in markets["markets"]}
    assert by_mic["XNAS"]["securities"] == 4 and by_mic["XNYS"]["securities"] == 16
    assert by_mic["XNYS"]["tz"] == "America/New_York"
    for m in markets["markets"]:
        assert (m["closes_at"] is not None) == m["open"] or m["error"]
    assert markets["open_count"] + markets["closed_count"] == 20

    code, status = api.call("GET", "/api/system/status")
    assert status["components"]["market_data"]["level"] == "ok"
    assert "market_data" in status["actors"]
    assert api.call("GET", "/health")[1]["status"] == "ok"

    code, fx = api.call("GET", "/api/market/fx/usd")
    assert code == 200 and fx["eur_per"] == "0.92" and fx["currency"] == "USD"
    code, err = api.call("GET", "/api/market/fx/GBP")
    assert code == 503 and err["error"] == "fx_rate_unavailable"
    assert api.call("GET", "/api/market/fx/12")[0] == 400


def test_security_endpoints_validate_and_edit(demo: tuple[ProbeDaemon, Client]) -> None:
    _, api = demo
    _job_done(api, "sync_securities_data")
    assert api.call("GET", "/api/securities/NOTANISIN")[0] == 400
    code, err = api.call("GET", "/api/securities/US5949181046")
    assert code == 400 and err["error"] == "invalid_isin"  # bad check digit
    code, err = api.call("GET", "/api/securities/DE0007164600")
    assert code == 404 and err["error"] == "unknown_security"

    code, err = api.call("POST", "/api/securities/add-by-identifier",
                         {"identifier": "US0378331006"})
    assert code == 400 and "check digit" in err["message"]
    code, err = api.call("POST", "/api/securities/add-by-identifier", {"identifier": "AAPL.US"})
    assert code == 400 and err["error"] == "duplicate_security"
    code, err = api.call("POST", "/api/securities/add-by-identifier", {"identifier": "ZZZ.US"})
    assert code == 404 and err["error"] == "unknown_identifier"
    assert api.call("POST", "/api/securities/add-by-identifier", {"identifier": " "})[0] == 400
    assert api.call("POST", "/api/securities/add-by-identifier", {"x": 1})[0] == 400
    assert api.call("POST", "/api/securities/add-by-identifier", raw=b"[1]")[0] == 400

    path = f"/api/securities/{AAPL}"
    code, sec = api.call("PUT", path, {"priority_multiplier": 9, "min_lot": 2,
                                       "allow_buy": False, "yahoo_symbol": "aapl"})
    assert code == 200 and sec["priority_multiplier"] == 3.0 and sec["min_lot"] == 2
    assert sec["allow_buy"] is False and sec["yahoo_symbol"] == "AAPL"
    code, err = api.call("PUT", path, {"min_portfolio_target": 10, "max_portfolio_target": 5})
    assert code == 400 and "below" in err["message"]
    assert api.call("PUT", path, {})[0] == 400
    assert api.call("PUT", path, {"isin": "X"})[0] == 400
    assert api.call("PUT", path, {"min_lot": 0})[0] == 400
    assert api.call("PUT", path, {"product_type": "BOND"})[0] == 400
    assert api.call("GET", path)[1]["min_portfolio_target"] is None  # nothing half-written

    code, sec = api.call("DELETE", path)
    assert code == 200 and sec["active"] is False
    active = api.call("GET", "/api/securities?active=true")[1]
    assert active["count"] == 19

    code, res = api.call("POST", f"/api/securities/{AAPL}/refresh-data")
    assert code == 200 and res["daily_rows"] > 2500
    assert api.call("POST", "/api/securities/DE0007164600/refresh-data")[0] == 404


def _isin(body: str) -> str:
    return body + str(isin_check_digit(body))


def test_onboarding_and_sync_triggers_do_real_work(tmp_path: Path) -> None:
    prices = tmp_path / "prices.csv"
    lines = ["Date,ABC,DEF"] + [f"2024-01-{d:02d},{10 + d / 10:.2f},{20 + d:.2f}"
                                for d in range(2, 31) if d not in (6, 7, 13, 14, 20, 21, 27, 28)]
    prices.write_text("\n".join(lines) + "\n")
    daemon = start_daemon(tmp_path / "state", env={
        env_name("market_data.replay_prices_file"): str(prices)})
    try:
        api = Client(daemon)
        _job_done(api, "sync_securities_data")
        assert api.call("GET", "/api/securities")[1]["count"] == 0  # no directory: no seed

        code, err = api.call("POST", "/api/securities/add-by-identifier", {"identifier": "DEF"})
        assert code == 400 and "ISIN" in err["message"]

        isin = _isin("US00000ABC1")
        bad = isin[:-1] + str((int(isin[-1]) + 1) % 10)
        code, err = api.call("POST", "/api/securities",
                             {"isin": bad, "symbol": "ABC.US", "name": "Abc"})
        assert code == 400 and err["error"] == "invalid_isin"
        code, body = api.call("POST", "/api/securities", {
            "isin": isin, "symbol": "ABC.US", "name": "Abc Corp", "currency": "USD",
            "min_lot": 10})
        assert code == 202, body
        assert body["symbol"] == "ABC.US" and body["yahoo_symbol"] == "ABC"
        assert body["min_lot"] == 10 and body["allow_sell"] is True
        wait_for(lambda: api.call("GET", f"/api/securities/{isin}")[1]["history"]["daily_rows"]
                 == 21, 20, "background history of the new security")

        code, started = api.call("POST", "/api/system/sync/prices")
        assert code == 202 and started["job"] == "sync_prices"
        state = _job_done(api, "sync_prices", runs=2)
        assert state["last_result"] == "ok" and "1 prices updated" in state["last_summary"]
        sec = api.call("GET", "/api/securities")[1]["securities"][0]
        assert sec["last_price"] == pytest.approx(13.0)

        for route, job in (("historical", "sync_historical"),
                           ("securities-data", "sync_securities_data"),
                           ("daily-pipeline", "sync_securities_data")):
            runs = api.call("GET", f"/api/system/jobs/{job}")[1]["runs"]
            code, started = api.call("POST", f"/api/system/sync/{route}")
            assert code == 202 and started["job"] == job, route
            assert _job_done(api, job, runs=runs + 1)["last_result"] == "ok"

        code, started = api.call("POST", "/api/system/sync/rebuild-universe")
        assert code == 202
        state = _job_done(api, "rebuild_universe")
        # The (empty) paper account's positions are read: nothing to onboard, no failure.
        assert state["last_result"] == "ok", state

        code, started = api.call("POST", "/api/securities/refresh-all")
        assert code == 202 and started["job"] == "refresh_all_securities"
        assert _job_done(api, "refresh_all_securities")["last_result"] == "ok"
    finally:
        daemon.gate.set()
        daemon.stop()


def test_scores_reach_the_securities_endpoints(tmp_path: Path) -> None:
    from datetime import UTC, datetime

    from arduino_trader.adapters.clock import ManualClock

    # Inside the bundled history, so there are recent closes to score.
    daemon = start_daemon(tmp_path / "state",
                          clock=ManualClock(datetime(2022, 12, 20, 16, 0, tzinfo=UTC)))
    try:
        _check_scores(Client(daemon))
    finally:
        daemon.stop()


def _check_scores(api: Client) -> None:
    wait_for(lambda: api.call("GET", "/api/securities")[1]["count"] >= 20, 60, "universe")
    wait_for(lambda: api.call("GET", "/api/securities/US0378331005")[1]["history"]
             ["daily_rows"] > 1000, 60, "price history")
    assert api.call("POST", "/api/securities/US0000000002/refresh")[0] in (400, 404)
    runs = api.call("GET", "/api/system/jobs/score_universe")[1]["runs"]
    code, started = api.call("POST", "/api/securities/US0378331005/refresh")
    if code == 409:  # the start-up run is still going: it scores everything too
        started = {"job": "score_universe"}
    else:
        assert code == 202, started
    assert started["job"] == "score_universe"
    _job_done(api, "score_universe", runs=runs + 1)
    listed = {s["isin"]: s for s in api.call("GET", "/api/securities")[1]["securities"]}
    assert listed["US0378331005"]["score"] is not None
    one = api.call("GET", "/api/securities/US0378331005")[1]
    assert one["score"]["total_score"] == listed["US0378331005"]["score"]
    assert "position" in one
