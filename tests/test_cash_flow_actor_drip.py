"""DRIP end to end against the sandbox: a dividend is reinvested through the executor and
marked reinvested only after the confirmed fill; a second run spends nothing twice."""

from __future__ import annotations

import json
import urllib.error
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from typing import Any

import pytest
from broker_support import make_client, running_sandbox

from arduino_trader.actors.base import ActorContext
from arduino_trader.actors.cash_flows import CashFlowActor, core_only_context
from arduino_trader.actors.executor import ExecutorActor
from arduino_trader.adapters.clock import ManualClock
from arduino_trader.adapters.market_data.calendars import MarketCalendars
from arduino_trader.adapters.sandbox.server import SandboxThread
from arduino_trader.adapters.store import (
    dividend_repo,
    emergency_runs_repo,
    fx_tables,
    market_repo,
    securities_repo,
)
from arduino_trader.adapters.store.cash_flow_repo import SqliteCashFlowStore
from arduino_trader.adapters.store.price_history_repo import SqlitePriceHistory
from arduino_trader.adapters.store.sqlite import SqliteStore
from arduino_trader.adapters.tradernet.client import TradernetClient
from arduino_trader.config.settings import Settings, load_settings
from arduino_trader.daemon.bus import ActorBus
from arduino_trader.daemon.io_loop import IoLoop
from arduino_trader.domain.cash_flows.effects import rules
from arduino_trader.domain.cash_flows.normalise import normalise
from arduino_trader.protocols.execution import FollowUpOrders, TradeExecuted
from arduino_trader.protocols.market_data import FxRate, FxRatesUpdated, PriceBar, Quote
from arduino_trader.protocols.messages import JobOutcome, Ping, RunJob
from tests.wiring import wired

D = Decimal
SAP = ("DE0007164600", "SAP.EU")
MSFT = ("US5949181045", "MSFT.US")
START = datetime(2026, 3, 10, 11, 0, tzinfo=UTC)  # a Tuesday: Xetra open


@dataclass
class Rig:
    io: IoLoop
    store: SqliteStore
    bus: ActorBus
    clock: ManualClock
    client: TradernetClient
    settings: Settings
    sandbox: SandboxThread
    ctx: ActorContext

    def rows(self, sql: str, params: tuple[Any, ...] = ()) -> list[Any]:
        return self.store.fetch_all(sql, params)

    def drip(self, run_id: str) -> JobOutcome:
        outcome = self.bus.ask("cash_flows", RunJob("dividend_reinvestment", run_id), 120)
        assert isinstance(outcome, JobOutcome)
        return outcome

    def follow_up(self, times: int = 4) -> None:
        for _ in range(times):
            self.clock.advance(30)
            self.bus.ask("executor", FollowUpOrders(), 60)
        self.bus.ask("cash_flows", Ping(self.clock.now()), 30)  # fills consumed


def _seed(io: IoLoop, store: SqliteStore, client: TradernetClient,
          security: tuple[str, str] = SAP, name: str = "SAP SE", currency: str = "EUR",
          mic: str = "XETR") -> Decimal:
    """A security (by default in EUR on Xetra) with a year of history, the broker's ask as
    its price and a 4.1 % dividend yield; the FX rates of the sandbox's cash currencies."""
    now = START
    isin, symbol = security
    securities_repo.insert_security(store, {
        "isin": isin, "symbol": symbol, "name": name, "currency": currency,
        "mic": mic}, now)
    (quote,) = io.run(client.quotes((symbol,)), 10)
    price = quote.ask or quote.last
    assert price is not None
    bars = [PriceBar(date(2025, 3, 10) + timedelta(days=i), float(price) * (0.95 + (i % 7) / 100),
                     high=float(price) * 1.4) for i in range(360)]
    SqlitePriceHistory(store).write_history({isin: (bars, [])}, "test", now)
    market_repo.write_fx(store, [
        FxRate("USD", D("0.92"), now.date(), now, "test"),
        FxRate("HKD", D("0.118"), now.date(), now, "test")], now)
    market_repo.write_quotes(store, {isin: Quote(symbol, float(price), currency, now,
                                                        "test")}, now)
    market_repo.write_security_data(store, isin, "fundamentals",
                                           {"values": {"dividendYield": 0.041}}, now)
    return D(price)


