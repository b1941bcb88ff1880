"""Event-driven rebalancing: the drift and cash triggers, the trades toward the
optimiser's targets, and their execution through the executor.

The targets are the latest plan's optimiser weights per bucket, times each bucket's
target share of the account (``domain/rebalancing.account_targets``); symbols of a
bucket that did not plan in that run are left alone. Holdings, prices and cash come from
the configured broker, FX from the store (a missing rate is a 503, never 1:1). Bad input
is a 400 that reads nothing and writes nothing."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from decimal import Decimal, InvalidOperation
from typing import Any

from aiohttp import web

from arduino_trader.adapters.store import (
    bucket_repo,
    fx_tables,
    plan_repo,
    securities_repo,
)
from arduino_trader.adapters.store.bucket_trades_repo import SqliteBucketTrades
from arduino_trader.adapters.store.cash_flow_repo import SqliteCashFlowStore
from arduino_trader.adapters.store.order_journal import SqliteOrderJournal
from arduino_trader.domain.emergency import check_rebalance_triggers
from arduino_trader.domain.execution.bucket_cash import (
    committed_eur,
    ledger_applies,
    ledger_cash_eur,
)
from arduino_trader.domain.execution.costs import CostModel, minimum_trade_eur
from arduino_trader.domain.execution.safety_cash import bucket_cash_rejection
from arduino_trader.domain.rebalancing import (
    MissingRate,
    RebalancePlan,
    RebalanceSecurity,
    account_targets,
    rebalance_trades,
)
from arduino_trader.domain.satellites.positions import bucket_positions
from arduino_trader.protocols.broker import AccountSnapshot, Broker
from arduino_trader.protocols.broker_errors import BrokerError
from arduino_trader.protocols.execution import OrderIntent, OrderResult, SubmitOrder
from arduino_trader.protocols.money import ZERO

from .bodies_trading import RebalanceBody
from .body import decimal_fields, read_struct
from .context import ApiContext, ctx_of
from .errors import ApiError, bad_request
from .helpers import ask_actor, json_response, query_decimal
from .order_guard import limit_rate
from .router import ApiRouter, QueryParam

router = ApiRouter("rebalancing")

BROKER_TIMEOUT_S = 60.0
ORDER_TIMEOUT_S = 120.0
CORE = "core"
CASH = decimal_fields(RebalanceBody)["available_cash"]
_TRADE: dict[str, Any] = {
    "type": "object",
    "required": ["symbol", "isin", "side", "quantity", "value_eur", "bucket_id", "reason"],
}
_TRADES: dict[str, Any] = {"type": "object", "required": ["trades"],
                           "properties": {"trades": {"type": "array", "items": _TRADE}}}


# ------------------------------------------------------------------------ facts
@dataclass(frozen=True)
class Targets:
    """Account-level target weights, the symbols that may trade, the plan they came from."""

    weights: dict[str, Decimal]
    owner: dict[str, str]
    planned_buckets: frozenset[str]
    plan_id: int | None
    created_at: str | None

    def in_scope(self, symbol: str) -> bool:
        """Whether the bucket owning ``symbol`` (core by default) planned in that run."""
        return self.owner.get(symbol, CORE) in self.planned_buckets


async def load_targets(ctx: ApiContext) -> Targets:
    """The latest plan run's targets; a bucket without optimiser weights in that run (or
    every bucket, before the first plan) is out of scope: nothing of it is traded."""
    latest = await asyncio.to_thread(plan_repo.latest_plan, ctx.store)
    owner = await asyncio.to_thread(bucket_repo.security_buckets, ctx.store)
    if latest is None:
        return Targets({}, owner, frozenset(), None, None)
    rows: dict[str, dict[str, Any]] = {}
    for row in [latest, *await asyncio.to_thread(plan_repo.bucket_plans, ctx.store,
                                                 int(latest["id"]))]:
        weights = dict(row["result"].get("target_weights") or {})
        if weights:  # a bucket whose optimiser gave nothing is left alone
            rows[str(row["bucket_id"] or CORE)] = weights
    buckets = await asyncio.to_thread(bucket_repo.load_buckets, ctx.store)
    shares = {b.id: b.target_pct for b in buckets.values()}
    return Targets(account_targets(rows, shares), owner, frozenset(rows), int(latest["id"]),
                   latest["created_at"])


async def _account(ctx: ApiContext) -> AccountSnapshot:
    broker: Broker | None = ctx.broker
    if broker is None:
        raise ApiError(503, "broker_unavailable", "no broker is wired into this daemon")
    try:
        return await asyncio.wait_for(broker.account(), BROKER_TIMEOUT_S)
    except (BrokerError, TimeoutError) as exc:
        raise ApiError(503, "broker_unavailable", str(exc)) from None


def _fill_modes(ctx: ApiContext) -> tuple[str, ...]:
    """The fills that attribute positions to buckets: live ones, plus research fills
    when the configured broker is the paper broker (as the satellite manager counts)."""
    simulated = getattr(ctx.broker, "simulated", False)
    return ("live", "research") if simulated else ("live",)


async def _rates(ctx: ApiContext) -> dict[str, Decimal]:
    """Current EUR rates under the one age rule (``market_data.fx_max_age_days``): a
    currency whose newest rate is older is left out, so what needs it is refused."""
    max_age = ctx.settings.current().typed.market_data.fx_max_age_days
    table = await asyncio.to_thread(fx_tables.load_latest_rates, ctx.store, max_age,
                                    ctx.clock.now().date())
    return {"EUR": Decimal(1), **table.current()}


def _positive_int(value: Any) -> int:
    try:
        return max(1, int(value or 1))
    except (TypeError, ValueError):
        return 1


async def _securities(ctx: ApiContext, account: AccountSnapshot, owner: dict[str, str]
                      ) -> dict[str, RebalanceSecurity]:
    """Every known security (latest stored price) with the broker's price for holdings;
    a holding unknown to the store has no ISIN (counted, never traded)."""
    out: dict[str, RebalanceSecurity] = {}
    for row in await asyncio.to_thread(securities_repo.list_securities, ctx.store,
                                       active_only=True):
        price = row.get("last_price")
        out[str(row["symbol"])] = RebalanceSecurity(
            str(row["symbol"]), str(row["isin"]), str(row.get("currency") or "EUR"),
            None if price is None else Decimal(str(price)), _positive_int(row.get("min_lot")),
            bool(row.get("allow_buy")), bool(row.get("allow_sell")),
            owner.get(str(row["symbol"]), CORE))
    for p in account.positions:
        known = out.get(p.symbol)
        out[p.symbol] = RebalanceSecurity(
            p.symbol, known.isin if known else None, p.currency, p.market_price,
            known.lot if known else 1, known.allow_buy if known else False,
            known.allow_sell if known else False, owner.get(p.symbol, CORE))
    return out


def cash_eur(account: AccountSnapshot, rates: dict[str, Decimal]) -> Decimal:
    """The broker's cash in EUR over every currency (≥ 0; a currency without a rate is a
    503, never 1:1). Every currency counts: a USD buy paid from USD cash must lower the
    cash the next calculation sees, or a repeat would buy again."""
    try:
        total = sum((c.amount * rates[c.currency] for c in account.cash), ZERO)
    except KeyError as exc:
        raise ApiError(503, "missing_rate", f"no EUR rate for {exc.args[0]}") from None
    return max(ZERO, total)


def parse_cash(value: str) -> Decimal:
    """The ``available_cash`` query value, by the body's declaration of the same field;
    400 ``invalid_cash`` otherwise."""
    try:
        cash = Decimal(value.strip())
    except InvalidOperation:
        raise bad_request("available_cash must be a number", code="invalid_cash",
                          field="available_cash") from None
    problem = CASH.problem(cash)
    if problem is not None:
        raise bad_request(f"available_cash {problem}", code="invalid_cash",
                          field="available_cash")
    return cash


@dataclass(frozen=True)
class Calculated:
    """A computed rebalance and what it was computed from."""

    plan: RebalancePlan
    targets: Targets


async def calculate(ctx: ApiContext, cash: Decimal | None, *,
                    keep_reserve: bool) -> Calculated:
    """The trades toward the latest targets with ``cash`` EUR (None = the broker's cash
    in every currency, in EUR); ``keep_reserve``: never more than the broker's cash above
    ``min_cash_reserve``."""
    targets = await load_targets(ctx)
    account = await _account(ctx)
    settings = ctx.settings.current()
    costs = CostModel.from_settings(settings)
    fixed, pct = costs.fixed_eur, costs.fraction
    securities = await _securities(ctx, account, targets.owner)
    holdings = {p.symbol: p.quantity for p in account.positions}
    rates = await _rates(ctx)
    available = cash_eur(account, rates) if cash is None else cash
    if keep_reserve:
        spendable = cash_eur(account, rates) - settings.typed.min_cash_reserve
        available = max(ZERO, min(available, spendable))
    scope = {s for s in set(holdings) | set(targets.weights) if targets.in_scope(s)}
    buckets = await asyncio.to_thread(bucket_repo.load_buckets, ctx.store)
    fills = await asyncio.to_thread(SqliteBucketTrades(ctx.store).holdings, _fill_modes(ctx))
    try:
        plan = rebalance_trades(holdings, securities, targets.weights, available, rates,
                                min_trade_eur=minimum_trade_eur(settings), cost_fixed=fixed,
                                cost_pct=pct, scope=scope,
                                bucket_holdings=bucket_positions(holdings, fills, buckets))
    except MissingRate as exc:
        raise ApiError(503, "missing_rate", str(exc)) from None
    return Calculated(plan, targets)


def _view(calc: Calculated) -> dict[str, Any]:
    plan = calc.plan
    return {"trades": [t.to_dict() for t in plan.trades],
            "skipped": [{"symbol": s, "reason": r} for s, r in plan.skipped],
            "available_cash_eur": plan.cash_eur, "total_value_eur": plan.total_eur,
            "plan_id": calc.targets.plan_id, "targets_from": calc.targets.created_at,
            "target_weights": calc.targets.weights}


# ----------------------------------------------------------------------- routes
@router.route("GET", "/api/rebalancing/check-triggers", summary="Drift and cash triggers "
              "of event-driven rebalancing", response={"type": "object",
                                                        "required": ["triggered", "reasons"]},
              query=(QueryParam("enabled", {"type": "boolean"}),
                     QueryParam("drift_threshold", {"type": "number"}),
                     QueryParam("cash_threshold_multiplier", {"type": "number"}),
                     QueryParam("min_trade_size", {"type": "number"})),
              errors={400: "bad threshold", 503: "broker or FX rate unavailable"})
async def check_triggers(request: web.Request) -> web.Response:
    """Drift and cash triggers over held ∪ targeted symbols with the latest plan's per-symbol
    targets (missing target = 0); a symbol whose bucket did not plan never counts as drift."""
    ctx = ctx_of(request)
    settings = ctx.settings.current()
    enabled_raw = request.query.get("enabled")
    if enabled_raw not in (None, "", "true", "false", "1", "0"):
        raise bad_request("enabled must be true or false", code="invalid_query")
    enabled = settings.typed.event_driven_rebalancing_enabled if enabled_raw in (
        None, "") else enabled_raw in ("true", "1")
    default_min = minimum_trade_eur(settings)
    drift = _query_decimal(request, "drift_threshold", Decimal(
        str(settings.typed.rebalance_position_drift_threshold)))
    multiplier = _query_decimal(request, "cash_threshold_multiplier", Decimal(
        str(settings.typed.rebalance_cash_threshold_multiplier)))
    min_trade = _query_decimal(request, "min_trade_size", default_min)
    if drift <= 0 or multiplier <= 0 or min_trade <= 0:
        raise bad_request("thresholds must be positive", code="invalid_query")
    targets = await load_targets(ctx)
    account = await _account(ctx)
    rates = await _rates(ctx)
    try:
        values = {p.symbol: p.market_value * rates[p.currency] for p in account.positions}
    except KeyError as exc:
        raise ApiError(503, "missing_rate", f"no EUR rate for {exc.args[0]}") from None
    cash = cash_eur(account, rates)
    weights = trigger_targets(values, cash, targets)
    result = check_rebalance_triggers(values, weights, cash, enabled=enabled,
                                      drift_threshold=drift,
                                      cash_threshold_multiplier=multiplier,
                                      min_trade_size=min_trade)
    return json_response({"triggered": result.triggered, "reasons": list(result.reasons),
                          "plan_id": targets.plan_id})


def trigger_targets(values: dict[str, Decimal], cash: Decimal, targets: Targets
                    ) -> dict[str, Decimal]:
    """Targets for the drift check: the plan's, except that a held symbol whose bucket did
    not plan is targeted at its own weight (no drift) rather than 0."""
    total = sum(values.values(), ZERO) + max(cash, ZERO)
    weights = {s: w for s, w in targets.weights.items() if targets.in_scope(s)}
    if total > 0:
        for symbol, value in values.items():
            if not targets.in_scope(symbol):
                weights[symbol] = value / total
    return weights


def _query_decimal(request: web.Request, name: str, default: Decimal) -> Decimal:
    raw = request.query.get(name)
    return default if raw in (None, "") else query_decimal(raw, name)


@router.route("GET", "/api/rebalancing/calculate-trades", summary="Trades toward the "
              "optimiser's targets with the given cash (default: the broker's cash in EUR)",
              response=_TRADES,
              query=(QueryParam("available_cash", CASH.schema(),
                                "EUR to spend (default: the broker's cash in EUR)"),),
              errors={400: "bad available_cash", 503: "broker or FX rate unavailable"})
async def calculate_trades(request: web.Request) -> web.Response:
    """Sells above target first, then buys below target, whole lots, within the cash."""
    raw = request.query.get("available_cash")
    cash = None if raw is None else parse_cash(raw)  # given: a what-if, as given
    return json_response(_view(await calculate(ctx_of(request), cash,
                                               keep_reserve=cash is None)))


@router.route("POST", "/api/rebalancing/execute-rebalance", summary="Send the rebalancing "
              "trades through the executor (research mode: the paper broker); "
              "{confirm: \"EXECUTE\"}",
              body=RebalanceBody,
              response={"type": "object", "required": ["success", "message"]},
              errors={400: "bad available_cash or no confirmation", 409: "a bucket's ledger "
                      "cash cannot pay for its trades (nothing sent)", 429: "rate limited",
                      503: "broker, FX rate or executor unavailable", 504: "executor busy"})
async def execute_rebalance(request: web.Request) -> web.Response:
    """Each trade is a ``SubmitOrder`` (every safety layer, the journal; a retried request
    the same day on the same plan is a duplicate, never a second order). Guarded like
    every order-sending route; spends at most the broker's cash above the reserve."""
    given = (await read_struct(request, RebalanceBody)).available_cash
    limit_rate(request)
    cash = given if isinstance(given, Decimal) else None
    ctx = ctx_of(request)
    calc = await calculate(ctx, cash, keep_reserve=True)
    if not calc.plan.trades:
        return json_response({"success": True, "message": "nothing to rebalance",
                              "orders": [], **_view(calc)})
    await check_bucket_cash(ctx, calc.plan)
    day = ctx.clock.now().date().isoformat()
    orders: list[dict[str, Any]] = []
    for t in calc.plan.trades:
        key = (f"rebalance:{calc.targets.plan_id}:{day}:{t.bucket_id}:{t.symbol}:{t.side}:"
               f"{t.quantity}")
        answer = await ask_actor(request, "executor", SubmitOrder(
            OrderIntent(t.isin, t.symbol, "BUY" if t.side == "BUY" else "SELL",
                        Decimal(t.quantity), "manual"), key, t.reason, t.bucket_id),
            timeout=ORDER_TIMEOUT_S)
        if not isinstance(answer, OrderResult):
            raise ApiError(503, "executor_unavailable", f"unexpected answer {answer!r}")
        orders.append({"symbol": t.symbol, "side": t.side, "quantity": t.quantity,
                       "bucket_id": t.bucket_id,
                       "status": answer.status, "state": answer.state, "layer": answer.layer,
                       "code": answer.code, "message": answer.message, "intent_key": key})
    sent = sum(1 for o in orders if o["status"] in ("placed", "duplicate"))
    return json_response({"success": sent == len(orders),
                          "message": f"{sent} of {len(orders)} rebalancing orders placed",
                          "orders": orders, **_view(calc)})


