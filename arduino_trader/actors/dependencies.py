"""The adapters the daemon wires into its actors, one typed field each.

The store, the order journal on it and the two brokers are wired by every daemon, so
they are required; a field
that is None is not wired in this daemon (a simulated broker gives no cross rates and no
listings, a test rig leaves out what its actor does not use). An actor names the
optional fields it cannot work without in ``BaseActor.needs``: starting it without one
fails with :class:`~arduino_trader.actors.base.MissingDependency`.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from decimal import Decimal
from typing import Protocol

from arduino_trader.adapters.market_data.calendars import MarketCalendars
from arduino_trader.protocols.broker import Broker
from arduino_trader.protocols.bucket_ledger import BucketLedger
from arduino_trader.protocols.bucket_trades import BucketTrades
from arduino_trader.protocols.buckets import BucketStore
from arduino_trader.protocols.cash_flow_store import CashFlowStore
from arduino_trader.protocols.market_data import Listing, MarketData
from arduino_trader.protocols.order_journal import OrderJournal
from arduino_trader.protocols.price_history import PriceHistoryStore
from arduino_trader.protocols.store import Database

from .ttl_cache import CacheHandle

BrokerFx = Callable[[str], Decimal]
"""The EUR value of one unit of a currency, from the broker's cross rates."""
BrokerListing = Callable[[str], Listing | None]
"""The broker's listing (currency, exchange) of an instrument, None when it has none."""
BrokerPositions = Callable[[], list[str]]
"""The tickers the broker account holds."""


class CacheRegistrar(Protocol):
    """Where an actor registers its in-memory caches, so the admin API can size and
    clear them."""

    def register(self, handle: CacheHandle) -> None:
        """Add a cache (names are unique)."""


@dataclass(frozen=True)
class Dependencies:
    """One typed field per adapter an actor may use."""

    store: Database
    broker: Broker
    """The configured broker (Tradernet, or the paper broker when none is configured)."""
    paper_broker: Broker
    """The paper broker: research mode trades here."""
    order_journal: OrderJournal
    """The executor's repository of orders and their fills (on ``store``)."""
    price_history: PriceHistoryStore
    """The daily bars of every security (on ``store``)."""
    cash_flows: CashFlowStore
    """The broker's cash flows and the bucket-ledger rows they booked (on ``store``)."""
    bucket_trades: BucketTrades
    """The fills, exchanges and value history the satellite manager reads (on ``store``)."""
    buckets: BucketStore
    """The buckets, their settings and the allocation settings (on ``store``)."""
    bucket_ledger: BucketLedger
    """The satellites' signed per-bucket ledger and its audit (on ``store``)."""
    """The fills, exchanges and value history the satellite manager reads (on ``store``)."""
    calendars: MarketCalendars | None = None
    market_data: MarketData | None = None
    caches: CacheRegistrar | None = None
    broker_positions: BrokerPositions | None = None
    broker_fx: BrokerFx | None = None
    broker_listing: BrokerListing | None = None
