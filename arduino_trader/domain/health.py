"""Deriving the daemon's health level from what the monitor has observed (pure)."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, Literal

Level = Literal["ok", "degraded", "failing"]
_RANK = {"ok": 0, "degraded": 1, "failing": 2}


@dataclass(frozen=True)
class HealthThresholds:
    """Limits taken from settings."""

    heartbeat_timeout: timedelta
    disk_warn_bytes: int
    disk_fail_bytes: int
    wal_warn_bytes: int
    job_failures_degraded: int
    recent_restart: timedelta = timedelta(minutes=10)


def worst(*levels: Level) -> Level:
    """The most severe of ``levels`` (ok when empty)."""
    result: Level = "ok"
    for level in levels:
        if _RANK[level] > _RANK[result]:
            result = level
    return result


def actor_alive(info: Mapping[str, Any], now: datetime, timeout: timedelta) -> bool:
    """An actor is alive when started, its last heartbeat is recent and, when it is busy
    with a job, the job is still within its budget (plus one heartbeat timeout for the
    actor to cancel it). A busy actor keeps sending heartbeats; one that falls silent or
    overruns its budget is stuck."""
    if info.get("state") not in ("started", "restarted"):
        return False
    beat = info.get("last_heartbeat")
    if not (isinstance(beat, datetime) and now - beat <= timeout):
        return False
    return not over_budget(info, now, timeout)


def over_budget(info: Mapping[str, Any], now: datetime, timeout: timedelta) -> bool:
    """True when the actor's current job has outrun its budget by more than ``timeout``."""
    since, budget = info.get("busy_since"), info.get("budget_s")
    if not info.get("busy") or not isinstance(since, datetime) or not budget:
        return False
    return now - since > timedelta(seconds=float(budget)) + timeout


def derive(*, now: datetime, actors: Mapping[str, Mapping[str, Any]],
           components: Mapping[str, Mapping[str, Any]],
           jobs: Mapping[str, Mapping[str, Any]], checks: Mapping[str, Any],
           limits: HealthThresholds) -> tuple[Level, list[str]]:
    """The health level and the reasons for anything not ok.

    failing: an actor given up or not alive, the database check failed, the disk
    nearly full. degraded: a component degraded/failing (broker, market data), an actor
    restarted recently, a job failing repeatedly, disk or WAL over the warning level.
    """
    level: Level = "ok"
    reasons: list[str] = []

    def flag(new: Level, reason: str) -> None:
        nonlocal level
        level = worst(level, new)
        reasons.append(reason)

    for name, info in sorted(actors.items()):
        if info.get("state") == "gave_up":
            flag("failing", f"actor {name} keeps crashing and was given up")
        elif over_budget(info, now, limits.heartbeat_timeout) and \
                actor_alive({**info, "busy": ""}, now, limits.heartbeat_timeout):
            flag("failing", f"actor {name} is stuck: {info['busy']} overran its budget "
                            f"of {info['budget_s']:g} s")
        elif not actor_alive(info, now, limits.heartbeat_timeout):
            flag("failing", f"actor {name} is not alive ({info.get('state', 'unknown')})")
        else:
            restarted = info.get("last_restart")
            if isinstance(restarted, datetime) and now - restarted <= limits.recent_restart:
                flag("degraded", f"actor {name} restarted at {restarted.isoformat()}")
    for name, info in sorted(components.items()):
        comp_level = info.get("level", "ok")
        if comp_level in ("degraded", "failing"):
            # A component outage degrades the daemon; it keeps running and retries.
            flag("degraded", f"{name}: {info.get('message', comp_level)}")
    for name, info in sorted(jobs.items()):
        failures = int(info.get("consecutive_failures", 0))
        if failures >= limits.job_failures_degraded:
            flag("degraded", f"job {name} failed {failures} times in a row: "
                             f"{info.get('last_summary', '')}")
    db = checks.get("database")
    if isinstance(db, Mapping) and not db.get("ok", True):
        flag("failing", f"database check failed: {db.get('message', '')}")
    disk = checks.get("disk")
    if isinstance(disk, Mapping) and "free_bytes" in disk:
        free = int(disk["free_bytes"])
        if free < limits.disk_fail_bytes:
            flag("failing", f"disk nearly full: {free // 2**20} MiB free")
        elif free < limits.disk_warn_bytes:
            flag("degraded", f"disk low: {free // 2**20} MiB free")
    wal = checks.get("wal_bytes")
    if isinstance(wal, int) and wal > limits.wal_warn_bytes:
        flag("degraded", f"WAL file is {wal // 2**20} MiB")
    return level, reasons
