"""The ``emergency_rebalance`` job and the negative-balance check.

Detection reads the configured broker's account snapshot (every cash row, including
zero and negative ones). A run is recorded in ``emergency_runs``; its partial unique
index admits one running run, so a run never overlaps another (the lock against itself).

Live mode executes the three steps in order through the executor, one step at a time,
re-reading the broker's balances after each: (1) currency exchanges (``SubmitExchange``,
one FX-pair order per leg, a path through EUR leg by leg), (2) position sales only for
what the exchanges could not cover (``SubmitOrder``, source ``emergency_rebalancing``,
which bypasses only cooldown, hold and frequency), (3) the final exchange of the sale
proceeds. Each order is followed until the broker reports it final (bounded by
``fx_fill_wait_s``) before the next step plans. Research mode sends nothing: it records
the full plan it would execute.
"""

from __future__ import annotations

import time
from dataclasses import asdict
from decimal import ROUND_CEILING, Decimal
from typing import Any, Literal

from arduino_trader.adapters.store import (
    emergency_recs,
    emergency_runs_repo,
    securities_repo,
)
from arduino_trader.domain.cash_flows.fx import MissingRate, Rates, convert
from arduino_trader.domain.emergency import (
    EXCHANGE_BUFFER,
    MIN_CURRENCY_RESERVE,
    EmergencyPlan,
    Exchange,
    Holding,
    Sale,
    check_balances,
    checked_currencies,
    plan_emergency,
    plan_exchanges,
    plan_sales,
    shortfalls,
    situation_key,
)
from arduino_trader.domain.execution.costs import CostModel
from arduino_trader.domain.execution.journal import FINAL_STATES
from arduino_trader.domain.fx_exchange import ROUTE_CURRENCY, FxError, conversion_path
from arduino_trader.domain.satellites.positions import bucket_positions
from arduino_trader.protocols.broker import AccountSnapshot
from arduino_trader.protocols.broker_errors import BROKER_CALL_FAILURES
from arduino_trader.protocols.execution import (
    ORDER_ASK_FAILURES,
    FollowUpOrders,
    OrderIntent,
    OrderResult,
    SubmitExchange,
    SubmitOrder,
)
from arduino_trader.protocols.messages import ComponentStatus, JobOutcome
from arduino_trader.protocols.money import CENT
from arduino_trader.protocols.runtime import ASK_FAILURES, ActorUnavailable
from arduino_trader.protocols.store import Database

from .base import HEALTH_ACTOR, ActorContext
from .fx_rules import rate_table

BROKER_TIMEOUT_S = 60.0
EXECUTOR_TIMEOUT_S = 120.0
REASON = "emergency rebalancing: negative cash balance"
RUN_WAIT_BUDGET_S = 420.0
"""All fill waits of one run together stay within the job's 600 s timeout."""


def _snapshot(ctx: ActorContext) -> AccountSnapshot:
    broker = ctx.deps.broker
    return ctx.io.run(broker.account(), BROKER_TIMEOUT_S)


def _universe(db: Database) -> tuple[set[str], dict[str, dict[str, Any]]]:
    """Currencies of active securities, and every security by broker symbol."""
    secs = securities_repo.list_securities(db)
    currencies = {s["currency"] for s in secs if s.get("active")}
    return currencies, {s["symbol"]: s for s in secs}


def _balances(account: AccountSnapshot) -> dict[str, Decimal]:
    out: dict[str, Decimal] = {}
    for c in account.cash:
        out[c.currency] = out.get(c.currency, Decimal(0)) + c.amount
    return out


def check(ctx: ActorContext) -> dict[str, Any]:
    """The negative-balance answer for the broker account (``error`` on failure)."""
    db = ctx.deps.store
    try:
        account = _snapshot(ctx)
    except BROKER_CALL_FAILURES as exc:
        return {"error": "broker_unavailable", "message": str(exc)}
    currencies, _ = _universe(db)
    rates = rate_table(ctx, db, latest_only=True)
    try:
        result = check_balances(_balances(account), currencies, rates)
    except MissingRate as exc:
        return {"error": "missing_rate", "message": str(exc)}
    return {"has_negative": result.has_negative, "below_minimum": result.below_minimum,
            "shortfalls": result.shortfalls, "total_shortfall_eur": result.total_shortfall_eur}


