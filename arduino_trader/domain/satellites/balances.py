"""The balance service as pure rules: a signed per-bucket,
per-currency ledger.

Builders return the ledger entries an operation writes; :class:`BalanceBook` applies a
set of entries all-or-nothing (the actor writes the same set and the balance cache in one
transaction). Balances are always the sum of their entries. Transfers and reallocations
are zero-sum and never make a balance negative; withdrawals and non-trading fees debit
core, trading fees the trade's bucket.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from decimal import Decimal
from typing import Literal, cast

from arduino_trader.domain.cash_flows.deposit_split import (
    BucketShare,
    DepositSplitError,
    split_deposit,
)
from arduino_trader.protocols.cash_flow_store import LedgerEntry as FlowEntry
from arduino_trader.protocols.money import CENT, ZERO, round_money
from arduino_trader.protocols.satellite_records import (
    CORE_ID,
    EXTERNAL_FLOW_TYPES,
    INTERNAL_TYPES,
    ONE,
    Bucket,
    EntryType,
    LedgerEntry,
    SatelliteError,
    SourceKind,
)


class BalanceError(SatelliteError):
    """A balance operation refused by a rule (API: 400/409); nothing was written."""

    code = "balance_refused"


class UnknownBucket(BalanceError):
    """The operation names a bucket that does not exist (API: 404)."""

    code = "unknown_bucket"


class InsufficientFunds(BalanceError):
    """The source bucket does not hold the amount in that currency."""

    code = "insufficient_funds"


class CoreFloorBreached(BalanceError):
    """Moving this much out of core would leave it below 1 − satellite budget."""

    code = "core_floor"


class BadAmount(BalanceError):
    """Non-positive, non-finite or sub-cent amounts (API: 422)."""

    code = "bad_amount"


def _exact_amount(amount: Decimal, what: str = "amount") -> Decimal:
    if not isinstance(amount, Decimal) or not amount.is_finite() or amount <= 0:
        raise BadAmount(f"{what} must be a positive amount, got {amount!r}")
    if amount != amount.quantize(CENT):
        raise BadAmount(f"{what} must be in whole cents, got {amount}")
    return amount


def _positive(amount: Decimal, what: str = "amount") -> Decimal:
    if not isinstance(amount, Decimal) or not amount.is_finite() or amount <= 0:
        raise BadAmount(f"{what} must be a positive amount, got {amount!r}")
    return round_money(amount)


@dataclass(frozen=True)
class BalanceBook:
    """Ledger entries and the balances they sum to, per (bucket, currency)."""

    entries: tuple[LedgerEntry, ...] = ()
    _balances: Mapping[tuple[str, str], Decimal] = field(default_factory=dict, repr=False)
    _keys: frozenset[tuple[str, str, str, str]] = field(default_factory=frozenset,
                                                        repr=False)

    @classmethod
    def from_entries(cls, entries: Iterable[LedgerEntry]) -> BalanceBook:
        """A book holding ``entries`` (applied as one set)."""
        book, _ = cls().apply(tuple(entries), check_negative=False)
        return book

    def balance(self, bucket_id: str, currency: str) -> Decimal:
        """The balance of one bucket in one currency (0 when it has none)."""
        return self._balances.get((bucket_id, currency), ZERO)

    def balances_of(self, bucket_id: str) -> dict[str, Decimal]:
        """{currency: balance} of one bucket."""
        return {c: v for (b, c), v in self._balances.items() if b == bucket_id}

    def by_bucket(self, currency: str) -> dict[str, Decimal]:
        """{bucket_id: balance} in one currency."""
        return {b: v for (b, c), v in self._balances.items() if c == currency}

    def currency_total(self, currency: str) -> Decimal:
        """Σ balances of every bucket in ``currency``."""
        return sum(self.by_bucket(currency).values(), ZERO)

    def currencies(self) -> set[str]:
        """Every currency that has a ledger entry."""
        return {c for _, c in self._balances}

    def balances(self) -> dict[tuple[str, str], Decimal]:
        """A copy of every (bucket, currency) balance."""
        return dict(self._balances)

    def has(self, entry: LedgerEntry) -> bool:
        """True when an entry with the same idempotency key is already in the book."""
        return entry.key in self._keys

    def apply(self, entries: Sequence[LedgerEntry], *,
              check_negative: bool = True) -> tuple[BalanceBook, tuple[LedgerEntry, ...]]:
        """Apply one operation's entries all-or-nothing; returns (new book, applied).

        A set already in the book (every key present) is a no-op, so re-processing a
        broker record changes nothing; a set only partly present is an error. With
        ``check_negative`` an internal move (transfer, reallocation) that leaves a
        negative balance is refused.
        """
        keys = [e.key for e in entries]
        if len(keys) != len(set(keys)):
            raise BalanceError("an operation wrote the same ledger key twice")
        present = [k in self._keys for k in keys]
        if entries and all(present):
            return self, ()
        if any(present):
            raise BalanceError("ledger entries partly applied already: "
                               f"{[k for k, p in zip(keys, present, strict=True) if p]}")
        balances = dict(self._balances)
        for entry in entries:
            slot = (entry.bucket_id, entry.currency)
            balances[slot] = balances.get(slot, ZERO) + entry.amount
        if check_negative:
            for entry in entries:
                slot = (entry.bucket_id, entry.currency)
                if entry.type in INTERNAL_TYPES and entry.amount < 0 and balances[slot] < 0:
                    raise InsufficientFunds(
                        f"{entry.bucket_id} would hold {balances[slot]} {entry.currency}")
        book = BalanceBook(self.entries + tuple(entries), balances,
                           self._keys | frozenset(keys))
        return book, tuple(entries)

    def ledger_sum(self, bucket_id: str, currency: str) -> Decimal:
        """Σ of the entries of one (bucket, currency), recomputed from the rows."""
        return sum((e.amount for e in self.entries
                    if e.bucket_id == bucket_id and e.currency == currency), ZERO)


def _entry(bucket_id: str, currency: str, kind: EntryType, amount: Decimal,
           source_kind: SourceKind, source_id: str, now: datetime,
           description: str = "") -> LedgerEntry:
    return LedgerEntry(bucket_id=bucket_id, currency=currency, type=kind, amount=amount,
                       source_kind=source_kind, source_id=source_id, created_at=now,
                       description=description)


def _known(buckets: Mapping[str, Bucket], bucket_id: str) -> Bucket:
    bucket = buckets.get(bucket_id)
    if bucket is None:
        raise UnknownBucket(f"unknown bucket {bucket_id!r}")
    return bucket


# ----------------------------------------------------------------- external flows
TradeSide = Literal["buy", "sell"]


def settle_trade(bucket_id: str, value: Decimal, currency: str, side: TradeSide,
                 trade_id: str, now: datetime) -> tuple[LedgerEntry, ...]:
    """A fill's value against the trading bucket; its commission is :func:`trade_fee`'s
    (booked with it when known, else when the broker's trade history names it).

    Buy: −value ``trade_buy``; sell: +value ``trade_sell``; keyed by the broker trade id.
    Broker amounts are ledger amounts at 0.01 (the broker's precision): a sub-cent remainder is
    rounded half-even and left to reconciliation (a small gap it corrects against core).
    """
    amount = _positive(value, "settlement")
    if side == "buy":
        return (_entry(bucket_id, currency, "trade_buy", -amount, "trade", trade_id, now),)
    return (_entry(bucket_id, currency, "trade_sell", amount, "trade", trade_id, now),)


def settle_exchange(bucket_id: str, legs: Mapping[str, Decimal], trade_id: str,
                    symbol: str, now: datetime) -> tuple[LedgerEntry, ...]:
    """A currency-exchange fill against the bucket that asked for it: the paid currency
    ``trade_buy`` (−), the received one ``trade_sell`` (+), keyed by the fill's trade key.

    ``legs`` maps each of the pair's two currencies to its signed cash change before the
    fee (the commission arrives as its own broker cash flow, as for security trades).
    """
    if len(legs) != 2 or sorted(amount > 0 for amount in legs.values()) != [False, True]:
        raise BadAmount(f"an exchange pays one currency and receives another: {dict(legs)}")
    note = f"currency exchange {symbol}"
    return tuple(
        _entry(bucket_id, currency, "trade_sell", _positive(amount, "exchange"), "trade",
               trade_id, now, note) if amount > 0 else
        _entry(bucket_id, currency, "trade_buy", -_positive(-amount, "exchange"), "trade",
               trade_id, now, note)
        for currency, amount in sorted(legs.items()))


def credit_dividend(bucket_id: str, amount: Decimal, currency: str, source_id: str,
                    now: datetime, description: str = "", *,
                    source_kind: SourceKind = "cash_flow") -> tuple[LedgerEntry, ...]:
    """+amount ``dividend`` to ``bucket_id`` (the router picks the bucket).

    Keyed like the cash-flow domain's own row for the same record
    (``cash_flow``, cash-flow key), so either path writes the one row.
    """
    return (_entry(bucket_id, currency, "dividend", _positive(amount, "dividend"),
                   source_kind, source_id, now, description),)


def withdrawal(amount: Decimal, currency: str, cash_flow_id: str,
               now: datetime) -> tuple[LedgerEntry, ...]:
    """A completed broker withdrawal debits core by exactly its amount."""
    return (_entry(CORE_ID, currency, "withdrawal", -_positive(amount, "withdrawal"),
                   "cash_flow", cash_flow_id, now, "broker withdrawal"),)


def fee(amount: Decimal, currency: str, source_id: str, now: datetime, *,
        trade_bucket_id: str | None = None, description: str = "") -> tuple[LedgerEntry, ...]:
    """A fee or tax: a trading fee debits the trade's bucket, anything else core."""
    bucket_id = trade_bucket_id or CORE_ID
    return (_entry(bucket_id, currency, "fee", -_positive(amount, "fee"), "cash_flow",
                   source_id, now, description),)


def trade_fee(bucket_id: str, amount: Decimal, currency: str, trade_id: str,
              now: datetime) -> tuple[LedgerEntry, ...]:
    """A fill's commission debits the trading bucket, keyed ``<trade id>:fee``
    so it is booked once whether it is known at settlement or learned later."""
    return (_entry(bucket_id, currency, "fee", -_positive(amount, "fee"), "trade",
                   fee_source_id(trade_id), now, "trade commission"),)


def fee_source_id(trade_id: str) -> str:
    """The ledger source id of a fill's commission."""
    return f"{trade_id}:fee"


def maturity(bucket_id: str, amount: Decimal, currency: str, source_id: str,
             now: datetime) -> tuple[LedgerEntry, ...]:
    """A (partial) maturity credits the owning bucket."""
    return (_entry(bucket_id, currency, "maturity", _positive(amount, "maturity"),
                   "cash_flow", source_id, now, "maturity"),)


def deposit(amount: Decimal, currency: str, cash_flow_id: str, now: datetime, *,
            buckets: Mapping[str, Bucket], values_eur: Mapping[str, Decimal],
            satellite_budget: Decimal, eur_per_unit: Decimal,
            description: str = "") -> tuple[LedgerEntry, ...]:
    """A deposit split deficit-first by the cash-flow domain's rule, one ``deposit`` row
    per receiving bucket; the rows sum to the deposit exactly
    (docs/architecture.md, money invariant 4).

    ``values_eur`` are bucket values (positions + all cash) in EUR, missing = 0.
    """
    shares = [BucketShare(bucket_id=b.id, kind=b.type, target_pct=b.target_pct,
                          value_eur=values_eur.get(b.id, ZERO), status=b.status)
              for b in buckets.values() if b.status != "retired"]
    try:
        split = split_deposit(_exact_amount(amount, "deposit"), currency, shares,
                              satellite_budget=satellite_budget, eur_per_unit=eur_per_unit)
    except DepositSplitError as exc:
        raise BalanceError(str(exc)) from exc
    return tuple(_entry(bucket_id, currency, "deposit", share, "cash_flow", cash_flow_id, now,
                        description or "deposit allocation")
                 for bucket_id, share in split.allocations)


def from_cash_flow(rows: Iterable[FlowEntry], now: datetime) -> tuple[LedgerEntry, ...]:
    """The cash-flow domain's ledger rows as entries of this ledger (same keys, same
    signs); an unknown type or source kind is refused by :class:`LedgerEntry`."""
    return tuple(_entry(r.bucket_id, r.currency, cast(EntryType, r.type), r.amount,
                        cast(SourceKind, r.source_kind), r.source_id, now, r.description)
                 for r in rows)


# ----------------------------------------------------------------- internal moves
@dataclass(frozen=True)
class CoreFloor:
    """What the core floor check needs when money leaves core (values in EUR).

    ``eur_per_unit`` converts the transferred currency to EUR.
    """

    core_value_eur: Decimal
    total_value_eur: Decimal
    satellite_budget: Decimal
    eur_per_unit: Decimal


def _move(book: BalanceBook, buckets: Mapping[str, Bucket], from_id: str, to_id: str,
          amount: Decimal, currency: str) -> Decimal:
    amount = _exact_amount(amount)
    if from_id == to_id:
        raise BalanceError("source and destination are the same bucket")
    _known(buckets, from_id)
    destination = _known(buckets, to_id)
    if destination.status == "retired":
        raise BalanceError(f"bucket {to_id!r} is retired")
    held = book.balance(from_id, currency)
    if held < amount:
        raise InsufficientFunds(f"{from_id} holds {held} {currency}, needs {amount}")
    return amount


def transfer(book: BalanceBook, buckets: Mapping[str, Bucket], from_id: str, to_id: str,
             amount: Decimal, currency: str, request_id: str, now: datetime, *,
             core_floor: CoreFloor | None = None,
             description: str = "") -> tuple[LedgerEntry, ...]:
    """Move cash between buckets: ``transfer_out`` (−) and ``transfer_in`` (+).

    Refused for the same bucket, an unknown or retired destination, insufficient funds in
    that currency, and — leaving core — when core's share of the portfolio (EUR values)
    would fall below 1 − satellite budget (``core_floor`` is then required).
    """
    amount = _move(book, buckets, from_id, to_id, amount, currency)
    if from_id == CORE_ID:
        if core_floor is None:
            raise BalanceError("a transfer out of core needs the core floor inputs")
        if core_floor.total_value_eur <= 0 or core_floor.eur_per_unit <= 0:
            raise CoreFloorBreached("portfolio value or rate unknown: cannot check the floor")
        share = (core_floor.core_value_eur - amount * core_floor.eur_per_unit) \
            / core_floor.total_value_eur
        floor = ONE - core_floor.satellite_budget
        if share < floor:
            raise CoreFloorBreached(f"core would hold {share:.4f} of the portfolio, below "
                                    f"its floor {floor}")
    text = description or f"transfer {from_id} → {to_id}"
    return (_entry(from_id, currency, "transfer_out", -amount, "manual", request_id, now, text),
            _entry(to_id, currency, "transfer_in", amount, "manual", request_id, now, text))


def reallocate(book: BalanceBook, buckets: Mapping[str, Bucket], from_id: str, to_id: str,
               amount: Decimal, currency: str, request_id: str, now: datetime,
               description: str = "") -> tuple[LedgerEntry, ...]:
    """Like :func:`transfer` with type ``reallocation`` and no core floor."""
    amount = _move(book, buckets, from_id, to_id, amount, currency)
    text = description or f"reallocation {from_id} → {to_id}"
    return (_entry(from_id, currency, "reallocation", -amount, "realloc", request_id, now,
                   text),
            _entry(to_id, currency, "reallocation", amount, "realloc", request_id, now, text))


def external_flows(entries: Iterable[LedgerEntry]) -> dict[str, dict[str, Decimal]]:
    """{bucket_id: {currency: net external flow}} of ``entries`` — what shifts the
    flow-adjusted high-water mark (deposits, withdrawals, transfers, reallocations)."""
    flows: dict[str, dict[str, Decimal]] = {}
    for entry in entries:
        if entry.type in EXTERNAL_FLOW_TYPES:
            per = flows.setdefault(entry.bucket_id, {})
            per[entry.currency] = per.get(entry.currency, ZERO) + entry.amount
    return flows
