"""The cash-flow port on SQLite (``adapters/store/cash_flow_repo.py``): the class has the
Protocol's operations; the rules run inside the record's transaction, see what is stored
for the key, and a failure of the rules or of any write leaves nothing of the record."""

from __future__ import annotations

from datetime import UTC, date, datetime
from decimal import Decimal

import pytest

from arduino_trader.adapters.store.cash_flow_repo import SqliteCashFlowStore
from arduino_trader.adapters.store.sqlite import SqliteStore
from arduino_trader.domain.cash_flows.deposit_split import CORE_ID, BucketShare
from arduino_trader.domain.cash_flows.effects import EffectContext, rules
from arduino_trader.domain.cash_flows.fx import MissingRate, RateTable
from arduino_trader.protocols.cash_flow_store import (
    CashFlowRecord,
    CashFlowStore,
    Effects,
    LedgerEntry,
    SeenFlow,
    StoredRow,
)
from arduino_trader.protocols.store import StoreError
from tests.port_support import operations

AT = datetime(2026, 3, 10, 11, 0, tzinfo=UTC)
CORE_ONLY = EffectContext(RateTable({}), (BucketShare(CORE_ID, "core", Decimal(1), Decimal(0)),),
                          satellite_budget=Decimal(0))


def _deposit(key: str, amount: str, currency: str = "EUR") -> CashFlowRecord:
    return CashFlowRecord(key, "user_cash_flow", "deposit", "deposit", "bank",
                          date(2026, 3, 9), Decimal(amount), currency, "completed")


def _written(store: SqliteStore) -> list[int]:
    """Rows in the tables a record's booking writes."""
    return [len(store.fetch_all(f"SELECT 1 FROM {table}"))
            for table in ("cash_flows", "bucket_transactions", "bucket_balances")]



def test_the_sqlite_store_has_every_operation_of_the_protocol_with_its_parameters() -> None:
    protocol = operations(CashFlowStore)
    assert protocol and operations(SqliteCashFlowStore) == protocol


def test_a_record_is_booked_once_and_the_rules_see_what_is_stored(store: SqliteStore) -> None:
    flows = SqliteCashFlowStore(store)
    seen: list[SeenFlow | None] = []

    def decide(stored: SeenFlow | None, record: CashFlowRecord) -> Effects:
        seen.append(stored)
        return rules(CORE_ONLY)(stored, record)

    first = flows.store_record(_deposit("ucf:1", "250.00"), decide, AT)
    again = flows.store_record(_deposit("ucf:1", "250.00"), decide, AT)
    assert (first.action, again.action) == ("insert", "none")
    assert seen == [None, SeenFlow("completed", True, Decimal("250.00"), "EUR")]
    assert flows.seen_flows(["ucf:1", "ucf:2"]) == {"ucf:1": seen[1]}
    assert flows.bucket_ledger("ucf:1") == (
        LedgerEntry(CORE_ID, "deposit", Decimal("250.00"), "EUR", "ucf:1", "deposit"),)
    assert flows.bucket_cash() == {CORE_ID: {"EUR": Decimal("250.00")}}
    assert _written(store) == [1, 1, 1]


def test_rules_that_raise_write_nothing_of_the_record(store: SqliteStore) -> None:
    flows = SqliteCashFlowStore(store)
    with pytest.raises(MissingRate):  # a USD deposit and no USD rate stored
        flows.store_record(_deposit("ucf:7", "100.00", "USD"), rules(CORE_ONLY), AT)
    assert _written(store) == [0, 0, 0] and flows.seen_flows(["ucf:7"]) == {}


def test_a_write_that_fails_after_the_row_takes_the_row_back(store: SqliteStore) -> None:
    """The row is inserted first; a ledger row the store refuses (no bucket) undoes it."""
    flows = SqliteCashFlowStore(store)
    record = _deposit("ucf:9", "80.00")
    broken = Effects("insert", StoredRow(record, Decimal("80.00")), mark_processed=True,
                     ledger=(LedgerEntry(CORE_ID, "deposit", Decimal("80.00"), "EUR", "ucf:9"),
                             LedgerEntry(None, "deposit", Decimal("1"), "EUR",  # type: ignore[arg-type]
                                         "ucf:9")))
    with pytest.raises(StoreError):
        flows.store_record(record, lambda stored, rec: broken, AT)
    assert _written(store) == [0, 0, 0]
    assert flows.store_record(record, rules(CORE_ONLY), AT).action == "insert"
    assert flows.bucket_cash() == {CORE_ID: {"EUR": Decimal("80.00")}}
