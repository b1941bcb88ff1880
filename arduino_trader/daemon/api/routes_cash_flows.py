"""Cash flows, dividends and the negative-balance part of rebalancing (triggers and
trades: ``routes_rebalancing.py``).

``POST /api/cash-flows/sync`` and ``POST /api/rebalancing/emergency/run`` run the real
jobs (409 while one runs). Bad input is a 4xx and writes nothing.
"""

from __future__ import annotations

import asyncio
from decimal import Decimal
from typing import Any

from aiohttp import web

from arduino_trader.adapters.store import (
    bucket_repo,
    dividend_repo,
    emergency_runs_repo,
    securities_repo,
)
from arduino_trader.adapters.store import cash_flow_repo as repo
from arduino_trader.adapters.store.api_queries import dividends
from arduino_trader.domain.cash_flows.summary import QueryError, list_query, summarise
from arduino_trader.domain.dividends import HistoryRow, reinvestment_rate, totals_by_symbol
from arduino_trader.protocols.cash_flows import CheckBalances
from arduino_trader.protocols.messages import JobOutcome

from ..scheduler import JobAlreadyRunning, JobNotFound
from .bodies_cash import DividendBody, MarkReinvestedBody, PendingBonusBody
from .body import read_struct
from .context import ctx_of, reads_of
from .errors import ApiError, bad_request, conflict, not_found
from .helpers import ask_actor, json_response, query_decimal
from .router import ApiRouter, QueryParam

router = ApiRouter("cash_flows")

_OBJ: dict[str, Any] = {"type": "object"}
_STR = {"type": "string"}


# ------------------------------------------------------------------------ helpers
async def _run_job(request: web.Request, job: str) -> JobOutcome:
    ctx = ctx_of(request)
    loop = asyncio.get_running_loop()
    try:
        return await loop.run_in_executor(ctx.executor, ctx.scheduler.run_now, job, "manual")
    except JobNotFound:
        raise not_found(f"job {job!r} is not registered", code="unknown_job") from None
    except JobAlreadyRunning as exc:
        raise conflict(str(exc), code="job_running", run_id=exc.run_id) from None


def _query_decimal(request: web.Request, name: str, default: Decimal) -> Decimal:
    raw = request.query.get(name)
    return default if raw in (None, "") else query_decimal(raw, name, "invalid_field")


def _limit(request: web.Request, default: int = 100) -> int:
    raw = request.query.get("limit", str(default))
    try:
        value = int(raw)
    except ValueError:
        raise bad_request("limit must be an integer", code="invalid_query") from None
    if not 1 <= value <= 10_000:
        raise bad_request("limit must be in 1..10000", code="invalid_query")
    return value


def _dividend_id(request: web.Request) -> int:
    try:
        value = int(request.match_info["id"])
    except ValueError:
        raise bad_request("dividend id must be an integer", code="invalid_id") from None
    if value < 1:
        raise bad_request("dividend id must be positive", code="invalid_id")
    if value > 2**63 - 1:  # beyond SQLite's largest row id: no such row
        raise not_found("no such dividend", code="unknown_dividend")
    return value


# --------------------------------------------------------------------- cash flows
@router.route("GET", "/api/cash-flows", summary="Cash flows, newest first: a date window "
              "wins, else a type, else the newest `limit`", response=_OBJ,
              query=(QueryParam("start_date", _STR), QueryParam("end_date", _STR),
                     QueryParam("transaction_type", _STR),
                     QueryParam("limit", {"type": "integer"})), errors={400: "bad query"})
async def list_cash_flows(request: web.Request) -> web.Response:
    """List cash flows."""
    q = request.query
    try:
        query = list_query(q.get("start_date"), q.get("end_date"), q.get("transaction_type"),
                           q.get("limit"))
    except QueryError as exc:
        raise bad_request(str(exc), code="invalid_query") from None
    rows = await asyncio.to_thread(repo.list_flows, ctx_of(request).store, query)
    return json_response({"cash_flows": rows, "count": len(rows)})


