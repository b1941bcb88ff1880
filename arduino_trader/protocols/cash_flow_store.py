"""The cash-flow port: the repository of broker cash movements and what each booked.

A record is stored under its broker key exactly once. :meth:`CashFlowStore.store_record`
reads what the store holds for the key, asks the caller's rules (``decide``) what to
write, and writes it (the row, its bucket-ledger rows and balances, a dividend row, the
processed mark), all in ONE transaction: a rule or store failure writes nothing of the
record, and a re-run changes nothing. The records here are what crosses the port; the
rules that produce :class:`Effects` are the domain's (``domain/cash_flows/effects``).
Amounts are signed ``Decimal`` in the record's own currency (inflow > 0, outflow < 0).
The operations are synchronous, called from the actors' own threads.
"""

from __future__ import annotations

from collections.abc import Callable, Collection, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime
from decimal import Decimal
from typing import Any, Literal, Protocol

from .cash_flows import DepositReceived, DividendReceived, WithdrawalRecorded

Source = Literal["cps", "corporate_action", "user_cash_flow"]
FlowKind = Literal[
    "deposit", "withdrawal", "withdrawal_fee", "structured_product_purchase",
    "structured_product_fee", "dividend", "coupon", "maturity", "partial_maturity",
    "trading_fee", "fee", "tax", "other",
]
Status = Literal["pending", "processing", "completed", "cancelled", "rejected", "unknown"]
LedgerType = Literal["deposit", "withdrawal", "fee", "dividend", "trade_buy", "maturity"]


@dataclass(frozen=True)
class CashFlowRecord:
    """One normalised broker cash movement.

    ``transaction_type`` is the stored type name (``withdrawal``, ``type_<n>`` ...);
    ``kind`` its classification used by the rules. ``amount_eur_broker`` is the broker's
    own EUR value when it sent one. ``symbol``/``isin`` name the instrument (dividends,
    trading fees); ``related_id`` the trade or request a fee belongs to. ``stable_id`` is
    False when the broker gave no id and the key was derived from immutable content.
    """

    key: str
    source: Source
    kind: FlowKind
    transaction_type: str
    type_doc_id: str
    on: date
    amount: Decimal
    currency: str
    status: Status
    status_c: int | None = None
    description: str = ""
    amount_eur_broker: Decimal | None = None
    symbol: str = ""
    isin: str = ""
    related_id: str = ""
    stable_id: bool = True
    params: Mapping[str, Any] = field(default_factory=dict, compare=False, hash=False)

    @property
    def completed(self) -> bool:
        """The money has moved: only completed records have ledger effects."""
        return self.status == "completed"


@dataclass(frozen=True)
class SeenFlow:
    """What the store holds for a key: its status, whether effects were applied, and
    (when known) its stored amount and currency, to detect a record whose money facts
    changed under the same key."""

    status: str
    processed: bool
    amount: Decimal | None = None
    currency: str | None = None


@dataclass(frozen=True)
class LedgerEntry:
    """One bucket ledger row (``bucket_transactions``), signed, keyed for idempotency by
    (source_kind, source_id, bucket_id, type)."""

    bucket_id: str
    type: LedgerType
    amount: Decimal
    currency: str
    source_id: str
    description: str = ""
    source_kind: str = "cash_flow"


@dataclass(frozen=True)
class DividendRow:
    """One ``dividend_history`` row created from a cash flow: one per bucket credited
    (UNIQUE cash_flow_key, bucket_id)."""

    cash_flow_key: str
    symbol: str
    isin: str
    amount: Decimal
    currency: str
    amount_eur: Decimal
    payment_date: date
    bucket_id: str


@dataclass(frozen=True)
class NeedsReview:
    """Something a human should look at (logged as a warning, never auto-fixed)."""

    key: str
    reason: str


Event = DepositReceived | DividendReceived | WithdrawalRecorded | NeedsReview


@dataclass(frozen=True)
class StoredRow:
    """The ``cash_flows`` row to insert for a new record."""

    record: CashFlowRecord
    amount_eur: Decimal


@dataclass(frozen=True)
class Effects:
    """What to write for one record, in one transaction.

    ``action``: ``insert`` (new key, ``row`` set), ``update_status`` (known key whose
    status changed) or ``none``. ``mark_processed``: set ``processed_at`` now.
    """

    action: Literal["insert", "update_status", "none"]
    row: StoredRow | None = None
    status: str = ""
    mark_processed: bool = False
    ledger: tuple[LedgerEntry, ...] = ()
    dividends: tuple[DividendRow, ...] = ()
    events: tuple[Event, ...] = ()
    note: str = ""


Decide = Callable[[SeenFlow | None, CashFlowRecord], Effects]
"""The rules: what to write for a record, given what the store holds for its key."""


class CashFlowStore(Protocol):
    """The stored broker cash flows and the bucket-ledger rows they booked."""

    def seen_flows(self, keys: Sequence[str]) -> dict[str, SeenFlow]:
        """What the store holds for each of ``keys`` it has (a key recorded as an alias
        of a stored row answers that row)."""
        ...

    def store_record(self, record: CashFlowRecord, decide: Decide, now: datetime,
                     present: Collection[str] = ()) -> Effects:
        """Store ``record`` with the effects ``decide`` returns, in one transaction, and
        return them. A record already stored under another key (the broker re-keyed it)
        is that row; ``present`` are the keys of the same broker answer, never aliases.
        Whatever ``decide`` or the store raises leaves nothing of the record written."""
        ...

    def bucket_cash(self) -> dict[str, dict[str, Decimal]]:
        """Ledger cash per bucket and currency."""
        ...

    def bucket_ledger(self, source_id: str) -> tuple[LedgerEntry, ...]:
        """The ledger rows booked for one cash flow, in booking order."""
        ...
