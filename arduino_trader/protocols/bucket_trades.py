"""The bucket-trades port: the executor's stored fills and exchanges as the satellite
manager settles and values them, the realised results of closed sells and each bucket's
daily value history.

A fill or an exchange is settled when the bucket ledger holds a row keyed by its trade
key, and its commission when it holds one keyed ``<trade key>:fee``; what the ledger
lacks is answered as the event the executor would have published, so settling it again
is the same code path (and books nothing twice). The operations are synchronous, called
from the actors' own threads, and return values and frozen records only.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import date, datetime
from decimal import Decimal
from typing import Protocol

from .execution import CurrencyExchanged, TradeExecuted


@dataclass(frozen=True)
class StoredFill:
    """A fill of the executor's trade ledger, as settlement and average costs need it."""

    trade_key: str
    symbol: str
    side: str
    quantity: Decimal
    price: Decimal
    value: Decimal
    fee: Decimal | None
    currency: str
    bucket_id: str
    mode: str
    executed_at: datetime


@dataclass(frozen=True)
class UnbookedFee:
    """A known commission of a fill or an exchange that has no fee row in the ledger."""

    trade_key: str
    bucket_id: str
    fee: Decimal
    currency: str
    value: Decimal | None
    """The fill's value (None for an exchange)."""
    settled: Decimal | None
    """The amount of the trade's settlement row (None while it is unsettled)."""


@dataclass(frozen=True)
class ClosedTrade:
    """A closed trade of the bucket with its realised P&L (EUR)."""

    closed_at: datetime
    realized_pnl: Decimal


@dataclass(frozen=True)
class ValuePoint:
    """The bucket's value at the end of ``day`` and its net external flow that day."""

    day: date
    value_eur: Decimal
    net_flow_eur: Decimal = Decimal(0)


class BucketTrades(Protocol):
    """The fills, exchanges, realised results and value history of the buckets."""

    def trade(self, trade_key: str) -> StoredFill | None:
        """The stored fill with ``trade_key`` (None when unknown)."""
        ...

    def unsettled_fills(self, modes: Sequence[str]) -> tuple[TradeExecuted, ...]:
        """Fills of our own orders (ledger ``modes``) that no ledger row settles yet,
        oldest first: their event was lost (a crash after the fill's commit) or never
        sent (the broker sync stored the fill first)."""
        ...

    def unsettled_exchanges(self, modes: Sequence[str]) -> tuple[CurrencyExchanged, ...]:
        """Exchange fills (``modes``) that no ledger row settles yet, oldest first."""
        ...

    def unbooked_fees(self, modes: Sequence[str]) -> tuple[UnbookedFee, ...]:
        """Known commissions of our fills and exchanges with no fee row yet."""
        ...

    def bucket_trades(self, bucket_id: str, symbol: str,
                      modes: Sequence[str]) -> tuple[StoredFill, ...]:
        """Fills of one bucket in one symbol (``modes``), oldest first."""
        ...

    def holdings(self, modes: Sequence[str]) -> dict[str, dict[str, Decimal]]:
        """``{bucket_id: {symbol: net quantity}}`` from the fills of ``modes``."""
        ...

    def all_trades(self, modes: Sequence[str]) -> tuple[StoredFill, ...]:
        """Every fill of ``modes``, oldest first."""
        ...

    def closed_trades(self, bucket_id: str) -> tuple[ClosedTrade, ...]:
        """Realised P&L of the bucket's closed sells, oldest first."""
        ...

    def record_values(self, day: date, values_eur: Mapping[str, Decimal],
                      flows_eur: Mapping[str, Decimal]) -> None:
        """Store (replace) the day's value and net external flow of each bucket, in one
        transaction."""
        ...

    def value_series(self, bucket_id: str) -> tuple[ValuePoint, ...]:
        """The bucket's daily value points, oldest first."""
        ...