@pytest.fixture
def rig(io: IoLoop, store: SqliteStore) -> Iterator[Rig]:
    clock = ManualClock(START)
    with running_sandbox(wall_time=lambda: clock.now().timestamp()) as sandbox:
        sandbox.sandbox.account.deposit("HKD", D("100"), clock.now())  # no negative cash
        client = make_client(sandbox.url, wall_time=lambda: clock.now().timestamp())
        settings = load_settings(None, environ={}).with_overrides({
            "trading_mode": "live", "trade_frequency_limits_enabled": False})
        _seed(io, store, client)
        bus = ActorBus()
        ctx = ActorContext(bus=bus, io=io, clock=clock, settings=lambda: settings,
                           deps=wired(store=store, broker=client,
                                      paper_broker=client,
                                      calendars=MarketCalendars(today=START.date())))
        bus.register("executor", ExecutorActor.start(ctx))
        bus.register("cash_flows", CashFlowActor.start(ctx))
        bus.subscribe(TradeExecuted, "cash_flows")
        bus.ask("executor", Ping(clock.now()), 30)
        yield Rig(io, store, bus, clock, client, settings, sandbox, ctx)
        io.run(client.close(), 5)


def test_a_dividend_is_reinvested_only_after_the_fill(rig: Rig) -> None:
    # The dividend's record is stored directly (the sync path is the next test).
    (record,) = normalise("user_cash_flow", [{
        "id": "div-1", "type_code": "dividend", "sum": "600,00", "currency": "EUR",
        "date": "2026-03-02", "symbol": SAP[1]}]).records
    rates = fx_tables.load_rates(rig.store)
    effects = SqliteCashFlowStore(rig.store).store_record(
        record, rules(core_only_context(rates)), START)
    assert len(effects.dividends) == 1 and effects.ledger[0].bucket_id == "core"
    (row,) = rig.rows("SELECT id FROM dividend_history WHERE cash_flow_id = 'ucf:div-1'")
    did = row["id"]
    small = dividend_repo.create_dividend(rig.store, {
        "symbol": "KO.US", "amount": D("12.40"), "currency": "EUR",
        "amount_eur": D("12.40"), "payment_date": "2026-03-03"}, START)
    outcome = rig.drip("drip-1")
    assert outcome.ok, outcome
    (buy,) = outcome.details["buys"]
    assert buy["status"] == "placed" and buy["symbol"] == SAP[1] and buy["quantity"] >= 2
    (div,) = rig.rows("SELECT * FROM dividend_history WHERE id = ?", (did,))
    assert div["reinvested"] == 0 and D(div["allocated_eur"]) == 0  # placed is not filled
    (parked,) = rig.rows("SELECT * FROM dividend_history WHERE id = ?", (small,))
    assert D(parked["pending_cash_eur"]) == D("12.40")  # below the minimum trade
    rig.follow_up()
    (order,) = rig.rows("SELECT * FROM orders")
    assert order["state"] == "filled" and order["source"] == "drip"
    trades = rig.rows("SELECT * FROM trades")
    cost = sum((D(t["quantity"]) * D(t["price"]) for t in trades), D(0))
    (div,) = rig.rows("SELECT * FROM dividend_history WHERE id = ?", (did,))
    assert D(div["allocated_eur"]) == cost.quantize(D("0.01"))
    consumed = rig.rows("SELECT * FROM dividend_allocations WHERE dividend_id = ?", (did,))
    assert {c["fill_key"] for c in consumed} == {t["trade_key"] for t in trades}
    again = rig.drip("drip-2")  # the consumed euros are never planned again
    assert again.details["buys"] == []
    rig.follow_up(2)
    (div2,) = rig.rows("SELECT * FROM dividend_history WHERE id = ?", (did,))
    assert div2["allocated_eur"] == div["allocated_eur"]


def _dividend(rig: Rig, key: str, symbol: str = SAP[1], amount: str = "600,00",
              day: str = "2026-03-02") -> int:
    """A EUR dividend on ``symbol`` stored as the cash-flow sync stores it (core's cash
    credited); its id."""
    (record,) = normalise("user_cash_flow", [{
        "id": key, "type_code": "dividend", "sum": amount, "currency": "EUR",
        "date": day, "symbol": symbol}]).records
    SqliteCashFlowStore(rig.store).store_record(
        record, rules(core_only_context(fx_tables.load_rates(rig.store))), START)
    (row,) = rig.rows("SELECT id FROM dividend_history WHERE cash_flow_id = ?",
                      (f"ucf:{key}",))
    return int(row["id"])


