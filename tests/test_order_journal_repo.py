"""The order journal repository: the SQLite implementation has the Protocol's operations
and answers frozen records; a follow-up's fills are recorded once however often it is
applied."""

from __future__ import annotations

import dataclasses
import inspect
import tempfile
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from arduino_trader.adapters.store.order_journal import SqliteOrderJournal
from arduino_trader.adapters.store.sqlite import SqliteStore
from arduino_trader.domain.execution.journal import follow_up
from arduino_trader.domain.execution.orders import client_order_id
from arduino_trader.protocols.broker import Fill, Order
from arduino_trader.protocols.execution import OrderIntent
from arduino_trader.protocols.order_journal import (
    FollowUp,
    FxFill,
    JournalEntry,
    NewOrder,
    OrderJournal,
    RecordedFill,
)

START = datetime(2026, 3, 2, 10, 0, tzinfo=UTC)
SAP = ("DE0007164600", "SAP.DE")


def _operations(cls: type) -> dict[str, inspect.Signature]:
    return {name: inspect.signature(fn) for name, fn in vars(cls).items()
            if inspect.isfunction(fn) and not name.startswith("_")}


def test_the_sqlite_journal_has_every_operation_of_the_protocol_with_its_parameters() -> None:
    protocol, sqlite = _operations(OrderJournal), _operations(SqliteOrderJournal)
    assert protocol  # the Protocol declares operations
    assert set(sqlite) == set(protocol)
    for name, signature in protocol.items():
        assert list(sqlite[name].parameters) == list(signature.parameters), name


@pytest.fixture
def journal(store: SqliteStore) -> SqliteOrderJournal:
    return SqliteOrderJournal(store)


def _new(key: str, quantity: int = 2) -> NewOrder:
    intent = OrderIntent(SAP[0], SAP[1], "BUY", Decimal(quantity), "autonomous")
    return NewOrder(intent, key, quantity, Decimal("101.50"), "EUR", "live", "s1", "test")


def _fill(mode: str, trade_id: int, entry: JournalEntry, quantity: Decimal,
          broker_order_id: int | None) -> RecordedFill:
    return RecordedFill(f"{mode}:{trade_id}", broker_order_id, entry.isin, entry.symbol,
                        entry.side, quantity, Decimal("101.00"), "EUR", Decimal(1), None,
                        START, "autonomous", "s1", "live")


def _assert_frozen(record: Any) -> None:
    assert dataclasses.is_dataclass(record) and not isinstance(record, type)
    field = dataclasses.fields(record)[0].name
    with pytest.raises(dataclasses.FrozenInstanceError):
        setattr(record, field, None)


def test_journal_find_follow_up_with_a_fill_then_nothing_is_open(
        journal: SqliteOrderJournal) -> None:
    journaled = journal.journal_order(_new("plan:r1|0|buy"), START, client_order_id)
    assert journaled.created
    record = journaled.record
    _assert_frozen(journaled)
    _assert_frozen(record)
    assert (record.state, record.quantity, record.limit_price, record.bucket_id,
            record.filled_quantity, record.created_at) == (
        "journaled", 2, Decimal("101.50"), "s1", Decimal(0), START)
    assert journal.find_by_intent("plan:r1|0|buy") == record
    assert journal.find_by_intent("plan:other|0|buy") is None
    again = journal.journal_order(_new("plan:r1|0|buy"), START, client_order_id)
    assert (again.created, again.record) == (False, record)  # never a second order

    assert journal.state_of(record.client_order_id) == "journaled"
    assert journal.state_of(record.client_order_id + 1) is None
    journal.mark_sent(record.client_order_id, 777, START)
    (open_entry,) = journal.open_entries("live")
    _assert_frozen(open_entry)
    _assert_frozen(open_entry.entry)
    assert open_entry.record.state == "sent" and open_entry.entry.broker_order_id == 777
    assert journal.unresolved_isins("live") == frozenset({SAP[0]})
    (open_buy,) = journal.open_buys("live")
    _assert_frozen(open_buy)
    assert (open_buy.bucket_id, open_buy.quantity) == ("s1", Decimal(2))

    order = Order(777, SAP[1], "BUY", Decimal(2), Decimal(0), 21, "EUR",
                  user_order_id=record.client_order_id,
                  fills=(Fill(9001, Decimal("101.00"), Decimal(2), START),))
    answer = follow_up(open_entry.entry, order, START + timedelta(minutes=1))
    fills = [_fill("live", f.trade_id, open_entry.entry, f.quantity, answer.broker_order_id)
             for f in answer.new_fills]
    recorded = journal.apply_follow_up(record.client_order_id, answer, fills,
                                       START + timedelta(minutes=1))
    assert recorded == tuple(fills)
    assert journal.open_entries("live") == ()
    assert journal.open_buys("live") == () and journal.unresolved_isins("live") == frozenset()
    final = journal.find_by_intent("plan:r1|0|buy")
    assert final is not None and (final.state, final.filled_quantity, final.checks) == (
        "filled", Decimal(2), 1)
    assert final.finished_at == START + timedelta(minutes=1)
    (event,) = journal.pending_fills("live")  # the fill waits to be published, once
    _assert_frozen(event)
    assert (event.trade_key, event.quantity, event.bucket_id) == ("live:9001", Decimal(2), "s1")
    journal.mark_published(event.trade_key, START + timedelta(minutes=2))
    assert journal.pending_fills("live") == ()
    (trade,) = journal.ledger_trades(START - timedelta(days=1))
    _assert_frozen(trade)
    assert (trade.isin, trade.side, trade.mode, trade.order_id) == (
        SAP[0], "BUY", "live", "live:9001")


