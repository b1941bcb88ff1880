"""One path for every fill of our own orders: the broker sync's trade import and the
executor's follow-up store a fill once, attributed to its order (row, source, bucket),
whichever sees it first, and its ``TradeExecuted`` goes out once (again only after a
death between the event and its mark, which consumers ignore by trade key)."""

from __future__ import annotations

import tempfile
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from arduino_trader.actors.executor_fills import publish_pending
from arduino_trader.adapters.store import broker_trade_import
from arduino_trader.adapters.store.order_journal import (
    NewOrder,
    RecordedFill,
    SqliteOrderJournal,
)
from arduino_trader.adapters.store.sqlite import SqliteStore
from arduino_trader.daemon.io_loop import IoLoop
from arduino_trader.domain.execution.journal import follow_up
from arduino_trader.protocols.broker import Fill, Order, Trade
from arduino_trader.protocols.execution import OrderIntent, TradeExecuted

D = Decimal
START = datetime(2026, 3, 10, 11, 0, tzinfo=UTC)
SAP = ("DE0007164600", "SAP.EU")
CID, BROKER_ID = 7, 9001
FOREIGN = Trade(555, 4242, "SAP.EU", "SELL", D(1), D(101), D(101), "EUR", START)


class Died(Exception):
    """The process stopped between publishing an event and marking it."""


class World:
    """A store with one journaled order (bucket s1, source drip) and a broker that fills
    it piece by piece; the operations are the two paths, publication and a crash."""

    def __init__(self, io: IoLoop, store: SqliteStore, fills: int, acked: bool) -> None:
        self.io, self.store, self.total, self.acked = io, store, fills, acked
        self.broker_fills: list[Fill] = []
        self.events: list[TradeExecuted] = []
        self.replays: dict[str, int] = {}
        self.now = START
        intent = OrderIntent(SAP[0], SAP[1], "BUY", D(fills), "drip")
        self.journal = SqliteOrderJournal(store)
        self.journal.journal_order(NewOrder(
            intent, "drip:1", fills, D(105), "EUR", "live", "s1"), START, lambda k, a: CID)
        if acked:  # the placement's answer arrived (else only the follow-up learns the id)
            self.journal.mark_sent(CID, BROKER_ID, START)


    def fill(self) -> None:
        if len(self.broker_fills) < self.total:
            n = len(self.broker_fills)
            self.broker_fills.append(Fill(100 + n, D(100) + n, D(1), START + timedelta(
                minutes=n)))

    def trades(self) -> list[Trade]:
        return [Trade(f.trade_id, BROKER_ID, SAP[1], "BUY", f.quantity, f.price,
                      f.quantity * f.price, "EUR", f.at) for f in self.broker_fills] + [
            FOREIGN]

    def sync(self) -> None:  # the portfolio sync's trade import
        broker_trade_import.import_broker_trades(self.store, self.trades(), "live",
                                                 {SAP[1]: SAP[0]}, {}, self.now)

    def follow(self) -> None:  # one executor follow-up of the entry
        for open_entry in self.journal.open_entries("live"):
            record, entry = open_entry.record, open_entry.entry
            done = len(self.broker_fills) == self.total  # Tradernet: 21 filled, 20 partly
            order = Order(BROKER_ID, SAP[1], "BUY", D(self.total),
                          D(self.total - len(self.broker_fills)),
                          21 if done else 20 if self.broker_fills else 10,
                          "EUR", user_order_id=CID, fills=tuple(self.broker_fills))
            answer = follow_up(entry, order, self.now)
            recorded = [RecordedFill(
                f"live:{f.trade_id}", answer.broker_order_id, entry.isin, entry.symbol,
                entry.side, f.quantity, f.price, "EUR", D(1), None, f.at or self.now,
                record.source, record.bucket_id, "live") for f in answer.new_fills]
            self.journal.apply_follow_up(CID, answer, recorded, self.now)

    def publish(self, die_after: int | None = None) -> None:
        sent = 0

        def out(event: TradeExecuted) -> None:
            nonlocal sent
            self.events.append(event)
            sent += 1
            if die_after is not None and sent > die_after:
                self.replays[event.trade_key] = self.replays.get(event.trade_key, 0) + 1
                raise Died

        try:
            publish_pending(self.journal, "live", out, self.now)
        except Died:
            pass

    def rows(self) -> list[Any]:
        return self.store.fetch_all("SELECT * FROM trades ORDER BY trade_key")


OPS = st.sampled_from(["fill", "sync", "follow", "publish", "die", "sync+follow"])


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(fills=st.integers(1, 3), acked=st.booleans(), ops=st.lists(OPS, max_size=14),
       die_after=st.integers(0, 2))
