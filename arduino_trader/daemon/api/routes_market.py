"""Market data and universe routes: markets status, securities, the
``/api/system/sync/*`` triggers (each starts the real job) and FX."""

from __future__ import annotations

import asyncio
from datetime import date, datetime
from typing import Any
from weakref import WeakKeyDictionary

import msgspec
from aiohttp import web
from msgspec import UNSET

from arduino_trader.adapters.market_data.calendars import EXCHANGES, MarketCalendars
from arduino_trader.adapters.store import market_repo as repo
from arduino_trader.adapters.store import (
    market_stats,
    price_history_repo,
    scores_repo,
    securities_repo,
)
from arduino_trader.adapters.store.api_queries import portfolio, securities
from arduino_trader.domain.universe import IdentifierError, validate_isin
from arduino_trader.protocols.market_data import (
    AddSecurity,
    FxRate,
    GetFxRate,
    MalformedPayload,
    MarketDataError,
    RateUnavailable,
    RefreshSecurity,
    UnknownSymbol,
)

from ..scheduler import JobAlreadyRunning, JobNotFound
from .bodies_market import AddSecurityBody, CreateSecurityBody, UpdateSecurityBody
from .body import read_struct
from .context import ctx_of, reads_of
from .errors import ApiError, bad_request, conflict, not_found
from .helpers import ask_actor, json_response
from .router import ApiRouter, QueryParam

router = ApiRouter("market")
ACTOR = "market_data"

SYNC_JOBS: dict[str, str] = {
    "prices": "sync_prices",
    "historical": "sync_historical",
    "rebuild-universe": "rebuild_universe",
    "securities-data": "sync_securities_data",
    "daily-pipeline": "sync_securities_data",
}
STARTED_SCHEMA: dict[str, Any] = {
    "type": "object", "required": ["job", "run_id", "status"],
    "properties": {"job": {"type": "string"}, "run_id": {"type": "string"},
                   "status": {"const": "started"}},
}
SECURITY_SCHEMA: dict[str, Any] = {
    "type": "object", "required": ["isin", "symbol", "name", "currency", "active"],
    "properties": {"isin": {"type": "string"}, "symbol": {"type": "string"},
                   "name": {"type": "string"}, "currency": {"type": "string"},
                   "active": {"type": "boolean"}},
}
MARKETS_SCHEMA: dict[str, Any] = {
    "type": "object", "required": ["markets", "open_count", "closed_count"],
    "properties": {"markets": {"type": "array", "items": {"type": "object"}},
                   "open_count": {"type": "integer"}, "closed_count": {"type": "integer"}},
}

# The markets view's build in flight per calendar set (read and written on the event
# loop only): requests during a build wait for that one instead of each holding a worker
# of the API's pool (which /health and every actor ask share) on the calendars' lock.
_builds: WeakKeyDictionary[MarketCalendars, asyncio.Future[None]] = WeakKeyDictionary()
MARKETS_WAIT_S = 5.0
"""How long the markets view waits for calendars still being built before it answers
503 ``calendars_loading`` (the build goes on: the first one after a start imports the
calendar library in a child and builds all twenty)."""


def _map_error(exc: Exception) -> ApiError:
    if isinstance(exc, IdentifierError):
        return bad_request(str(exc), code="invalid_identifier")
    if isinstance(exc, securities_repo.DuplicateSecurity):
        return bad_request(str(exc), code="duplicate_security")
    if isinstance(exc, UnknownSymbol):
        return not_found(str(exc), code="unknown_identifier")
    if isinstance(exc, RateUnavailable):
        return ApiError(503, exc.code, str(exc))
    if isinstance(exc, MalformedPayload):
        return ApiError(502, exc.code, str(exc))
    if isinstance(exc, MarketDataError):
        return ApiError(503, exc.code, str(exc))
    if isinstance(exc, LookupError):
        return not_found(str(exc))
    raise exc


async def _ask(request: web.Request, message: object,
               timeout: float = 30.0) -> Any:  # noqa: ASYNC109 - the ask's own timeout
    try:
        return await ask_actor(request, ACTOR, message, timeout=timeout)
    except ApiError:
        raise
    except (MarketDataError, IdentifierError, securities_repo.DuplicateSecurity,
            LookupError) as exc:
        raise _map_error(exc) from None


def _isin(request: web.Request) -> str:
    try:
        return validate_isin(request.match_info["isin"])
    except IdentifierError as exc:
        raise bad_request(str(exc), code="invalid_isin") from None