def _filled_cost(rig: Rig) -> Decimal:
    trades = rig.rows("SELECT * FROM trades")
    assert trades and {t["source"] for t in trades} == {"drip"}
    return sum((D(t["quantity"]) * D(t["price"]) for t in trades), D(0)).quantize(D("0.01"))


def test_a_fill_published_while_cash_flows_restarts_is_booked_when_it_starts(
        rig: Rig) -> None:
    did = _dividend(rig, "div-1")
    assert rig.drip("drip-1").details["buys"][0]["status"] == "placed"
    # The supervisor is restarting the cash-flow actor when the executor sees the fill:
    # the bus skips the absent actor, and the executor counts the fill as published.
    rig.bus.ref("cash_flows").stop()
    rig.bus.unregister("cash_flows")
    for _ in range(4):
        rig.clock.advance(30)
        rig.bus.ask("executor", FollowUpOrders(), 60)
    (div,) = rig.rows("SELECT * FROM dividend_history WHERE id = ?", (did,))
    assert D(div["allocated_eur"]) == 0  # nobody booked the fill
    rig.bus.register("cash_flows", CashFlowActor.start(rig.ctx))
    rig.bus.ask("cash_flows", Ping(rig.clock.now()), 30)
    (div,) = rig.rows("SELECT * FROM dividend_history WHERE id = ?", (did,))
    assert D(div["allocated_eur"]) == _filled_cost(rig)
    assert rig.drip("drip-2").details["buys"] == []  # the dividend is not spent twice


def test_a_fill_not_booked_for_want_of_a_rate_stops_drip_until_it_is_booked(
        rig: Rig) -> None:
    _seed(rig.io, rig.store, rig.client, MSFT, "Microsoft Corporation", "USD", "XNAS")
    did = _dividend(rig, "div-msft", MSFT[1], "1000,00")
    rig.sandbox.sandbox.account.deposit("EUR", D("20000"), rig.clock.now())
    rig.clock.advance(4 * 3600)  # 15:00 UTC: Nasdaq open
    assert rig.drip("drip-1").details["buys"][0]["status"] == "placed"
    # The fill arrives on a day the newest USD rate is too old to book it by.
    rig.store.execute("DELETE FROM fx_rates WHERE currency = 'USD'")
    rig.follow_up()
    assert len(rig.rows("SELECT * FROM trades")) >= 1
    (div,) = rig.rows("SELECT * FROM dividend_history WHERE id = ?", (did,))
    assert D(div["allocated_eur"]) == 0
    stopped = rig.drip("drip-2")  # the dividend looks unspent: it must not be bought again
    assert not stopped.ok and stopped.details["buys"] == []
    assert stopped.details["waiting_fills"] == [t["trade_key"]
                                                 for t in rig.rows("SELECT * FROM trades")]
    assert len(rig.rows("SELECT * FROM orders")) == 1
    now = rig.clock.now()
    market_repo.write_fx(rig.store, [FxRate("USD", D("0.92"), now.date(), now, "test")], now)
    rig.bus.ask("cash_flows", FxRatesUpdated(("USD",), now), 30)
    usd_cost = sum((D(t["quantity"]) * D(t["price"]) for t in rig.rows("SELECT * FROM trades")),
                   D(0))
    (div,) = rig.rows("SELECT * FROM dividend_history WHERE id = ?", (did,))
    assert D(div["allocated_eur"]) == min(D(1000), (usd_cost * D("0.92")).quantize(D("0.01")))
    again = rig.drip("drip-3")
    assert again.ok
    assert len(rig.rows("SELECT * FROM orders")) == 1 + len(again.details["buys"])


def test_a_fill_is_never_booked_against_a_dividend_paid_after_it(rig: Rig) -> None:
    """A DRIP fill left with nothing to consume (its dividend was settled another way)
    is not taken as the spending of a dividend paid a quarter later."""
    first = _dividend(rig, "div-1", day="2026-03-10")
    assert rig.drip("drip-1").details["buys"][0]["status"] == "placed"
    rig.follow_up()
    assert _filled_cost(rig) > 0
    rig.store.execute("DELETE FROM dividend_allocations")
    rig.store.execute("UPDATE dividend_history SET reinvested = 1 WHERE id = ?", (first,))
    later = _dividend(rig, "div-2", day="2026-06-10")
    now = rig.clock.now()
    rig.bus.ask("cash_flows", FxRatesUpdated(("USD",), now), 30)  # the recovery runs
    (div,) = rig.rows("SELECT * FROM dividend_history WHERE id = ?", (later,))
    assert D(div["allocated_eur"]) == 0 and div["reinvested"] == 0
    assert rig.rows("SELECT * FROM dividend_allocations") == []


