"""A buy in a currency the account does not hold is funded by one exchange first, end to
end against the sandbox (live mode) and the paper broker (research mode): the buy answers
``funding_pending`` at once and the order follow-up places it once the exchange filled,
exactly once; exact cash in both currencies, one exchange per intent whatever the
retries or restarts, a funding that ends unfilled ends the buy with a note, and no
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
from arduino_trader.adapters.store import deferred_buys, order_journal
from arduino_trader.adapters.store.order_journal import NewOrder, SqliteOrderJournal
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

    def entry(self, intent_key: str) -> Any:
        """The ``orders`` row of ``intent_key`` (None when it was never journaled)."""
        return self.store.fetch_one("SELECT * FROM orders WHERE intent_key = ?",
                                    (intent_key,))

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

    def follow_until(self, intent_key: str, rounds: int = 8) -> Any:
        """Run the order follow-up (as its job does) until the journal holds
        ``intent_key``; that entry."""
        for _ in range(rounds):
            self.clock.advance(30)
            self.ask(FollowUpOrders())
            row = self.entry(intent_key)
            if row is not None:
                return row
        raise AssertionError(f"{intent_key} was never journaled")

    def deferred(self, intent_key: str) -> tuple[str, str]:
        """(state, note) of the deferred buy ``intent_key``."""
        found = deferred_buys.find(self.store, intent_key)
        assert found is not None, intent_key
        return found.state, found.note


def _seed(io: IoLoop, store: SqliteStore, client: TradernetClient) -> None:
    seed_from_sandbox(io, store, client, [(*AAPL, "USD", "XNAS")], START)


@pytest.fixture
def rig(io: IoLoop, store: SqliteStore) -> Iterator[Rig]:
    clock = ManualClock(START)
    with running_sandbox(wall_time=lambda: clock.now().timestamp()) as sandbox:
        client = make_client(sandbox.url, wall_time=lambda: clock.now().timestamp())
        settings = load_settings(None, environ={}).with_overrides({
            "trading_mode": "live", "trade_frequency_limits_enabled": False,
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
    eur, key = rig.cash("EUR"), "plan:f1|0|buy"
    result = rig.ask(SubmitOrder(buy(3), key))
    # answered at once: the exchange is sent, the buy deferred behind it
    assert (result.status, result.code) == ("blocked", "funding_pending"), result
    funding = result.details["funding"]
    assert (funding["symbol"], funding["side"]) == ("EUR/USD", "SELL")
    assert funding["state"] not in ("filled", "cancelled", "rejected", "expired")
    assert funding["source_currency"] == "EUR" and funding["intent_key"] == funding_key(key)
    assert len(rig.broker_orders(fx=True)) == 1 and rig.broker_orders(fx=False) == []
    assert rig.deferred(key) == ("waiting", "")
    # the exchange delivers the shortfall (costs included) × 1.02, rounded up to the cent
    shortfall, receive = D(funding["shortfall"]), D(funding["receive"])
    assert receive == (shortfall * D("1.02")).quantize(D("0.01"), rounding="ROUND_CEILING")
    placed = rig.follow_until(key)  # the follow-up places the buy once the exchange filled
    fx_row = rig.entry(funding_key(key))
    assert fx_row is not None and fx_row["state"] == "filled" and fx_row["id"] < placed["id"]
    assert rig.deferred(key)[0] == "done"
    rig.settle()
    assert rig.ask(SubmitOrder(buy(3), key)).status == "duplicate"
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
    assert first.code == "funding_pending", first
    receive, shortfall = D(first.details["funding"]["receive"]), D(
        first.details["funding"]["shortfall"])
    assert receive > 2 * shortfall
    rig.follow_until("plan:b1|0|buy")
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
    key = "plan:f2|0|buy"
    first = rig.ask(SubmitOrder(buy(3), key))
    assert (first.status, first.code) == ("blocked", "funding_pending"), first
    assert first.message.startswith("deferred: funding exchange pending")
    again = rig.ask(SubmitOrder(buy(3), key))
    assert again.code == "funding_pending"
    rig.settle()  # follow-ups while the exchange stays open: the buy keeps waiting
    assert rig.deferred(key) == ("waiting", "")
    assert len(rig.broker_orders(fx=True)) == 1 and rig.broker_orders(fx=False) == []
    with rig.sandbox.sandbox.account.lock:
        rig.sandbox.sandbox.account.state["closed_markets"] = []
    done = rig.ask(SubmitOrder(buy(3), key))  # a retry once it filled places the buy
    assert done.status == "placed", done
    assert done.details["funding"]["client_order_id"] == first.details["funding"][
        "client_order_id"]
    assert rig.deferred(key)[0] == "done"
    rig.settle()  # the follow-up finds nothing left to resume
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


def test_a_crash_after_the_buy_was_deferred_places_it_once_after_the_restart(
        rig: Rig) -> None:
    """The executor sent the funding exchange and deferred the buy, then died: the
    restarted executor's follow-up places the buy, once, with no caller retrying."""
    key = "plan:f10|0|buy"
    ref = rig.start_executor()
    assert rig.ask(SubmitOrder(buy(3), key)).code == "funding_pending"
    ref.stop()
    rig.start_executor()
    placed = rig.follow_until(key)
    assert (placed["isin"], placed["quantity"], placed["source"]) == (AAPL[0], 3,
                                                                     "autonomous")
    rig.settle()
    assert len(rig.broker_orders(fx=True)) == 1 and len(rig.broker_orders(fx=False)) == 1
    states = [(o["isin"], o["state"]) for o in rig.rows("SELECT * FROM orders ORDER BY id")]
    assert states == [("FX:EUR/USD", "filled"), (AAPL[0], "filled")]
    assert rig.deferred(key)[0] == "done"


