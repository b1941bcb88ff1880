"""The ``emergency_rebalance`` job and the negative-balance check (spec/portfolio.md §4).

Detection reads the configured broker's account snapshot (every cash row, including
zero and negative ones). A run is recorded in ``emergency_runs``; its partial unique
index admits one running run, so a run never overlaps another (the lock against itself).

The broker port has no currency-exchange operation, so the exchange steps (1 and 3) are
recorded as planned but not executable, and the executable plan is the one without
exchanges; of its sales only those in a short currency repair anything (others are
recorded as needing an exchange). In live mode those go through the executor (source
``emergency_rebalancing``, which bypasses only cooldown, hold and frequency); in research
mode nothing is sent and the run records what it would do.
"""

from __future__ import annotations

from dataclasses import asdict
from decimal import Decimal
from typing import Any, Literal

from arduino_trader.adapters.store import cash_flow_repo as repo
from arduino_trader.adapters.store import market_repo
from arduino_trader.domain.cash_flows.fx import MissingRate, Rates
from arduino_trader.domain.emergency import (
    EMERGENCY_PORTFOLIO_HASH,
    EmergencyPlan,
    Exchange,
    Holding,
    Sale,
    check_balances,
    plan_emergency,
)
from arduino_trader.protocols.broker import AccountSnapshot, Broker
from arduino_trader.protocols.execution import OrderIntent, OrderResult, SubmitOrder
from arduino_trader.protocols.messages import ComponentStatus, JobOutcome
from arduino_trader.protocols.runtime import ActorUnavailable
from arduino_trader.protocols.store import Database

from .base import HEALTH_ACTOR, ActorContext

STORE_TIMEOUT_S = 30.0
BROKER_TIMEOUT_S = 60.0
EXECUTOR_TIMEOUT_S = 120.0
NO_EXCHANGE_REASON = ("the broker port has no currency-exchange operation: exchange "
                      "planned but not executable")


def _snapshot(ctx: ActorContext) -> AccountSnapshot:
    broker: Broker = ctx.resource("broker")
    return ctx.io.run(broker.account(), BROKER_TIMEOUT_S)


async def _universe(db: Database) -> tuple[set[str], dict[str, dict[str, Any]]]:
    """Currencies of active securities, and every security by broker symbol."""
    secs = await market_repo.list_securities(db)
    currencies = {s["currency"] for s in secs if s.get("active")}
    return currencies, {s["symbol"]: s for s in secs}


def _balances(account: AccountSnapshot) -> dict[str, Decimal]:
    out: dict[str, Decimal] = {}
    for c in account.cash:
        out[c.currency] = out.get(c.currency, Decimal(0)) + c.amount
    return out


def check(ctx: ActorContext) -> dict[str, Any]:
    """The §4.6 negative-balance answer for the broker account (``error`` on failure)."""
    db: Database = ctx.resource("store")
    try:
        account = _snapshot(ctx)
    except Exception as exc:
        return {"error": "broker_unavailable", "message": str(exc)}
    currencies, _ = ctx.io.run(_universe(db), STORE_TIMEOUT_S)
    rates = ctx.io.run(repo.load_rates(db), STORE_TIMEOUT_S)
    try:
        result = check_balances(_balances(account), currencies, rates)
    except MissingRate as exc:
        return {"error": "missing_rate", "message": str(exc)}
    return {"has_negative": result.has_negative, "below_minimum": result.below_minimum,
            "shortfalls": result.shortfalls, "total_shortfall_eur": result.total_shortfall_eur}


def _holdings(account: AccountSnapshot, secs: dict[str, dict[str, Any]]) -> list[Holding]:
    out: list[Holding] = []
    for p in account.positions:
        sec = secs.get(p.symbol, {})
        if p.quantity <= 0 or p.market_price <= 0:
            continue
        out.append(Holding(p.symbol, p.quantity, p.market_price, p.currency,
                           str(sec.get("mic") or ""), int(sec.get("min_lot") or 1),
                           bool(sec.get("allow_sell", True)) and bool(sec)))
    return out


def _action_row(action: Exchange | Sale, status: str, reason: str = "",
                **extra: Any) -> dict[str, Any]:
    kind = "exchange" if isinstance(action, Exchange) else "sale"
    return {"kind": kind, **asdict(action), "status": status, "reason": reason, **extra}


def _plan(ctx: ActorContext, account: AccountSnapshot, rates: Rates) -> tuple[
        EmergencyPlan, EmergencyPlan, dict[str, dict[str, Any]]]:
    db: Database = ctx.resource("store")
    currencies, secs = ctx.io.run(_universe(db), STORE_TIMEOUT_S)
    calendars = ctx.resources.get("calendars")
    now = ctx.clock.now()

    def is_open(mic: str) -> bool:
        return bool(mic) and calendars is not None and bool(calendars.is_tradable(mic, now))

    balances, holdings = _balances(account), _holdings(account, secs)
    full = plan_emergency(balances, currencies, holdings, rates, is_open)
    executable = plan_emergency(balances, currencies, holdings, rates, is_open,
                                exchanges_enabled=False)
    return full, executable, secs