VWCE = ("IE00BK5BQT80", "VWCE.EU")  # held at the sandbox (25 shares)


def _book_dividend(rig: Rig, spec: dict[str, Any]) -> tuple[int, dict[str, Any]]:
    req = urllib.request.Request(rig.sandbox.url + "/sandbox/dividend", method="POST",
                                 data=json.dumps(spec).encode(),
                                 headers={"Content-Type": "application/json"})
    try:
        with urllib.request.urlopen(req, timeout=5) as resp:
            return resp.status, json.loads(resp.read())
    except urllib.error.HTTPError as err:
        return err.code, json.loads(err.read())


def test_a_broker_dividend_is_synced_and_reinvested_after_the_fill(rig: Rig) -> None:
    ask = _seed(rig.io, rig.store, rig.client, VWCE, "Vanguard FTSE All-World")
    # The plan's stored price a little under the market, and a dividend of exactly four
    # shares at it: the fills cost at least the planned euros, so the dividend is consumed
    # in full (a fill never consumes more than the plan reserved).
    price = (ask * D("0.97")).quantize(D("0.01"))
    market_repo.write_quotes(rig.store, {VWCE[0]: Quote(
        VWCE[1], float(price), "EUR", START, "test")}, START)
    amount = 4 * price
    # enough capital that the bought shares stay within the executor's position limit
    rig.sandbox.sandbox.account.deposit("EUR", D("20000"), rig.clock.now())
    status, booked = _book_dividend(rig, {"ticker": VWCE[1], "amount": str(amount),
                                          "currency": "EUR"})
    assert status == 200 and booked["cash_flow"]["type_code"] == "dividend"
    assert set(booked["cash_flow"]) == {"id", "type_code", "date", "sum", "currency",
                                        "comment"}  # the real row: no instrument field
    key = f"ucf:{booked['cash_flow']['id']}"
    synced = rig.bus.ask("cash_flows", RunJob("cash_flow_sync", "sync-1"), 120)
    assert synced.ok and synced.details["dividends_created"] == 1, synced
    (div,) = rig.rows("SELECT * FROM dividend_history WHERE cash_flow_id = ?", (key,))
    assert (div["symbol"], div["isin"], D(div["amount"])) == (VWCE[1], VWCE[0], amount)
    (credit,) = rig.rows("SELECT * FROM bucket_transactions WHERE source_id = ?", (key,))
    assert credit["bucket_id"] == "core" and D(credit["amount"]) == amount
    again = rig.bus.ask("cash_flows", RunJob("cash_flow_sync", "sync-2"), 120)
    assert again.ok and again.details["dividends_created"] == 0
    assert len(rig.rows("SELECT * FROM dividend_history")) == 1
    outcome = rig.drip("drip-broker")
    (buy,) = outcome.details["buys"]
    assert buy["status"] == "placed" and buy["symbol"] == VWCE[1] and buy["quantity"] == 4
    assert rig.rows("SELECT reinvested FROM dividend_history")[0]["reinvested"] == 0
    rig.follow_up()
    (order,) = rig.rows("SELECT * FROM orders")
    assert (order["state"], order["source"], order["side"]) == ("filled", "drip", "BUY")
    (div,) = rig.rows("SELECT * FROM dividend_history WHERE cash_flow_id = ?", (key,))
    assert div["reinvested"] == 1 and D(div["allocated_eur"]) == amount
    consumed = rig.rows("SELECT * FROM dividend_allocations")
    assert len(consumed) == len(rig.rows("SELECT * FROM trades"))
    assert rig.drip("drip-broker-2").details["buys"] == []  # reinvested once
    rig.follow_up(2)
    assert rig.rows("SELECT * FROM dividend_allocations") == consumed


def test_the_sandbox_refuses_a_dividend_on_a_position_not_held(rig: Rig) -> None:
    before = rig.sandbox.sandbox.account.cash("EUR")
    assert _book_dividend(rig, {"ticker": SAP[1], "amount": "10"})[0] == 400
    assert _book_dividend(rig, {"ticker": "NOPE.US", "amount": "10"})[0] == 400
    assert _book_dividend(rig, {"ticker": VWCE[1], "amount": "-1"})[0] == 400
    assert _book_dividend(rig, {"amount": "1"})[0] == 400
    assert rig.sandbox.sandbox.account.cash("EUR") == before


