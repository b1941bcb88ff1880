"""The buckets port on SQLite (``adapters/store/bucket_repo.py``): the class has the
Protocol's operations, and a setting written with the buckets it changes is one
transaction: a bucket the store refuses leaves the setting as it was."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime
from decimal import Decimal

import pytest

from arduino_trader.adapters.store.bucket_repo import SqliteBucketStore
from arduino_trader.adapters.store.sqlite import SqliteStore
from arduino_trader.protocols.buckets import BucketStore
from arduino_trader.protocols.store import StoreError
from tests.port_support import operations
from tests.satellites_helpers import core, satellite

AT = datetime(2026, 3, 10, 11, 0, tzinfo=UTC)



def test_the_sqlite_store_has_every_operation_of_the_protocol_with_its_parameters() -> None:
    protocol = operations(BucketStore)
    assert protocol and operations(SqliteBucketStore) == protocol


def test_a_setting_and_the_buckets_it_changes_are_written_together(
        store: SqliteStore) -> None:
    buckets = SqliteBucketStore(store)
    buckets.save_buckets([core("0.9"), satellite("s1", target="0.1")])
    buckets.save_allocation_value("satellite_budget_pct", Decimal("0.1"), AT,
                                  [replace(core("0.9"), updated_at=AT)])
    assert buckets.load_allocation().satellite_budget_pct == Decimal("0.1")
    assert buckets.load_buckets()["core"].updated_at == AT
    refused = replace(satellite("s1"), name=None)  # type: ignore[arg-type]  # NOT NULL
    with pytest.raises(StoreError):
        buckets.save_allocation_value("satellite_budget_pct", Decimal("0.2"), AT, [refused])
    assert buckets.load_allocation().satellite_budget_pct == Decimal("0.1")
    assert buckets.load_buckets()["s1"].name == "S1"