def run_emergency(ctx: ActorContext, log: Any, run_id: str, trigger: str) -> JobOutcome:
    """One emergency check and, when short, the repair (live) or its record (research)."""
    db: Database = ctx.resource("store")
    mode = "live" if ctx.settings().get_str("trading_mode") == "live" else "research"
    try:
        ctx.io.run(repo.start_emergency_run(db, run_id, mode, trigger, ctx.clock.now()),
                   STORE_TIMEOUT_S)
    except repo.RunLocked as exc:
        return JobOutcome(False, str(exc), {"locked": True})
    actions: list[dict[str, Any]] = []
    outcome, notes = "failed", ""
    initial: dict[str, Decimal] = {}
    final: dict[str, Decimal] = {}
    try:
        account = _snapshot(ctx)
        rates = ctx.io.run(repo.load_rates(db), STORE_TIMEOUT_S)
        full, executable, secs = _plan(ctx, account, rates)
        initial, final = executable.initial_shortfalls, executable.final_shortfalls
        if not initial:
            dismissed = ctx.io.run(repo.dismiss_emergency_recommendations(
                db, EMERGENCY_PORTFOLIO_HASH, ctx.clock.now()), STORE_TIMEOUT_S)
            outcome = "no_shortfall"
            notes = f"no shortfall; {dismissed} stale emergency recommendations dismissed"
        else:
            actions += [_action_row(a, "not_executable", NO_EXCHANGE_REASON)
                        for a in full.actions if isinstance(a, Exchange)]
            sales = [a for a in executable.actions if isinstance(a, Sale)]
            # Without an exchange operation only proceeds in a short currency repair it.
            direct = [s for s in sales if s.currency in initial]
            actions += [_action_row(s, "not_executable", f"proceeds in {s.currency} need "
                                    f"a currency exchange; {NO_EXCHANGE_REASON}")
                        for s in sales if s.currency not in initial]
            if mode == "research":
                actions += [_action_row(s, "recorded", "research mode: not sent")
                            for s in direct]
                outcome = "unresolved"
            else:
                results = [_sell(ctx, s, secs, run_id) for s in direct]
                actions += results
                placed = all(r["status"] in ("placed", "duplicate") for r in results)
                covered = all(sum((s.value for s in direct if s.currency == ccy), Decimal(0))
                              >= short for ccy, short in initial.items())
                outcome = "resolved" if direct and placed and covered else "unresolved"
            notes = "; ".join(executable.notes)
    except MissingRate as exc:
        notes = f"missing FX rate: {exc}"
    except Exception as exc:
        notes = f"{type(exc).__name__}: {exc}"
        log.error("emergency_run_failed", run_id=run_id, error=repr(exc))
    finally:
        ctx.io.run(repo.finish_emergency_run(db, run_id, outcome, initial, final, actions,
                                             notes, ctx.clock.now()), STORE_TIMEOUT_S)
    if outcome in ("unresolved", "failed"):
        # An error only when real money is short; a rehearsal's shortfall is a warning,
        # so the operator's "level error" alerts stay meaningful in research mode.
        report = log.error if mode == "live" else log.warning
        report("emergency_shortfall", run_id=run_id, mode=mode, outcome=outcome,
               shortfalls={k: str(v) for k, v in initial.items()}, notes=notes)
    if mode == "live":  # research mode only records what it would do
        _report(ctx, outcome, initial, notes)
    summary = f"{outcome} ({mode}): {len(actions)} actions recorded"
    return JobOutcome(outcome in ("no_shortfall", "resolved") or (mode == "research"
                      and outcome == "unresolved"), summary,
                      {"run_id": run_id, "outcome": outcome, "mode": mode,
                       "shortfalls": {k: str(v) for k, v in initial.items()},
                       "actions": len(actions), "notes": notes})


def _report(ctx: ActorContext, outcome: str, initial: dict[str, Decimal], notes: str) -> None:
    """Tell health: a shortfall left after a live run (or a failed one) is degraded."""
    level: Literal["ok", "degraded"] = "ok" if outcome in ("no_shortfall", "resolved") \
        else "degraded"
    message = "cash balances ok" if level == "ok" else \
        f"emergency rebalancing {outcome}: short {dict(sorted(initial.items()))}; {notes}"
    try:
        ctx.bus.tell(HEALTH_ACTOR, ComponentStatus("cash_balances", level, message[:500],
                                                   ctx.clock.now()))
    except ActorUnavailable:
        pass


def _sell(ctx: ActorContext, sale: Sale, secs: dict[str, dict[str, Any]],
          run_id: str) -> dict[str, Any]:
    sec = secs.get(sale.symbol)
    if sec is None:
        return _action_row(sale, "not_executable", "no security record for this position")
    intent = OrderIntent(sec["isin"], sale.symbol, "SELL", Decimal(sale.quantity),
                         "emergency_rebalancing")
    try:
        answer = ctx.bus.ask("executor", SubmitOrder(
            intent, f"emergency:{run_id}:{sale.symbol}",
            "emergency rebalancing: negative cash balance"), EXECUTOR_TIMEOUT_S)
    except Exception as exc:
        answer = OrderResult("failed", repr(exc))
    if not isinstance(answer, OrderResult):
        answer = OrderResult("failed", f"executor answered {type(answer).__name__}")
    return _action_row(sale, answer.status, answer.message, code=answer.code)
