"""The whole daemon in-process on loopback: health, status, jobs, settings, auth."""

from __future__ import annotations

import re
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from daemon_harness import Client, Crash, ProbeDaemon, start_daemon, wait_for

from arduino_trader.config.settings import MASK, env_name
from arduino_trader.daemon.api.app import ROUTE_SPECS
from arduino_trader.daemon.api.openapi import openapi_path
from arduino_trader.daemon.settings_service import LIVE_CONFIRMATION

SECRET = "tn-secret-3f9c1d7e"


@pytest.fixture
def daemon(tmp_path: Path) -> Iterator[ProbeDaemon]:
    d = start_daemon(tmp_path / "state", env={env_name("tradernet_api_key"): "pub-key-1",
                                              env_name("tradernet_api_secret"): SECRET})
    yield d
    d.gate.set()
    d.stop()


@pytest.fixture
def api(daemon: ProbeDaemon) -> Client:
    return Client(daemon)


def _overrides(daemon: ProbeDaemon) -> list[Any]:
    rows = daemon.store.fetch_all("SELECT key, value FROM settings_overrides")
    return [tuple(r) for r in rows]


def test_health_and_status_list_every_actor(daemon: ProbeDaemon, api: Client) -> None:
    code, body = api.call("GET", "/health", token=None)
    assert code == 200 and body["status"] in ("ok", "degraded")
    code, status = api.call("GET", "/api/system/status", token=None)
    assert code == 200
    assert set(status["actors"]) == {spec.name for spec in daemon.actor_specs()}
    assert {"health", "maintenance", "probe"} <= set(status["actors"])
    assert all(a["alive"] for a in status["actors"].values())
    assert status["trading_mode"] == "research"
    assert {"security_count", "position_count", "last_sync", "cash_balance_eur"} <= set(status)
    assert api.call("GET", "/api/version", token=None)[1]["version"] == status["version"]
    assert {j["name"] for j in status["jobs"]} >= {"health_check", "daily_maintenance",
                                                   "backup", "probe_job"}


def test_health_answers_while_slow_asks_fill_the_api_pool(daemon: ProbeDaemon,
                                                          api: Client) -> None:
    """Eight asks waiting on busy actors fill the API's worker pool; ``/health`` asks the
    health monitor on a pool of its own and still answers at once."""
    release = threading.Event()
    held = [daemon.pool.submit(release.wait, 60) for _ in range(8)]
    try:
        code, body = api.call("GET", "/health", token=None)
        assert code == 200 and body["actors_alive"], body
        assert not any(f.done() for f in held)  # the pool was full all along
    finally:
        release.set()


def test_openapi_documents_exactly_the_routes(daemon: ProbeDaemon, api: Client) -> None:
    code, doc = api.call("GET", "/api/openapi.json", token=None)
    assert code == 200 and doc["openapi"].startswith("3.")
    documented = {(m.upper(), p) for p, ops in doc["paths"].items() for m in ops}
    runner = daemon._runner
    assert runner is not None
    served = {(r.method, openapi_path(r.resource.canonical))
              for r in runner.app.router.routes() if r.resource is not None and r.method != "HEAD"}
    assert documented == served
    for (method, path), spec in runner.app[ROUTE_SPECS].items():
        op = doc["paths"][openapi_path(path)][method.lower()]
        assert ("security" in op) == spec.auth, (method, path)


def _concrete(path: str) -> str:
    return re.sub(r"\{[^}]+\}", "x", path)


def test_every_mutating_route_refuses_missing_or_wrong_token(daemon: ProbeDaemon,
                                                             api: Client) -> None:
    runner = daemon._runner
    assert runner is not None
    specs = runner.app[ROUTE_SPECS]
    mutating = [(m, p) for (m, p), s in specs.items() if m in ("POST", "PUT", "DELETE")]
    assert len(mutating) >= 8
    for method, path in mutating:
        assert specs[(method, path)].auth, f"{method} {path} is mutating but unauthenticated"
        code, body = api.call(method, _concrete(path), {}, token=None)
        assert code == 401 and body["error"] == "unauthorized", (method, path)
        code, body = api.call(method, _concrete(path), {}, token="wrong-token")
        assert code == 403 and body["error"] == "forbidden", (method, path)
    assert _overrides(daemon) == []


