"""The effects of applying one broker cash-flow record, exactly once (re-applying
a record changes nothing).

:func:`apply_record` is a pure function of (what the store already holds for the key,
the record, the context) → what to write: insert the row, update its status, or
nothing; ledger entries, a dividend row and events. The actor performs the returned
writes in one transaction with the row insert, so a crash between them is impossible.

Rules:
- A key already processed never yields ledger entries again (re-syncs change nothing);
  a status change updates only the status; statuses never move back from a final one
  (a stale answer changes nothing). A change away from ``completed`` after the
  effects were applied is reported for review, never silently reversed.
- A key not yet processed yields its effects the first time it is seen ``completed``;
  pending records are stored and wait; cancelled/rejected ones never move money.
- Absence of a record in a sync is not an input at all: nothing is ever deleted.
- Each kind of money movement is applied from one authoritative source only
  (:data:`DEFAULT_AUTHORITY`); the same movement reported by another source is stored
  for the audit trail without effects. Trading commissions are settled with the trade
  (the satellites' fee row keyed by trade id), so fee records of trades never
  move money here.
- EUR value: the broker's when given, else FX at the record date; a missing rate raises
  :class:`~.fx.MissingRate` and the record is not stored (retried next sync).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from decimal import Decimal

from arduino_trader.domain.cash_flows.deposit_split import (
    CORE_ID,
    BucketShare,
    DepositSplit,
    split_deposit,
)
from arduino_trader.domain.cash_flows.fx import Rates, to_eur
from arduino_trader.domain.cash_flows.pro_rata import Shares, split_pro_rata
from arduino_trader.domain.cash_flows.records import FINAL_STATUSES, INCOME_KINDS
from arduino_trader.protocols.cash_flow_store import (
    CashFlowRecord,
    Decide,
    DividendRow,
    Effects,
    Event,
    FlowKind,
    LedgerEntry,
    NeedsReview,
    SeenFlow,
    Source,
    StoredRow,
)
from arduino_trader.protocols.cash_flows import (
    DepositReceived,
    DividendReceived,
    WithdrawalRecorded,
)
from arduino_trader.protocols.money import ZERO, round_money

DEFAULT_AUTHORITY: Mapping[str, Source | None] = {
    "deposit": "user_cash_flow",
    "withdrawal": "cps",
    "withdrawal_fee": "cps",
    "structured_product_purchase": "cps",
    "structured_product_fee": "cps",
    "dividend": "user_cash_flow",
    "coupon": "user_cash_flow",
    "maturity": "corporate_action",
    "partial_maturity": "corporate_action",
    "trading_fee": None,  # settled with the trade (net of commission), never twice
    "fee": "user_cash_flow",
    "tax": "user_cash_flow",
    "other": None,  # unclassified: stored, reported, no effect
}


@dataclass(frozen=True)
class EffectContext:
    """Everything besides the record that its effects depend on.

    ``buckets``/``satellite_budget``: input of the deposit split. ``income_shares``:
    per symbol, the (destination bucket, shares held) pairs from the dividend router; a
    dividend, coupon or its withholding tax is split over them pro rata (default: all
    to core). ``maturity_shares``: per symbol, the (owning bucket, quantity) pairs a
    maturity is split over the same way (default core).
    ``authority``: which source applies each kind (see :data:`DEFAULT_AUTHORITY`).
    """

    rates: Rates
    buckets: tuple[BucketShare, ...] = ()
    satellite_budget: Decimal = ZERO
    income_shares: Mapping[str, Shares] = field(default_factory=dict)
    maturity_shares: Mapping[str, Shares] = field(default_factory=dict)
    authority: Mapping[str, Source | None] = field(default_factory=lambda: DEFAULT_AUTHORITY)


def eur_value(record: CashFlowRecord, rates: Rates) -> Decimal:
    """The record's EUR value: the broker's own when given, else FX at its date."""
    if record.amount_eur_broker is not None:
        return round_money(record.amount_eur_broker)
    return to_eur(record.amount, record.currency, record.on, rates)


def _is_final(status: str) -> bool:
    return status == "completed" or status in FINAL_STATUSES


def is_unchanged(seen: SeenFlow | None, record: CashFlowRecord) -> bool:
    """True when :func:`apply_record` would write and report nothing for ``record``: the
    stored row has its status, amount and currency, and its effects are applied or it
    moves no money. A sync skips such records without a transaction (the broker answers
    the whole history every time)."""
    return (seen is not None and seen.status == record.status
            and seen.amount == record.amount and seen.currency == record.currency
            and (seen.processed or not record.completed))


def rules(context: EffectContext) -> Decide:
    """:func:`apply_record` under ``context``: what the store's ``store_record`` runs in
    the record's transaction."""
    return lambda seen, record: apply_record(seen, record, context)


