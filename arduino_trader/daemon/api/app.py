"""The admin API application: routers, error and auth middleware, OpenAPI."""

from __future__ import annotations

import asyncio
import contextlib
import hmac
import json
from collections.abc import AsyncIterator

import structlog
from aiohttp import web
from aiohttp.typedefs import Handler

from arduino_trader.adapters.store.api_queries.connection import ReadOnlyDb
from arduino_trader.protocols.messages import HealthReport
from arduino_trader.protocols.store import StoreBusy, StoreError, StoreFull, StoreReadOnly

from ..paths import DB_FILE
from . import (
    routes_alerts,
    routes_allocation,
    routes_broker,
    routes_cash_flows,
    routes_discovery,
    routes_display,
    routes_fx,
    routes_market,
    routes_metrics,
    routes_page,
    routes_planner,
    routes_planning_config,
    routes_portfolio,
    routes_rebalancing,
    routes_regime,
    routes_returns,
    routes_satellites,
    routes_settings,
    routes_streams,
    routes_system,
    routes_trades,
)
from .context import CONTEXT, READS, ApiContext
from .errors import ApiError
from .health_watch import watch_health
from .helpers import ask_health, json_response
from .host_check import host_middleware
from .openapi import build_openapi
from .router import ApiRouter, RouteSpec

log = structlog.get_logger(component="api")

ROUTERS: tuple[ApiRouter, ...] = (routes_system.router, routes_settings.router,
                                   routes_market.router, routes_broker.router,
                                   routes_trades.router, routes_metrics.router,
                                   routes_page.router, routes_portfolio.router,
                                   routes_cash_flows.router, routes_allocation.router,
                                   routes_satellites.router, routes_planner.router,
                                   routes_regime.router, routes_returns.router,
                                   routes_rebalancing.router, routes_fx.router,
                                   routes_alerts.router, routes_display.router,
                                   routes_planning_config.router, routes_streams.router,
                                   routes_discovery.router)
ROUTE_SPECS = web.AppKey("arduino_trader_route_specs", dict)

_STORE_STATUS: dict[type[StoreError], int] = {StoreBusy: 503, StoreReadOnly: 503, StoreFull: 507}


def _route_spec(request: web.Request) -> RouteSpec | None:
    resource = request.match_info.route.resource
    if resource is None:
        return None
    specs: dict[tuple[str, str], RouteSpec] = request.app[ROUTE_SPECS]
    method = "GET" if request.method == "HEAD" else request.method
    return specs.get((method, resource.canonical))


@web.middleware
async def error_middleware(request: web.Request, handler: Handler) -> web.StreamResponse:
    """Every failure becomes ``{"error", "message"}``; nothing escapes as HTML or a bare 500."""
    try:
        return await handler(request)
    except ApiError as exc:
        if exc.status >= 500:
            log.warning("api_error", path=request.path, status=exc.status, code=exc.code,
                        message=exc.message)
        return json_response(exc.body(), status=exc.status)
    except web.HTTPException as exc:
        if exc.status < 400:
            raise
        code = {404: "not_found", 405: "method_not_allowed", 413: "body_too_large"}.get(
            exc.status, "http_error")
        return json_response({"error": code, "message": exc.reason}, status=exc.status)
    except StoreError as exc:
        status = _STORE_STATUS.get(type(exc), 503)
        log.error("api_store_error", path=request.path, error=str(exc))
        return json_response({"error": exc.code, "message": str(exc)}, status=status)
    except Exception as exc:
        log.exception("api_unhandled_error", path=request.path, method=request.method)
        return json_response({"error": "internal_error",
                              "message": f"unexpected {type(exc).__name__}; see the logs"},
                             status=500)


@web.middleware
async def query_middleware(request: web.Request, handler: Handler) -> web.StreamResponse:
    """400 naming the documented parameters when a query parameter is not one of them."""
    spec = _route_spec(request)
    if spec is not None and request.query:
        known = {param.name for param in spec.query}
        unknown = sorted(set(request.query) - known)
        if unknown:
            raise ApiError(400, "unknown_query_parameter",
                           f"unknown query parameter(s): {', '.join(unknown)}; this route "
                           f"takes {', '.join(sorted(known)) or 'none'}",
                           unknown=unknown, known=sorted(known))
    return await handler(request)


@web.middleware
async def auth_middleware(request: web.Request, handler: Handler) -> web.StreamResponse:
    """Routes declared with ``auth`` need ``Authorization: Bearer <token>``."""
    spec = _route_spec(request)
    if spec is not None and spec.auth:
        token = request.app[CONTEXT].token
        header = request.headers.get("Authorization", "")
        scheme, _, given = header.partition(" ")
        if scheme.lower() != "bearer" or not given:
            raise ApiError(401, "unauthorized", "missing bearer token (Authorization: Bearer "
                                                "<token>; see <data_dir>/api-token)")
        if not hmac.compare_digest(given.strip().encode(), token.encode()):
            raise ApiError(403, "forbidden", "invalid bearer token")
    return await handler(request)


def create_app(ctx: ApiContext, routers: tuple[ApiRouter, ...] = ROUTERS) -> web.Application:
    """Build the aiohttp application with every router, middleware and the OpenAPI doc."""
    app = web.Application(middlewares=[error_middleware, host_middleware, auth_middleware,
                                       query_middleware],
                          client_max_size=1_000_000)
    app[CONTEXT] = ctx
    app[READS] = ReadOnlyDb(ctx.data_dir / DB_FILE)  # the handlers' reads: no SQL writes
    specs: dict[tuple[str, str], RouteSpec] = {}
    all_routes: list[RouteSpec] = []
    for router in routers:
        router.add_to(app)
        for spec in router.routes:
            key = (spec.method, spec.path)
            if key in specs:
                raise RuntimeError(f"route declared twice: {spec.method} {spec.path}")
            specs[key] = spec
            all_routes.append(spec)
    document = build_openapi(all_routes)
    text = json.dumps(document)

    async def openapi(request: web.Request) -> web.Response:
        return web.Response(text=text, content_type="application/json")

    app.router.add_get("/api/openapi.json", openapi)
    app[ROUTE_SPECS] = specs
    app.on_shutdown.append(_close_streams)
    app.on_cleanup.append(_close_reads)
    app.cleanup_ctx.append(_health_watch)
    return app


async def _health_watch(app: web.Application) -> AsyncIterator[None]:
    """While the app runs, stream the health monitor's changes (when streams are wired)."""
    ctx = app[CONTEXT]
    hub = ctx.events
    task = None
    if hub is not None:
        async def ask() -> HealthReport | None:
            try:
                return await ask_health(ctx)
            except Exception as exc:  # any failure to answer reads as "not answering"
                log.warning("health_watch_ask_failed", error=repr(exc))
                return None

        task = asyncio.create_task(watch_health(hub, ask))
    yield
    if task is not None:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task


async def _close_reads(app: web.Application) -> None:
    await app[READS].close()


async def _close_streams(app: web.Application) -> None:
    """The daemon is stopping: end every open event stream now."""
    hub = app[CONTEXT].events
    if hub is not None:
        hub.close()