async def _security(request: web.Request) -> dict[str, Any]:
    isin = _isin(request)
    sec = await asyncio.to_thread(securities_repo.get_security, ctx_of(request).store, isin)
    if sec is None:
        raise not_found(f"no security with ISIN {isin}", code="unknown_security")
    return sec


def _trigger(request: web.Request, job: str) -> web.Response:
    scheduler = ctx_of(request).scheduler
    try:
        run_id = scheduler.trigger(job, "manual")
    except JobNotFound:
        raise not_found(f"job {job!r} is not registered", code="unknown_job") from None
    except JobAlreadyRunning as exc:
        raise conflict(str(exc), code="job_running", run_id=exc.run_id) from None
    return json_response({"job": job, "run_id": run_id, "status": "started"}, status=202)


# ------------------------------------------------------------------------ markets
@router.route("GET", "/api/system/markets", summary="Every exchange: open/closed, next "
              "close or open, time zone, calendar end; counts", response=MARKETS_SCHEMA,
              errors={503: "calendars not wired, or still being built (retry_after_s)"})
async def markets(request: web.Request) -> web.Response:
    """Status per known exchange from the daemon's own calendars (unknown/failed ⇒
    closed); 503 ``calendars_loading`` while they are still being built."""
    ctx = ctx_of(request)
    calendars = ctx.calendars
    if calendars is None:
        raise ApiError(503, "calendars_unavailable", "no market calendars in this daemon")
    now = ctx.clock.now()
    loop = asyncio.get_running_loop()
    build = _builds.get(calendars)
    if build is None or build.done():  # one build at a time, whoever asks meanwhile
        build = loop.run_in_executor(ctx.executor, _build_every_calendar, calendars,
                                     now.date())
        _builds[calendars] = build
    try:  # shielded: a build that outlasts the wait goes on for the next request
        await asyncio.wait_for(asyncio.shield(build), MARKETS_WAIT_S)
    except TimeoutError:
        raise ApiError(503, "calendars_loading", "the market calendars are still being "
                       "built; ask again shortly", retry_after_s=MARKETS_WAIT_S) from None
    statuses = await loop.run_in_executor(ctx.executor, _every_status, calendars, now)
    held = await securities.active_by_mic(reads_of(request))
    for status in statuses:
        status["securities"] = held.get(status["mic"], 0)
    open_count = sum(1 for s in statuses if s["open"])
    return json_response({"markets": statuses, "open_count": open_count,
                          "closed_count": len(statuses) - open_count, "total": len(statuses),
                          "unmapped_securities": held.get(None, 0), "at": now})


def _build_every_calendar(calendars: MarketCalendars, today: date) -> None:
    calendars.renew(today)
    calendars.load(EXCHANGES)  # one child builds every calendar not built yet


def _every_status(calendars: MarketCalendars, now: datetime) -> list[dict[str, Any]]:
    return [calendars.status(mic, now).to_json() for mic in EXCHANGES]


# ---------------------------------------------------------------------- securities
@router.route("GET", "/api/securities", summary="The universe with latest prices",
              query=(QueryParam("active", {"type": "boolean"}, "only active securities"),),
              response={"type": "object", "required": ["securities", "count"]})
async def list_securities(request: web.Request) -> web.Response:
    """All securities (or only active ones) with their latest accepted price."""
    active = request.query.get("active", "").lower() in ("1", "true", "yes")
    db = ctx_of(request).store
    items = await asyncio.to_thread(securities_repo.list_securities, db, active_only=active)
    scores = {s["isin"]: s for s in await asyncio.to_thread(scores_repo.read_scores, db)}
    positions = await portfolio.positions_by_isin(reads_of(request))
    for item in items:
        score = scores.get(item["isin"])
        item["score"] = None if score is None else score.get("total_score")
        item["score_calculated_at"] = None if score is None else score.get("calculated_at")
        item["position"] = positions.get(item["isin"])
    return json_response({"securities": items, "count": len(items)})


@router.route("GET", "/api/securities/{isin}", summary="One security: record, history "
              "stats, fundamentals/analyst data, quarantined prices",
              response=SECURITY_SCHEMA, errors={404: "unknown security"})
