"""The ``dividend_reinvestment`` job and DRIP fill consumption.

Planning only reserves: orders go through the executor (source ``drip``), and a
dividend's euros are consumed — and the dividend marked reinvested — only when the
executor publishes the confirmed fill (:class:`TradeExecuted`). The consumption of a fill
is rebuilt from the stored dividends (oldest first), so it survives a restart between the
order and its fill; ``dividend_allocations`` UNIQUE(dividend, fill) makes a replayed
fill a no-op.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from decimal import ROUND_CEILING, Decimal
from typing import Any

from arduino_trader.adapters.store import dividend_repo, market_repo, securities_repo
from arduino_trader.domain.cash_flows.fx import MissingRate, RateTable
from arduino_trader.domain.dividends import (
    DripBuy,
    Instrument,
    apply_fill,
    plan_reinvestment,
)
from arduino_trader.domain.execution.costs import minimum_trade_eur
from arduino_trader.protocols.broker import Broker
from arduino_trader.protocols.broker_errors import BROKER_CALL_FAILURES
from arduino_trader.protocols.execution import (
    ORDER_ASK_FAILURES,
    OrderIntent,
    OrderResult,
    SubmitOrder,
    TradeExecuted,
)
from arduino_trader.protocols.messages import JobOutcome
from arduino_trader.protocols.money import ZERO, round_money
from arduino_trader.protocols.store import Database

from .base import ActorContext
from .fx_rules import rate_table

BROKER_TIMEOUT_S = 60.0
EXECUTOR_TIMEOUT_S = 120.0
YIELD_KEYS = ("dividendYield", "dividend_yield", "trailingAnnualDividendYield")


def trading_broker(ctx: ActorContext) -> Broker:
    """The broker the executor trades with in the current mode (paper in research)."""
    live = ctx.settings().typed.trading_mode == "live"
    return ctx.deps.broker if live else ctx.deps.paper_broker


def _yield_of(doc: dict[str, Any]) -> Decimal | None:
    """Dividend yield as a fraction from a stored fundamentals document (Yahoo may send
    percent: values above 1 are read as percent)."""
    data = doc.get("fundamentals", {}).get("data", {})
    values = data.get("values", data) if isinstance(data, dict) else {}
    for key in YIELD_KEYS:
        value = values.get(key) if isinstance(values, dict) else None
        if isinstance(value, int | float) and not isinstance(value, bool) and value >= 0:
            number = Decimal(str(value))
            return number / 100 if number > 1 else number
    return None


def instrument_facts(db: Database, symbols: Iterable[str]) -> tuple[
        dict[str, Instrument], dict[str, Decimal | None], dict[str, str]]:
    """Price, lot, yield and ISIN of each dividend symbol from the local store."""
    instruments: dict[str, Instrument] = {}
    yields: dict[str, Decimal | None] = {}
    isins: dict[str, str] = {}
    for symbol in sorted(set(symbols)):
        sec = securities_repo.find_security(db, symbol)
        if sec is None:
            yields[symbol] = None
            continue
        isins[symbol] = sec["isin"]
        row = db.fetch_one("SELECT price, currency FROM latest_prices WHERE isin = ?",
                           (sec["isin"],))
        if row is not None and row["price"] > 0:
            instruments[symbol] = Instrument(symbol, Decimal(str(row["price"])),
                                             row["currency"] or sec["currency"],
                                             int(sec.get("min_lot") or 1))
        yields[symbol] = _yield_of(market_repo.read_security_data(db, sec["isin"]))
    return instruments, yields, isins


def _cash_eur(ctx: ActorContext, rates: RateTable) -> Decimal:
    account = ctx.io.run(trading_broker(ctx).account(), BROKER_TIMEOUT_S)
    total = ZERO
    for c in account.cash:
        if c.amount <= 0:
            continue
        try:
            total += c.amount * rates.eur_per(c.currency)
        except MissingRate:
            continue
    return round_money(total)


def _bucket_cash_eur(account_cash: Decimal, ledger: dict[str, dict[str, Decimal]],
                     rates: RateTable) -> dict[str, Decimal]:
    """Cash each bucket may spend, in EUR: its own ledger cash (positive balances in
    every currency), never more than the account holds; core also never more than what
    the satellites' cash leaves of the account (core never spends a satellite's money)."""
    out: dict[str, Decimal] = {"core": ZERO}
    for bucket, balances in ledger.items():
        total = ZERO
        for ccy, amount in balances.items():
            if amount > 0:
                try:
                    total += amount * rates.eur_per(ccy)
                except MissingRate:
                    continue
        out[bucket] = min(round_money(total), account_cash)
    satellites = sum((v for b, v in out.items() if b != "core"), ZERO)
    out["core"] = max(ZERO, min(out["core"], account_cash - satellites))
    return out


def intent_key(buy: DripBuy, day: str) -> str:
    """One DRIP attempt per (day, bucket, symbol, funding state): a resubmission the
    same day is a duplicate for the executor; a later day may retry."""
    funding = ",".join(f"{i}:{a}" for i, a in buy.funding)
    return f"drip:{day}:{buy.bucket_id}:{buy.symbol}:{funding}"


def book_waiting_fills(ctx: ActorContext, log: Any) -> list[str]:
    """Consume dividend euros for the stored DRIP fills no event booked (the event was
    lost while this actor restarted, or its booking lacked a rate); the trade keys of
    those that still wait for a rate."""
    waiting: list[str] = []
    for fill in dividend_repo.unconsumed_drip_fills(ctx.deps.store):
        try:
            consume_fill(ctx, log, fill)
        except MissingRate as exc:
            log.warning("drip_fill_waits_for_rate", trade=fill.trade_key, error=repr(exc))
            waiting.append(fill.trade_key)
    return waiting


def run_drip(ctx: ActorContext, log: Any) -> JobOutcome:
    """Book fills no event booked, then plan the reinvestment, park pending bonuses and
    submit buys to the executor. A fill that cannot be booked yet stops the run: the
    dividend it spent would look unspent and be reinvested again."""
    db = ctx.deps.store
    settings = ctx.settings()
    now = ctx.clock.now()
    waiting = book_waiting_fills(ctx, log)
    if waiting:
        return JobOutcome(False, f"{len(waiting)} DRIP fill(s) wait for a EUR rate to be "
                          "booked against their dividends; nothing reinvested until then",
                          {"buys": [], "waiting_fills": waiting})
    dividends = dividend_repo.drip_dividends(db)
    if not dividends:
        return JobOutcome(True, "no unreinvested dividends", {"buys": [], "pending": 0})
    minimum = minimum_trade_eur(settings)
    rates = rate_table(ctx, db)
    instruments, yields, isins = instrument_facts(db, (d.symbol for d in dividends))
    try:
        cash = _cash_eur(ctx, rates)
    except BROKER_CALL_FAILURES as exc:
        return JobOutcome(False, f"broker unavailable: {exc}", {"broker_unavailable": True})
    ledger = ctx.deps.cash_flows.bucket_cash()
    plan = plan_reinvestment(dividends, min_trade=minimum, yields=yields,
                             instruments=instruments, eur_per=lambda c: rates.eur_per(c),
                             bucket_cash_eur=_bucket_cash_eur(cash, ledger, rates),
                             today=ctx.clock.now().date())
    dividend_repo.set_pending_bonuses(db, [(p.dividend_id, p.pending_cash_eur)
                                             for p in plan.pending])
    results: list[dict[str, Any]] = []
    ok = True
    for buy in plan.buys:
        isin = isins.get(buy.symbol, "")
        intent = OrderIntent(isin, buy.symbol, "BUY", Decimal(buy.quantity), "drip")
        key = intent_key(buy, now.date().isoformat())
        try:
            answer = ctx.bus.ask("executor", SubmitOrder(
                intent, key, f"DRIP: reinvest {buy.cost_eur} EUR of dividends",
                buy.bucket_id), EXECUTOR_TIMEOUT_S)
        except ORDER_ASK_FAILURES as exc:
            answer = OrderResult("failed", repr(exc))
        status = answer.status if isinstance(answer, OrderResult) else "failed"
        ok = ok and status in ("placed", "duplicate")
        results.append({"symbol": buy.symbol, "quantity": buy.quantity,
                        "cost_eur": str(buy.cost_eur), "intent_key": key, "status": status,
                        "message": getattr(answer, "message", "")})
        log.info("drip_order", symbol=buy.symbol, quantity=buy.quantity, status=status)
    for symbol, reason in plan.skipped:
        log.info("drip_skipped", symbol=symbol, reason=reason)
    summary = (f"{len(plan.buys)} reinvestment orders, {len(plan.pending)} dividends "
               f"pending (minimum trade {round_money(minimum)} EUR)")
    return JobOutcome(ok, summary, {"buys": results, "pending": len(plan.pending),
                                    "skipped": [list(s) for s in plan.skipped],
                                    "min_trade_eur": str(round_money(minimum))})


def consume_fill(ctx: ActorContext, log: Any, fill: TradeExecuted) -> int:
    """Consume dividend euros for a confirmed DRIP fill, oldest dividends first."""
    db = ctx.deps.store
    if dividend_repo.fill_consumed(db, fill.trade_key):
        return 0  # a replayed fill: its euros were consumed already
    dividends = [d for d in dividend_repo.drip_dividends(db, symbol=fill.symbol,
                                                         bucket_id=fill.bucket_id)
                 if dividend_repo.funds_fill(d, fill.executed_at)]
    if not dividends:
        log.warning("drip_fill_without_dividends", trade=fill.trade_key, symbol=fill.symbol)
        return 0
    rates = rate_table(ctx, db)
    cost_eur = round_money(fill.quantity * fill.price
                           * rates.eur_per(fill.currency, fill.executed_at.date()))
    funding: list[tuple[int, Decimal]] = []
    left = cost_eur
    for d in dividends:
        if left <= 0:
            break
        take = min(d.remaining_eur, left)
        if take > 0:
            funding.append((d.id, take))
            left -= take
    reserved = sum((a for _, a in funding), ZERO)
    if reserved <= 0:
        return 0
    qty = int(fill.quantity.to_integral_value(rounding=ROUND_CEILING))
    buy = DripBuy(fill.bucket_id, fill.symbol, max(qty, 1), fill.price, fill.currency,
                  reserved, tuple(funding))
    changed, rows = apply_fill({d.id: d for d in dividends}, buy, fill.trade_key,
                               fill.quantity, cost_eur)
    written = dividend_repo.record_consumption(db, changed, rows, fill.symbol, None,
                                               ctx.clock.now())
    log.info("drip_fill_consumed", trade=fill.trade_key, symbol=fill.symbol,
             eur=str(cost_eur), rows=written,
             reinvested=json.dumps(sorted(i for i, d in changed.items() if d.reinvested)))
    return written

