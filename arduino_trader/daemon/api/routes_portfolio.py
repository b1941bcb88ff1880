"""Portfolio, chart and status routes.

Read-only. Missing prices, missing FX, an empty portfolio or an unreadable snapshot row
never make a 500: the answer carries what is known and names what is missing.
"""

from __future__ import annotations

import asyncio
import shutil
from datetime import date, datetime, timedelta
from decimal import Decimal
from typing import Any

from aiohttp import web

from arduino_trader.adapters.store import maintenance, snapshot_repo
from arduino_trader.adapters.store import portfolio_repo as repo
from arduino_trader.adapters.store.api_queries import securities, system
from arduino_trader.domain import analytics
from arduino_trader.domain.universe import IdentifierError, validate_isin

from .. import log_buffer
from ..paths import DB_FILE
from .context import ApiContext, ctx_of, reads_of
from .errors import bad_request, not_found
from .helpers import json_response
from .router import ApiRouter, QueryParam

router = ApiRouter("portfolio")

RANGES_MONTHS: dict[str, int | None] = {"1M": 1, "3M": 3, "6M": 6, "1Y": 12, "5Y": 60,
                                        "10Y": 120, "all": None}
LOG_FILES = {"daemon": "the daemon's own log (JSON lines, newest kept in memory)"}
MAX_SEARCH = 200
OBJECT: dict[str, Any] = {"type": "object"}


# ----------------------------------------------------------------------- helpers
def _int_query(request: web.Request, name: str, default: int, low: int, high: int) -> int:
    raw = request.query.get(name)
    if raw is None or raw == "":
        return default
    try:
        value = int(raw)
    except ValueError:
        raise bad_request(f"{name} must be an integer", code="invalid_query") from None
    if not low <= value <= high:
        raise bad_request(f"{name} must be between {low} and {high}", code="invalid_query")
    return value


def _today(ctx: ApiContext) -> date:
    return ctx.clock.now().date()


def _mode(ctx: ApiContext) -> str:
    broker = ctx.broker
    return "research" if broker is None or getattr(broker, "simulated", True) else "live"


def _sum(values: list[Decimal | None]) -> Decimal | None:
    if any(v is None for v in values):
        return None
    return sum((v or Decimal(0) for v in values), Decimal(0))


def months_before(day: date, months: int) -> date:
    """The same day ``months`` calendar months earlier (clamped to the month's end)."""
    index = day.year * 12 + day.month - 1 - months
    year, month = divmod(index, 12)
    month += 1
    nxt = date(year + (month == 12), month % 12 + 1, 1)
    last = (nxt - timedelta(days=1)).day
    return date(year, month, min(day.day, last))


async def _holdings(ctx: ApiContext) -> dict[str, Any]:
    positions = await asyncio.to_thread(repo.list_positions, ctx.store)
    cash = await asyncio.to_thread(repo.list_cash, ctx.store)
    pos_eur = [repo.to_decimal(p["market_value_eur"]) for p in positions]
    cash_eur = [repo.to_decimal(c["amount_eur"]) for c in cash]
    missing = sorted({p["currency"] for p, v in zip(positions, pos_eur, strict=True)
                      if v is None} | {c["currency"] for c, v in zip(cash, cash_eur, strict=True)
                                       if v is None})
    return {"positions": positions, "cash": cash, "pos_eur": pos_eur, "cash_eur": cash_eur,
            "missing_fx": missing}


# --------------------------------------------------------------------- portfolio
@router.route("GET", "/api/portfolio", summary="Positions with security facts, by EUR "
              "value descending", response={"type": "object", "required": ["positions"]})
async def portfolio(request: web.Request) -> web.Response:
    """Positions as last synced (EUR figures null where the FX rate is missing)."""
    ctx = ctx_of(request)
    held = await _holdings(ctx)
    invested, cash = _sum(held["pos_eur"]), _sum(held["cash_eur"])
    return json_response({"positions": held["positions"], "count": len(held["positions"]),
                          "total_value_eur": None if invested is None or cash is None
                          else invested + cash, "invested_eur": invested, "cash_eur": cash,
                          "missing_fx": held["missing_fx"],
                          "last_sync": await asyncio.to_thread(repo.last_sync, ctx.store)})


@router.route("GET", "/api/portfolio/summary", summary="Total value, cash, invested value, "
              "regions, buckets and per-currency cash",
              response={"type": "object", "required": ["total_value", "cash_balance",
                                                       "allocations"]})