def test_a_crash_between_the_exchange_and_the_buy_never_exchanges_twice(rig: Rig) -> None:
    """The executor journaled and sent the funding exchange, then died (no deferred
    record: a retry of the intent resumes it all the same)."""
    key = "plan:f6|0|buy"
    intent = OrderIntent("FX:EUR/USD", "EUR/USD", "SELL", D(1000), "autonomous")
    cid = SqliteOrderJournal(rig.store).journal_order(
        NewOrder(intent, funding_key(key), 1000, D("1.05"), "USD", "live"),
        rig.clock.now(), client_order_id).record.client_order_id
    rig.io.run(rig.client.place_order(OrderRequest("EUR/USD", "SELL", 1000, cid,
                                                   D("1.05"))), 10)
    rig.start_executor()  # restart: reconciles the open exchange first
    result = rig.ask(SubmitOrder(buy(3), key))  # its one look finds the exchange filled
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


def test_an_exchange_that_ended_unfilled_ends_the_buy_and_a_retry_uses_the_next_key(
        rig: Rig) -> None:
    rig.start_executor()
    with rig.sandbox.sandbox.account.lock:
        rig.sandbox.sandbox.account.state["closed_markets"] = ["MONEY"]
    key = "plan:f8|0|buy"
    assert rig.ask(SubmitOrder(buy(3), key)).code == "funding_pending"
    cancelled = rig.ask(CancelOpenOrders("test"))  # the exchange ends with nothing filled
    assert cancelled["errors"] == [] and len(cancelled["cancelled"]) == 1
    with rig.sandbox.sandbox.account.lock:
        rig.sandbox.sandbox.account.state["closed_markets"] = []
    rig.settle()  # the follow-up ends the deferred buy with a note; never a second exchange
    state, note = rig.deferred(key)
    assert state == "ended" and "nothing filled" in note
    (refusal,) = order_journal.list_rejections(rig.store)
    assert (refusal["symbol"], refusal["code"]) == (AAPL[1], "funding_unfilled")
    assert len(rig.broker_orders(fx=True)) == 1 and rig.broker_orders(fx=False) == []
    # the caller's own retry is a new decision: the next attempt's key
    retried = rig.ask(SubmitOrder(buy(3), key))
    assert retried.code == "funding_pending", retried
    assert retried.details["funding"]["intent_key"] == funding_key(key, 2)
    assert rig.deferred(key) == ("waiting", "")
    rig.follow_until(key)
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
    cid = SqliteOrderJournal(rig.store).journal_order(
        NewOrder(intent, funding_key(key), 50, D("1.05"), "USD", "live"),
        rig.clock.now(), client_order_id).record.client_order_id
    rig.io.run(rig.client.place_order(OrderRequest("EUR/USD", "SELL", 50, cid, D("1.05"))),
               10)
    rig.start_executor()
    for _ in range(2):
        result = rig.ask(SubmitOrder(buy(3), key))
        assert (result.status, result.code) == ("blocked", "insufficient_cash"), result
        assert result.message.startswith("after the funding exchange")
        assert result.details["funding"]["state"] == "filled"
    assert len(rig.broker_orders(fx=True)) == 1 and rig.broker_orders(fx=False) == []


