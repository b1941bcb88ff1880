"""Health derivation: which observations make the daemon degraded or failing."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from arduino_trader.domain.health import HealthThresholds, actor_alive, derive

NOW = datetime(2026, 5, 1, 12, 0, tzinfo=UTC)
LIMITS = HealthThresholds(heartbeat_timeout=timedelta(seconds=30), disk_warn_bytes=1000,
                          disk_fail_bytes=100, wal_warn_bytes=500, job_failures_degraded=3)
ALIVE = {"state": "started", "last_heartbeat": NOW - timedelta(seconds=5)}


def _derive(**kw: Any) -> tuple[str, list[str]]:
    args: dict[str, Any] = {"actors": {"health": ALIVE}, "components": {}, "jobs": {},
                            "checks": {"database": {"ok": True}, "disk": {"free_bytes": 10**6}}}
    args.update(kw)
    return derive(now=NOW, limits=LIMITS, **args)


def test_all_good_is_ok() -> None:
    assert _derive() == ("ok", [])


def test_silent_or_dead_actor_fails() -> None:
    stale = {"state": "started", "last_heartbeat": NOW - timedelta(seconds=31)}
    level, reasons = _derive(actors={"health": ALIVE, "planner": stale})
    assert level == "failing" and "planner" in reasons[0]
    assert _derive(actors={"x": {"state": "died"}})[0] == "failing"
    assert _derive(actors={"x": {"state": "gave_up"}})[0] == "failing"


def test_recent_restart_degrades() -> None:
    info = {**ALIVE, "state": "restarted", "last_restart": NOW - timedelta(minutes=1)}
    assert _derive(actors={"x": info})[0] == "degraded"
    info["last_restart"] = NOW - timedelta(hours=1)
    assert _derive(actors={"x": info})[0] == "ok"


def test_broker_outage_degrades_not_fails() -> None:
    level, reasons = _derive(components={"broker": {"level": "failing",
                                                    "message": "unreachable"}})
    assert level == "degraded" and reasons == ["broker: unreachable"]


def test_job_failures_disk_wal_database() -> None:
    assert _derive(jobs={"sync": {"consecutive_failures": 3}})[0] == "degraded"
    assert _derive(jobs={"sync": {"consecutive_failures": 2}})[0] == "ok"
    assert _derive(checks={"disk": {"free_bytes": 500}})[0] == "degraded"
    assert _derive(checks={"disk": {"free_bytes": 50}})[0] == "failing"
    assert _derive(checks={"wal_bytes": 501})[0] == "degraded"
    assert _derive(checks={"database": {"ok": False, "message": "corrupt"}})[0] == "failing"


def test_a_busy_actor_within_its_budget_is_alive_past_it_stuck() -> None:
    busy = {**ALIVE, "busy": "plan", "busy_since": NOW - timedelta(seconds=80),
            "budget_s": 60.0}
    assert _derive(actors={"planner": busy}) == ("ok", [])  # within budget + one timeout
    stuck = {**busy, "busy_since": NOW - timedelta(seconds=91)}
    level, reasons = _derive(actors={"planner": stuck})
    assert level == "failing"
    assert reasons == ["actor planner is stuck: plan overran its budget of 60 s"]
    assert not actor_alive(stuck, NOW, LIMITS.heartbeat_timeout)
    silent = {**busy, "last_heartbeat": NOW - timedelta(seconds=31)}
    assert not actor_alive(silent, NOW, LIMITS.heartbeat_timeout)