def test_a_rejection_is_kept(store: SqliteStore, journal: SqliteOrderJournal) -> None:
    intent = OrderIntent(SAP[0], SAP[1], "SELL", Decimal(3), "manual")
    journal.record_rejection(intent, "research", "hold", "min_hold", "held too briefly",
                             START)
    (row,) = store.fetch_all("SELECT * FROM order_rejections")
    assert (row["isin"], row["side"], row["quantity"], row["mode"], row["code"]) == (
        SAP[0], "SELL", "3", "research", "min_hold")


TRADE_IDS = st.lists(st.lists(st.integers(1, 6), max_size=4), min_size=1, max_size=5)


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(batches=TRADE_IDS, repeats=st.integers(1, 3))
def test_each_fill_is_recorded_once_however_often_its_follow_up_is_applied(
        batches: list[list[int]], repeats: int) -> None:
    """Follow-ups carrying overlapping fills, each applied ``repeats`` times (a crash
    before the answer, a second job run): the ledger holds every trade id once, and
    each fill is answered as new exactly once."""
    with tempfile.TemporaryDirectory() as tmp:
        db = SqliteStore(Path(tmp) / "p.db", busy_timeout_ms=200, durable=False)
        db.open()
        try:
            journal = SqliteOrderJournal(db)
            cid = journal.journal_order(_new("plan:p|0|buy", 10), START,
                                        client_order_id).record.client_order_id
            (open_entry,) = journal.open_entries("live")
            new_keys: list[str] = []
            for batch in batches:
                fills = [_fill("live", t, open_entry.entry, Decimal(1), 55) for t in batch]
                answer = FollowUp("partially_filled", 55, 20, Decimal(len(batch)), (), "t")
                for _ in range(repeats):
                    recorded = journal.apply_follow_up(cid, answer, fills, START)
                    new_keys += [f.trade_key for f in recorded]
            every = {f"live:{t}" for batch in batches for t in batch}
            assert sorted(new_keys) == sorted(every)
            stored = [r["trade_key"] for r in db.fetch_all("SELECT trade_key FROM trades")]
            assert sorted(stored) == sorted(every)
            (still_open,) = journal.open_entries("live")
            assert still_open.entry.known_trade_ids == {int(k[5:]) for k in every}
        finally:
            db.close()


def test_an_exchange_follow_up_books_its_fills_once_in_the_fx_ledger(
        store: SqliteStore, journal: SqliteOrderJournal) -> None:
    intent = OrderIntent("FX:EUR/USD", "EUR/USD", "SELL", Decimal(100), "autonomous")
    record = journal.journal_order(NewOrder(intent, "fx:r1", 100, Decimal("1.08"), "USD",
                                            "live", "core", "test"),
                                   START, client_order_id).record
    fill = FxFill("live:31", 55, "EUR/USD", "SELL", Decimal(100), Decimal("1.08"), "EUR",
                  Decimal(-100), "USD", Decimal("108.00"), START, "autonomous", "core", "live")
    filled = FollowUp("filled", 55, 21, Decimal(100), (), "test")
    at = START + timedelta(minutes=1)
    assert journal.apply_exchange_follow_up(record.client_order_id, filled, [fill], at) == (
        fill,)
    assert journal.apply_exchange_follow_up(record.client_order_id, filled, [fill], at) == ()
    (row,) = store.fetch_all("SELECT * FROM fx_trades")
    assert (row["trade_key"], Decimal(row["base_amount"]), Decimal(row["quote_amount"])) == (
        "live:31", Decimal(-100), Decimal("108.00"))
    assert journal.state_of(record.client_order_id) == "filled"
    assert store.fetch_all("SELECT * FROM trades") == []  # never in the security ledger
