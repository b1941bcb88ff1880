"""The satellite manager's settlement: fills, commissions and exchanges against their
bucket (with a satellite sell's realised P&L), what a lost event left unsettled, and the
cash flows (deposits split deficit-first, dividends through the router, withdrawals).

Every row is keyed by its trade key or cash-flow key, so settling again changes nothing.
"""

from __future__ import annotations

from collections.abc import Callable
from decimal import Decimal
from typing import Any

from arduino_trader.domain.satellites import balances, dividend_router, drawdown
from arduino_trader.protocols.broker_errors import BROKER_CALL_FAILURES
from arduino_trader.protocols.bucket_ledger import Operation
from arduino_trader.protocols.cash_flows import DepositReceived, DividendReceived
from arduino_trader.protocols.execution import CurrencyExchanged, TradeExecuted
from arduino_trader.protocols.money import ZERO, round_money
from arduino_trader.protocols.portfolio import TradeFeeRecorded
from arduino_trader.protocols.satellite_records import Bucket, LedgerEntry, SatelliteError

from .base import ActorContext
from .satellite_book import BookReader
from .satellite_facts import Facts, MissingRate
from .satellite_state import (
    State,
    hwm_shifts,
    known_bucket,
    load_state,
    read_facts,
    write_operation,
)

SETTLEMENT_REFUSALS: tuple[type[Exception], ...] = (SatelliteError, MissingRate,
                                                    *BROKER_CALL_FAILURES)
"""Why a settlement may not be booked now, the actor carrying on: a ledger rule refused
it, a rate is missing, or the broker could not answer. Settled later by
:func:`settle_missing` or reported as a gap by the reconciliation. Anything else (the
store failing, a bug) restarts the actor, which settles what is missing on start."""


def settle_trade(ctx: ActorContext, log: Any, msg: TradeExecuted) -> None:
    """Book a fill's net settlement against its bucket (core when the bucket is gone),
    a satellite sell's realised P&L, and the fill's stored commission."""
    facts = read_facts(ctx)
    if msg.mode not in facts.modes():
        return
    now = ctx.clock.now()
    row = ctx.deps.bucket_trades.trade(msg.trade_key)
    value = row.value if row is not None else msg.quantity * msg.price
    side: balances.TradeSide = "buy" if msg.side == "BUY" else "sell"
    buckets = ctx.deps.buckets.load_buckets()
    bucket_id = known_bucket(log, buckets, msg.bucket_id, msg.trade_key)
    entries = balances.settle_trade(bucket_id, value, msg.currency, side, msg.trade_key,
                                    now)
    changed: tuple[Bucket, ...] = ()
    result = None
    bucket = buckets[bucket_id]
    if side == "sell" and not bucket.is_core:
        pnl = facts.realized_pnl(bucket_id, msg.symbol, msg.trade_key)
        if pnl is not None:
            outcome = drawdown.record_trade_result(bucket, pnl, now)
            changed = (outcome.bucket,)
            result = {"trade_key": msg.trade_key, "bucket_id": bucket_id,
                      "symbol": msg.symbol, "realized_pnl": pnl, "currency": msg.currency,
                      "closed_at": msg.executed_at}
            if outcome.paused:
                log.warning("circuit_breaker_paused", bucket_id=bucket_id,
                            losses=outcome.bucket.consecutive_losses)
    applied = write_operation(ctx, Operation(entries, changed,
                                                  source=("trade", msg.trade_key),
                                                  trade_result=result))
    log.info("trade_settled", trade_key=msg.trade_key, bucket_id=bucket_id,
             amount=str(entries[0].amount), currency=msg.currency,
             replay=applied is None)
    if row is not None and row.fee:
        settle_fee(ctx, log, bucket_id, row.fee, msg.currency, msg.trade_key)


def settle_fee(ctx: ActorContext, log: Any, bucket_id: str, fee: Decimal, currency: str,
               trade_key: str) -> None:
    """Book one commission against ``bucket_id`` (keyed ``<trade key>:fee``)."""
    entries = balances.trade_fee(bucket_id, fee, currency, trade_key, ctx.clock.now())
    applied = write_operation(ctx, Operation(entries, (), source=(
        "trade", balances.fee_source_id(trade_key))))
    log.info("trade_fee_settled", trade_key=trade_key, bucket_id=bucket_id,
             fee=str(fee), currency=currency, replay=applied is None)


def settle_recorded_fee(ctx: ActorContext, log: Any, msg: TradeFeeRecorded) -> None:
    """Book a commission the portfolio sync learnt of after the fill."""
    if msg.mode not in read_facts(ctx).modes():
        return
    buckets = ctx.deps.buckets.load_buckets()
    settle_fee(ctx, log, known_bucket(log, buckets, msg.bucket_id, msg.trade_key),
               msg.fee, msg.currency, msg.trade_key)


def settle_exchange(ctx: ActorContext, log: Any, msg: CurrencyExchanged) -> None:
    """Book an exchange's two legs against its bucket."""
    if msg.mode not in read_facts(ctx).modes():
        return
    buckets = ctx.deps.buckets.load_buckets()
    bucket_id = known_bucket(log, buckets, msg.bucket_id, msg.trade_key)
    entries = balances.settle_exchange(
        bucket_id, {msg.base_currency: msg.base_amount,
                    msg.quote_currency: msg.quote_amount},
        msg.trade_key, msg.symbol, ctx.clock.now())
    applied = write_operation(ctx, Operation(entries, (),
                                                  source=("trade", msg.trade_key)))
    log.info("exchange_settled", trade_key=msg.trade_key, bucket_id=bucket_id,
             rows=[(e.currency, str(e.amount)) for e in entries],
             replay=applied is None)


