"""The bucket-trades port on SQLite (``adapters/store/bucket_trades_repo.py``): the class
has the Protocol's operations, and a day's values are stored once per bucket and day
(a second write of the day replaces the first, in one transaction)."""

from __future__ import annotations

from datetime import date
from decimal import Decimal

import pytest

from arduino_trader.adapters.store import bucket_repo
from arduino_trader.adapters.store.bucket_trades_repo import SqliteBucketTrades
from arduino_trader.adapters.store.sqlite import SqliteStore
from arduino_trader.protocols.bucket_trades import BucketTrades, ValuePoint
from arduino_trader.protocols.store import StoreError
from tests.port_support import operations
from tests.satellites_helpers import core, satellite


def test_the_sqlite_store_has_every_operation_of_the_protocol_with_its_parameters() -> None:
    protocol = operations(BucketTrades)
    assert protocol and operations(SqliteBucketTrades) == protocol


def test_a_days_values_replace_that_day_only_and_a_failed_write_keeps_the_last(
        store: SqliteStore) -> None:
    bucket_repo.save_buckets(store, [core("0.9"), satellite("s1"), satellite("s2")])
    trades = SqliteBucketTrades(store)
    day1, day2 = date(2026, 3, 9), date(2026, 3, 10)
    trades.record_values(day1, {"s1": Decimal("1000")}, {"s1": Decimal("1000")})
    trades.record_values(day2, {"s1": Decimal("990")}, {})
    trades.record_values(day2, {"s1": Decimal("995.50")}, {})
    assert trades.value_series("s1") == (ValuePoint(day1, Decimal("1000"), Decimal("1000")),
                                         ValuePoint(day2, Decimal("995.50"), Decimal(0)))
    with pytest.raises(StoreError, match="FOREIGN KEY"):  # the second bucket is unknown
        trades.record_values(day2, {"s1": Decimal("1"), "s9": Decimal("2")}, {})
    assert trades.value_series("s1")[-1].value_eur == Decimal("995.50")
    assert trades.value_series("s2") == () == trades.value_series("s9")