def test_settings_round_trip_and_survive_restart(tmp_path: Path) -> None:
    d = start_daemon(tmp_path / "state")
    try:
        api = Client(d)
        code, body = api.call("PUT", "/api/settings/min_hold_days", {"value": 120})
        assert (code, body) == (200, {"min_hold_days": 120})
        code, body = api.call("PUT", "/api/settings/min_cash_reserve", {"value": "750.50"})
        assert (code, body) == (200, {"min_cash_reserve": "750.50"})
        code, got = api.call("GET", "/api/settings")
        assert got["settings"]["min_hold_days"] == 120
        assert got["sources"]["min_hold_days"] == "override"
        assert got["schema"]["min_hold_days"]["range"] == "0..3650"
    finally:
        d.stop()
    again = start_daemon(tmp_path / "state")
    try:
        _, got = Client(again).call("GET", "/api/settings")
        assert got["settings"]["min_hold_days"] == 120
        assert got["settings"]["min_cash_reserve"] == "750.50"
    finally:
        again.stop()


@pytest.mark.parametrize(("path", "raw", "status", "error"), [
    ("/api/settings/min_hold_days", b"{not json", 400, "invalid_json"),
    ("/api/settings/min_hold_days", b"[1, 2]", 400, "invalid_json"),
    ("/api/settings/min_hold_days", b"", 400, "invalid_json"),
    ("/api/settings/min_hold_days", b'{"value": "many"}', 400, "invalid_setting"),
    ("/api/settings/min_hold_days", b'{"value": 99999}', 400, "invalid_setting"),
    ("/api/settings/min_hold_days", b'{"value": 5, "extra": 1}', 400, "unknown_field"),
    ("/api/settings/min_hold_days", b'{"value": NaN}', 400, "invalid_json"),
    ("/api/settings/min_hold_days", b'{}', 400, "missing_field"),
    ("/api/settings/no_such_key", b'{"value": 1}', 404, "unknown_setting"),
    ("/api/settings/api.port", b'{"value": 9000}', 400, "invalid_setting"),
    ("/api/settings/trading_mode", b'{"value": "live"}', 400, "invalid_setting"),
])
def test_bad_setting_input_is_refused_and_writes_nothing(daemon: ProbeDaemon, api: Client,
                                                         path: str, raw: bytes, status: int,
                                                         error: str) -> None:
    code, body = api.call("PUT", path, raw=raw)
    assert code == status and body["error"] == error, body
    assert isinstance(body["message"], str) and body["message"]
    assert _overrides(daemon) == []
    _, got = api.call("GET", "/api/settings")
    assert got["settings"]["min_hold_days"] == 90 and got["settings"]["trading_mode"] == "research"


def test_out_of_range_message_names_key_and_range(api: Client) -> None:
    _, body = api.call("PUT", "/api/settings/buy_cooldown_days", {"value": 366})
    assert "buy_cooldown_days" in body["message"] and "0..365" in body["message"]


def test_secrets_are_write_only(daemon: ProbeDaemon, api: Client) -> None:
    code, body = api.call("PUT", "/api/settings/tradernet_api_key",
                          {"value": "ghp-very-secret-99"})
    assert (code, body) == (200, {"tradernet_api_key": MASK})
    _, got = api.call("GET", "/api/settings")
    text = repr(got)
    assert "ghp-very-secret-99" not in text and SECRET not in text
    assert got["settings"]["tradernet_api_secret"] == MASK
    stored = _overrides(daemon)
    assert stored and all("ghp-very-secret-99" not in v for _, v in stored)
    assert daemon.settings is not None
    assert daemon.settings.current().typed.tradernet_api_key == "ghp-very-secret-99"


