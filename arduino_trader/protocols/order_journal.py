"""The order journal port: the executor's repository of orders and their fills.

Every order is journaled (committed, with its client id) before it is sent; after that
only a definite broker answer moves its entry. The operations below are synchronous,
called from the executor's own thread, and return frozen records only. Each write that
moves money is one transaction: the entry before the send; a follow-up's state change
together with its fills, each fill stored once (keyed by the broker's trade id), a
security order's in the trade ledger and a currency exchange's in the FX ledger.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from typing import Literal, Protocol

from .broker import Fill, Side
from .execution import OrderIntent, OrderSource, TradeExecuted
from .money import ZERO

LedgerMode = Literal["live", "research"]
"""Which ledger an order belongs to: real money, or research mode's paper broker."""

JournalState = Literal["journaled", "sent", "unresolved", "partially_filled", "filled",
                       "cancelled", "rejected", "expired", "not_placed"]
FINAL_STATES: frozenset[str] = frozenset({"filled", "cancelled", "rejected", "expired",
                                          "not_placed"})

ClientId = Callable[[str, int], int]
"""``client_id(intent_key, attempt)``: the deterministic client order id of an intent."""


@dataclass(frozen=True)
class JournalEntry:
    """One order as the journal's state machine knows it."""

    client_order_id: int
    isin: str
    symbol: str
    side: Side
    quantity: int
    state: JournalState
    created_at: datetime
    broker_order_id: int | None = None
    filled: Decimal = ZERO
    known_trade_ids: frozenset[int] = frozenset()


@dataclass(frozen=True)
class FollowUp:
    """The entry's next state and the fills to record (each exactly once)."""

    state: JournalState
    broker_order_id: int | None
    broker_status: int | None
    filled: Decimal
    new_fills: tuple[Fill, ...]
    note: str

    @property
    def final(self) -> bool:
        """No further broker check is needed."""
        return self.state in FINAL_STATES


@dataclass(frozen=True)
class JournalRecord:
    """One journal entry as stored (a row of ``orders``)."""

    client_order_id: int
    intent_key: str
    isin: str
    symbol: str
    side: Side
    quantity: int
    limit_price: Decimal
    currency: str
    source: OrderSource
    bucket_id: str
    mode: LedgerMode
    state: JournalState
    filled_quantity: Decimal
    created_at: datetime
    updated_at: datetime
    broker_order_id: int | None = None
    broker_status: int | None = None
    reason: str = ""
    note: str = ""
    sent_at: datetime | None = None
    finished_at: datetime | None = None
    checks: int = 0


@dataclass(frozen=True)
class OpenEntry:
    """An entry still waiting for a final broker answer: as stored, and as the state
    machine sees it (with the trade ids already in the ledger)."""

    record: JournalRecord
    entry: JournalEntry


@dataclass(frozen=True)
class NewOrder:
    """What the journal needs before an order is sent."""

    intent: OrderIntent
    intent_key: str
    quantity: int
    limit_price: Decimal
    currency: str
    mode: LedgerMode
    bucket_id: str = "core"
    reason: str = ""


@dataclass(frozen=True)
class Journaled:
    """The answer to journaling an order: its entry, and whether it was written now
    (False: the intent was journaled before and this is its existing entry)."""

    record: JournalRecord
    created: bool


@dataclass(frozen=True)
class RecordedFill:
    """A fill as the ledger stores it."""

    trade_key: str
    broker_order_id: int | None
    isin: str
    symbol: str
    side: Side
    quantity: Decimal
    price: Decimal
    currency: str
    currency_rate: Decimal | None
    fee: Decimal | None
    executed_at: datetime
    source: str
    bucket_id: str
    mode: LedgerMode


@dataclass(frozen=True)
class FxFill:
    """A fill of an exchange order as the FX ledger stores it: both currencies' amounts
    signed (what the account received is positive)."""

    trade_key: str
    broker_order_id: int | None
    symbol: str
    side: Side
    quantity: Decimal
    price: Decimal
    base_currency: str
    base_amount: Decimal
    quote_currency: str
    quote_amount: Decimal
    executed_at: datetime
    source: str
    bucket_id: str
    mode: LedgerMode


