"""A dividend on a position held by core and a satellite, end to end: the broker pays it
(and withholds tax) at the sandbox, the cash-flow sync asks the satellite manager who
holds what, and each bucket is credited, taxed and left to reinvest its own share."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

import pytest
from broker_support import make_client, running_sandbox

from arduino_trader.actors.base import ActorContext
from arduino_trader.actors.cash_flows import CashFlowActor
from arduino_trader.actors.satellites import SatelliteActor
from arduino_trader.adapters.clock import ManualClock
from arduino_trader.adapters.sandbox.server import SandboxThread
from arduino_trader.adapters.store import dividend_repo, securities_repo
from arduino_trader.adapters.store.sqlite import SqliteStore
from arduino_trader.config.settings import load_settings
from arduino_trader.daemon.bus import ActorBus
from arduino_trader.daemon.io_loop import IoLoop
from arduino_trader.domain.cash_flows.fx import RateTable
from arduino_trader.protocols.cash_flows import DividendReceived
from arduino_trader.protocols.messages import Ping, RunJob
from arduino_trader.protocols.satellites import GetCashFlowContext
from tests.wiring import wired

D = Decimal
VWCE = ("IE00BK5BQT80", "VWCE.EU")  # the sandbox account holds 25 shares
START = datetime(2026, 3, 10, 11, 0, tzinfo=UTC)


@dataclass
class Rig:
    store: SqliteStore
    bus: ActorBus
    clock: ManualClock
    sandbox: SandboxThread

    def rows(self, sql: str, params: tuple[Any, ...] = ()) -> list[Any]:
        return self.store.fetch_all(sql, params)

    def sync(self, run_id: str) -> Any:
        outcome = self.bus.ask("cash_flows", RunJob("cash_flow_sync", run_id), 120)
        assert outcome.ok, outcome
        self.bus.ask("satellites", Ping(self.clock.now()), 30)  # its events handled
        return outcome

    def ledger(self, key: str) -> list[tuple[str, str, Decimal]]:
        return [(r["bucket_id"], r["type"], D(r["amount"])) for r in self.rows(
            "SELECT * FROM bucket_transactions WHERE source_id = ? ORDER BY bucket_id",
            (key,))]


def _satellite_holding(store: SqliteStore, quantity: str) -> None:
    """Satellite ``s1`` (reinvesting its dividends) with ``quantity`` VWCE from its own
    fill; the rest of the broker's position is core's."""
    ts = int(START.timestamp())
    store.execute("INSERT INTO buckets (id, name, type, status, created_at, updated_at) "
                  "VALUES ('s1', 'S1', 'satellite', 'active', ?, ?)", (ts, ts))
    store.execute("INSERT INTO satellite_settings (satellite_id, dividend_handling, "
                  "updated_at) VALUES ('s1', 'reinvest_same', ?)", (ts,))
    store.execute(
        "INSERT INTO trades (trade_key, isin, symbol, side, quantity, price, value, currency,"
        " executed_at, source, bucket_id, mode, created_at) VALUES ('t-s1', ?, ?, 'BUY', ?,"
        " '100', ?, 'EUR', ?, 'planner', 's1', 'live', ?)",
        (VWCE[0], VWCE[1], quantity, str(D(quantity) * 100), ts - 86400, ts))


@pytest.fixture
def rig(io: IoLoop, store: SqliteStore) -> Iterator[Rig]:
    clock = ManualClock(START)
    with running_sandbox(wall_time=lambda: clock.now().timestamp()) as sandbox:
        client = make_client(sandbox.url, wall_time=lambda: clock.now().timestamp())
        settings = load_settings(None, environ={}).with_overrides({"trading_mode": "live"})
        securities_repo.insert_security(store, {
            "isin": VWCE[0], "symbol": VWCE[1], "name": "Vanguard FTSE All-World",
            "currency": "EUR", "mic": "XETR"}, START)
        _satellite_holding(store, "5")
        bus = ActorBus()
        ctx = ActorContext(bus=bus, io=io, clock=clock, settings=lambda: settings,
                           deps=wired(store=store, broker=client, paper_broker=client))

        def context_for(rates: RateTable) -> Any:  # the daemon's wiring
            return bus.ask("satellites", GetCashFlowContext(rates), 30)

        bus.register("satellites", SatelliteActor.start(ctx))
        bus.register("cash_flows", CashFlowActor.start(ctx, context_for))
        bus.subscribe(DividendReceived, "satellites")
        yield Rig(store, bus, clock, sandbox)
        io.run(client.close(), 5)


def test_each_bucket_gets_and_is_taxed_on_its_own_share_of_the_dividend(rig: Rig) -> None:
    account = rig.sandbox.sandbox.account
    paid = account.book_dividend(VWCE[1], D("100"), "EUR", rig.clock.now())
    account.deposit("EUR", D("-15"), rig.clock.now(), type_code="tax",
                    comment=f"Withholding tax on dividends {VWCE[1]} ({VWCE[0]})")
    tax_key = f"ucf:{int(paid['id']) + 1}"
    dividend_key = f"ucf:{paid['id']}"
    first = rig.sync("sync-1")
    assert first.details["dividends_created"] == 1
    # 25 shares at the broker, 5 of them bought by s1: s1 gets a fifth, core the rest
    assert rig.ledger(dividend_key) == [("core", "dividend", D("80.00")),
                                        ("s1", "dividend", D("20.00"))]
    assert rig.ledger(tax_key) == [("core", "fee", D("-12.00")), ("s1", "fee", D("-3.00"))]
    rows = rig.rows("SELECT bucket_id, amount, amount_eur FROM dividend_history "
                    "WHERE cash_flow_id = ? ORDER BY bucket_id", (dividend_key,))
    assert [(r["bucket_id"], D(r["amount_eur"])) for r in rows] == [
        ("core", D("80.00")), ("s1", D("20.00"))]
    # DRIP sees each bucket's share net of that bucket's part of the tax
    net = {d.bucket_id: d.amount_eur for d in dividend_repo.drip_dividends(rig.store)}
    assert net == {"core": D("68.00"), "s1": D("17.00")}
    assert {d.bucket_id: d.amount_eur for d in dividend_repo.drip_dividends(
        rig.store, bucket_id="s1")} == {"s1": D("17.00")}
    # a re-sync changes nothing; balances are the sums of their rows
    ledger = rig.rows("SELECT * FROM bucket_transactions ORDER BY id")
    rig.sync("sync-2")
    assert rig.rows("SELECT * FROM bucket_transactions ORDER BY id") == ledger
    balances = {r["bucket_id"]: D(r["balance"]) for r in rig.rows(
        "SELECT bucket_id, balance FROM bucket_balances WHERE currency = 'EUR'")}
    assert balances == {"core": D("10068.00"), "s1": D("17.00")}  # the sandbox's opening
    # deposit of 10,000 is core's


def test_a_synced_payment_recorded_again_by_hand_is_refused(rig: Rig) -> None:
    """The owner copying a payment the sync booked (split over two buckets) by hand would
    have DRIP reinvest it twice: the store refuses it, naming the stored row."""
    account = rig.sandbox.sandbox.account
    account.book_dividend(VWCE[1], D("100"), "EUR", rig.clock.now())
    rig.sync("sync-1")
    (day,) = {r["payment_date"] for r in rig.rows("SELECT payment_date FROM dividend_history")}
    first = rig.rows("SELECT min(id) AS id FROM dividend_history")[0]["id"]
    by_hand = {"symbol": VWCE[1], "isin": VWCE[0], "bucket_id": "core", "amount": D("100.00"),
               "currency": "EUR", "amount_eur": D("100.00"), "payment_date": day}
    with pytest.raises(dividend_repo.DuplicateDividend) as refused:
        dividend_repo.create_dividend(rig.store, by_hand, rig.clock.now())
    assert refused.value.existing_id == first
    assert len(rig.rows("SELECT * FROM dividend_history")) == 2  # the two shares only
    other = dividend_repo.create_dividend(rig.store, {**by_hand, "amount": D("7.00"),
                                                      "amount_eur": D("7.00")}, rig.clock.now())
    assert other > first  # another payment the same day is a dividend of its own


def test_a_payment_recorded_by_hand_first_is_linked_not_recorded_again(rig: Rig) -> None:
    """The owner recorded the dividend by hand before the broker's ledger showed it: the
    sync books the money (split as usual) and links the hand-made row to the cash flow
    instead of adding the payment's rows, so DRIP reinvests it once."""
    account = rig.sandbox.sandbox.account
    paid = account.book_dividend(VWCE[1], D("100"), "EUR", rig.clock.now())
    by_hand = dividend_repo.create_dividend(rig.store, {
        "symbol": VWCE[1], "isin": VWCE[0], "bucket_id": "core", "amount": D("100.00"),
        "currency": "EUR", "amount_eur": D("100.00"),
        "payment_date": rig.clock.now().date().isoformat()}, rig.clock.now())
    rig.sync("sync-1")
    key = f"ucf:{paid['id']}"
    assert [(r["id"], r["cash_flow_id"]) for r in rig.rows(
        "SELECT id, cash_flow_id FROM dividend_history")] == [(by_hand, key)]
    assert rig.ledger(key) == [("core", "dividend", D("80.00")),
                               ("s1", "dividend", D("20.00"))]  # the money, once
    assert [d.amount_eur for d in dividend_repo.drip_dividends(rig.store)] == [D("100.00")]
    rig.sync("sync-2")
    assert len(rig.rows("SELECT * FROM dividend_history")) == 1