async def summary(request: web.Request) -> web.Response:
    """Totals are null while a currency has no rate (``missing_fx`` says which)."""
    ctx = ctx_of(request)
    held = await _holdings(ctx)
    invested = _sum(held["pos_eur"])
    cash = _sum(held["cash_eur"])
    total = None if invested is None or cash is None else invested + cash
    values = {p["symbol"]: float(v) for p, v in zip(held["positions"], held["pos_eur"],
                                                      strict=True) if v is not None}
    countries = {p["symbol"]: p.get("country") for p in held["positions"]}
    buckets: dict[str, Decimal] = {}
    for p, v in zip(held["positions"], held["pos_eur"], strict=True):
        if v is not None:
            buckets[p["bucket_id"]] = buckets.get(p["bucket_id"], Decimal(0)) + v
    return json_response({
        "total_value": total, "cash_balance": cash, "invested_value": invested,
        "allocations": {k: round(v, 2) for k, v in
                        analytics.region_shares(values, countries).items()},
        "buckets": [{"bucket_id": b, "invested_value": v} for b, v in sorted(buckets.items())],
        "cash": [{"currency": c["currency"], "amount": c["amount"],
                  "amount_eur": c["amount_eur"]} for c in held["cash"]],
        "position_count": len(held["positions"]), "missing_fx": held["missing_fx"],
        "last_sync": await asyncio.to_thread(repo.last_sync, ctx.store)})


@router.route("GET", "/api/portfolio/history", summary="Daily snapshots (default 90 days)",
              query=(QueryParam("days", {"type": "integer", "minimum": 1, "maximum": 3650}),),
              response={"type": "object", "required": ["snapshots"]})
async def history(request: web.Request) -> web.Response:
    """Snapshots oldest first; unreadable rows are left out and listed in ``skipped``."""
    ctx = ctx_of(request)
    days = _int_query(request, "days", 90, 1, 3650)
    rows, bad = await asyncio.to_thread(snapshot_repo.read_snapshots, ctx.store,
                                        _today(ctx) - timedelta(days=days))
    return json_response({"snapshots": rows, "count": len(rows), "days": days,
                          "skipped": bad})


@router.route("GET", "/api/portfolio/transactions", summary="Withdrawals from the cash-flow "
              "ledger", response={"type": "object", "required": ["total_withdrawals",
                                                                 "withdrawals"]})
async def transactions(request: web.Request) -> web.Response:
    """Withdrawals (EUR total over those with a known EUR value)."""
    rows = await asyncio.to_thread(repo.withdrawals, ctx_of(request).store)
    amounts = [repo.to_decimal(r["amount_eur"]) for r in rows]
    total = sum((abs(a) for a in amounts if a is not None), Decimal(0))
    note = ("withdrawals as recorded by the cash-flow sync" if rows else
            "no withdrawals recorded (the cash-flow sync fills this list)")
    return json_response({"total_withdrawals": total, "withdrawals": rows, "note": note})


@router.route("GET", "/api/portfolio/cash-breakdown", summary="Cash per currency and the "
              "EUR total", response={"type": "object", "required": ["balances", "total_eur"]})
async def cash_breakdown(request: web.Request) -> web.Response:
    """Balances (negative ones included); the total is null while a rate is missing."""
    held = await _holdings(ctx_of(request))
    missing = sorted({c["currency"] for c, v in zip(held["cash"], held["cash_eur"],
                                                     strict=True) if v is None})
    return json_response({
        "balances": [{"currency": c["currency"], "amount": c["amount"],
                      "amount_eur": c["amount_eur"]} for c in held["cash"]],
        "total_eur": _sum(held["cash_eur"]), "missing_fx": missing})


def _analytics_empty(reason: str, **extra: Any) -> dict[str, Any]:
    """An empty result that says why (never an ``error`` field on a 200)."""
    return {"status": "insufficient_data", "reason": reason, "returns": {},
            "risk_metrics": {}, "attribution": {}, **extra}


@router.route("GET", "/api/portfolio/analytics", summary="Returns, risk, attribution and "
              "turnover",
              query=(QueryParam("days", {"type": "integer", "minimum": 2, "maximum": 3650}),),
              response={"type": "object", "required": ["status", "returns", "risk_metrics",
                                                       "attribution"],
                        "properties": {"status": {"enum": ["ok", "insufficient_data"]},
                                       "reason": {"type": "string"}}})