def settle_missing_safely(ctx: ActorContext, log: Any) -> dict[str, int]:
    """:func:`settle_missing`; a refusal (:data:`SETTLEMENT_REFUSALS`) is logged (an empty
    count) instead of raised."""
    try:
        return settle_missing(ctx, log)
    except SETTLEMENT_REFUSALS as exc:  # retried at the next sync, start or reconciliation
        log.error("settle_missing_failed", error=repr(exc))
        return {}


def settle_missing(ctx: ActorContext, log: Any) -> dict[str, int]:
    """Settle what the ledger lacks, from the store: fills and exchanges of our own
    orders whose in-memory event was lost (a crash after the fill's commit) or never
    sent (the broker sync stored the fill first), and their known commissions. Every
    row is keyed by its trade key, so running this again changes nothing."""
    modes = read_facts(ctx).modes()
    counts = {"fills": 0, "exchanges": 0, "fees": 0}
    for fill in ctx.deps.bucket_trades.unsettled_fills(modes):
        settle_trade(ctx, log, fill)
        counts["fills"] += 1
    for exchange in ctx.deps.bucket_trades.unsettled_exchanges(modes):
        settle_exchange(ctx, log, exchange)
        counts["exchanges"] += 1
    buckets = ctx.deps.buckets.load_buckets()
    for f in ctx.deps.bucket_trades.unbooked_fees(modes):
        if f.fee <= 0 or f.settled is None:  # nothing to book, or booked with its fill
            continue
        if f.value is not None and abs(f.settled) != round_money(f.value):
            continue  # settled net of its fee before fees had a row of their own
        settle_fee(ctx, log, known_bucket(log, buckets, f.bucket_id, f.trade_key),
                   f.fee, f.currency, f.trade_key)
        counts["fees"] += 1
    if any(counts.values()):
        log.warning("unsettled_records_settled", **counts)
    return counts


def settle_cash_flow(ctx: ActorContext, log: Any, books: BookReader, kind: str,
                     key: str, build: Callable[[State, Facts], tuple[LedgerEntry, ...]]
                     ) -> None:
    """Book the rows ``build`` makes of one cash flow under its key, with the HWM shifts
    they cause; a refusal (:data:`SETTLEMENT_REFUSALS`) is logged."""
    try:
        state, facts = load_state(ctx, books), read_facts(ctx)
        entries = build(state, facts)
        shifted = hwm_shifts(log, state.buckets, entries, facts, ctx.clock.now())
        applied = write_operation(ctx, Operation(entries, shifted,
                                                      source=("cash_flow", key)))
        log.info("cash_flow_settled", kind=kind, key=key, replay=applied is None,
                 rows=[(e.bucket_id, str(e.amount), e.currency) for e in entries])
    except SETTLEMENT_REFUSALS as exc:
        log.error("cash_flow_settlement_failed", kind=kind, key=key, error=repr(exc))


def deposit_rows(ctx: ActorContext, log: Any, msg: DepositReceived, state: State,
                 facts: Facts) -> tuple[LedgerEntry, ...]:
    """A deposit's rows: its given allocations, else the deficit-first split."""
    given = msg.allocations
    if given:
        now = ctx.clock.now()
        return tuple(LedgerEntry(bucket_id=b, currency=msg.currency, type="deposit",
                                 amount=a, source_kind="cash_flow", source_id=msg.key,
                                 created_at=now, description="deposit allocation")
                     for b, a in given if a)
    return deposit_entries(ctx, log, abs(msg.amount), msg.currency, msg.key, state, facts)


def dividend_rows(ctx: ActorContext, msg: DividendReceived) -> tuple[LedgerEntry, ...]:
    """A dividend's rows as the cash-flow actor split and booked them."""
    return dividend_router.dividend_entries(msg.allocations, msg.currency, msg.symbol,
                                            msg.key, ctx.clock.now())


def deposit_entries(ctx: ActorContext, log: Any, amount: Decimal, currency: str,
                    source_id: str, state: State, facts: Facts, description: str = ""
                    ) -> tuple[LedgerEntry, ...]:
    """A deposit split over the buckets, deficit-first against their targets."""
    alloc = ctx.deps.buckets.load_allocation()
    values = bucket_values(log, state, facts)
    return balances.deposit(amount, currency, source_id, ctx.clock.now(),
                            buckets=state.buckets, values_eur=values,
                            satellite_budget=alloc.satellite_budget_pct,
                            eur_per_unit=facts.eur_per(currency), description=description)


def bucket_values(log: Any, state: State, facts: Facts) -> dict[str, Decimal]:
    """EUR values for the deposit split; cash only when positions are unknown."""
    valuation = facts.valuation(state.buckets, state.book)
    values = {b: v for b, v in valuation.values.items() if v is not None}
    if len(values) != len(valuation.values):
        values = {b: sum((a * facts.eur_per(c) for c, a in
                          state.book.balances_of(b).items() if a), ZERO)
                  for b in state.buckets}
        log.warning("deposit_split_cash_only", reason=valuation.error or "no value")
    return values