def _holdings(account: AccountSnapshot, secs: dict[str, dict[str, Any]],
              fills: dict[str, dict[str, Decimal]]) -> list[Holding]:
    """Each broker position split by the buckets holding it (``fills``: {bucket: {symbol:
    net filled quantity}}, as the satellite manager splits it): one holding per part."""
    parts = bucket_positions({p.symbol: p.quantity for p in account.positions}, fills)
    out: list[Holding] = []
    for p in account.positions:
        sec = secs.get(p.symbol, {})
        if p.quantity <= 0 or p.market_price <= 0:
            continue
        for bucket in sorted(b for b, per in parts.items() if per.get(p.symbol, 0) > 0):
            out.append(Holding(p.symbol, parts[bucket][p.symbol], p.market_price, p.currency,
                               str(sec.get("mic") or ""), int(sec.get("min_lot") or 1),
                               bool(sec.get("allow_sell", True)) and bool(sec), bucket))
    return out


def _action_row(action: Exchange | Sale, status: str, reason: str = "",
                **extra: Any) -> dict[str, Any]:
    kind = "exchange" if isinstance(action, Exchange) else "sale"
    return {"kind": kind, **asdict(action), "status": status, "reason": reason, **extra}


class _Run:
    """One emergency run's context: the universe, the calendars, and what it did."""

    def __init__(self, ctx: ActorContext, log: Any, run_id: str) -> None:
        self.ctx, self.log, self.run_id = ctx, log, run_id
        self.db = ctx.deps.store
        self.currencies, self.secs = _universe(self.db)
        self.rates: Rates = rate_table(ctx, self.db, latest_only=True)
        self.actions: list[dict[str, Any]] = []
        self.notes: list[str] = []
        self._keys = 0
        self.situation = ""  # the digest of the shortfalls this run repairs
        self.refused: set[tuple[str, str]] = set()  # (symbol, bucket) the owner dismissed
        self._wait_until = time.monotonic() + RUN_WAIT_BUDGET_S

    def is_open(self, mic: str) -> bool:
        calendars = self.ctx.deps.calendars
        return bool(mic) and calendars is not None and bool(
            calendars.is_tradable(mic, self.ctx.clock.now()))

    def plan(self, account: AccountSnapshot) -> EmergencyPlan:
        """The full three-step plan on these balances (what research mode records)."""
        return plan_emergency(_balances(account), self.currencies, self.holdings(account),
                              self.rates, self.is_open, bucket_cash=self.bucket_cash())

    def holdings(self, account: AccountSnapshot) -> list[Holding]:
        """The account's positions, each bucket's part on its own (fills of this mode)."""
        mode = "live" if self.ctx.settings().typed.trading_mode == "live" else "research"
        fills = self.ctx.deps.bucket_trades.holdings((mode,))
        return [h for h in _holdings(account, self.secs, fills)
                if (h.symbol, h.bucket_id) not in self.refused]

    def bucket_cash(self) -> dict[str, dict[str, Decimal]]:
        return self.ctx.deps.cash_flows.bucket_cash()

    def short(self, account: AccountSnapshot) -> dict[str, Decimal]:
        balances = _balances(account)
        return shortfalls(balances, checked_currencies(balances, self.currencies))

    def propose(self, sales: list[Sale], short: dict[str, Decimal], mode: str) -> list[str]:
        """Store the sales as emergency recommendations of this run's situation."""
        isins = {s.symbol: str(self.secs.get(s.symbol, {}).get("isin") or "") for s in sales}
        proposal = emergency_recs.Proposal(self.situation, short, self.run_id, mode, sales,
                                           isins)
        keys: list[str] = emergency_recs.propose(
            self.db, proposal, self.ctx.clock.now())
        return keys

    def key(self, what: str) -> str:
        self._keys += 1
        return f"emergency:{self.run_id}:{self._keys}:{what}"

    # ------------------------------------------------------------------ steps
    def exchange_step(self, step: Literal[1, 3], account: AccountSnapshot) -> AccountSnapshot:
        """Plan one exchange step on the broker's balances and execute it, leg by leg."""
        exchanges, notes = plan_exchanges(step, _balances(account), self.currencies,
                                          self.rates)
        self.notes += notes
        for ex in exchanges:
            account = self._exchange(ex, account)
        return _snapshot(self.ctx) if exchanges else account

    def _exchange(self, ex: Exchange, account: AccountSnapshot) -> AccountSnapshot:
        try:
            legs = conversion_path(ex.sell_currency, ex.buy_currency)
        except FxError as exc:
            self.actions.append(_action_row(ex, "not_executable", str(exc)))
            return account
        results: list[dict[str, Any]] = []
        for n, leg in enumerate(legs):
            last = n == len(legs) - 1
            # the last leg delivers the planned amount; a first leg through EUR delivers
            # what the second leg will cost: its value, limit buffer and fees, buffered
            amount = ex.buy_amount if last else self._route_amount(ex)
            available = _balances(account).get(leg.source, Decimal(0)) - MIN_CURRENCY_RESERVE
            if available <= 0:
                results.append({"leg": f"{leg.source}->{leg.target}", "status": "skipped",
                                "message": f"no {leg.source} above the reserve"})
                break
            answer = self._ask(SubmitExchange(
                leg.source, leg.target, amount, self.key(f"fx:{leg.source}{leg.target}"),
                "emergency_rebalancing", spend_cap=available, reason=REASON))
            state = self._settle(answer)
            results.append({"leg": f"{leg.source}->{leg.target}", "symbol": leg.pair.symbol,
                            "status": answer.status, "state": state, "code": answer.code,
                            "message": answer.message, **answer.details})
            account = _snapshot(self.ctx)
            if state != "filled":
                break
        status = "filled" if all(r.get("state") == "filled" for r in results) and \
            len(results) == len(legs) else results[-1]["status"]
        self.actions.append(_action_row(ex, status, results[-1]["message"], legs=results))
        return account

    def _route_amount(self, ex: Exchange) -> Decimal:
        """EUR a first leg must deliver so the second leg can buy ``ex.buy_amount``."""
        settings = self.ctx.settings()
        value = convert(ex.buy_amount, ex.buy_currency, ROUTE_CURRENCY, None, self.rates,
                        round_up=True)
        costs = CostModel.from_settings(settings)
        slack = 1 + settings.typed.fx_limit_buffer + costs.fraction
        cost = value * slack + costs.fixed_eur
        return (cost * EXCHANGE_BUFFER).quantize(CENT, rounding=ROUND_CEILING)

    def sale_step(self, account: AccountSnapshot) -> AccountSnapshot:
        """Sell what the exchanges could not cover; each sale followed to its end."""
        sales, notes = plan_sales(_balances(account), self.currencies,
                                  self.holdings(account), self.rates, self.is_open,
                                  bucket_cash=self.bucket_cash())
        self.notes += notes
        keys = self.propose(sales, self.short(account), "live")
        for sale, key in zip(sales, keys, strict=True):
            row, answer = self._sell(sale)
            if answer is not None and answer.status in ("placed", "duplicate"):
                emergency_recs.mark_executed(self.db, key, self.ctx.clock.now())
            if answer is not None:
                row["state"] = self._settle(answer)
            self.actions.append(row)
        return _snapshot(self.ctx) if sales else account

    def _sell(self, sale: Sale) -> tuple[dict[str, Any], OrderResult | None]:
        sec = self.secs.get(sale.symbol)
        if sec is None:
            return _action_row(sale, "not_executable", "no security record for this "
                               "position"), None
        intent = OrderIntent(sec["isin"], sale.symbol, "SELL", Decimal(sale.quantity),
                             "emergency_rebalancing")
        answer = self._ask(SubmitOrder(intent, self.key(f"{sale.symbol}:{sale.bucket_id}"),
                                       REASON, sale.bucket_id))
        return _action_row(sale, answer.status, answer.message, code=answer.code), answer

    def _ask(self, message: object) -> OrderResult:
        try:
            answer = self.ctx.bus.ask("executor", message, EXECUTOR_TIMEOUT_S)
        except ORDER_ASK_FAILURES as exc:
            return OrderResult("failed", repr(exc))
        if not isinstance(answer, OrderResult):
            return OrderResult("failed", f"executor answered {type(answer).__name__}")
        return answer

    def _settle(self, answer: OrderResult) -> str | None:
        """Follow a placed order until the broker reports it final (bounded wait)."""
        if answer.status != "placed" or answer.client_order_id is None:
            return answer.state
        settings = self.ctx.settings()
        deadline = min(time.monotonic() + settings.typed.fx_fill_wait_s,
                       self._wait_until)
        pause = settings.typed.fx_fill_poll_s
        state = answer.state
        while state not in FINAL_STATES:
            state = self.ctx.deps.order_journal.state_of(answer.client_order_id)
            if state in FINAL_STATES or time.monotonic() >= deadline \
                    or self.ctx.stopping.is_set():
                break
            if pause:
                self.ctx.stopping.wait(pause)
            try:
                self.ctx.bus.ask("executor", FollowUpOrders(), EXECUTOR_TIMEOUT_S)
            except ORDER_ASK_FAILURES as exc:
                self.log.warning("emergency_follow_up_failed", error=repr(exc))
        if state not in FINAL_STATES:
            self.notes.append(f"order {answer.client_order_id} still {state} after the wait")
        return state


