"""The nine settings routes, with the safe decisions applied."""

from __future__ import annotations

import asyncio
from typing import Any

import structlog
from aiohttp import web

from arduino_trader.config.schema import SETTINGS
from arduino_trader.config.settings import MASK
from arduino_trader.config.spec import SettingError

from ..caches import CacheRegistry
from ..restart import RESTART_EXIT_CODE, no_new_privileges
from ..settings_service import LIVE_CONFIRMATION
from .bodies_settings import SettingBody, TradingModeBody
from .body import read_struct
from .context import ApiContext, ctx_of
from .errors import ApiError, bad_request
from .helpers import json_response
from .router import ApiRouter

router = ApiRouter("settings")
log = structlog.get_logger(component="api")

STATUS_SCHEMA: dict[str, Any] = {"type": "object", "required": ["status"]}
MODE_SCHEMA: dict[str, Any] = {
    "type": "object", "required": ["trading_mode"],
    "properties": {"trading_mode": {"enum": ["research", "live"]},
                   "previous_mode": {"enum": ["research", "live"]}},
}


def _schema_of(key: str) -> dict[str, Any]:
    spec = SETTINGS[key]
    return {"type": spec.type, "default": MASK if spec.secret and spec.default else
            spec.to_json(spec.default), "unit": spec.unit, "range": spec.range_text(),
            "secret": spec.secret, "runtime": spec.runtime, "group": spec.group,
            "description": spec.description}


@router.route("GET", "/api/settings", summary="Effective settings (secrets masked) and schema",
              response={"type": "object", "required": ["settings", "sources", "schema"]})
async def get_settings(request: web.Request) -> web.Response:
    """Merged settings; secret values are never returned."""
    settings = ctx_of(request).settings.current()
    return json_response({"settings": settings.public(), "sources": dict(settings.sources),
                          "schema": {k: _schema_of(k) for k in SETTINGS}})


@router.route("PUT", "/api/settings/{key}", summary="Set one runtime setting {value}",
              body=SettingBody,
              response={"type": "object"}, errors={404: "unknown setting"})
async def put_setting(request: web.Request) -> web.Response:
    """Validate and persist one override; 400 names the key and its valid range."""
    key = request.match_info["key"]
    if key not in SETTINGS:
        raise ApiError(404, "unknown_setting", f"unknown setting {key!r}")
    body = await read_struct(request, SettingBody)
    ctx = ctx_of(request)
    try:
        value = await asyncio.to_thread(ctx.settings.set, key, body.value)
    except SettingError as exc:
        raise bad_request(str(exc), code="invalid_setting", key=key,
                          range=SETTINGS[key].range_text()) from None
    spec = SETTINGS[key]
    shown = (MASK if value else "") if spec.secret else spec.to_json(value)
    if key.startswith("job_"):
        ctx.scheduler.reschedule()
    return json_response({key: shown})


@router.route("DELETE", "/api/settings/{key}",
              summary="Remove a runtime override (back to file, environment or default)",
              response={"type": "object"}, errors={404: "unknown setting"})
async def delete_setting(request: web.Request) -> web.Response:
    """Drop the override of one key; answers the value now in force and its source."""
    key = request.match_info["key"]
    if key not in SETTINGS:
        raise ApiError(404, "unknown_setting", f"unknown setting {key!r}")
    ctx = ctx_of(request)
    try:
        value = await asyncio.to_thread(ctx.settings.reset, key)
    except SettingError as exc:
        raise bad_request(str(exc), code="invalid_setting", key=key) from None
    spec = SETTINGS[key]
    shown = (MASK if value else "") if spec.secret else spec.to_json(value)
    if key.startswith("job_"):
        ctx.scheduler.reschedule()
    return json_response({key: shown, "source": ctx.settings.current().sources[key]})


def _require_restart_allowed(ctx: ApiContext) -> None:
    if not ctx.settings.current().typed.api.allow_restart:
        raise ApiError(403, "restart_disabled", "restart endpoints are off; set "
                       "api.allow_restart = true in the config file")


async def _run_privileged(argv: list[str]) -> tuple[bool, str]:
    try:
        proc = await asyncio.create_subprocess_exec(
            "sudo", "-n", *argv, stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.STDOUT)
        out, _ = await asyncio.wait_for(proc.communicate(), timeout=30)
    except (OSError, TimeoutError) as exc:
        return False, f"{' '.join(argv)} failed: {exc}"
    text = out.decode(errors="replace").strip()[:500]
    return proc.returncode == 0, text or f"exit {proc.returncode}"


