"""System routes: health, status, jobs."""

from __future__ import annotations

import asyncio
import platform
import time
from datetime import timedelta
from typing import Any

from aiohttp import web

from arduino_trader import __version__
from arduino_trader.adapters.store import portfolio_repo, pruning_repo
from arduino_trader.adapters.store.api_queries import portfolio, securities
from arduino_trader.adapters.store.api_queries.connection import Reader
from arduino_trader.protocols.store import Database

from ..scheduler import JobAlreadyRunning, JobNotFound
from .context import ctx_of, reads_of
from .errors import conflict, not_found
from .helpers import ask_health, json_response
from .order_guard import confirmed
from .router import ApiRouter

router = ApiRouter("system")

HEALTH_SCHEMA: dict[str, Any] = {
    "type": "object",
    "required": ["status", "reasons"],
    "properties": {"status": {"enum": ["ok", "degraded", "failing"]},
                   "reasons": {"type": "array", "items": {"type": "string"}}},
}
JOB_SCHEMA: dict[str, Any] = {
    "type": "object",
    "required": ["name", "schedule", "status", "consecutive_failures"],
    "properties": {"name": {"type": "string"}, "schedule": {"type": "string"},
                   "status": {"enum": ["idle", "running"]},
                   "consecutive_failures": {"type": "integer"}},
}


@router.route("GET", "/health", summary="Liveness: ok/degraded answer 200, failing 503",
              auth=False, response=HEALTH_SCHEMA, errors={503: "failing"})
async def health(request: web.Request) -> web.Response:
    """200 when ok or degraded, 503 when failing or the monitor does not answer."""
    report = await ask_health(ctx_of(request))
    if report is None:
        return json_response({"status": "failing",
                              "reasons": ["health monitor is not answering"]}, status=503)
    body = {"status": report.level, "reasons": list(report.reasons),
            "actors_alive": report.actors_alive, "at": report.at}
    return json_response(body, status=503 if report.level == "failing" else 200)


@router.route("GET", "/api/system/status", summary="Daemon status: health, actors, jobs, mode",
              response={"type": "object", "required": ["status", "actors", "trading_mode"]})
async def status(request: web.Request) -> web.Response:
    """Everything an operator checks first."""
    ctx = ctx_of(request)
    settings = ctx.settings.current()
    report = await ask_health(ctx_of(request))
    body: dict[str, Any] = {
        "status": report.level if report else "failing",
        "reasons": list(report.reasons) if report else ["health monitor is not answering"],
        "version": __version__,
        "trading_mode": settings.typed.trading_mode,
        "broker": settings.typed.broker.kind,
        "uptime_s": round(time.monotonic() - ctx.started_at, 1) if ctx.started_at else 0,
        "data_dir": str(ctx.data_dir),
        "actors": report.actors if report else {},
        "components": report.components if report else {},
        "checks": report.checks if report else {},
        "jobs": ctx.scheduler.states(),
        "time": ctx.clock.now(),
        **await _portfolio_summary(ctx.store, reads_of(request)),
    }
    return json_response(body)


async def _portfolio_summary(store: Database, db: Reader) -> dict[str, Any]:
    """Universe size, positions, cash and the last sync, from the store."""
    total, active = await securities.universe_counts(db)
    snapshot = await portfolio.latest_snapshot(db)
    return {
        "security_count": total,
        "universe_active": active,
        "position_count": await portfolio.position_count(db),
        "last_sync": await asyncio.to_thread(portfolio_repo.last_sync, store),
        "cash_balance_eur": snapshot["cash_balance"] if snapshot else None,
        "portfolio_value_eur": snapshot["total_value"] if snapshot else None,
    }


@router.route("GET", "/api/version", summary="Build: version and Python", auth=False,
              response={"type": "object", "required": ["version"]})
async def version(request: web.Request) -> web.Response:
    """The running build."""
    return json_response({"version": __version__, "python": platform.python_version()})


@router.route("GET", "/api/system/jobs", summary="Every job with schedule, last/next run",
              response={"type": "object", "required": ["jobs"],
                        "properties": {"jobs": {"type": "array", "items": JOB_SCHEMA}}})
async def list_jobs(request: web.Request) -> web.Response:
    """The job registry."""
    return json_response({"jobs": ctx_of(request).scheduler.states()})


@router.route("GET", "/api/system/jobs/{name}", summary="One job's state",
              response=JOB_SCHEMA, errors={404: "unknown job"})
async def get_job(request: web.Request) -> web.Response:
    """One job, e.g. to poll a triggered run."""
    name = request.match_info["name"]
    try:
        return json_response(ctx_of(request).scheduler.state(name))
    except JobNotFound:
        raise not_found(f"unknown job {name!r}", code="unknown_job") from None


@router.route("POST", "/api/system/jobs/{name}", summary="Trigger a job now (202 + run id); "
              "a job that may send orders (places_orders) needs {confirm: \"EXECUTE\"}",
              status=202, errors={400: "confirmation required", 404: "unknown job",
                                  409: "already running", 429: "too many order-sending "
                                  "requests"},
              response={"type": "object", "required": ["job", "run_id", "status"],
                        "properties": {"job": {"type": "string"}, "run_id": {"type": "string"},
                                       "status": {"const": "started"}}})
async def trigger_job(request: web.Request) -> web.Response:
    """Start a run in the background; 409 while it is already running. A job that may
    send orders is guarded like ``POST /api/trades/recommendations/execute``."""
    name = request.match_info["name"]
    scheduler = ctx_of(request).scheduler
    try:
        if scheduler.state(name)["places_orders"]:
            await confirmed(request)
        run_id = scheduler.trigger(name, "manual")
    except JobNotFound:
        raise not_found(f"unknown job {name!r}; see GET /api/system/jobs",
                        code="unknown_job") from None
    except JobAlreadyRunning as exc:
        raise conflict(str(exc), code="job_running", run_id=exc.run_id) from None
    return json_response({"job": name, "run_id": run_id, "status": "started"}, status=202)


@router.route("POST", "/api/system/locks/clear",
              summary="Clear stale job locks (holder gone or older than "
                      "job_lock_stale_minutes); answers what it cleared",
              response={"type": "object", "required": ["cleared", "stale_after_minutes"],
                        "properties": {"cleared": {"type": "array", "items": {
                            "type": "object",
                            "required": ["job", "run_id", "running_since", "reason"]}},
                            "stale_after_minutes": {"type": "integer"}}})
async def clear_locks(request: web.Request) -> web.Response:
    """A lock still held by a live, younger run stays: its job keeps running alone."""
    ctx = ctx_of(request)
    minutes = ctx.settings.current().typed.job_lock_stale_minutes
    loop = asyncio.get_running_loop()  # the history write blocks: not on the API loop
    cleared = await loop.run_in_executor(ctx.executor, ctx.scheduler.clear_stale_locks,
                                         timedelta(minutes=minutes))
    return json_response({"cleared": cleared, "stale_after_minutes": minutes})


@router.route("GET", "/api/universe/pruning/flags",
              summary="Held securities the monthly pruning would have deactivated",
              response={"type": "object", "required": ["flags"]})
async def pruning_flags(request: web.Request) -> web.Response:
    """What the owner should review: held, yet below the pruning rules."""
    return json_response({"flags": await asyncio.to_thread(pruning_repo.flags,
                                                           ctx_of(request).store)})
