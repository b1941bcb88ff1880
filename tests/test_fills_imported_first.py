"""A DRIP buy and a satellite buy whose fills the sync cycle's trade import stores before
the executor's follow-up sees them (sandbox, live): the DRIP fill consumes its dividend
once, the satellite's shares are the satellite's, and each fill's ``TradeExecuted``
goes out once."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

import pykka
import pytest
from broker_support import make_client, running_sandbox
from test_cash_flow_actor_drip import SAP, START, VWCE, _book_dividend, _seed

from arduino_trader.actors.base import ActorContext
from arduino_trader.actors.cash_flows import CashFlowActor
from arduino_trader.actors.executor import ExecutorActor
from arduino_trader.actors.portfolio import PortfolioActor
from arduino_trader.actors.satellites import SatelliteActor
from arduino_trader.adapters.clock import ManualClock
from arduino_trader.adapters.market_data.calendars import MarketCalendars
from arduino_trader.adapters.sandbox.server import SandboxThread
from arduino_trader.adapters.store import market_repo
from arduino_trader.adapters.store import satellites_repo as sat_repo
from arduino_trader.adapters.store.bucket_trades_repo import SqliteBucketTrades
from arduino_trader.adapters.store.sqlite import SqliteStore
from arduino_trader.config.settings import load_settings
from arduino_trader.daemon.bus import ActorBus
from arduino_trader.daemon.io_loop import IoLoop
from arduino_trader.domain.satellites.balances import LedgerEntry
from arduino_trader.protocols.bucket_ledger import Operation
from arduino_trader.protocols.execution import (
    FollowUpOrders,
    OrderIntent,
    SubmitOrder,
    TradeExecuted,
)
from arduino_trader.protocols.market_data import Quote
from arduino_trader.protocols.messages import JobOutcome, Ping, RunJob
from arduino_trader.protocols.satellites import (
    BucketEvent,
    CreateSatellite,
    SetSatelliteBudget,
    UpdateBucket,
)
from tests.wiring import wired

D = Decimal
ACTORS = ("executor", "cash_flows", "satellites", "portfolio")


class _Collector(pykka.ThreadingActor):
    def __init__(self, sink: list[Any]) -> None:
        super().__init__()
        self.sink = sink

    def on_receive(self, message: Any) -> None:
        self.sink.append(message)


@dataclass
class Rig:
    io: IoLoop
    store: SqliteStore
    bus: ActorBus
    clock: ManualClock
    sandbox: SandboxThread
    events: list[Any]

    def rows(self, sql: str, params: tuple[Any, ...] = ()) -> list[Any]:
        return self.store.fetch_all(sql, params)

    def settle(self) -> None:
        for name in ACTORS:
            self.bus.ask(name, Ping(self.clock.now()), 30)
        for name in ACTORS:  # what the first round told the others
            self.bus.ask(name, Ping(self.clock.now()), 30)

    def broker_fills_everything(self) -> None:
        for _ in range(6):
            self.clock.advance(10)
            self.sandbox.sandbox.account.advance(self.clock.now())


@pytest.fixture
def rig(io: IoLoop, store: SqliteStore) -> Iterator[Rig]:
    clock = ManualClock(START)
    with running_sandbox(wall_time=lambda: clock.now().timestamp()) as sandbox:
        account = sandbox.sandbox.account
        account.deposit("HKD", D("100"), clock.now())
        account.deposit("EUR", D("20000"), clock.now())
        client = make_client(sandbox.url, wall_time=lambda: clock.now().timestamp())
        settings = load_settings(None, environ={}).with_overrides({
            "trading_mode": "live", "trade_frequency_limits_enabled": False})
        _seed(io, store, client)
        bus = ActorBus()
        ctx = ActorContext(bus=bus, io=io, clock=clock, settings=lambda: settings,
                           deps=wired(store=store, broker=client,
                                      paper_broker=client,
                                      calendars=MarketCalendars(today=START.date())))
        events: list[Any] = []
        bus.register("collector", _Collector.start(events))
        for name, actor in (("executor", ExecutorActor), ("cash_flows", CashFlowActor),
                            ("satellites", SatelliteActor), ("portfolio", PortfolioActor)):
            bus.register(name, actor.start(ctx))
        for name in ("collector", "cash_flows", "satellites"):
            bus.subscribe(TradeExecuted, name)
        rig = Rig(io, store, bus, clock, sandbox, events)
        rig.settle()
        yield rig
        io.run(client.close(), 5)


def _satellite_funded(rig: Rig, amount: D) -> None:
    def ask(message: object) -> Any:
        return rig.bus.ask("satellites", message, 30)

    ask(SetSatelliteBudget(D("0.20")))
    assert ask(CreateSatellite("s1", "S1", start_in_research=False))["status"] == \
        "accumulating"
    ask(UpdateBucket("s1", target_pct=D("0.10")))
    assert ask(BucketEvent("s1", "activate"))["status"] == "active"
    rows = []
    for bucket, cash in (("s1", amount), ("core", D("20100") - amount)):  # = broker EUR
        rows.append(LedgerEntry(bucket_id=bucket, currency="EUR", type="deposit",
                                amount=cash, source_kind="manual",
                                source_id=f"seed:{bucket}", created_at=rig.clock.now()))
    for entry in rows:
        sat_repo.apply_operation(rig.store, Operation((entry,)),
                                            rig.clock.now())


def test_fills_the_sync_imports_first_keep_their_order_and_are_announced_once(
        rig: Rig) -> None:
    # a dividend of four VWCE shares, credited to core by the cash-flow sync
    ask = _seed(rig.io, rig.store, make_client(rig.sandbox.url,
                                               wall_time=lambda: rig.clock.now().timestamp()),
                VWCE, "Vanguard FTSE All-World")
    price = (ask * D("0.97")).quantize(D("0.01"))
    market_repo.write_quotes(rig.store, {VWCE[0]: Quote(
        VWCE[1], float(price), "EUR", START, "test")}, START)
    amount = 4 * price
    status, _ = _book_dividend(rig, {"ticker": VWCE[1],  # type: ignore[arg-type]
                                     "amount": str(amount), "currency": "EUR"})
    assert status == 200
    synced = rig.bus.ask("cash_flows", RunJob("cash_flow_sync", "sync-1"), 120)
    assert synced.ok and synced.details["dividends_created"] == 1, synced
    _satellite_funded(rig, D("2000"))
    # the DRIP buy (core) and a satellite's buy (s1) are placed; the broker has not
    # filled them when the executor looks right after placing
    drip = rig.bus.ask("cash_flows", RunJob("dividend_reinvestment", "drip-1"), 120)
    assert isinstance(drip, JobOutcome) and drip.details["buys"][0]["status"] == "placed"
    placed = rig.bus.ask("executor", SubmitOrder(
        OrderIntent(SAP[0], SAP[1], "BUY", D(3), "satellite"), "s1:buy:1", "satellite buy",
        "s1"), 60)
    assert placed.status == "placed" and placed.state != "filled", placed
    assert rig.rows("SELECT * FROM trades") == []
    rig.broker_fills_everything()
    # the sync cycle's trade import sees the fills first
    cycle = rig.bus.ask("portfolio", RunJob("sync_cycle", "cycle-1"), 300)
    assert cycle.details["steps"]["trades"]["status"] == "ok", cycle
    rig.settle()
    trades = rig.rows("SELECT * FROM trades ORDER BY id")
    assert trades and {(t["symbol"], t["source"], t["bucket_id"]) for t in trades} == {
        (VWCE[1], "drip", "core"), (SAP[1], "satellite", "s1")}
    assert all(t["order_row"] is not None for t in trades)
    # then the executor's follow-up: nothing new, nothing announced twice
    for _ in range(3):
        rig.clock.advance(60)
        rig.bus.ask("executor", FollowUpOrders(), 60)
    rig.settle()
    assert {o["state"] for o in rig.rows("SELECT state FROM orders")} == {"filled"}
    assert rig.rows("SELECT COUNT(*) AS n FROM trades")[0]["n"] == len(trades)
    announced = [e.trade_key for e in rig.events if isinstance(e, TradeExecuted)]
    assert sorted(announced) == sorted(t["trade_key"] for t in trades)
    # the dividend is consumed once, by the DRIP fills
    (div,) = rig.rows("SELECT * FROM dividend_history")
    drip_fills = [t for t in trades if t["source"] == "drip"]
    assert div["reinvested"] == 1 and D(div["allocated_eur"]) == amount
    consumed = rig.rows("SELECT * FROM dividend_allocations")
    assert sorted(c["fill_key"] for c in consumed) == sorted(t["trade_key"]
                                                               for t in drip_fills)
    rig.clock.advance(86400)
    again = rig.bus.ask("cash_flows", RunJob("dividend_reinvestment", "drip-2"), 120)
    assert again.details["buys"] == []
    # the satellite holds its shares and paid for them; core holds the DRIP's
    holdings = SqliteBucketTrades(rig.store).holdings(("live",))
    assert holdings["s1"] == {SAP[1]: D(3)}
    assert holdings["core"] == {VWCE[1]: D(4)}
    paid = rig.rows("SELECT bucket_id, amount FROM bucket_transactions WHERE "
                    "source_kind = 'trade' AND source_id IN (SELECT trade_key FROM trades "
                    "WHERE symbol = ?)", (SAP[1],))
    spent = sum((D(t["value"]) for t in trades if t["symbol"] == SAP[1]), D(0))
    assert {p["bucket_id"] for p in paid} == {"s1"}
    assert sum((D(p["amount"]) for p in paid), D(0)) == -spent