async def get_security(request: web.Request) -> web.Response:
    """Details of one security (400 for a non-ISIN, 404 when unknown)."""
    sec = await _security(request)
    db = ctx_of(request).store
    sec["history"] = await asyncio.to_thread(market_stats.history_stats, db, sec["isin"])
    sec["monthly_points"] = len(await asyncio.to_thread(price_history_repo.monthly_prices, db,
                                                        sec["isin"]))
    sec["data"] = await asyncio.to_thread(repo.read_security_data, db, sec["isin"])
    sec["quarantined"] = await asyncio.to_thread(price_history_repo.quarantine_list, db,
                                                 sec["isin"], limit=20)
    sec["score"] = await asyncio.to_thread(scores_repo.read_score, db, sec["isin"])
    sec["position"] = (await portfolio.positions_by_isin(reads_of(request))).get(sec["isin"])
    return json_response(sec)


@router.route("GET", "/api/securities/{isin}/prices", summary="Stored daily prices of one "
              "security (oldest first)",
              query=(QueryParam("start", {"type": "string", "format": "date"}),
                     QueryParam("end", {"type": "string", "format": "date"}),
                     QueryParam("limit", {"type": "integer", "minimum": 1,
                                          "maximum": 10000})),
              response={"type": "object", "required": ["isin", "prices"]},
              errors={404: "unknown security"})
async def security_prices(request: web.Request) -> web.Response:
    """Daily history from the store; ``limit`` keeps the newest rows."""
    sec = await _security(request)
    try:
        start = date.fromisoformat(request.query["start"]) if "start" in request.query else None
        end = date.fromisoformat(request.query["end"]) if "end" in request.query else None
        limit = int(request.query.get("limit", "1000"))
    except ValueError as exc:
        raise bad_request(f"bad query parameter: {exc}") from None
    if not 1 <= limit <= 10_000:
        raise bad_request("limit must be within 1..10000")
    bars = await asyncio.to_thread(price_history_repo.read_history, ctx_of(request).store,
                                   sec["isin"], start, end)
    bars = bars[-limit:]
    return json_response({"isin": sec["isin"], "count": len(bars), "prices": [
        {"date": b.day, "close": b.close, "open": b.open, "high": b.high, "low": b.low,
         "adj_close": b.adj_close, "volume": b.volume} for b in bars]})




@router.route("POST", "/api/securities", summary="Create a security {isin, symbol, name, "
              "currency?, yahoo_symbol?, min_lot, allow_buy, allow_sell}; history follows "
              "in the background", status=202, response=SECURITY_SCHEMA,
              body=CreateSecurityBody)
async def create_security(request: web.Request) -> web.Response:
    """Validate the ISIN and fields, then onboard through the market-data actor."""
    body = await read_struct(request, CreateSecurityBody)
    try:
        isin = validate_isin(body.isin)
    except IdentifierError as exc:
        raise bad_request(str(exc), code="invalid_isin") from None
    record = await _ask(request, AddSecurity(isin, body.overrides()))
    return json_response({"message": f"{record['symbol']} added; history sync started",
                          **record}, status=202)


@router.route("POST", "/api/securities/add-by-identifier", summary="Onboard by ISIN, broker "
              "ticker or Yahoo symbol {identifier, min_lot?, allow_buy?, allow_sell?}",
              status=202, response=SECURITY_SCHEMA,
              body=AddSecurityBody,
              errors={404: "unknown identifier", 503: "source unavailable"})
async def add_by_identifier(request: web.Request) -> web.Response:
    """Add a security: resolve, refuse bad ISINs and duplicates, insert; history follows."""
    body = await read_struct(request, AddSecurityBody)
    record = await _ask(request, AddSecurity(body.identifier.strip(), body.overrides()))
    return json_response({"message": f"{record['symbol']} added; history sync started",
                          **record}, status=202)


@router.route("POST", "/api/securities/refresh-all", summary="Securities data sync of every "
              "active security now, ignoring the 24 h rule (202 + run id)", status=202,
              response=STARTED_SCHEMA, errors={409: "already running"})
async def refresh_all(request: web.Request) -> web.Response:
    """Start the ``refresh_all_securities`` job."""
    return _trigger(request, "refresh_all_securities")


@router.route("POST", "/api/securities/{isin}/refresh-data", summary="Refresh one security's "
              "history and data now", response={"type": "object", "required": ["isin"]},
              errors={404: "unknown security"})
async def refresh_data(request: web.Request) -> web.Response:
    """Synchronous refresh of one security through the market-data actor."""
    sec = await _security(request)
    result = await _ask(request, RefreshSecurity(sec["isin"]), timeout=300)
    return json_response(result)