@dataclass(frozen=True)
class OpenBuy:
    """The unfilled rest of a journaled buy that is not final yet."""

    bucket_id: str
    currency: str
    quantity: Decimal
    limit_price: Decimal


@dataclass(frozen=True)
class TradeFact:
    """One past trade of the ledger."""

    isin: str
    side: Side
    at: datetime
    mode: LedgerMode
    order_id: str | None


class JournalConflict(RuntimeError):
    """No free client id could be found for an intent (hash space exhausted)."""


class OrderJournal(Protocol):
    """The order journal and its trade ledger, as the executor uses them."""

    def journal_order(self, order: NewOrder, now: datetime,
                      client_id: ClientId) -> Journaled:
        """Write the entry (state ``journaled``) and commit before anything is sent; an
        intent journaled before answers its existing entry (never a second order)."""
        ...

    def find_by_intent(self, intent_key: str) -> JournalRecord | None:
        """The entry of an intent, if it was journaled."""
        ...

    def state_of(self, client_order_id: int) -> JournalState | None:
        """The state of an entry (an order or an exchange) by client id; None if none."""
        ...

    def mark_sent(self, client_order_id: int, broker_order_id: int, now: datetime) -> None:
        """The broker accepted the order."""
        ...

    def mark_state(self, client_order_id: int, state: JournalState, note: str,
                   now: datetime) -> None:
        """Set a state without fills (``unresolved``, ``not_placed``, ``rejected``...)."""
        ...

    def apply_follow_up(self, client_order_id: int, follow: FollowUp,
                        fills: Sequence[RecordedFill], now: datetime
                        ) -> tuple[RecordedFill, ...]:
        """Store the new state and the fills in one transaction; the fills that were new
        (a trade key already in the ledger is not recorded again)."""
        ...

    def apply_exchange_follow_up(self, client_order_id: int, follow: FollowUp,
                                 fills: Sequence[FxFill], now: datetime
                                 ) -> tuple[FxFill, ...]:
        """An exchange order's :meth:`apply_follow_up`: the new state and its fills in the
        FX ledger, one transaction; the fills that were new."""
        ...

    def open_entries(self, mode: LedgerMode) -> tuple[OpenEntry, ...]:
        """Every entry of ``mode`` still waiting for a final broker answer, oldest first."""
        ...

    def in_doubt(self) -> tuple[JournalRecord, ...]:
        """Open entries of both modes whose placement was never confirmed (``journaled``
        or ``unresolved``), oldest first."""
        ...

    def recheck_candidates(self, mode: LedgerMode, now: datetime
                           ) -> tuple[JournalRecord, ...]:
        """``not_placed`` entries of ``mode`` due for a late look at the broker."""
        ...

    def mark_rechecked(self, client_order_id: int, now: datetime) -> None:
        """The broker still has no such order: only the time of the look changes."""
        ...

    def reopen(self, client_order_id: int, broker_order_id: int, now: datetime) -> bool:
        """The broker shows a ``not_placed`` order after all: the entry is open again
        (``unresolved`` until the follow-up applies the broker's answer); False when it
        was not ``not_placed``."""
        ...

    def open_buys(self, mode: LedgerMode) -> tuple[OpenBuy, ...]:
        """The unfilled rest of every buy of ``mode`` that is not final (exchanges left
        out: they move cash between currencies, they do not spend it)."""
        ...

    def unresolved_isins(self, mode: LedgerMode) -> frozenset[str]:
        """Securities with an entry whose outcome is not final."""
        ...

    def ledger_trades(self, since: datetime) -> tuple[TradeFact, ...]:
        """Trades of both modes executed since ``since``."""
        ...

    def pending_fills(self, mode: LedgerMode) -> tuple[TradeExecuted, ...]:
        """Fills of our own orders in ``mode`` not yet published, oldest first (the
        ledger's outbox, whichever path stored them)."""
        ...

    def mark_published(self, trade_key: str, now: datetime) -> None:
        """The fill's event went out."""
        ...

    def record_rejection(self, intent: OrderIntent, mode: LedgerMode, layer: str,
                         code: str, message: str, now: datetime) -> None:
        """Keep a refused order for the operator."""
        ...