@router.route("POST", "/api/cash-flows/sync", summary="Run the cash-flow sync job now",
              response=_OBJ, errors={409: "already running", 503: "broker unavailable"})
async def sync_cash_flows(request: web.Request) -> web.Response:
    """Sync (POST, reusing the job): {message, synced, total_from_api, ...}."""
    outcome = await _run_job(request, "cash_flow_sync")
    details = dict(outcome.details)
    if details.get("broker_unavailable"):
        raise ApiError(503, "broker_unavailable", outcome.summary,
                       failed_sources=details.get("failed_sources", {}))
    return json_response({"message": outcome.summary, "ok": outcome.ok, **details})


@router.route("GET", "/api/cash-flows/summary", summary="Totals over completed cash flows",
              response=_OBJ)
async def cash_flow_summary(request: web.Request) -> web.Response:
    """Summary (completed rows only)."""
    s = summarise(await asyncio.to_thread(repo.summary_rows, ctx_of(request).store))
    return json_response({
        "total_transactions": s.total_transactions, "total_deposits_eur": s.total_deposits_eur,
        "total_withdrawals_eur": s.total_withdrawals_eur,
        "net_cash_flow_eur": s.net_cash_flow_eur,
        "by_type": {k: {"total_eur": v, "count": n} for k, (v, n) in s.by_type.items()}})


# ---------------------------------------------------------------------- dividends
async def _history(request: web.Request) -> list[HistoryRow]:
    return [HistoryRow(symbol, Decimal(amount), reinvested) for symbol, amount, reinvested
            in await dividends.dividend_history(reads_of(request))]


@router.route("GET", "/api/dividends", summary="Dividends, newest first", response=_OBJ,
              query=(QueryParam("limit", {"type": "integer"}),))
async def list_dividends(request: web.Request) -> web.Response:
    """List dividends."""
    rows = await asyncio.to_thread(dividend_repo.list_dividends, ctx_of(request).store,
                                   _limit(request))
    return json_response({"dividends": rows, "count": len(rows)})


@router.route("GET", "/api/dividends/unreinvested", summary="Dividends not yet reinvested",
              response=_OBJ, query=(QueryParam("min_amount_eur", {"type": "number"}),))
async def unreinvested(request: web.Request) -> web.Response:
    """Dividends not reinvested, oldest first."""
    minimum = _query_decimal(request, "min_amount_eur", Decimal(0))
    if minimum < 0:
        raise bad_request("min_amount_eur must be ≥ 0", code="invalid_query")
    rows = await asyncio.to_thread(dividend_repo.unreinvested, ctx_of(request).store, minimum)
    return json_response({"dividends": rows, "count": len(rows)})


@router.route("GET", "/api/dividends/pending-bonuses", summary="Pending DRIP cash per symbol",
              response={"type": "array"})
async def pending_bonuses(request: web.Request) -> web.Response:
    """Pending bonuses (EUR waiting per symbol)."""
    pending = await asyncio.to_thread(dividend_repo.pending_bonuses, ctx_of(request).store)
    return json_response([{"symbol": s, "pending_bonus": v} for s, v in sorted(pending.items())])


@router.route("GET", "/api/dividends/analytics/total", summary="Total dividend EUR per symbol",
              response=_OBJ)
async def analytics_total(request: web.Request) -> web.Response:
    """Dividend totals per symbol."""
    return json_response(totals_by_symbol(await _history(request)))


@router.route("GET", "/api/dividends/analytics/reinvestment-rate",
              summary="Reinvested EUR / total EUR", response=_OBJ)
async def analytics_rate(request: web.Request) -> web.Response:
    """Reinvested EUR / total dividend EUR."""
    return json_response({"rate": reinvestment_rate(await _history(request))})