async def check_bucket_cash(ctx: ApiContext, plan: RebalancePlan) -> None:
    """Refuse the whole rebalance (409, nothing sent) when a bucket's ledger cash cannot
    pay for its trades: its buys with fees, less its sales net of fees (they are sent
    first), out of its ledger cash less what its open buys will still spend. The
    executor's bucket layer then judges each buy again on the ledger."""
    buckets = await asyncio.to_thread(bucket_repo.load_buckets, ctx.store)
    if not ledger_applies(buckets):
        return
    ledger = await asyncio.to_thread(SqliteCashFlowStore(ctx.store).bucket_cash)
    rates = await _rates(ctx)
    live = ctx.settings.current().typed.trading_mode == "live"
    virtual = ZERO if live else ctx.settings.current().typed.virtual_test_cash
    open_buys = await asyncio.to_thread(SqliteOrderJournal(ctx.store).open_buys,
                                        "live" if live else "research")
    short: list[dict[str, Any]] = []
    for bucket_id in sorted({t.bucket_id for t in plan.trades if t.side == "BUY"}):
        mine = [t for t in plan.trades if t.bucket_id == bucket_id]
        need = sum((t.value_eur + t.cost_eur if t.side == "BUY" else t.cost_eur - t.value_eur
                    for t in mine), ZERO)
        fees = sum((t.cost_eur for t in mine), ZERO)
        cash = ledger_cash_eur(ledger.get(bucket_id, {}), rates)
        committed = committed_eur(open_buys, bucket_id, rates)
        if cash is None or committed is None:
            raise ApiError(503, "missing_rate", f"no EUR rate for a currency of bucket "
                           f"{bucket_id}'s ledger cash")
        if bucket_id == CORE:
            cash += virtual
        refused = bucket_cash_rejection(bucket_id, need, fees, cash, committed)
        if refused is not None:
            short.append({"bucket_id": bucket_id, "needed_eur": str(need),
                          "fees_eur": str(fees), "available_eur": str(cash - committed),
                          "committed_eur": str(committed),
                          "reason": refused.message})
    if short:
        raise ApiError(409, "bucket_cash_insufficient", "nothing sent: " + "; ".join(
            s["reason"] for s in short), buckets=short)


__all__ = ["Targets", "calculate", "cash_eur", "check_bucket_cash", "load_targets",
           "parse_cash", "router", "trigger_targets"]