def apply_record(seen: SeenFlow | None, record: CashFlowRecord,
                 ctx: EffectContext) -> Effects:
    """The writes for ``record`` given what the store holds for its key (None = new).

    Statuses only move forward: an answer showing a final status (completed, cancelled,
    rejected) going back to pending/processing is stale and changes nothing. A record
    whose amount or currency differs from the stored row changes nothing and is
    reported (the stored row is append-only).
    """
    if seen is not None and seen.amount is not None and (
            seen.amount != record.amount or seen.currency != record.currency):
        return Effects("none", events=(NeedsReview(
            record.key, f"broker now reports {record.amount} {record.currency}, stored "
                        f"{seen.amount} {seen.currency}: stored row kept"),),
            note="money facts changed under the same key")
    if seen is not None and _is_final(seen.status) and not _is_final(record.status):
        return Effects("none", note=f"stale status {record.status} after {seen.status}")
    if seen is not None and seen.processed:
        if seen.status == record.status:
            return Effects("none")
        events: tuple[Event, ...] = ()
        if seen.status == "completed" and record.status != "completed":
            events = (NeedsReview(record.key, f"status {seen.status} → {record.status} after "
                                              "its effects were applied"),)
        return Effects("update_status", status=record.status, events=events)
    if seen is None:
        row = StoredRow(record, eur_value(record, ctx.rates))
        base = Effects("insert", row=row, status=record.status)
    elif seen.status != record.status:
        row = None
        base = Effects("update_status", status=record.status)
    else:
        row = None
        base = Effects("none")
    if not record.completed:
        note = "final, never moves money" if record.status in FINAL_STATUSES else "waiting"
        return replace(base, note=note)
    amount_eur = row.amount_eur if row else eur_value(record, ctx.rates)
    return _completed(base, record, amount_eur, ctx)


def _completed(base: Effects, record: CashFlowRecord, amount_eur: Decimal,
               ctx: EffectContext) -> Effects:
    authority = ctx.authority.get(record.kind)
    if authority != record.source:
        if record.kind == "other":
            reason = f"unclassified broker type {record.transaction_type}: no ledger effect"
            return replace(base, mark_processed=True,
                           events=(NeedsReview(record.key, reason),), note=reason)
        owner = authority or "trade settlement"
        return replace(base, mark_processed=True,
                       note=f"{record.kind} is applied from {owner}; stored for audit only")
    ledger, dividends, events = _money(record, amount_eur, ctx)
    return replace(base, mark_processed=True, ledger=ledger, dividends=dividends,
                   events=events)


def _money(record: CashFlowRecord, amount_eur: Decimal, ctx: EffectContext) -> tuple[
        tuple[LedgerEntry, ...], tuple[DividendRow, ...], tuple[Event, ...]]:
    kind: FlowKind = record.kind
    key, ccy, amount = record.key, record.currency, record.amount
    if kind == "deposit":
        split = deposit_split_for(record, ctx)
        ledger = tuple(LedgerEntry(b, "deposit", a, ccy, key, "deposit")
                       for b, a in split.allocations)
        return ledger, (), (DepositReceived(key, amount, ccy, amount_eur, record.on,
                                              split.allocations),)
    if kind in INCOME_KINDS:
        return _income(record, amount_eur, ctx)
    if kind == "withdrawal":
        entry = LedgerEntry(CORE_ID, "withdrawal", amount, ccy, key, "withdrawal")
        return (entry,), (), (WithdrawalRecorded(key, amount, ccy, amount_eur, record.on),)
    if kind in ("maturity", "partial_maturity"):
        parts = split_pro_rata(amount, ctx.maturity_shares.get(record.symbol, ()))
        return tuple(LedgerEntry(b, "maturity", a, ccy, key, kind) for b, a in parts), (), ()
    if kind == "structured_product_purchase":
        return (LedgerEntry(CORE_ID, "trade_buy", amount, ccy, key, kind),), (), ()
    if kind == "tax" and record.symbol:
        # withholding on a dividend hits the buckets the dividend credited, in the same
        # shares (net booking)
        parts = split_pro_rata(amount, ctx.income_shares.get(record.symbol, ()))
        return tuple(LedgerEntry(b, "fee", a, ccy, key, f"tax {record.symbol}")
                     for b, a in parts), (), ()
    # withdrawal_fee, structured_product_fee, fee, tax without instrument → core
    return (LedgerEntry(CORE_ID, "fee", amount, ccy, key, kind),), (), ()


def _income(record: CashFlowRecord, amount_eur: Decimal, ctx: EffectContext) -> tuple[
        tuple[LedgerEntry, ...], tuple[DividendRow, ...], tuple[Event, ...]]:
    """A dividend or coupon: split over the buckets holding the security, one ledger row
    and one dividend row per bucket (the EUR value split in the same shares)."""
    kind, key, ccy, amount = record.kind, record.key, record.currency, record.amount
    weights = ctx.income_shares.get(record.symbol, ()) if record.symbol else ()
    split = split_pro_rata(amount, weights)
    ledger = tuple(LedgerEntry(b, "dividend", a, ccy, key, f"{kind} {record.symbol}")
                   for b, a in split)
    events: list[Event] = [DividendReceived(key, record.symbol, amount, ccy, amount_eur,
                                            record.on, split)]
    if amount <= 0:
        events.append(NeedsReview(key, f"{kind} with non-positive amount {amount}"))
        return ledger, (), tuple(events)
    if not (record.symbol or record.isin):
        events.append(NeedsReview(key, f"{kind} without a symbol: credited to "
                                       f"{split[0][0]}, no dividend record"))
        return ledger, (), tuple(events)
    in_eur = dict(split_pro_rata(amount_eur, [(b, a) for b, a in split]))
    dividends = tuple(DividendRow(key, record.symbol or record.isin, record.isin, a, ccy,
                                  in_eur.get(b, ZERO), record.on, b) for b, a in split)
    return ledger, dividends, tuple(events)


def deposit_split_for(record: CashFlowRecord, ctx: EffectContext) -> DepositSplit:
    """Split a deposit record in its own currency with the deposit-date rate."""
    return split_deposit(record.amount, record.currency, ctx.buckets,
                         satellite_budget=ctx.satellite_budget,
                         eur_per_unit=ctx.rates.eur_per(record.currency, record.on))