@router.route("GET", "/api/dividends/symbol/{symbol}", summary="Dividends of a symbol or ISIN",
              response=_OBJ)
async def by_symbol(request: web.Request) -> web.Response:
    """Dividends by symbol (or ISIN)."""
    symbol = request.match_info["symbol"].strip()
    rows = await asyncio.to_thread(dividend_repo.dividends_by_symbol, ctx_of(request).store, symbol)
    return json_response({"symbol": symbol, "dividends": rows, "count": len(rows)})


@router.route("POST", "/api/dividends/clear-bonus/{symbol}", summary="Clear the pending "
              "bonuses of a symbol", response=_OBJ)
async def clear_bonus(request: web.Request) -> web.Response:
    """Clear pending bonuses → {symbol, rows_affected}."""
    ctx = ctx_of(request)
    symbol = request.match_info["symbol"].strip()
    if not symbol:
        raise bad_request("symbol must not be blank", code="invalid_symbol")
    n = await asyncio.to_thread(dividend_repo.clear_bonus, ctx.store, symbol, ctx.clock.now())
    return json_response({"symbol": symbol, "rows_affected": n})


@router.route("POST", "/api/dividends", summary="Record a dividend manually", status=201,
              body=DividendBody, response=_OBJ,
              errors={400: "invalid", 409: "recorded already"})
async def create_dividend(request: web.Request) -> web.Response:
    """Record a dividend → 201 with the row; the DRIP job reinvests it. A non-EUR dividend
    needs ``amount_eur`` (a EUR one's must equal its amount); the payment date may not
    be in the future and the bucket must exist and not be retired; the same dividend
    recorded again (by hand or by the broker sync) is a 409 naming the stored one."""
    ctx = ctx_of(request)
    body = await read_struct(request, DividendBody)
    amount_eur = _amount_eur(body)
    if body.payment_date > ctx.clock.now().date():
        raise bad_request(f"payment_date {body.payment_date} is in the future: record a "
                          "dividend once it is paid", code="future_payment_date",
                          field="payment_date")
    bucket_id = body.bucket_id or "core"
    bucket = (await asyncio.to_thread(bucket_repo.load_buckets, ctx.store)).get(bucket_id)
    if bucket is None or bucket.status == "retired":
        raise bad_request(f"no active bucket {bucket_id!r}", code="unknown_bucket",
                          field="bucket_id")
    symbol = body.symbol.strip()
    isin = await _dividend_isin(ctx.store, symbol, body.isin)
    try:
        new_id = await asyncio.to_thread(dividend_repo.create_dividend, ctx.store, {
            "symbol": symbol, "isin": isin, "bucket_id": bucket_id,
            "amount": body.amount, "currency": body.currency, "amount_eur": amount_eur,
            "payment_date": body.payment_date.isoformat()}, ctx.clock.now())
    except dividend_repo.DuplicateDividend as exc:
        raise conflict(str(exc), code="duplicate_dividend",
                       existing_id=exc.existing_id) from None
    return json_response(await asyncio.to_thread(dividend_repo.get_dividend, ctx.store, new_id),
                         status=201)


def _amount_eur(body: DividendBody) -> Decimal:
    """The dividend's EUR value: given for a non-EUR one (never 1:1), its amount for EUR."""
    if body.currency == "EUR":
        if isinstance(body.amount_eur, Decimal) and body.amount_eur != body.amount:
            raise bad_request(f"a EUR dividend's amount_eur is its amount ({body.amount})",
                              code="amount_mismatch", field="amount_eur")
        return body.amount
    if not isinstance(body.amount_eur, Decimal):
        raise bad_request("amount_eur is required for a non-EUR dividend (never 1:1)",
                          code="missing_field", field="amount_eur")
    return body.amount_eur