def test_trading_mode_is_explicit_and_guarded(daemon: ProbeDaemon, api: Client) -> None:
    code, body = api.call("POST", "/api/settings/trading-mode", {"mode": "research"})
    assert (code, body) == (200, {"trading_mode": "research", "previous_mode": "research"})
    code, body = api.call("POST", "/api/settings/trading-mode", {})
    assert code == 400 and body["error"] == "invalid_mode"
    code, body = api.call("POST", "/api/settings/trading-mode", {"mode": "live"})
    assert code == 400 and LIVE_CONFIRMATION in body["message"]
    assert api.call("GET", "/api/settings/trading-mode")[1] == {"trading_mode": "research"}
    api.call("PUT", "/api/settings/virtual_test_cash", {"value": 1000})
    code, body = api.call("POST", "/api/settings/trading-mode",
                          {"mode": "live", "confirm": LIVE_CONFIRMATION})
    assert (code, body) == (200, {"trading_mode": "live", "previous_mode": "research"})
    _, got = api.call("GET", "/api/settings")
    assert got["settings"]["virtual_test_cash"] == "0"
    code, body = api.call("POST", "/api/settings/trading-mode", {"mode": "research"})
    assert body == {"trading_mode": "research", "previous_mode": "live"}


def test_live_needs_credentials(tmp_path: Path) -> None:
    d = start_daemon(tmp_path / "nocreds")
    try:
        code, body = Client(d).call("POST", "/api/settings/trading-mode",
                                    {"mode": "live", "confirm": LIVE_CONFIRMATION})
        assert code == 400 and "tradernet_api_key" in body["message"]
    finally:
        d.stop()


def test_job_trigger_coalesces_and_reports(daemon: ProbeDaemon, api: Client) -> None:
    code, first = api.call("POST", "/api/system/jobs/probe_job")
    assert code == 202 and first["status"] == "started"
    code, second = api.call("POST", "/api/system/jobs/probe_job")
    assert code == 409 and second["error"] == "job_running"
    assert second["run_id"] == first["run_id"]
    daemon.gate.set()
    wait_for(lambda: api.call("GET", "/api/system/jobs/probe_job")[1]["status"] == "idle",
             what="probe job to finish")
    _, job = api.call("GET", "/api/system/jobs/probe_job")
    assert job["last_result"] == "ok" and job["runs"] == 1
    code, body = api.call("POST", "/api/system/jobs/no_such_job")
    assert code == 404 and body["error"] == "unknown_job"


def test_backup_job_writes_a_backup(daemon: ProbeDaemon, api: Client) -> None:
    code, _ = api.call("POST", "/api/system/jobs/backup")
    assert code == 202
    wait_for(lambda: api.call("GET", "/api/system/jobs/backup")[1]["last_result"] == "ok",
             what="backup")
    backups = list((daemon.data_dir / "backups").glob("arduino-trader-*.db"))
    assert len(backups) == 1


def test_crashed_actor_is_restarted_and_shown(daemon: ProbeDaemon, api: Client) -> None:
    daemon.bus.tell("probe", Crash())
    wait_for(lambda: api.call("GET", "/api/system/status")[1]["actors"]["probe"]
             .get("restarts", 0) >= 1, what="probe restart")
    _, status = api.call("GET", "/api/system/status")
    assert status["actors"]["probe"]["alive"]
    assert status["status"] == "degraded"
    assert any("probe restarted" in r for r in status["reasons"])


def test_failing_database_check_makes_health_503(tmp_path: Path) -> None:
    def broken() -> dict[str, Any]:
        return {"database": {"ok": False, "message": "quick_check: page 7 corrupt"}}

    d = start_daemon(tmp_path / "state", checks=broken)
    try:
        api = Client(d)
        wait_for(lambda: api.call("GET", "/health", token=None)[0] == 503, what="failing health")
        _, body = api.call("GET", "/health", token=None)
        # Other checks may fail beside it (the paper account's unassigned cash): the
        # database's failure is among the reasons, whatever their order.
        assert body["status"] == "failing", body
        assert any("corrupt" in reason for reason in body["reasons"]), body
    finally:
        d.stop()