@router.route("POST", "/api/securities/{isin}/refresh", summary="Rescore now (runs the "
              "score_universe job, which scores this security with the rest; 202 + run id)",
              status=202, errors={404: "unknown security", 409: "already running"},
              response={"type": "object", "required": ["job", "run_id", "status"]})
async def refresh_score(request: web.Request) -> web.Response:
    """Validate the ISIN, then start the scoring job."""
    await _security(request)
    return _trigger(request, "score_universe")


@router.route("PUT", "/api/securities/{isin}", summary="Update editable fields of a security",
              response=SECURITY_SCHEMA, errors={404: "unknown security"},
              body=UpdateSecurityBody)
async def update_security(request: web.Request) -> web.Response:
    """Validate, clamp (multiplier 0.1-3.0, targets), refuse max < min; nothing ⇒ 400."""
    sec = await _security(request)
    fields = _update_fields(await read_struct(request, UpdateSecurityBody), sec)
    if not fields:
        raise bad_request("nothing to update")
    ctx = ctx_of(request)
    await asyncio.to_thread(securities_repo.update_security, ctx.store, sec["isin"], fields,
                            ctx.clock.now())
    return json_response(await asyncio.to_thread(securities_repo.get_security, ctx.store,
                                                 sec["isin"]))


_LIMITS = {"priority_multiplier": (0.1, 3.0), "min_portfolio_target": (0.0, 20.0),
           "max_portfolio_target": (0.0, 30.0)}


def _update_fields(body: UpdateSecurityBody, sec: dict[str, Any]) -> dict[str, Any]:
    given = {k: v for k, v in msgspec.structs.asdict(body).items() if v is not UNSET}
    if "full_exchange_name" in given:
        given["exchange"] = given.pop("full_exchange_name")
    fields: dict[str, Any] = {}
    for key, value in given.items():
        if isinstance(value, str) and key != "product_type":
            value = value.strip() or None
            fields[key] = value.upper() if key in ("yahoo_symbol", "mic") and value else value
        elif isinstance(value, bool):
            fields[key] = int(value)
        elif key in _LIMITS and value is not None:
            low, high = _LIMITS[key]
            fields[key] = min(max(float(value), low), high)
        else:
            fields[key] = value
    low_t = fields.get("min_portfolio_target", sec.get("min_portfolio_target"))
    high_t = fields.get("max_portfolio_target", sec.get("max_portfolio_target"))
    if low_t is not None and high_t is not None and high_t < low_t:
        raise bad_request("max_portfolio_target is below min_portfolio_target")
    return fields


@router.route("DELETE", "/api/securities/{isin}", summary="Deactivate a security (soft delete)",
              response=SECURITY_SCHEMA, errors={404: "unknown security"})
async def delete_security(request: web.Request) -> web.Response:
    """Set ``active = 0``; history and records stay."""
    sec = await _security(request)
    ctx = ctx_of(request)
    await asyncio.to_thread(securities_repo.update_security, ctx.store, sec["isin"], {"active": 0},
                            ctx.clock.now())
    return json_response(await asyncio.to_thread(securities_repo.get_security, ctx.store,
                                                 sec["isin"]))


# --------------------------------------------------------------------------- sync
def _sync_route(name: str, job: str) -> None:
    async def handler(request: web.Request) -> web.Response:
        return _trigger(request, job)

    handler.__doc__ = f"Start the {job} job."
    router.route("POST", f"/api/system/sync/{name}", summary=f"Start the {job} job now "
                 "(202 + run id; poll GET /api/system/jobs/{name})", status=202,
                 response=STARTED_SCHEMA, errors={409: "already running"})(handler)


for _name, _job in SYNC_JOBS.items():
    _sync_route(_name, _job)


# ----------------------------------------------------------------------------- FX
@router.route("GET", "/api/market/fx/{currency}", summary="EUR value of one unit of a "
              "currency, with its date and source", response={"type": "object"},
              errors={503: "no rate (never assumed 1:1)"})
async def fx_rate(request: web.Request) -> web.Response:
    """Cached / broker / Yahoo / stored rate; 503 ``fx_rate_unavailable`` when none."""
    code = request.match_info["currency"].strip().upper()
    if len(code) != 3 or not code.isalpha():
        raise bad_request(f"{code!r} is not a currency code", code="invalid_currency")
    rate: FxRate = await _ask(request, GetFxRate(code))
    return json_response({"currency": rate.currency, "eur_per": rate.eur_per,
                          "date": rate.day, "as_of": rate.as_of, "source": rate.source})
