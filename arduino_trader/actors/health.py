"""The health monitor: liveness of every actor, components, jobs, disk and database."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime, timedelta
from typing import Any

from arduino_trader.domain.health import HealthThresholds, actor_alive, derive
from arduino_trader.protocols.jobs import JobSpec
from arduino_trader.protocols.messages import (
    ActorLifecycle,
    CheckHealthNow,
    ComponentStatus,
    GetHealth,
    HealthReport,
    Heartbeat,
    JobFinished,
    JobOutcome,
    RunJob,
)
from arduino_trader.protocols.store import StoreError

from .base import BaseActor, RuntimeContext, handles

Checks = Callable[[], dict[str, Any]]

JOBS: tuple[JobSpec, ...] = (
    JobSpec("health_check", "health", "Database quick_check, WAL size and disk space",
            every_minutes_key="job_health_check_minutes", timeout_s=120, run_at_startup=True),
)


class HealthActor(BaseActor):
    """Collects heartbeats and reports; derives ok / degraded / failing on request."""

    name = "health"

    def __init__(self, ctx: RuntimeContext, *, expected: tuple[str, ...],
                 run_checks: Checks) -> None:
        super().__init__(ctx)
        self._actors: dict[str, dict[str, Any]] = {n: {"state": "starting"} for n in expected}
        self._components: dict[str, dict[str, Any]] = {}
        self._jobs: dict[str, dict[str, Any]] = {}
        self._checks: dict[str, Any] = {}
        self._run_checks = run_checks
        self._last_level = "ok"

    def _limits(self) -> HealthThresholds:
        s = self.ctx.settings()
        return HealthThresholds(
            heartbeat_timeout=timedelta(seconds=s.typed.health.heartbeat_timeout_s),
            disk_warn_bytes=s.typed.health.disk_warn_free_mb * 2**20,
            disk_fail_bytes=s.typed.health.disk_fail_free_mb * 2**20,
            wal_warn_bytes=s.typed.health.wal_warn_mb * 2**20,
            job_failures_degraded=s.typed.health.job_failures_degraded,
        )

    @handles(Heartbeat)
    def _on_heartbeat(self, msg: Heartbeat) -> None:
        info = self._actors.setdefault(msg.actor, {"state": "started"})
        info["last_heartbeat"] = msg.at
        if msg.busy:
            info.update(busy=msg.busy, busy_since=msg.busy_since, budget_s=msg.budget_s)
        else:
            for key in ("busy", "busy_since", "budget_s"):
                info.pop(key, None)

    @handles(ActorLifecycle)
    def _on_lifecycle(self, msg: ActorLifecycle) -> None:
        info = self._actors.setdefault(msg.actor, {})
        info["state"] = msg.event
        info["restarts"] = msg.restarts
        if msg.event in ("started", "restarted"):
            # A fresh actor counts as alive until its first heartbeat is due.
            info["last_heartbeat"] = msg.at
        if msg.event == "restarted":
            info["last_restart"] = msg.at
        if msg.error:
            info["error"] = msg.error
        self.log.info("actor_lifecycle", subject=msg.actor, lifecycle=msg.event,
                      restarts=msg.restarts)

    @handles(ComponentStatus)
    def _on_component(self, msg: ComponentStatus) -> None:
        previous = self._components.get(msg.name, {}).get("level")
        self._components[msg.name] = {"level": msg.level, "message": msg.message, "at": msg.at}
        if previous != msg.level:
            log = self.log.warning if msg.level != "ok" else self.log.info
            log("component_status_changed", component=msg.name, level=msg.level,
                message=msg.message)

    @handles(JobFinished)
    def _on_job(self, msg: JobFinished) -> None:
        info = self._jobs.setdefault(msg.job, {"consecutive_failures": 0})
        info["last_run"] = msg.at
        info["last_ok"] = msg.ok
        info["last_summary"] = msg.summary
        info["consecutive_failures"] = 0 if msg.ok else info["consecutive_failures"] + 1
        if msg.ok:
            info["last_success"] = msg.at

    @handles(CheckHealthNow)
    def _on_check_now(self, msg: CheckHealthNow) -> dict[str, Any]:
        self._refresh_checks()
        return dict(self._checks)

    @handles(RunJob)
    def _on_run_job(self, msg: RunJob) -> JobOutcome:
        if msg.job != "health_check":
            return JobOutcome(False, f"health does not run job {msg.job!r}")
        self._refresh_checks()
        report = self._report()
        db = self._checks.get("database", {})
        ok = bool(db.get("ok", False))
        return JobOutcome(ok, f"health {report.level}; database "
                              f"{'ok' if ok else db.get('message', 'unchecked')}",
                          {"level": report.level, "reasons": list(report.reasons)})

    def _refresh_checks(self) -> None:
        try:
            self._checks = self._run_checks()
        except (StoreError, OSError) as exc:  # the database or the disk cannot say
            self._checks = {"database": {"ok": False, "message": f"checks failed: {exc!r}"}}
        self._checks["checked_at"] = self.ctx.clock.now()

    @handles(GetHealth)
    def _on_get(self, msg: GetHealth) -> HealthReport:
        return self._report()

    def _report(self) -> HealthReport:
        now = self.ctx.clock.now()
        limits = self._limits()
        level, reasons = derive(now=now, actors=self._actors, components=self._components,
                                jobs=self._jobs, checks=self._checks, limits=limits)
        actors = {
            name: {**_jsonable(info),
                   "alive": actor_alive(info, now, limits.heartbeat_timeout)}
            for name, info in self._actors.items()
        }
        if level != self._last_level:
            log = self.log.warning if level != "ok" else self.log.info
            log("health_changed", level=level, previous=self._last_level, reasons=reasons)
            self._last_level = level
        return HealthReport(
            level=level, reasons=tuple(reasons), actors=actors,
            components={k: _jsonable(v) for k, v in self._components.items()},
            jobs={k: _jsonable(v) for k, v in self._jobs.items()},
            checks=_jsonable(self._checks),
            actors_alive=all(a["alive"] for a in actors.values()),
            at=now,
        )


def _jsonable(info: dict[str, Any]) -> dict[str, Any]:
    return {k: (v.isoformat() if isinstance(v, datetime) else v) for k, v in info.items()}
