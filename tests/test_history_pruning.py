"""History that would grow without end is pruned: old plan runs and superseded
recommendations go, what a user acted on (and the newest run) stays, foreign keys hold;
old finished emergency runs go unless a recommendation names them; and the daily
maintenance job of a running daemon does it."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from daemon_harness import Client, ProbeDaemon, start_daemon, wait_for
from reliability_support import manual_clock, wait_idle

from arduino_trader.actors.maintenance import JOB_HISTORY_DAYS, PLAN_HISTORY_DAYS
from arduino_trader.adapters.store import emergency_runs_repo, plan_repo
from arduino_trader.adapters.store.sqlite import SqliteStore
from arduino_trader.domain.planner.models import PlanResult, Step

NOW = datetime(2026, 3, 3, 10, 0, tzinfo=UTC)
CUTOFF = NOW - timedelta(days=PLAN_HISTORY_DAYS)
ISINS = {"AAPL.US": "US0378331005", "MSFT.US": "US5949181045", "BAC.US": "US0605051046"}


def _step(symbol: str) -> Step:
    return Step(1, "BUY", symbol, symbol, 5, 101.25, "USD", 470.1, 2.94,
                "weight_based", 0.8, f"Buy 5 {symbol}: reason", 0.5, 0.52, 0.6,
                {"total": 0.6})


def _result(*symbols: str) -> PlanResult:
    return PlanResult("plan" if symbols else "nothing_to_do", "test",
                      steps=tuple(_step(s) for s in symbols), current_score=0.5,
                      end_state_score=0.55)


def _store(db: SqliteStore, days_ago: float, *symbols: str, portfolio_hash: str = "h0",
           satellite: tuple[str, ...] | None = None) -> int:
    sats = [] if satellite is None else [("sat-1", _result(*satellite))]
    return plan_repo.store_plan(db, _result(*symbols), portfolio_hash, "test", ISINS, 1.0,
                                NOW - timedelta(days=days_ago), satellites=sats)


def _ids(db: SqliteStore) -> set[int]:
    return {int(r["id"]) for r in db.fetch_all("SELECT id FROM plans")}


def _child(db: SqliteStore, parent: int) -> int:
    row = db.fetch_one("SELECT id FROM plans WHERE parent_id = ?", (parent,))
    assert row is not None
    return int(row["id"])


def test_old_runs_and_superseded_steps_go_what_a_user_acted_on_stays(
        store: SqliteStore, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(plan_repo, "PRUNE_BATCH", 2)  # several batches
    superseded = _store(store, 40, "AAPL.US", portfolio_hash="h1")
    empty = _store(store, 39.9)  # supersedes AAPL's step
    dismissed = _store(store, 39, "MSFT.US", portfolio_hash="h2")
    assert plan_repo.dismiss_all_by_portfolio_hash(store, "h2", NOW - timedelta(days=39)) == 1
    executed = _store(store, 38, portfolio_hash="h3", satellite=("BAC.US",))
    executed_child = _child(store, executed)
    assert plan_repo.mark_executed(store, "BAC.US", "BUY", "h3", NOW - timedelta(days=38)) == 1
    bare = _store(store, 37, satellite=())
    bare_child = _child(store, bare)
    filler = [_store(store, 36 - i / 10) for i in range(5)]
    recent = _store(store, 1)
    before = _ids(store)

    plans, recommendations = plan_repo.prune_history(store, CUTOFF)

    kept = {dismissed, executed, executed_child, recent}
    assert _ids(store) == kept
    assert plans == len(before - kept) == len({superseded, empty, bare, bare_child, *filler})
    assert recommendations == 1
    left = {(r["symbol"], r["status"], r["dismissed_by"]) for r in
            store.fetch_all("SELECT symbol, status, dismissed_by FROM recommendations")}
    assert left == {("MSFT.US", "dismissed", "user"), ("BAC.US", "executed", None)}
    assert store.fetch_all("PRAGMA foreign_key_check") == []
    assert plan_repo.prune_history(store, CUTOFF) == (0, 0)


def test_the_newest_run_and_its_satellites_stay_however_old(store: SqliteStore) -> None:
    older = _store(store, 90)
    newest = _store(store, 60, satellite=())
    child = _child(store, newest)
    assert plan_repo.prune_history(store, CUTOFF) == (1, 0)
    assert _ids(store) == {newest, child}
    latest = plan_repo.latest_plan(store)
    assert latest is not None and latest["id"] == newest != older


def _emergency_run(db: SqliteStore, run_id: str, days_ago: float, *, finished: bool = True,
                   proposed: bool = False) -> None:
    at = NOW - timedelta(days=days_ago)
    emergency_runs_repo.start_emergency_run(db, run_id, "research", "sync", at)
    if finished:
        emergency_runs_repo.finish_emergency_run(db, run_id, "unresolved", {}, {}, [], "",
                                                 at)
    if proposed:
        db.execute("INSERT INTO emergency_recommendations (key, situation, shortfalls_json, "
                   "run_id, mode, symbol, side, quantity, estimated_price, estimated_value, "
                   "currency, reason, priority, status, created_at, updated_at) VALUES "
                   "(?, 's', '{}', ?, 'research', 'AAPL.US', 'SELL', 1, '1', '1', 'USD', "
                   "'r', 1, 'pending', 0, 0)", (f"emergency:s:{run_id}", run_id))


def _runs(db: SqliteStore) -> set[str]:
    return {str(r["run_id"]) for r in db.fetch_all("SELECT run_id FROM emergency_runs")}


def test_old_finished_emergency_runs_go_unless_a_recommendation_names_them(
        store: SqliteStore) -> None:
    old = JOB_HISTORY_DAYS + 1
    _emergency_run(store, "old", old)
    _emergency_run(store, "old-proposed", old, proposed=True)
    _emergency_run(store, "recent", 1)
    _emergency_run(store, "running", old, finished=False)
    cutoff = NOW - timedelta(days=JOB_HISTORY_DAYS)
    assert emergency_runs_repo.prune_emergency_runs(store, cutoff) == 1
    assert _runs(store) == {"old-proposed", "recent", "running"}
    assert emergency_runs_repo.prune_emergency_runs(store, cutoff) == 0


@pytest.fixture
def daemon(tmp_path: Path) -> Iterator[ProbeDaemon]:
    d = start_daemon(tmp_path / "state", clock=manual_clock(NOW),
                     env={"ARDUINO_TRADER_PLANNER_DEBOUNCE_SECONDS": "3600"})
    try:
        wait_idle(d, 120)
        yield d
    finally:
        d.stop()


def test_daily_maintenance_prunes_the_histories(daemon: ProbeDaemon) -> None:
    """Through the API: the daily maintenance job forgets month-old plan runs and their
    superseded step and a quarter-old emergency run, keeps the newest plan run, and says
    so in its summary."""
    store = daemon.store
    assert isinstance(store, SqliteStore)
    old = _store(store, PLAN_HISTORY_DAYS + 5, "AAPL.US", portfolio_hash="old")
    superseding = _store(store, PLAN_HISTORY_DAYS + 4)
    newest = _store(store, 0)
    _emergency_run(store, "old", JOB_HISTORY_DAYS + 1)
    api = Client(daemon)
    code, body = api.call("POST", "/api/system/jobs/daily_maintenance")
    assert code == 202, body
    wait_for(lambda: api.call("GET", "/api/system/jobs/daily_maintenance")[1]["status"]
             == "idle", 60, "the maintenance job to finish")
    row = store.fetch_one("SELECT ok, summary FROM job_runs WHERE job = 'daily_maintenance' "
                          "ORDER BY started_at DESC, rowid DESC LIMIT 1")
    assert row is not None and row["ok"] == 1, row and dict(row)
    assert "2 plans, 1 superseded recommendations, 1 emergency runs" in row["summary"], \
        row["summary"]
    ids = _ids(store)
    assert old not in ids and superseding not in ids and newest in ids
    assert "old" not in _runs(store)