def test_a_deferred_buy_a_later_buy_superseded_is_never_placed(rig: Rig) -> None:
    """The caller bought the same security again under another key while the first buy
    waited for its funding (a new plan, a new request): the follow-up ends the first one
    instead of buying twice."""
    rig.start_executor()
    with rig.sandbox.sandbox.account.lock:
        rig.sandbox.sandbox.account.state["closed_markets"] = ["MONEY"]
    first = "plan:s1|0|buy"
    assert rig.ask(SubmitOrder(buy(3), first)).code == "funding_pending"
    rig.set_cash("USD", D(2000))  # USD arrives by other means
    later = rig.ask(SubmitOrder(buy(3), "plan:s2|0|buy"))
    assert later.status == "placed" and "funding" not in later.details, later
    with rig.sandbox.sandbox.account.lock:
        rig.sandbox.sandbox.account.state["closed_markets"] = []
    rig.settle()
    state, note = rig.deferred(first)
    assert state == "ended" and "plan:s2|0|buy" in note, note
    assert [r["code"] for r in order_journal.list_rejections(rig.store)] == ["superseded"]
    assert rig.entry(first) is None
    assert len(rig.broker_orders(fx=False)) == 1 and len(rig.broker_orders(fx=True)) == 1


def test_a_deferred_live_buy_ends_when_the_mode_is_no_longer_live(rig: Rig) -> None:
    """The kill switch set research mode while a live buy waited for its funding: the
    follow-up never places it in research, it ends with a note."""
    rig.start_executor()
    with rig.sandbox.sandbox.account.lock:
        rig.sandbox.sandbox.account.state["closed_markets"] = ["MONEY"]
    key = "plan:m1|0|buy"
    assert rig.ask(SubmitOrder(buy(3), key)).code == "funding_pending"
    rig.settings = rig.settings.with_overrides({"trading_mode": "research"})
    rig.ask(FollowUpOrders())
    state, note = rig.deferred(key)
    assert state == "ended" and "trading mode is now research" in note, note
    assert [r["code"] for r in order_journal.list_rejections(rig.store)] == ["mode_changed"]
    assert rig.entry(key) is None


def test_a_crash_before_the_exchange_was_journaled_funds_and_places_the_buy_once(
        rig: Rig) -> None:
    """The executor recorded the deferred buy, then died before journaling its exchange:
    the restarted executor's follow-up funds it and places it, once."""
    key = "plan:c1|0|buy"
    deferred_buys.defer(rig.store, SubmitOrder(buy(3), key, "plan c1"), "live",
                        rig.clock.now())
    rig.start_executor()
    placed = rig.follow_until(key)
    assert (placed["quantity"], placed["reason"]) == (3, "plan c1")
    rig.settle()
    fx = rig.entry(funding_key(key))
    assert fx is not None and fx["state"] == "filled" and fx["id"] < placed["id"]
    assert len(rig.broker_orders(fx=True)) == 1 and len(rig.broker_orders(fx=False)) == 1
    assert rig.deferred(key)[0] == "done"
