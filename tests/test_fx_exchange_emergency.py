"""Emergency rebalancing with currency exchange, end to end against the sandbox (live
mode): a negative USD balance is repaired by an exchange first, through the executor's
journal; positions are sold only for what the exchanges could not cover, and their
proceeds are exchanged last."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

import pytest
from broker_support import make_client, running_sandbox, seed_from_sandbox

from arduino_trader.actors.base import ActorContext
from arduino_trader.actors.cash_flows import CashFlowActor
from arduino_trader.actors.executor import ExecutorActor
from arduino_trader.adapters.clock import ManualClock
from arduino_trader.adapters.market_data.calendars import MarketCalendars
from arduino_trader.adapters.sandbox.server import SandboxThread
from arduino_trader.adapters.store import emergency_runs_repo, market_repo, securities_repo
from arduino_trader.adapters.store.sqlite import SqliteStore
from arduino_trader.adapters.tradernet.client import TradernetClient
from arduino_trader.config.settings import Settings, load_settings
from arduino_trader.daemon.bus import ActorBus
from arduino_trader.daemon.io_loop import IoLoop
from arduino_trader.protocols.market_data import FxRate
from arduino_trader.protocols.messages import JobOutcome, Ping, RunJob
from tests.wiring import wired

D = Decimal
START = datetime(2026, 3, 10, 15, 0, tzinfo=UTC)  # a Tuesday: Nasdaq and Xetra tradable
AAPL = ("US0378331005", "AAPL.US")
SAP = ("DE0007164600", "SAP.EU")


@dataclass
class Rig:
    io: IoLoop
    store: SqliteStore
    bus: ActorBus
    clock: ManualClock
    client: TradernetClient
    sandbox: SandboxThread
    settings: Settings

    def rows(self, sql: str, params: tuple[Any, ...] = ()) -> list[Any]:
        return self.store.fetch_all(sql, params)

    def cash(self, currency: str) -> Decimal:
        return self.io.run(self.client.account(), 10).cash_in(currency)

    def set_cash(self, currency: str, amount: Decimal) -> None:
        account = self.sandbox.sandbox.account
        account.deposit(currency, amount - account.cash(currency), self.clock.now())

    def emergency(self, run_id: str) -> tuple[JobOutcome, dict[str, Any]]:
        outcome = self.bus.ask("cash_flows", RunJob("emergency_rebalance", run_id), 120)
        assert isinstance(outcome, JobOutcome)
        runs = emergency_runs_repo.list_emergency_runs(self.store)
        return outcome, next(r for r in runs if r["run_id"] == run_id)


def _seed(io: IoLoop, store: SqliteStore, client: TradernetClient) -> None:
    seed_from_sandbox(io, store, client, [(*AAPL, "USD", "XNAS"), (*SAP, "EUR", "XETR")],
                      START)


@pytest.fixture
def rig(io: IoLoop, store: SqliteStore) -> Iterator[Rig]:
    clock = ManualClock(START)
    with running_sandbox(wall_time=lambda: clock.now().timestamp()) as sandbox:
        client = make_client(sandbox.url, wall_time=lambda: clock.now().timestamp())
        settings = load_settings(None, environ={}).with_overrides({
            "trading_mode": "live", "trade_frequency_limits_enabled": False,
            "fx_fill_wait_s": 30, "fx_fill_poll_s": 0.0})
        _seed(io, store, client)
        bus = ActorBus()
        r = Rig(io, store, bus, clock, client, sandbox, settings)
        ctx = ActorContext(bus=bus, io=io, clock=clock, settings=lambda: r.settings,
                           deps=wired(store=store, broker=client,
                                      paper_broker=client,
                                      calendars=MarketCalendars(today=START.date())))
        bus.register("executor", ExecutorActor.start(ctx))
        bus.register("cash_flows", CashFlowActor.start(ctx))
        bus.ask("executor", Ping(clock.now()), 30)
        r.set_cash("HKD", D("100"))  # only USD is short in these scenarios
        yield r
        io.run(client.close(), 5)


def test_a_negative_usd_balance_is_repaired_by_exchange_first(rig: Rig) -> None:
    rig.set_cash("USD", D("-100"))
    eur = rig.cash("EUR")
    outcome, run = rig.emergency("fx-1")
    assert outcome.ok and outcome.details["outcome"] == "resolved", outcome
    (exchange,) = run["actions"]
    assert (exchange["kind"], exchange["step"], exchange["status"]) == ("exchange", 1,
                                                                       "filled")
    assert (exchange["sell_currency"], exchange["buy_currency"]) == ("EUR", "USD")
    (leg,) = exchange["legs"]
    assert (leg["symbol"], leg["side"], leg["state"]) == ("EUR/USD", "SELL", "filled")
    # the exchange went through the journal; no position was sold
    (order,) = rig.rows("SELECT * FROM orders")
    assert (order["isin"], order["state"], order["source"]) == (
        "FX:EUR/USD", "filled", "emergency_rebalancing")
    assert rig.rows("SELECT * FROM trades") == []
    fills = rig.rows("SELECT * FROM fx_trades")
    assert sum(D(f["quantity"]) for f in fills) == int(leg["quantity"])
    # at the broker: USD repaired (105 × 1.02 asked), EUR paid exactly the order quantity
    assert rig.cash("USD") >= D("5")
    assert rig.cash("USD") - D("-100") >= D("107.10")
    assert rig.cash("EUR") == eur - int(leg["quantity"])
    again, _ = rig.emergency("fx-2")
    assert again.details["outcome"] == "no_shortfall"


def test_sales_cover_only_what_exchanges_could_not_and_proceeds_are_exchanged_last(
        rig: Rig) -> None:
    rig.set_cash("USD", D("-400"))
    rig.set_cash("EUR", D("105"))  # 100 EUR above the reserve: not enough for 408 USD
    outcome, run = rig.emergency("fx-3")
    kinds = [(a["kind"], a["step"]) for a in run["actions"]]
    assert kinds[0] == ("exchange", 1) and ("sale", 2) in kinds, run
    assert [s for _, s in kinds] == sorted(s for _, s in kinds)  # 1, then 2, then 3
    first = run["actions"][0]
    assert first["status"] == "filled" and first["sell_currency"] == "EUR"
    sales = [a for a in run["actions"] if a["kind"] == "sale"]
    assert sales and all(a["status"] == "placed" and a["state"] == "filled" for a in sales)
    sold = rig.rows("SELECT * FROM orders WHERE isin NOT LIKE 'FX:%'")
    assert {o["side"] for o in sold} == {"SELL"} and all(o["source"] ==
                                                         "emergency_rebalancing" for o in sold)
    assert outcome.details["outcome"] == "resolved", (outcome, run)
    assert rig.cash("USD") >= D("5") and rig.cash("EUR") >= D("5")
    # the exchange spent EUR down to its reserve at most: never below
    eur_orders = rig.rows("SELECT * FROM orders WHERE isin = 'FX:EUR/USD'")
    assert eur_orders and all(o["state"] == "filled" for o in eur_orders)


def test_a_blocked_exchange_falls_back_to_sales(rig: Rig) -> None:
    rig.set_cash("USD", D("-100"))
    rig.settings = rig.settings.with_overrides({"fx_max_exchange_eur": "10"})
    outcome, run = rig.emergency("fx-4")
    exchanges = [a for a in run["actions"] if a["kind"] == "exchange" and a["step"] == 1]
    assert exchanges and exchanges[0]["status"] == "blocked"
    assert exchanges[0]["legs"][0]["code"] == "fx_amount_too_large"
    sales = [a for a in run["actions"] if a["kind"] == "sale"]
    assert sales and sales[0]["symbol"] == AAPL[1]  # the short currency's position first
    assert outcome.details["outcome"] == "resolved", run
    assert rig.cash("USD") >= D("5")


def test_research_mode_records_the_exchange_and_sends_nothing(rig: Rig) -> None:
    rig.settings = rig.settings.with_overrides({"trading_mode": "research"})
    rig.set_cash("USD", D("-100"))
    outcome, run = rig.emergency("fx-5")
    assert run["mode"] == "research" and outcome.details["outcome"] == "unresolved"
    (exchange,) = run["actions"]
    assert (exchange["kind"], exchange["status"]) == ("exchange", "recorded")
    assert rig.sandbox.sandbox.account.state["orders"] == [] and rig.rows(
        "SELECT * FROM orders") == []


def test_gbp_to_hkd_is_exchanged_leg_by_leg_through_eur(rig: Rig) -> None:
    market_repo.write_fx(rig.store, [
        FxRate("GBP", D(1) / D("0.8550"), START.date(), START, "test")], START)
    rig.set_cash("HKD", D("-100"))
    rig.set_cash("GBP", D("500"))
    rig.set_cash("EUR", D("5"))  # at the reserve: only GBP can pay
    rig.set_cash("USD", D("5"))
    outcome, run = rig.emergency("fx-6")
    assert outcome.details["outcome"] == "resolved", run
    (exchange,) = run["actions"]
    assert (exchange["sell_currency"], exchange["buy_currency"], exchange["status"]) == (
        "GBP", "HKD", "filled")
    first, second = exchange["legs"]
    assert (first["symbol"], first["side"], first["target_currency"]) == (
        "EUR/GBP", "BUY", "EUR")
    assert (second["symbol"], second["side"], second["target_currency"]) == (
        "HKD/EUR", "BUY", "HKD")
    states = [o["state"] for o in rig.rows("SELECT state FROM orders ORDER BY id")]
    assert states == ["filled", "filled"]
    assert rig.cash("HKD") >= D("5") and rig.cash("EUR") >= D("5")
    assert rig.cash("GBP") >= D("5")


def test_live_sales_are_stored_executed_and_an_owner_dismissed_sale_is_not_made(
        rig: Rig) -> None:
    """The owner dismissed the AAPL sale of this situation: the live repair sells
    another position (VWCE) instead, and the sale it placed is stored as executed."""
    from arduino_trader.adapters.store import emergency_recs
    from arduino_trader.domain.emergency import Sale, situation_key

    securities_repo.insert_security(rig.store, {
        "isin": "IE00BK5BQT80", "symbol": "VWCE.EU", "name": "VWCE", "currency": "EUR",
        "mic": "XETR"}, START)  # the sandbox's other position
    rig.set_cash("USD", D("-100"))
    rig.settings = rig.settings.with_overrides({"fx_max_exchange_eur": "10"})
    situation = situation_key({"USD": D("105")})
    aapl = Sale(AAPL[1], 1, D("150"), "USD", "XNAS", D("150"), D("138"))
    emergency_recs.propose(rig.store, emergency_recs.Proposal(
        situation, {"USD": D("105")}, "earlier", "live", [aapl], {}), START)
    assert emergency_recs.dismiss_by_owner(rig.store, START) == 1
    outcome, run = rig.emergency("fx-dismissed")
    sales = [a for a in run["actions"] if a["kind"] == "sale"]
    assert sales and {a["symbol"] for a in sales} == {"VWCE.EU"}, run
    assert all(a["status"] == "placed" for a in sales), run
    # (its EUR proceeds stay unexchanged under the 10 EUR exchange limit: unresolved)
    assert outcome.details["outcome"] == "unresolved", run
    rows = {r["symbol"]: (r["status"], r["dismissed_by"]) for r in rig.rows(
        "SELECT symbol, status, dismissed_by FROM emergency_recommendations")}
    assert rows == {AAPL[1]: ("dismissed", "user"), "VWCE.EU": ("executed", None)}
