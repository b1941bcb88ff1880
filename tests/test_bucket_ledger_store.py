"""The bucket-ledger port on SQLite (``adapters/store/satellites_repo.py``): the class has
the Protocol's operations; rows come back with their ids in booking order, an operation
is written once, and the count through an id is what the incremental reader checks."""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal

from arduino_trader.actors.satellite_book import load_book
from arduino_trader.adapters.store import bucket_repo
from arduino_trader.adapters.store.satellites_repo import SqliteBucketLedger
from arduino_trader.adapters.store.sqlite import SqliteStore
from arduino_trader.protocols.bucket_ledger import BucketLedger, Operation
from arduino_trader.protocols.satellite_records import LedgerEntry
from tests.port_support import operations
from tests.satellites_helpers import core

AT = datetime(2026, 3, 10, 11, 0, tzinfo=UTC)



def test_the_sqlite_ledger_has_every_operation_of_the_protocol_with_its_parameters() -> None:
    protocol = operations(BucketLedger)
    assert protocol and operations(SqliteBucketLedger) == protocol


def _deposit(key: str, amount: str) -> LedgerEntry:
    return LedgerEntry("core", "EUR", "deposit", Decimal(amount), "cash_flow", key, AT)


def test_an_operation_is_booked_once_and_read_back_in_order(store: SqliteStore) -> None:
    bucket_repo.save_buckets(store, [core()])
    ledger = SqliteBucketLedger(store)
    first = Operation((_deposit("cf-1", "100.00"),), source=("cash_flow", "cf-1"))
    assert ledger.apply_operation(first, AT) == {("core", "EUR"): Decimal("100.00")}
    assert ledger.apply_operation(first, AT) is None  # a replay writes nothing
    ledger.apply_operation(Operation((_deposit("cf-2", "25.50"),)), AT)
    rows = ledger.rows_after(0)
    assert [entry.source_id for _, entry in rows] == ["cf-1", "cf-2"]
    assert ledger.rows_after(rows[0][0]) == rows[1:]
    assert ledger.count_through(rows[0][0]) == 1 and ledger.count_through(0) == 0
    assert ledger.has_source("cash_flow", "cf-1") and not ledger.has_source("manual", "x")
    assert load_book(ledger).balance("core", "EUR") == Decimal("125.50")