AAPL = ("US0378331005", "AAPL.US")


def test_a_negative_usd_balance_is_repaired_by_a_sale_through_the_executor(rig: Rig) -> None:
    (quote,) = rig.io.run(rig.client.quotes((AAPL[1],)), 10)
    price = quote.bid or quote.last
    assert price is not None
    securities_repo.insert_security(rig.store, {
        "isin": AAPL[0], "symbol": AAPL[1], "name": "Apple", "currency": "USD",
        "mic": "XNAS"}, START)
    bars = [PriceBar(date(2025, 3, 10) + timedelta(days=i), float(price) * (1 + (i % 5) / 100),
                     high=float(price) * 1.3) for i in range(360)]
    SqlitePriceHistory(rig.store).write_history({AAPL[0]: (bars, [])}, "test", START)
    rig.sandbox.sandbox.account.deposit("USD", -(_usd(rig) + D("100")), rig.clock.now())
    assert _usd(rig) == D("-100")
    account = rig.sandbox.sandbox.account
    for ccy in ("EUR", "HKD"):  # nothing above the reserve to exchange: a sale repairs USD
        account.deposit(ccy, D("5") - account.cash(ccy), rig.clock.now())
    rig.clock.advance(4 * 3600)  # 15:00 UTC: Nasdaq tradable
    outcome = rig.bus.ask("cash_flows", RunJob("emergency_rebalance", "em-1"), 120)
    assert outcome.ok and outcome.details["outcome"] == "resolved", outcome
    (run,) = emergency_runs_repo.list_emergency_runs(rig.store)
    (sale,) = [a for a in run["actions"] if a["kind"] == "sale"]
    assert sale["symbol"] == AAPL[1] and sale["status"] == "placed"
    assert not [a for a in run["actions"] if a["kind"] == "exchange"]
    (order,) = rig.rows("SELECT * FROM orders")
    assert (order["side"], order["source"]) == ("SELL", "emergency_rebalancing")
    rig.follow_up()
    assert rig.rows("SELECT state FROM orders")[0]["state"] == "filled"
    assert _usd(rig) >= 5  # the shortfall is repaired at the broker
    again = rig.bus.ask("cash_flows", RunJob("emergency_rebalance", "em-2"), 120)
    assert again.details["outcome"] == "no_shortfall"


def _usd(rig: Rig) -> Decimal:
    account = rig.io.run(rig.client.account(), 10)
    return account.cash_in("USD")



def test_an_accumulating_satellite_keeps_its_dividend_cash(rig: Rig) -> None:
    ts = int(START.timestamp())
    rig.store.execute(
        "INSERT INTO buckets (id, name, type, status, created_at, updated_at) "
        "VALUES ('dip', 'Dip', 'satellite', 'active', ?, ?)", (ts, ts))
    rig.store.execute(
        "INSERT INTO satellite_settings (satellite_id, dividend_handling, updated_at) "
        "VALUES ('dip', 'accumulate_cash', ?)", (ts,))
    dividend_repo.create_dividend(rig.store, {
        "symbol": SAP[1], "isin": SAP[0], "bucket_id": "dip", "amount": D("900.00"),
        "currency": "EUR", "amount_eur": D("900.00"), "payment_date": "2026-03-02"},
        START)
    outcome = rig.drip("drip-acc")
    assert outcome.ok and outcome.details["buys"] == []
    assert outcome.details["skipped"] == [[SAP[1], "bucket dip accumulates dividend cash"]]
    assert rig.rows("SELECT * FROM orders") == []


def test_a_dividend_dated_after_today_is_not_reinvested(rig: Rig) -> None:
    future = dividend_repo.create_dividend(rig.store, {
        "symbol": SAP[1], "isin": SAP[0], "bucket_id": "core", "amount": D("900.00"),
        "currency": "EUR", "amount_eur": D("900.00"), "payment_date": "2099-01-01"}, START)
    outcome = rig.drip("drip-future")
    assert outcome.ok and outcome.details["buys"] == []
    assert outcome.details["skipped"] == [
        [SAP[1], f"dividend {future} is paid on 2099-01-01: not yet"]]
    assert rig.rows("SELECT * FROM orders") == []
