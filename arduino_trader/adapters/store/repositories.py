"""Every repository of the SQLite store, as the daemon wires them into its actors'
:class:`~arduino_trader.actors.dependencies.Dependencies` (``Dependencies(...,
**store_repositories(store))``; mypy checks each field)."""

from __future__ import annotations

from typing import TypedDict

from arduino_trader.protocols.bucket_ledger import BucketLedger
from arduino_trader.protocols.bucket_trades import BucketTrades
from arduino_trader.protocols.buckets import BucketStore
from arduino_trader.protocols.cash_flow_store import CashFlowStore
from arduino_trader.protocols.order_journal import OrderJournal
from arduino_trader.protocols.price_history import PriceHistoryStore
from arduino_trader.protocols.store import Database

from .bucket_repo import SqliteBucketStore
from .bucket_trades_repo import SqliteBucketTrades
from .cash_flow_repo import SqliteCashFlowStore
from .order_journal import SqliteOrderJournal
from .price_history_repo import SqlitePriceHistory
from .satellites_repo import SqliteBucketLedger


class StoreRepositories(TypedDict):
    """The repositories on one store, by their ``Dependencies`` field names."""

    order_journal: OrderJournal
    price_history: PriceHistoryStore
    cash_flows: CashFlowStore
    bucket_trades: BucketTrades
    buckets: BucketStore
    bucket_ledger: BucketLedger


def store_repositories(db: Database) -> StoreRepositories:
    """Every repository on ``db``."""
    return StoreRepositories(order_journal=SqliteOrderJournal(db),
                             price_history=SqlitePriceHistory(db),
                             cash_flows=SqliteCashFlowStore(db),
                             bucket_trades=SqliteBucketTrades(db),
                             buckets=SqliteBucketStore(db),
                             bucket_ledger=SqliteBucketLedger(db))
