"""A buy in a currency the account does not hold is funded by one exchange first, end to
end against the sandbox (live mode) and the paper broker (research mode): exact cash in
both currencies, one exchange per intent whatever the retries or restarts, and no
exchange for a buy that something else blocks."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

import pykka
import pytest
from broker_support import make_client, running_sandbox, seed_from_sandbox

from arduino_trader.actors.base import ActorContext
from arduino_trader.actors.executor import ExecutorActor
from arduino_trader.adapters.clock import ManualClock
from arduino_trader.adapters.market_data.calendars import MarketCalendars
from arduino_trader.adapters.sandbox.server import SandboxThread
from arduino_trader.adapters.store import order_journal
from arduino_trader.adapters.store.order_journal import NewOrder
from arduino_trader.adapters.store.sqlite import SqliteStore
from arduino_trader.adapters.tradernet.client import TradernetClient
from arduino_trader.config.settings import Settings, load_settings
from arduino_trader.daemon.bus import ActorBus
from arduino_trader.daemon.io_loop import IoLoop
from arduino_trader.domain.execution.orders import client_order_id
from arduino_trader.domain.fx_funding import funding_key
from arduino_trader.protocols.broker import OrderRequest
from arduino_trader.protocols.execution import (
    CancelOpenOrders,
    FollowUpOrders,
    OrderIntent,
    OrderResult,
    SubmitOrder,
    ValidateOrder,
)
from arduino_trader.protocols.messages import Ping
from tests.wiring import wired

D = Decimal
START = datetime(2026, 3, 10, 15, 0, tzinfo=UTC)  # a Tuesday: Nasdaq and the FX market open
AAPL = ("US0378331005", "AAPL.US")
USD_PER_EUR = D("1.0850")


@dataclass
class Rig:
    io: IoLoop
    store: SqliteStore
    bus: ActorBus
    clock: ManualClock
    client: TradernetClient
    sandbox: SandboxThread
    settings: Settings

    def start_executor(self, **adapters: Any) -> pykka.ActorRef[Any]:
        deps = wired(store=self.store, broker=self.client, paper_broker=self.client,
                     calendars=MarketCalendars(today=START.date()))
        ctx = ActorContext(bus=self.bus, io=self.io, clock=self.clock,
                           settings=lambda: self.settings, deps=replace(deps, **adapters))
        ref = ExecutorActor.start(ctx)
        self.bus.register("executor", ref)
        self.bus.ask("executor", Ping(self.clock.now()), 30)  # on_start has finished
        return ref

    def ask(self, message: object) -> Any:
        answer = self.bus.ask("executor", message, 60)
        assert not isinstance(message, SubmitOrder) or isinstance(answer, OrderResult)
        return answer

    def rows(self, sql: str) -> list[Any]:
        return self.store.fetch_all(sql)

    def cash(self, currency: str) -> Decimal:
        return self.sandbox.sandbox.account.cash(currency)

    def set_cash(self, currency: str, amount: Decimal) -> None:
        account = self.sandbox.sandbox.account
        account.deposit(currency, amount - account.cash(currency), self.clock.now())

    def broker_orders(self, fx: bool | None = None) -> list[dict[str, Any]]:
        orders = self.sandbox.sandbox.account.state["orders"]
        return [o for o in orders if fx is None or ("/" in str(o["instr"])) == fx]

    def settle(self) -> None:
        for _ in range(4):
            self.clock.advance(30)
            self.ask(FollowUpOrders())


def _seed(io: IoLoop, store: SqliteStore, client: TradernetClient) -> None:
    seed_from_sandbox(io, store, client, [(*AAPL, "USD", "XNAS")], START)


@pytest.fixture
def rig(io: IoLoop, store: SqliteStore) -> Iterator[Rig]:
    clock = ManualClock(START)
    with running_sandbox(wall_time=lambda: clock.now().timestamp()) as sandbox:
        client = make_client(sandbox.url, wall_time=lambda: clock.now().timestamp())
        settings = load_settings(None, environ={}).with_overrides({
            "trading_mode": "live", "trade_frequency_limits_enabled": False,
            "fx_fund_wait_s": 20, "fx_fund_poll_s": 0.0,
            "fx_funding_batch_eur": 0})  # exact single-buy funding; batches: own test
        _seed(io, store, client)
        r = Rig(io, store, ActorBus(), clock, client, sandbox, settings)
        with sandbox.sandbox.account.lock:  # a EUR-only account holding nothing
            sandbox.sandbox.account.state["positions"] = {}
        r.set_cash("USD", D(0))
        r.set_cash("HKD", D(0))
        yield r
        io.run(client.close(), 5)


def buy(qty: int = 3) -> OrderIntent:
    return OrderIntent(AAPL[0], AAPL[1], "BUY", D(qty), "autonomous")


def _commissions(rig: Rig, order: dict[str, Any]) -> list[tuple[Decimal, Decimal]]:
    """(value, commission) of each broker fill of ``order`` (a trade row names the
    exchange's order number: the order's own fills name its trades)."""
    fills = {f["id"] for f in order["trade"]}
    return [(D(t["v"]), D(t["_fee"])) for t in rig.sandbox.sandbox.account.state[
        "trades"] if t["id"] in fills]


def test_a_eur_only_account_buys_a_usd_stock_after_exactly_one_exchange(rig: Rig) -> None:
    rig.start_executor()
    eur = rig.cash("EUR")
    result = rig.ask(SubmitOrder(buy(3), "plan:f1|0|buy"))
    assert result.status == "placed", result
    funding = result.details["funding"]
    assert (funding["symbol"], funding["side"], funding["state"]) == ("EUR/USD", "SELL",
                                                                     "filled")
    assert funding["source_currency"] == "EUR" and funding["intent_key"] == funding_key(
        "plan:f1|0|buy")
    # the exchange delivers the shortfall (costs included) × 1.02, rounded up to the cent
    shortfall, receive = D(funding["shortfall"]), D(funding["receive"])
    assert receive == (shortfall * D("1.02")).quantize(D("0.01"), rounding="ROUND_CEILING")
    rig.settle()
    fx_order, stock_order = rig.rows("SELECT * FROM orders ORDER BY id")
    assert (fx_order["isin"], fx_order["state"]) == ("FX:EUR/USD", "filled")
    assert (stock_order["isin"], stock_order["state"]) == (AAPL[0], "filled")
    (fx_at_broker,) = rig.broker_orders(fx=True)
    (buy_at_broker,) = rig.broker_orders(fx=False)
    # cash is exact in both currencies: EUR paid the pair quantity, USD got the exchange's
    # value less its fee and paid the buy's value plus its fees
    assert rig.cash("EUR") == eur - int(fx_order["quantity"])
    received = sum((v - fee for v, fee in _commissions(rig, fx_at_broker)), D(0))
    spent = sum((v + fee for v, fee in _commissions(rig, buy_at_broker)), D(0))
    assert rig.cash("USD") == received - spent >= 0
    assert received >= receive > shortfall
    # the ledgers agree with the broker: the exchange in fx_trades, the buy in trades
    fx_fills = rig.rows("SELECT * FROM fx_trades")
    assert sum(D(f["quote_amount"]) for f in fx_fills) == sum(
        v for v, _ in _commissions(rig, fx_at_broker))
    assert sum(D(t["quantity"]) for t in rig.rows("SELECT * FROM trades")) == 3


def test_a_batched_exchange_funds_the_next_buy_too(rig: Rig) -> None:
    """With ``fx_funding_batch_eur`` the exchange delivers up to the batch's worth of the
    EUR surplus: the second buy finds the USD there and sends no exchange of its own."""
    rig.settings = rig.settings.with_overrides({"fx_funding_batch_eur": 3000,
                                                "buy_cooldown_days": 0})
    rig.start_executor()
    first = rig.ask(SubmitOrder(buy(2), "plan:b1|0|buy"))
    assert first.status == "placed", first
    receive, shortfall = D(first.details["funding"]["receive"]), D(
        first.details["funding"]["shortfall"])
    assert receive > 2 * shortfall
    rig.settle()
    second = rig.ask(SubmitOrder(buy(2), "plan:b2|0|buy"))
    assert second.status == "placed" and "funding" not in second.details, second
    rig.settle()
    assert len(rig.broker_orders(fx=True)) == 1 and len(rig.broker_orders(fx=False)) == 2


def test_a_pending_exchange_defers_the_buy_and_a_retry_never_exchanges_twice(
        rig: Rig) -> None:
    rig.start_executor()
    with rig.sandbox.sandbox.account.lock:  # the pair does not fill for now
        rig.sandbox.sandbox.account.state["closed_markets"] = ["MONEY"]
    rig.settings = rig.settings.with_overrides({"fx_fund_wait_s": 0})
    key = "plan:f2|0|buy"
    first = rig.ask(SubmitOrder(buy(3), key))
    assert (first.status, first.code) == ("blocked", "funding_pending"), first
    assert first.message.startswith("deferred: funding exchange pending")
    again = rig.ask(SubmitOrder(buy(3), key))
    assert again.code == "funding_pending"
    assert len(rig.broker_orders(fx=True)) == 1 and rig.broker_orders(fx=False) == []
    with rig.sandbox.sandbox.account.lock:
        rig.sandbox.sandbox.account.state["closed_markets"] = []
    rig.settings = rig.settings.with_overrides({"fx_fund_wait_s": 20})
    done = rig.ask(SubmitOrder(buy(3), key))
    assert done.status == "placed", done
    assert done.details["funding"]["client_order_id"] == first.details["funding"][
        "client_order_id"]
    assert rig.ask(SubmitOrder(buy(3), key)).status == "duplicate"
    assert len(rig.broker_orders(fx=True)) == 1 and len(rig.broker_orders(fx=False)) == 1
    assert len(rig.rows("SELECT * FROM orders")) == 2


def test_a_buy_another_layer_blocks_triggers_no_exchange(rig: Rig) -> None:
    rig.start_executor()
    # an open, non-marketable AAPL buy: the pending layer (after cash) would refuse
    rig.io.run(rig.client.place_order(OrderRequest(AAPL[1], "BUY", 1, 4242, D("1.00"))), 10)
    result = rig.ask(SubmitOrder(buy(3), "plan:f3|0|buy"))
    assert (result.status, result.code) == ("blocked", "insufficient_cash"), result
    big = rig.ask(SubmitOrder(buy(100), "plan:f3|1|buy"))  # guardrails come before cash
    assert (big.status, big.code) == ("blocked", "position_limit"), big
    assert rig.broker_orders(fx=True) == [] and rig.rows("SELECT * FROM orders") == []


def test_no_currency_able_to_cover_blocks_as_before_and_sends_nothing(rig: Rig) -> None:
    rig.start_executor()
    # an open EUR buy holds 9600 EUR: ~395 EUR above the reserve, not the ~600 USD needed
    rig.io.run(rig.client.place_order(OrderRequest("SAP.EU", "BUY", 60, 4343, D("160"))), 10)
    rig.set_cash("HKD", D("200"))  # some HKD, far too little
    result = rig.ask(SubmitOrder(buy(3), "plan:f4|0|buy"))
    assert (result.status, result.code) == ("blocked", "insufficient_cash"), result
    assert "no other currency can fund it" in result.message
    assert rig.broker_orders(fx=True) == [] and rig.rows("SELECT * FROM orders") == []
    rejections = order_journal.list_rejections(rig.store)
    assert [r["code"] for r in rejections] == ["insufficient_cash"]


def test_auto_funding_off_blocks_as_before(rig: Rig) -> None:
    rig.settings = rig.settings.with_overrides({"fx_auto_fund_buys": False})
    rig.start_executor()
    result = rig.ask(SubmitOrder(buy(3), "plan:f5|0|buy"))
    assert (result.status, result.code) == ("blocked", "insufficient_cash"), result
    assert "fund" not in result.message and "funding" not in result.details
    assert rig.broker_orders() == [] and rig.rows("SELECT * FROM orders") == []


def test_a_crash_between_the_exchange_and_the_buy_never_exchanges_twice(rig: Rig) -> None:
    """The executor journaled and sent the funding exchange, then died."""
    key = "plan:f6|0|buy"
    intent = OrderIntent("FX:EUR/USD", "EUR/USD", "SELL", D(1000), "autonomous")
    row, _ = order_journal.journal_order(
        rig.store, NewOrder(intent, funding_key(key), 1000, D("1.05"), "USD", "live"),
        rig.clock.now(), client_order_id)
    cid = int(row["client_order_id"])
    rig.io.run(rig.client.place_order(OrderRequest("EUR/USD", "SELL", 1000, cid,
                                                   D("1.05"))), 10)
    rig.start_executor()  # restart: reconciles the open exchange first
    result = rig.ask(SubmitOrder(buy(3), key))
    assert result.status == "placed", result
    assert result.details["funding"]["client_order_id"] == cid
    rig.settle()
    assert len(rig.broker_orders(fx=True)) == 1 and len(rig.broker_orders(fx=False)) == 1
    states = [(o["isin"], o["state"]) for o in rig.rows("SELECT * FROM orders ORDER BY id")]
    assert states == [("FX:EUR/USD", "filled"), (AAPL[0], "filled")]
    assert rig.cash("EUR") == D("9000.00") and rig.cash("USD") >= 0


def test_research_mode_funds_the_buy_on_the_paper_broker(rig: Rig) -> None:
    from arduino_trader.adapters.paper_broker import PaperBroker
    from arduino_trader.adapters.paper_ledger import PaperFees

    paper = PaperBroker(rig.store, rig.clock, fees=lambda: PaperFees(D("2"), D("0.002")),
                        eur_rates=lambda: {"EUR": D(1), "USD": USD_PER_EUR})
    rig.io.run(paper.set_price(AAPL[1], D("190.00"), "USD"), 5)
    rig.settings = rig.settings.with_overrides({"trading_mode": "research"})
    rig.start_executor(paper_broker=paper)
    result = rig.ask(SubmitOrder(buy(3), "plan:f7|0|buy"))
    assert result.status == "placed" and result.details["mode"] == "research", result
    assert result.details["funding"]["state"] == "filled"
    rig.ask(FollowUpOrders())
    orders = rig.rows("SELECT * FROM orders ORDER BY id")
    assert [(o["isin"], o["mode"], o["state"]) for o in orders] == [
        ("FX:EUR/USD", "research", "filled"), (AAPL[0], "research", "filled")]
    account = rig.io.run(paper.account(), 5)
    assert account.cash_in("EUR") == D("10000") - int(orders[0]["quantity"])
    assert account.cash_in("USD") >= 0
    assert rig.broker_orders() == []  # nothing reached the real broker


def test_an_exchange_that_ended_unfilled_is_retried_under_the_next_key(rig: Rig) -> None:
    rig.start_executor()
    with rig.sandbox.sandbox.account.lock:
        rig.sandbox.sandbox.account.state["closed_markets"] = ["MONEY"]
    rig.settings = rig.settings.with_overrides({"fx_fund_wait_s": 0})
    key = "plan:f8|0|buy"
    assert rig.ask(SubmitOrder(buy(3), key)).code == "funding_pending"
    cancelled = rig.ask(CancelOpenOrders("test"))  # the exchange ends with nothing filled
    assert cancelled["errors"] == [] and len(cancelled["cancelled"]) == 1
    with rig.sandbox.sandbox.account.lock:
        rig.sandbox.sandbox.account.state["closed_markets"] = []
    rig.settings = rig.settings.with_overrides({"fx_fund_wait_s": 20})
    result = rig.ask(SubmitOrder(buy(3), key))
    assert result.status == "placed", result
    assert result.details["funding"]["intent_key"] == funding_key(key, 2)
    fx = [(o["intent_key"], o["state"]) for o in rig.rows(
        "SELECT * FROM orders WHERE isin LIKE 'FX:%' ORDER BY id")]
    assert fx == [(funding_key(key, 1), "cancelled"), (funding_key(key, 2), "filled")]


def test_validate_reports_the_funding_a_buy_needs_and_sends_nothing(rig: Rig) -> None:
    rig.start_executor()
    result = rig.ask(ValidateOrder(buy(3)))
    assert result.status == "valid", result
    funding = result.details["funding"]
    assert (funding["source_currency"], funding["target_currency"]) == ("EUR", "USD")
    assert any("funding exchange" in w for w in result.warnings)
    assert rig.broker_orders() == [] and rig.rows("SELECT * FROM orders") == []


def test_a_filled_exchange_too_small_for_the_buy_is_never_topped_up(rig: Rig) -> None:
    """An earlier funding exchange of this intent filled but does not cover the buy (the
    price moved): the buy is refused, and no second exchange is sent for it."""
    key = "plan:f9|0|buy"
    intent = OrderIntent("FX:EUR/USD", "EUR/USD", "SELL", D(50), "autonomous")
    row, _ = order_journal.journal_order(
        rig.store, NewOrder(intent, funding_key(key), 50, D("1.05"), "USD", "live"),
        rig.clock.now(), client_order_id)
    rig.io.run(rig.client.place_order(OrderRequest("EUR/USD", "SELL", 50,
                                                   int(row["client_order_id"]), D("1.05"))), 10)
    rig.start_executor()
    for _ in range(2):
        result = rig.ask(SubmitOrder(buy(3), key))
        assert (result.status, result.code) == ("blocked", "insufficient_cash"), result
        assert result.message.startswith("after the funding exchange")
        assert result.details["funding"]["state"] == "filled"
    assert len(rig.broker_orders(fx=True)) == 1 and rig.broker_orders(fx=False) == []