def test_unknown_route_and_method_are_json(api: Client) -> None:
    code, body = api.call("GET", "/api/nothing-here", token=None)
    assert code == 404 and body["error"] == "not_found"
    code, body = api.call("DELETE", "/api/settings", token=None)
    assert code == 405 and body["error"] == "method_not_allowed"


def test_full_disk_answers_507_and_changes_nothing(daemon: ProbeDaemon, api: Client) -> None:
    store = daemon.store
    pages = store.fetch_one("PRAGMA page_count")
    assert pages is not None
    store.conn.execute(f"PRAGMA max_page_count={int(pages[0])}")
    try:
        code, body = api.call("PUT", "/api/settings/tradernet_api_key",
                              {"value": "x" * 200_000})
    finally:
        store.conn.execute("PRAGMA max_page_count=1073741823")
    assert code == 507 and body["error"] == "store_full"
    assert daemon.settings is not None
    assert daemon.settings.current().typed.tradernet_api_key == "pub-key-1"
    assert _overrides(daemon) == []


def test_stop_during_a_job_is_clean_and_fast(tmp_path: Path) -> None:
    import time

    d = start_daemon(tmp_path / "state")
    api = Client(d)
    code, started = api.call("POST", "/api/system/jobs/probe_job")
    assert code == 202
    t0 = time.monotonic()
    d.stop()
    assert time.monotonic() - t0 < 10
    again = start_daemon(tmp_path / "state")
    try:
        rows = again.store.fetch_all(
            "SELECT ok, summary, finished_at FROM job_runs WHERE run_id = ?",
            (started["run_id"],))
        assert len(rows) == 1 and rows[0]["ok"] == 0 and rows[0]["finished_at"] is not None
        assert "cancelled" in rows[0]["summary"] or "interrupted" in rows[0]["summary"]
    finally:
        again.stop()


def test_an_emergency_run_a_stopped_process_left_running_is_closed_at_start(
        tmp_path: Path) -> None:
    from arduino_trader.adapters.store import emergency_runs_repo

    d = start_daemon(tmp_path / "state")
    emergency_runs_repo.start_emergency_run(d.store, "killed", "live", "sync",
                                            d.clock.now())
    d.stop()  # as if the process died mid-run: the row still says running
    again = start_daemon(tmp_path / "state")
    try:
        runs = emergency_runs_repo.list_emergency_runs(again.store)
        assert [(r["run_id"], r["outcome"]) for r in runs] == [("killed", "failed")]
        assert runs[0]["notes"].startswith("interrupted") and runs[0]["finished_at"]
        # the lock is free again: the next run starts
        emergency_runs_repo.start_emergency_run(again.store, "next", "live", "sync",
                                                again.clock.now())
    finally:
        again.stop()


def test_delete_setting_reverts_to_the_lower_source(tmp_path: Path) -> None:
    d = start_daemon(tmp_path / "state", env={"ARDUINO_TRADER_MIN_HOLD_DAYS": "200"})
    try:
        api = Client(d)
        assert api.call("PUT", "/api/settings/min_hold_days", {"value": 120})[0] == 200
        code, body = api.call("DELETE", "/api/settings/min_hold_days")
        assert (code, body) == (200, {"min_hold_days": 200, "source": "env"})
        assert _overrides(d) == []
        # Idempotent: nothing to remove is not an error and changes nothing.
        assert api.call("DELETE", "/api/settings/min_hold_days")[1]["min_hold_days"] == 200
        assert api.call("DELETE", "/api/settings/no_such_key")[0] == 404
        code, body = api.call("DELETE", "/api/settings/trading_mode")
        assert code == 400 and body["error"] == "invalid_setting"
    finally:
        d.stop()


def test_second_daemon_on_the_same_data_dir_is_a_startup_error(daemon: ProbeDaemon) -> None:
    from arduino_trader.daemon.service import StartupError

    with pytest.raises(StartupError, match="another daemon"):
        start_daemon(daemon.data_dir)