async def portfolio_analytics(request: web.Request) -> web.Response:
    """Computed from the daily snapshots (flow-adjusted); fewer than 2 → an empty result
    with ``status: insufficient_data`` and the reason."""
    ctx = ctx_of(request)
    days = _int_query(request, "days", 365, 2, 3650)
    today = _today(ctx)
    rows, bad = await asyncio.to_thread(snapshot_repo.read_snapshots, ctx.store,
                                        today - timedelta(days=days))
    if len(rows) < 2:
        return json_response(_analytics_empty(
            f"{len(rows)} snapshot(s) in the last {days} days; at least 2 are needed",
            skipped=bad))
    dates = [date.fromisoformat(r["date"]) for r in rows]
    values = [float(repo.to_decimal(r["total_value"]) or 0) for r in rows]
    flows = [float(repo.to_decimal(r["net_external_flow_eur"]) or 0) for r in rows]
    perf = analytics.performance(dates, values, flows)
    held = await asyncio.to_thread(snapshot_repo.snapshot_holdings, ctx.store, dates[0])
    secs = {s["isin"]: s for s in (await asyncio.to_thread(repo.securities_by_symbol,
                                                           ctx.store)).values()}
    returns = [r for _, r in perf.daily]
    weights = [analytics.weights(held.get(d.isoformat(), {})) for d, _ in perf.daily]
    keys = {k for w in weights for k in w}
    attribution = analytics.attribute(
        returns, weights, {k: (secs.get(k) or {}).get("country") for k in keys},
        {k: (secs.get(k) or {}).get("industry") for k in keys})
    turnover = await _turnover(ctx, today)
    return json_response({
        "status": "ok",
        "returns": {"daily": [{"date": d, "return": r} for d, r in perf.daily],
                    "monthly": [{"month": m, "return": r} for m, r in perf.monthly],
                    "annual": perf.annual, "total": perf.total},
        "risk_metrics": {"sharpe_ratio": perf.sharpe, "sortino_ratio": perf.sortino,
                         "calmar_ratio": perf.calmar, "volatility": perf.volatility,
                         "max_drawdown": perf.max_drawdown},
        "attribution": attribution,
        "period": {"start_date": perf.start, "end_date": perf.end, "days": perf.days},
        "turnover": turnover, "skipped": bad})


async def _turnover(ctx: ApiContext, today: date) -> dict[str, Any]:
    since = today - timedelta(days=365)
    volume = await asyncio.to_thread(repo.trade_volume_eur, ctx.store, _mode(ctx),
                                     datetime(since.year, since.month, since.day,
                                        tzinfo=ctx.clock.now().tzinfo))
    rows, _ = await asyncio.to_thread(snapshot_repo.read_snapshots, ctx.store, since)
    totals = [float(repo.to_decimal(r["total_value"]) or 0) for r in rows]
    mean = sum(totals) / len(totals) if totals else None
    result = analytics.turnover(float(volume["buys"]), float(volume["sells"]), mean,
                                volume["count"])
    return {"annual_turnover": result.annual_turnover, "turnover_display": result.display,
            "status": result.status, "alert": result.alert, "reason": result.reason,
            "trades_without_eur_value": volume["unvalued"]}


# ------------------------------------------------------------------------ charts
@router.route("GET", "/api/charts/sparklines", summary="Last year of closes of every active "
              "security, by symbol", response=OBJECT)
async def sparklines(request: web.Request) -> web.Response:
    """{symbol: [{time, value}]} from the local price store (no network)."""
    ctx = ctx_of(request)
    since = months_before(_today(ctx), 12)
    db = reads_of(request)
    rows = await securities.active_closes_since(db, since)
    out: dict[str, list[dict[str, Any]]] = {s: [] for s in await securities.active_symbols(db)}
    for r in rows:
        out.setdefault(str(r["symbol"]), []).append({"time": r["day"], "value": r["close"]})
    return json_response(out)


@router.route("GET", "/api/charts/securities/{isin}", summary="Price history of one security",
              query=(QueryParam("range", {"enum": list(RANGES_MONTHS)}, "default 1Y"),),
              response={"type": "array"}, errors={400: "bad ISIN or range",
                                                  404: "unknown security"})
async def security_chart(request: web.Request) -> web.Response:
    """[{time, value}] ascending from the local price store."""
    ctx = ctx_of(request)
    try:
        isin = validate_isin(request.match_info["isin"])
    except IdentifierError as exc:
        raise bad_request(str(exc), code="invalid_isin") from None
    wanted = request.query.get("range", "1Y")
    if wanted not in RANGES_MONTHS:
        raise bad_request(f"range must be one of {', '.join(RANGES_MONTHS)}",
                          code="invalid_range")
    db = reads_of(request)
    if await securities.symbol_of(db, isin) is None:
        raise not_found(f"unknown security {isin}", code="security_unknown")
    months = RANGES_MONTHS[wanted]
    since = date.min if months is None else months_before(_today(ctx), months)
    rows = await securities.closes_since(db, isin, since)
    return json_response([{"time": r["day"], "value": r["close"]} for r in rows])