async def _dividend_isin(db: Any, symbol: str, given: str | None) -> str:
    """The ISIN of the security traded as ``symbol``; a given ISIN must agree with it,
    and an unknown symbol needs one."""
    known = await asyncio.to_thread(securities_repo.find_security, db, symbol)
    if known is None:
        if given is None:
            raise bad_request(f"no security {symbol!r}; add it first or give its isin",
                              code="unknown_security")
        return str(given).strip()
    if given is not None and given.strip() != known["isin"]:
        raise bad_request(f"{symbol} is {known['isin']}, not {given.strip()}",
                          code="isin_mismatch")
    return str(known["isin"])


@router.route("GET", "/api/dividends/{id}", summary="One dividend", response=_OBJ,
              errors={404: "unknown"})
async def get_dividend(request: web.Request) -> web.Response:
    """One dividend."""
    row = await asyncio.to_thread(dividend_repo.get_dividend, ctx_of(request).store,
                                  _dividend_id(request))
    if row is None:
        raise not_found("no such dividend", code="unknown_dividend")
    return json_response(row)


@router.route("POST", "/api/dividends/{id}/pending-bonus", summary="Set a dividend's "
              "pending cash", status=204, body=PendingBonusBody,
              errors={400: "invalid", 404: "unknown"})
async def set_pending_bonus(request: web.Request) -> web.Response:
    """Set pending bonus {amount ≥ 0} → 204."""
    dividend_id = _dividend_id(request)
    amount = (await read_struct(request, PendingBonusBody)).amount
    if not await asyncio.to_thread(dividend_repo.set_pending_bonus, ctx_of(request).store,
                                   dividend_id, amount):
        raise not_found("no such dividend", code="unknown_dividend")
    return web.Response(status=204)


@router.route("POST", "/api/dividends/{id}/mark-reinvested", summary="Mark a dividend "
              "reinvested manually", status=204,
              body=MarkReinvestedBody,
              errors={400: "invalid", 404: "unknown"})
async def mark_reinvested(request: web.Request) -> web.Response:
    """Mark reinvested {quantity > 0} → 204."""
    ctx = ctx_of(request)
    dividend_id = _dividend_id(request)
    quantity = (await read_struct(request, MarkReinvestedBody)).quantity
    if not await asyncio.to_thread(dividend_repo.mark_reinvested, ctx.store, dividend_id, quantity,
                                   ctx.clock.now()):
        raise not_found("no such dividend", code="unknown_dividend")
    return web.Response(status=204)


# -------------------------------------------------------------------- rebalancing
@router.route("GET", "/api/rebalancing/check-negative-balances", summary="Negative and thin "
              "cash balances per currency", response=_OBJ,
              errors={503: "broker or FX rate unavailable"})
async def check_negative(request: web.Request) -> web.Response:
    """The negative/thin balance check (a GET: it changes nothing)."""
    answer = await ask_actor(request, "cash_flows", CheckBalances(), timeout=90)
    if "error" in answer:
        raise ApiError(503, answer["error"], answer["message"])
    return json_response(answer)


@router.route("POST", "/api/rebalancing/emergency/run", summary="Run the emergency "
              "rebalancing job now", response=_OBJ, errors={409: "already running"})
async def emergency_run(request: web.Request) -> web.Response:
    """Run ``emergency_rebalance`` (research mode records the plan only)."""
    outcome = await _run_job(request, "emergency_rebalance")
    if outcome.details.get("locked"):
        raise conflict(outcome.summary, code="emergency_running")
    return json_response({"success": outcome.ok, "message": outcome.summary,
                          **outcome.details})


@router.route("GET", "/api/rebalancing/emergency/runs", summary="Recent emergency runs",
              response=_OBJ, query=(QueryParam("limit", {"type": "integer"}),))
async def emergency_runs(request: web.Request) -> web.Response:
    """What each emergency run found, planned and did."""
    limit = _limit(request, 20)
    return json_response({"runs": await asyncio.to_thread(emergency_runs_repo.list_emergency_runs,
                                                          ctx_of(request).store,
                                                                 limit)})
