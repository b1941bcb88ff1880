"""Universe pruning: rules (property), and the monthly job through the daemon's API."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import replace
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from daemon_harness import Client, ProbeDaemon, start_daemon, wait_for
from hypothesis import given
from hypothesis import strategies as st

from arduino_trader.adapters.clock import ManualClock
from arduino_trader.domain.universe_pruning import PruningCandidate, PruningRules, decide
from arduino_trader.protocols.messages import RunJob
from tests.test_planner_actor import NOW, Rig, _seed_universe, rig  # noqa: F401 (fixture)

T0 = datetime(2026, 3, 2, 10, 0, tzinfo=UTC)
RULES = PruningRules(score_threshold=0.5, min_samples=2, delisted_days=90)

candidate = st.builds(
    PruningCandidate, isin=st.just(""), symbol=st.just("X.US"), held=st.booleans(),
    scores=st.lists(st.floats(0, 1), max_size=6).map(tuple),
    last_price_day=st.one_of(st.none(), st.dates(date(2025, 1, 1), date(2026, 3, 2))),
    added_on=st.dates(date(2024, 1, 1), date(2026, 3, 2)))


@given(st.lists(candidate, max_size=8))
def test_a_held_security_is_never_deactivated_and_rules_decide(
        drawn: list[PruningCandidate]) -> None:
    today = date(2026, 3, 2)
    cands = [replace(c, isin=f"ISIN{i}") for i, c in enumerate(drawn)]
    decided = {d.isin: d for d in decide(cands, RULES, today)}
    for c in cands:
        silent = (today - (c.last_price_day or c.added_on)).days
        low = len(c.scores) >= 2 and sum(c.scores) / len(c.scores) < 0.5
        assert (c.isin in decided) == (silent >= 90 or low)
        if c.isin in decided:
            assert decided[c.isin].action == ("flag" if c.held else "deactivate")


@pytest.fixture
def daemon(tmp_path: Path) -> Iterator[ProbeDaemon]:
    d = start_daemon(tmp_path / "state", clock=ManualClock(T0))
    yield d
    d.gate.set()
    d.stop()


def _sql(d: ProbeDaemon, sql: str, params: tuple[Any, ...] = ()) -> list[Any]:
    return list(d.store.fetch_all(sql, params))


def _exec(d: ProbeDaemon, sql: str, params: tuple[Any, ...] = ()) -> None:
    d.store.execute(sql, params)


def _security(d: ProbeDaemon, isin: str, symbol: str, scores: list[float],
              last_price: date | None, created: datetime) -> None:
    at = int(created.timestamp())
    _exec(d, "INSERT INTO securities (isin, symbol, name, currency, created_at, updated_at) "
             "VALUES (?, ?, ?, 'USD', ?, ?)", (isin, symbol, symbol, at, at))
    for i, score in enumerate(scores):
        day = (T0.date() - timedelta(days=10 + 7 * i)).isoformat()
        _exec(d, "INSERT INTO score_history VALUES (?, ?, ?)", (isin, day, score))
    if last_price is not None:
        _exec(d, "INSERT INTO price_history (isin, day, close, source) VALUES (?, ?, 10, 't')",
              (isin, last_price.isoformat()))


def _hold(d: ProbeDaemon, isin: str, symbol: str) -> None:
    at = int(T0.timestamp())
    _exec(d, "INSERT INTO portfolio_positions (symbol, isin, quantity, avg_price, currency, "
             "current_price, market_value, price_updated_at, last_updated) "
             "VALUES (?, ?, '3', '10', 'USD', '10', '30', ?, ?)", (symbol, isin, at, at))


def _run(api: Client) -> dict[str, Any]:
    assert api.call("POST", "/api/system/jobs/universe_pruning")[0] == 202
    wait_for(lambda: api.call("GET", "/api/system/jobs/universe_pruning")[1]["status"]
             == "idle", what="pruning job")
    job: dict[str, Any] = api.call("GET", "/api/system/jobs/universe_pruning")[1]
    return job


def test_the_monthly_job_deactivates_flags_held_and_keeps_the_rest(
        daemon: ProbeDaemon) -> None:
    api = Client(daemon)
    recent, old = T0.date() - timedelta(days=2), T0 - timedelta(days=400)
    _security(daemon, "US0000000001", "LOW.US", [0.2, 0.3, 0.25], recent, old)
    _security(daemon, "US0000000002", "HELD.US", [0.1, 0.2], recent, old)
    _hold(daemon, "US0000000002", "HELD.US")
    _security(daemon, "US0000000003", "GOOD.US", [0.8, 0.7], recent, old)
    _security(daemon, "US0000000004", "GONE.US", [0.9, 0.9], T0.date() - timedelta(days=120),
              old)
    _security(daemon, "US0000000005", "FEW.US", [0.1], recent, old)       # one sample
    _security(daemon, "US0000000006", "NEW.US", [], None, T0 - timedelta(days=5))
    job = api.call("GET", "/api/system/jobs/universe_pruning")[1]
    assert job["next_run"].startswith("2026-04-01T")  # the 1st of the month
    job = _run(api)
    assert job["last_result"] == "ok", job["last_summary"]
    active = {r["symbol"]: r["active"] for r in _sql(daemon, "SELECT symbol, active "
                                                              "FROM securities")}
    assert active == {"LOW.US": 0, "HELD.US": 1, "GOOD.US": 1, "GONE.US": 0, "FEW.US": 1,
                      "NEW.US": 1}  # deactivated, never deleted
    code, body = api.call("GET", "/api/universe/pruning/flags")
    assert code == 200 and [f["symbol"] for f in body["flags"]] == ["HELD.US"]
    assert "below 0.5" in body["flags"][0]["reason"]
    audits = _sql(daemon, "SELECT action FROM audit_log WHERE action LIKE 'universe_%'")
    assert sorted(a["action"] for a in audits) == [
        "universe_pruning_deactivate", "universe_pruning_deactivate", "universe_pruning_flag"]
    assert "deactivated 0" in _run(api)["last_summary"]  # a rerun deactivates nothing more
    for back in (0, 1):  # HELD.US recovers: mean (0.1 + 0.2 + 0.95 + 0.95) / 4 > 0.5
        _exec(daemon, "INSERT INTO score_history VALUES ('US0000000002', ?, 0.95)",
              ((T0.date() - timedelta(days=back)).isoformat(),))
    _run(api)
    assert api.call("GET", "/api/universe/pruning/flags")[1]["flags"] == []


def test_pruning_follows_its_settings(daemon: ProbeDaemon) -> None:
    api = Client(daemon)
    old = T0 - timedelta(days=400)
    _security(daemon, "US0000000001", "MID.US", [0.55, 0.6], T0.date(), old)
    _security(daemon, "US0000000002", "GONE.US", [0.9, 0.9], T0.date() - timedelta(days=120),
              old)
    for key, value in (("universe_pruning_score_threshold", 0.7),
                       ("universe_pruning_check_delisted", False)):
        assert api.call("PUT", f"/api/settings/{key}", {"value": value})[0] == 200
    _run(api)
    active = {r["symbol"]: r["active"] for r in _sql(daemon, "SELECT symbol, active "
                                                              "FROM securities")}
    assert active == {"MID.US": 0, "GONE.US": 1}


def test_the_score_universe_job_records_one_sample_a_day(rig: Rig) -> None:  # noqa: F811
    _seed_universe(rig)
    for run in ("r1", "r2"):  # the same day twice: still one sample per security
        assert rig.bus.ask("planner", RunJob("score_universe", run), 60).ok
    rows = rig.store.fetch_all("SELECT s.isin, s.day, s.total_score, c.total_score "
                                          "AS current FROM score_history s JOIN scores c "
                                          "USING (isin)")
    assert len(rows) == 3
    assert all(r["day"] == NOW.date().isoformat() and r["total_score"] == r["current"]
               for r in rows)