# -------------------------------------------------------------- database and disk
@router.route("GET", "/api/system/database/stats", summary="Database file sizes, pages and "
              "row counts per table", response={"type": "object",
                                                "required": ["path", "size_bytes", "tables"]})
async def database_stats(request: web.Request) -> web.Response:
    """Sizes of the SQLite file and its WAL, page facts and every table's row count."""
    ctx = ctx_of(request)
    path = ctx.data_dir / DB_FILE
    db = reads_of(request)
    return json_response({
        "path": str(path), "size_bytes": path.stat().st_size if path.exists() else 0,
        "wal_bytes": maintenance.wal_size_bytes(path), **await system.page_facts(db),
        "tables": await system.table_row_counts(db),
        "price_history": await system.price_history_summary(db)})


@router.route("GET", "/api/system/disk", summary="Disk space of the data directory and the "
              "backups", response={"type": "object", "required": ["total_bytes", "free_bytes",
                                                                  "used_pct", "backups"]})
async def disk(request: web.Request) -> web.Response:
    """Total, free and used space; backups in ``<data_dir>/backups``."""
    ctx = ctx_of(request)
    usage = shutil.disk_usage(ctx.data_dir)
    backups = maintenance.list_backups(ctx.data_dir / "backups")
    sizes = [p.stat().st_size for p in backups]
    return json_response({
        "path": str(ctx.data_dir), "total_bytes": usage.total, "free_bytes": usage.free,
        "used_bytes": usage.used,
        "used_pct": round(usage.used / usage.total * 100, 2) if usage.total else 0.0,
        "backups": {"count": len(backups), "total_bytes": sum(sizes),
                    "newest": backups[-1].name if backups else None,
                    "files": [{"name": p.name, "size_bytes": s}
                              for p, s in zip(backups, sizes, strict=True)]}})


# -------------------------------------------------------------------------- logs
@router.route("GET", "/api/system/logs/list", summary="The log files that can be read",
              response={"type": "object", "required": ["files"]})
async def logs_list(request: web.Request) -> web.Response:
    """Only whitelisted names; the daemon's log is an in-memory ring of recent lines."""
    return json_response({"files": [
        {"name": name, "description": text, "lines": len(log_buffer.BUFFER)}
        for name, text in LOG_FILES.items()]})


def _log_file(request: web.Request) -> str:
    name = request.query.get("log_file") or "daemon"
    if name not in LOG_FILES:
        raise bad_request(f"unknown log file; choose one of {', '.join(LOG_FILES)}",
                          code="unknown_log_file")
    return name


def _lines_json(lines: list[log_buffer.LogLine]) -> list[dict[str, str]]:
    return [{"level": line.level, "event": line.event, "line": line.text} for line in lines]


@router.route("GET", "/api/system/logs", summary="Recent log lines, filtered",
              query=(QueryParam("log_file", {"enum": list(LOG_FILES)}),
                     QueryParam("lines", {"type": "integer", "minimum": 1, "maximum": 1000}),
                     QueryParam("level", {"enum": list(log_buffer.LEVEL_ORDER)}),
                     QueryParam("search", {"type": "string", "maxLength": MAX_SEARCH})),
              response={"type": "object", "required": ["log_file", "lines"]},
              errors={400: "unknown file or bad filter"})
async def logs(request: web.Request) -> web.Response:
    """The newest ``lines`` (≤ 1000, default 100) at ``level`` or above matching ``search``."""
    name = _log_file(request)
    count = _int_query(request, "lines", 100, 1, 1000)
    level = request.query.get("level") or None
    if level is not None and level.lower() not in log_buffer.LEVEL_ORDER:
        raise bad_request(f"level must be one of {', '.join(log_buffer.LEVEL_ORDER)}",
                          code="invalid_query")
    search = request.query.get("search") or None
    if search is not None and len(search) > MAX_SEARCH:
        raise bad_request(f"search is limited to {MAX_SEARCH} characters",
                          code="invalid_query")
    found = log_buffer.BUFFER.tail(count, min_level=level, search=search)
    return json_response({"log_file": name, "count": len(found), "lines": _lines_json(found)})


@router.route("GET", "/api/system/logs/errors", summary="Recent error lines",
              query=(QueryParam("lines", {"type": "integer", "minimum": 1, "maximum": 500}),),
              response={"type": "object", "required": ["lines"]})
async def log_errors(request: web.Request) -> web.Response:
    """The newest ``lines`` (≤ 500, default 50) at error level or above."""
    count = _int_query(request, "lines", 50, 1, 500)
    found = log_buffer.BUFFER.tail(count, min_level="error")
    return json_response({"log_file": "daemon", "count": len(found),
                          "lines": _lines_json(found)})