@router.route("POST", "/api/settings/restart-service", summary="Restart the service: stop "
              "cleanly and exit with code 75, which the systemd unit restarts",
              response=STATUS_SCHEMA, status=202,
              errors={403: "restart endpoints disabled",
                      503: "not running under the daemon's main loop"})
async def restart_service(request: web.Request) -> web.StreamResponse:
    """Answer 202, then have the main thread stop the daemon and exit with code 75."""
    ctx = ctx_of(request)
    _require_restart_allowed(ctx)
    exit_request = ctx.exit_request
    if exit_request is None:
        raise ApiError(503, "restart_unavailable", "this process cannot restart itself")
    log.warning("service_restart_requested", exit_code=RESTART_EXIT_CODE)
    response = json_response({"status": "restarting", "exit_code": RESTART_EXIT_CODE,
                              "message": "stopping; systemd starts the service again"},
                             status=202)
    await response.prepare(request)
    await response.write_eof()  # the answer is on its way before the API stops
    exit_request.request(RESTART_EXIT_CODE)
    return response


@router.route("POST", "/api/settings/restart", summary="Reboot the board",
              response=STATUS_SCHEMA,
              errors={403: "restart endpoints disabled",
                      409: "the process may not gain privileges (systemd hardening)"})
async def reboot(request: web.Request) -> web.Response:
    """``sudo -n reboot`` when enabled in config and the process may gain privileges."""
    ctx = ctx_of(request)
    _require_restart_allowed(ctx)
    if no_new_privileges():
        raise ApiError(409, "reboot_unavailable", "this process runs with NoNewPrivileges "
                       "(the systemd unit's hardening), so sudo cannot work; reboot from a "
                       "shell, or restart only the service with "
                       "POST /api/settings/restart-service")
    log.warning("reboot_requested")
    ok, message = await _run_privileged(["reboot"])
    return json_response({"status": "rebooting" if ok else "error", "message": message})


def _caches(ctx: ApiContext) -> CacheRegistry:
    return ctx.caches if ctx.caches is not None else CacheRegistry()


@router.route("POST", "/api/settings/reset-cache", summary="Clear every in-memory cache",
              response=STATUS_SCHEMA)
async def reset_cache(request: web.Request) -> web.Response:
    """Clears the registered caches and reports how many entries each dropped."""
    cleared = _caches(ctx_of(request)).clear_all()
    log.info("caches_cleared", cleared=cleared)
    return json_response({"status": "ok", "cleared": cleared})


@router.route("GET", "/api/settings/cache-stats", summary="Entries per cache (read-only)",
              response={"type": "object", "required": ["caches"]})
async def cache_stats(request: web.Request) -> web.Response:
    """Sizes only; a GET never deletes anything."""
    return json_response({"caches": _caches(ctx_of(request)).stats()})


@router.route("POST", "/api/settings/reschedule-jobs", summary="Re-read job_* settings",
              response=STATUS_SCHEMA)
async def reschedule_jobs(request: web.Request) -> web.Response:
    """Recompute every job's next run from the current settings."""
    scheduler = ctx_of(request).scheduler
    scheduler.reschedule()
    return json_response({"status": "ok", "jobs": scheduler.states()})


@router.route("GET", "/api/settings/trading-mode", summary="The trading mode",
              response=MODE_SCHEMA)
async def get_trading_mode(request: web.Request) -> web.Response:
    """``{trading_mode}``."""
    return json_response(
        {"trading_mode": ctx_of(request).settings.current().typed.trading_mode})


@router.route("POST", "/api/settings/trading-mode",
              summary="Set the mode explicitly: {mode, confirm} (never a toggle)",
              body=TradingModeBody,
              response=MODE_SCHEMA)
async def set_trading_mode(request: web.Request) -> web.Response:
    """Idempotent; live needs credentials and ``confirm: "ENABLE LIVE TRADING"``."""
    body = await read_struct(request, TradingModeBody)
    try:
        new, previous = await asyncio.to_thread(ctx_of(request).settings.set_trading_mode,
                                                body.mode, body.confirm)
    except SettingError as exc:
        raise bad_request(exc.reason, code="mode_change_refused",
                          confirmation=LIVE_CONFIRMATION) from None
    return json_response({"trading_mode": new, "previous_mode": previous})