def test_every_interleaving_stores_each_fill_once_attributed_and_publishes_it_once(
        fills: int, acked: bool, ops: list[str], die_after: int) -> None:
    io = IoLoop()
    io.start()
    store = SqliteStore(Path(tempfile.mkdtemp()) / "t.db", busy_timeout_ms=200)
    store.open()
    try:
        world = World(io, store, fills, acked)
        for op in ops:
            world.now += timedelta(minutes=1)
            if op == "die":
                world.publish(die_after)
            elif op == "sync+follow":  # both paths in one cycle
                world.sync()
                world.follow()
            else:
                getattr(world, op)()
        # the broker finishes the order; the follow-up job runs until the entry is final
        # (it does every minute) and publishes, as after a restart
        while len(world.broker_fills) < fills:
            world.fill()
        world.sync()
        world.follow()
        world.publish()
        rows = world.rows()
        ours = [r for r in rows if r["trade_key"] != "live:555"]
        assert [r["trade_key"] for r in ours] == [f"live:{100 + n}" for n in range(fills)]
        order_row = store.fetch_one("SELECT id, state FROM orders")
        assert order_row["state"] == "filled"
        assert {(r["order_row"], r["source"], r["bucket_id"]) for r in ours} == {
            (order_row["id"], "drip", "s1")}
        assert all(r["published_at"] is not None for r in rows)
        (foreign,) = [r for r in rows if r["trade_key"] == "live:555"]
        assert (foreign["order_row"], foreign["source"], foreign["bucket_id"]) == (
            None, "broker_sync", "core")
        published: dict[str, int] = {}
        for event in world.events:
            assert (event.source, event.bucket_id, event.symbol) == ("drip", "s1", SAP[1])
            published[event.trade_key] = published.get(event.trade_key, 0) + 1
        assert published == {r["trade_key"]: 1 + world.replays.get(r["trade_key"], 0)
                             for r in ours}
    finally:
        store.close()
        io.stop()


def test_the_second_path_changes_nothing_once_the_fill_is_attributed(
        io: IoLoop, store: SqliteStore) -> None:
    """Import first: the fill carries its order; the follow-up then records nothing new and
    publication happens once; a second import and publication change nothing."""
    world = World(io, store, 1, acked=True)
    world.fill()
    world.sync()
    (row,) = [r for r in world.rows() if r["trade_key"] == "live:100"]
    assert (row["source"], row["bucket_id"], row["published_at"]) == ("drip", "s1", None)
    world.follow()
    world.publish()
    world.sync()
    world.publish()
    assert [e.trade_key for e in world.events] == ["live:100"]


def test_the_migration_repairs_fills_an_older_import_gave_to_core(tmp_path: Path) -> None:
    """Fills of our orders that an older version imported as broker_sync/core get their
    order (row, source, bucket) and wait to be published once; other rows are published
    already (nothing is announced again)."""
    import sqlite3

    from arduino_trader.adapters.store.migrations import _split_statements, migration_files

    conn = sqlite3.connect(tmp_path / "old.db")
    files = migration_files()
    for number, _, sql in files:
        if number < 425:
            for statement in _split_statements(sql):
                conn.execute(statement)
    conn.execute("INSERT INTO orders (client_order_id, intent_key, isin, symbol, side, "
                 "quantity, limit_price, currency, source, bucket_id, mode, state, "
                 "broker_order_id, created_at, updated_at) VALUES (7, 'k', ?, ?, 'BUY', 3, "
                 "'105', 'EUR', 'satellite', 's1', 'live', 'filled', 9001, 0, 0)", SAP)
    rows = [("live:1", None, 9001, "broker_sync", "core"),   # imported before the ack
            ("live:2", 1, 9001, "broker_sync", "core"),      # imported, linked
            ("live:3", 1, 9001, "satellite", "s1"),          # the executor's own
            ("live:4", None, 4242, "broker_sync", "core")]   # not ours
    for key, order_row, broker_id, source, bucket in rows:
        conn.execute("INSERT INTO trades (trade_key, order_row, broker_order_id, isin, "
                     "symbol, side, quantity, price, value, currency, executed_at, source, "
                     "bucket_id, mode, created_at) VALUES (?, ?, ?, ?, ?, 'BUY', '1', '100',"
                     " '100', 'EUR', 0, ?, ?, 'live', 5)",
                     (key, order_row, broker_id, *SAP, source, bucket))
    (sql,) = [sql for number, _, sql in files if number == 425]
    for statement in _split_statements(sql):
        conn.execute(statement)
    got = {r[0]: r[1:] for r in conn.execute(
        "SELECT trade_key, order_row, source, bucket_id, published_at FROM trades")}
    assert got == {"live:1": (1, "satellite", "s1", None), "live:2": (1, "satellite", "s1", None),
                   "live:3": (1, "satellite", "s1", 5), "live:4": (None, "broker_sync", "core", 5)}