def run_emergency(ctx: ActorContext, log: Any, run_id: str, trigger: str) -> JobOutcome:
    """One emergency check and, when short, the repair (live) or its record (research)."""
    db = ctx.deps.store
    mode = "live" if ctx.settings().typed.trading_mode == "live" else "research"
    try:
        emergency_runs_repo.start_emergency_run(db, run_id, mode, trigger, ctx.clock.now())
    except emergency_runs_repo.RunLocked as exc:
        return JobOutcome(False, str(exc), {"locked": True})
    run: _Run | None = None
    outcome, notes = "failed", ""
    initial: dict[str, Decimal] = {}
    final: dict[str, Decimal] = {}
    try:
        account = _snapshot(ctx)
        run = _Run(ctx, log, run_id)
        plan = run.plan(account)
        initial, final = plan.initial_shortfalls, plan.final_shortfalls
        run.situation = situation_key(initial)
        if not initial:
            dismissed = emergency_recs.resolve(db, ctx.clock.now())
            outcome = "no_shortfall"
            run.notes.append(f"no shortfall; {dismissed} stale emergency recommendations "
                             "dismissed")
        elif mode == "research":  # records the live plan; nothing is sent
            run.actions += [_action_row(a, "recorded", "research mode: not sent")
                            for a in plan.actions]
            run.notes += plan.notes
            run.propose([a for a in plan.actions if isinstance(a, Sale)], initial, mode)
            outcome = "unresolved"
        else:  # a sale the owner dismissed in this situation is not made
            run.refused = emergency_recs.owner_dismissed(db, run.situation)
            account = run.exchange_step(1, account)
            if run.short(account):
                account = run.sale_step(account)
                account = run.exchange_step(3, account)
            else:  # repaired by exchanges alone: no emergency sale may act any more
                dismissed = emergency_recs.resolve(db, ctx.clock.now())
                run.notes.append(f"repaired by exchange; {dismissed} emergency "
                                 "recommendations dismissed")
            final = run.short(account)
            outcome = "unresolved" if final else "resolved"
            if final:
                run.notes.append(f"still short after all steps: {final}")
    except MissingRate as exc:
        notes = f"missing FX rate: {exc}"
    except (*BROKER_CALL_FAILURES, *ASK_FAILURES) as exc:
        notes = f"{type(exc).__name__}: {exc}"
        log.error("emergency_run_failed", run_id=run_id, error=repr(exc))
    except Exception as exc:  # recorded as failed below, then raised: the actor restarts
        notes = f"{type(exc).__name__}: {exc}"
        raise
    finally:
        actions = run.actions if run is not None else []
        notes = "; ".join([*(run.notes if run is not None else []), *([notes] if notes
                                                                     else [])])
        emergency_runs_repo.finish_emergency_run(db, run_id, outcome, initial, final,
                                                 actions, notes, ctx.clock.now())
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
                       "final_shortfalls": {k: str(v) for k, v in final.items()},
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
