"""The executor against the Tradernet sandbox: journal before send, fills recorded once,
crash between journal and broker answer, unresolved outcomes, kill switch."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from typing import Any

import pykka
import pytest
from broker_support import make_client, running_sandbox

from arduino_trader.actors.base import ActorContext
from arduino_trader.actors.executor import ExecutorActor
from arduino_trader.adapters.clock import ManualClock
from arduino_trader.adapters.market_data.calendars import MarketCalendars
from arduino_trader.adapters.sandbox.server import SandboxThread
from arduino_trader.adapters.store import (
    market_repo,
    order_journal,
    securities_repo,
    trade_history_coverage,
)
from arduino_trader.adapters.store.order_journal import NewOrder, SqliteOrderJournal
from arduino_trader.adapters.store.price_history_repo import SqlitePriceHistory
from arduino_trader.adapters.store.sqlite import SqliteStore
from arduino_trader.adapters.tradernet.client import TradernetClient
from arduino_trader.config.settings import Settings, load_settings
from arduino_trader.daemon.bus import ActorBus
from arduino_trader.daemon.io_loop import IoLoop
from arduino_trader.domain.execution.orders import client_order_id
from arduino_trader.domain.execution.placement import RECHECK_EVERY, RECHECK_WINDOW
from arduino_trader.protocols.broker import OrderRequest
from arduino_trader.protocols.execution import (
    CancelOpenOrders,
    CurrencyExchanged,
    FollowUpOrders,
    OrderIntent,
    OrderResult,
    SubmitExchange,
    SubmitOrder,
    TradeExecuted,
    ValidateOrder,
)
from arduino_trader.protocols.market_data import FxRate, PriceBar
from arduino_trader.protocols.messages import Ping
from tests.wiring import wired

SAP = ("DE0007164600", "SAP.EU")
# A Tuesday, 11:00 UTC: Xetra is open with a margin on both sides.
START = datetime(2026, 3, 10, 11, 0, tzinfo=UTC)


@dataclass
class Rig:
    io: IoLoop
    store: SqliteStore
    bus: ActorBus
    clock: ManualClock
    sandbox: SandboxThread
    client: TradernetClient
    settings: Settings
    events: list[Any]
    lag: dict[str, float]

    def start_executor(self) -> pykka.ActorRef[Any]:
        ctx = ActorContext(bus=self.bus, io=self.io, clock=self.clock,
                           settings=lambda: self.settings,
                           deps=wired(store=self.store, broker=self.client,
                                      paper_broker=self.client,
                                      calendars=MarketCalendars(today=START.date())))
        ref = ExecutorActor.start(ctx)
        self.bus.register("executor", ref)
        self.bus.ask("executor", Ping(self.clock.now()), 30)  # on_start has finished
        return ref

    def ask(self, message: object) -> Any:
        return self.bus.ask("executor", message, 60)

    def orders(self) -> list[Any]:
        return self.store.fetch_all("SELECT * FROM orders ORDER BY id")

    def trades(self) -> list[Any]:
        return self.store.fetch_all("SELECT * FROM trades ORDER BY id")

    def sandbox_orders(self) -> list[dict[str, Any]]:
        return list(self.sandbox.sandbox.account.state["orders"])


class _Collector(pykka.ThreadingActor):
    def __init__(self, sink: list[Any]) -> None:
        super().__init__()
        self.sink = sink

    def on_receive(self, message: Any) -> None:
        self.sink.append(message)


@pytest.fixture
def rig(io: IoLoop, store: SqliteStore) -> Iterator[Rig]:
    clock = ManualClock(START)
    lag = {"s": 0.0}  # how far the broker's clock runs behind ours

    def broker_time() -> float:
        return clock.now().timestamp() - lag["s"]

    with running_sandbox(wall_time=broker_time) as sandbox:
        sandbox.sandbox.account.deposit("HKD", Decimal("100"), clock.now())
        client = make_client(sandbox.url, wall_time=broker_time)
        settings = load_settings(None, environ={}).with_overrides({
            "trading_mode": "live", "trade_frequency_limits_enabled": False})
        _seed_universe(io, store, clock.now())
        bus = ActorBus()
        events: list[Any] = []
        bus.register("collector", _Collector.start(events))
        bus.subscribe(TradeExecuted, "collector")
        yield Rig(io, store, bus, clock, sandbox, client, settings, events, lag)
        io.run(client.close(), 5)


def _seed_universe(io: IoLoop, store: SqliteStore, now: datetime) -> None:
    securities_repo.insert_security(store, {
        "isin": SAP[0], "symbol": SAP[1], "name": "SAP SE", "currency": "EUR",
        "mic": "XETR"}, now)
    with store.transaction() as tx:  # as the first trade sync leaves it
        trade_history_coverage.cover(tx, "live", [SAP[0]], now)
    bars = [PriceBar(date(2025, 3, 10) + timedelta(days=i), 170.0 + (i % 7), high=260.0)
            for i in range(360)]
    SqlitePriceHistory(store).write_history({SAP[0]: (bars, [])}, "test", now)
    market_repo.write_fx(store, [
        FxRate("USD", Decimal("0.92"), now.date(), now, "test"),
        FxRate("HKD", Decimal("0.118"), now.date(), now, "test")], now)


def buy(qty: int = 4, source: str = "autonomous") -> OrderIntent:
    return OrderIntent(SAP[0], SAP[1], "BUY", Decimal(qty), source)  # type: ignore[arg-type]


def test_a_buy_is_journaled_sent_filled_and_recorded_once(rig: Rig) -> None:
    rig.start_executor()
    result = rig.ask(SubmitOrder(buy(), "plan:p1|0|buy"))
    assert isinstance(result, OrderResult) and result.status == "placed", result
    (order,) = rig.orders()
    assert order["client_order_id"] == result.client_order_id
    (at_broker,) = rig.sandbox_orders()
    assert at_broker["user_order_id"] == result.client_order_id and at_broker["oper"] == 1
    assert Decimal(at_broker["p"]) > 0 and at_broker["type"] == 2  # marketable limit
    for _ in range(4):
        rig.clock.advance(30)
        rig.ask(FollowUpOrders())
    order = rig.orders()[0]
    assert order["state"] == "filled" and Decimal(order["filled_quantity"]) == 4
    trades = rig.trades()
    assert len(trades) == 2  # the sandbox fills half, then the rest
    assert sum(Decimal(t["quantity"]) for t in trades) == 4
    assert {t["mode"] for t in trades} == {"live"}
    for _ in range(3):  # follow-ups after the final state record nothing more
        rig.ask(FollowUpOrders())
    assert len(rig.trades()) == 2
    pykka.ActorRegistry.stop_all(block=True)  # flush the collector's mailbox
    assert [e.trade_key for e in rig.events] == [t["trade_key"] for t in trades]


def test_the_same_intent_never_makes_a_second_order(rig: Rig) -> None:
    rig.start_executor()
    first = rig.ask(SubmitOrder(buy(), "plan:p2|0|buy"))
    again = rig.ask(SubmitOrder(buy(), "plan:p2|0|buy"))
    assert first.status == "placed" and again.status == "duplicate"
    assert again.client_order_id == first.client_order_id
    assert len(rig.sandbox_orders()) == 1 and len(rig.orders()) == 1


def test_blocked_orders_are_recorded_and_never_reach_the_broker(rig: Rig) -> None:
    rig.start_executor()
    result = rig.ask(SubmitOrder(buy(qty=0), "plan:p3|0|buy"))
    assert (result.status, result.code) == ("blocked", "quantity_not_positive")
    sell = OrderIntent(SAP[0], SAP[1], "SELL", Decimal(1), "autonomous")
    result = rig.ask(SubmitOrder(sell, "plan:p3|1|sell"))
    assert (result.status, result.code) == ("blocked", "position_missing")
    rig.settings = rig.settings.with_overrides({"trading_mode": "research"})
    rig.sandbox.sandbox.account.state["closed_markets"] = ["EU"]
    rig.clock.advance(timedelta(hours=8))  # Xetra closed
    rig.settings = rig.settings.with_overrides({"trading_mode": "live"})
    result = rig.ask(SubmitOrder(buy(), "plan:p3|2|buy"))
    assert (result.status, result.code) == ("blocked", "market_closed")
    assert rig.sandbox_orders() == [] and rig.orders() == []
    rejections = order_journal.list_rejections(rig.store)
    assert [r["code"] for r in rejections] == ["market_closed", "position_missing",
                                               "quantity_not_positive"]


def test_validate_is_a_dry_run(rig: Rig) -> None:
    rig.start_executor()
    assert rig.ask(ValidateOrder(buy())).status == "valid"
    blocked = rig.ask(ValidateOrder(buy(qty=100_000)))
    assert (blocked.status, blocked.layer) == ("blocked", "guardrails")
    assert rig.sandbox_orders() == [] and rig.orders() == []


def test_crash_between_journal_and_broker_answer_places_exactly_once(rig: Rig) -> None:
    """The executor wrote the journal and sent the order, then died before the answer."""
    intent = buy(2)
    key = "plan:p4|0|buy"
    journaled = SqliteOrderJournal(rig.store).journal_order(
        NewOrder(intent, key, 2, Decimal("500"), "EUR", "live"), rig.clock.now(),
        client_order_id)
    assert journaled.created
    cid = journaled.record.client_order_id
    # The order reached the broker; the answer was lost with the process.
    rig.io.run(rig.client.place_order(OrderRequest(SAP[1], "BUY", 2, cid, Decimal("500"))), 10)
    rig.start_executor()  # restart: reconciles before any new order
    assert rig.orders()[0]["state"] in ("sent", "partially_filled", "filled")
    again = rig.ask(SubmitOrder(intent, key))
    assert again.status == "duplicate" and again.client_order_id == cid
    for _ in range(4):
        rig.clock.advance(30)
        rig.ask(FollowUpOrders())
    assert len(rig.sandbox_orders()) == 1
    assert rig.orders()[0]["state"] == "filled"
    assert sum(Decimal(t["quantity"]) for t in rig.trades()) == 2


def test_journal_written_but_never_sent_resolves_to_not_placed(rig: Rig) -> None:
    SqliteOrderJournal(rig.store).journal_order(
        NewOrder(buy(2), "plan:p5|0|buy", 2, Decimal("500"), "EUR", "live"),
        rig.clock.now(), client_order_id)
    rig.start_executor()
    assert rig.orders()[0]["state"] == "journaled"  # too early to call it absent
    rig.clock.advance(timedelta(minutes=6))
    rig.ask(FollowUpOrders())
    assert rig.orders()[0]["state"] == "not_placed" and rig.sandbox_orders() == []


def test_accepted_then_dropped_order_is_found_again(rig: Rig) -> None:
    rig.start_executor()
    rig.sandbox.sandbox.inject("drop_after_accept", command="putTradeOrder")
    result = rig.ask(SubmitOrder(buy(2), "plan:p6|0|buy"))
    assert result.status == "placed", result
    assert len(rig.sandbox_orders()) == 1
    assert rig.orders()[0]["broker_order_id"] == rig.sandbox_orders()[0]["order_id"]


def test_broker_outage_leaves_the_outcome_unresolved_then_resolves(
        rig: Rig, monkeypatch: pytest.MonkeyPatch) -> None:
    # the client's circuit breaker (0.5 s cool-down here) counts on the rig's clock
    rig.client = make_client(rig.sandbox.url, wall_time=lambda: rig.clock.now().timestamp(),
                             monotonic=rig.clock.monotonic)
    try:
        _outage_then_resolution(rig, monkeypatch)
    finally:
        rig.io.run(rig.client.close(), 5)


def _outage_then_resolution(rig: Rig, monkeypatch: pytest.MonkeyPatch) -> None:
    rig.start_executor()
    sandbox = rig.sandbox.sandbox
    place = sandbox.account.place

    def place_then_go_dark(params: dict[str, Any], now: datetime) -> dict[str, Any]:
        answer = place(params, now)
        sandbox.inject("rate_limit", command="getNotifyOrderJson", times=50)
        return answer

    monkeypatch.setattr(sandbox.account, "place", place_then_go_dark)
    sandbox.inject("drop_after_accept", command="putTradeOrder")
    result = rig.ask(SubmitOrder(buy(2), "plan:p7|0|buy"))
    assert result.state == "unresolved", result
    # While the broker stays dark, nothing new goes out: its open orders are unknown.
    dark = rig.ask(SubmitOrder(buy(2), "plan:p7|1|buy"))
    assert (dark.status, dark.code) == ("blocked", "day_pnl_unknown"), dark
    # The broker answers again (faults cleared, the breaker's 0.5 s cool-down over), but
    # until a follow-up resolves it, the unresolved order blocks new orders for the
    # same security.
    rig.sandbox.sandbox.clear_faults()
    rig.clock.advance(1)
    blocked = rig.ask(SubmitOrder(buy(2), "plan:p7|2|buy"))
    assert (blocked.status, blocked.code) == ("blocked", "unresolved_order"), blocked
    for _ in range(4):
        rig.clock.advance(30)
        rig.ask(FollowUpOrders())
    # the broker had accepted it: found, filled once, never placed twice
    assert [o["state"] for o in rig.orders()] == ["filled"]
    assert len(rig.sandbox_orders()) == 1
    assert sum(Decimal(t["quantity"]) for t in rig.trades()) == 2


def test_kill_switch_cancels_open_orders(rig: Rig) -> None:
    rig.start_executor()
    rig.sandbox.sandbox.account.state["closed_markets"] = ["EU"]  # orders stay active
    rig.io.run(rig.client.place_order(OrderRequest(SAP[1], "BUY", 1, 42, Decimal("100"))), 10)
    result = rig.ask(CancelOpenOrders("test"))
    assert result["errors"] == [] and len(result["cancelled"]) == 1
    assert rig.sandbox_orders()[0]["stat"] in (30, 31)


def test_partial_fill_then_cancel_records_only_the_filled_part(rig: Rig) -> None:
    rig.start_executor()
    result = rig.ask(SubmitOrder(buy(4), "plan:p8|0|buy"))
    assert result.status == "placed"
    rig.clock.advance(30)
    rig.ask(FollowUpOrders())  # the sandbox fills half
    assert rig.orders()[0]["state"] == "partially_filled"
    with rig.sandbox.sandbox.account.lock:  # no more liquidity: the rest stays open
        rig.sandbox.sandbox.account.state["closed_markets"] = ["EU"]
    cancelled = rig.ask(CancelOpenOrders("test"))
    assert cancelled["errors"] == [] and len(cancelled["cancelled"]) == 1
    order = rig.orders()[0]
    assert order["state"] == "cancelled" and Decimal(order["filled_quantity"]) == 2
    assert [Decimal(t["quantity"]) for t in rig.trades()] == [Decimal(2)]
    rig.ask(FollowUpOrders())
    assert len(rig.trades()) == 1


def test_broker_rejection_leaves_no_trade(rig: Rig) -> None:
    rig.start_executor()
    result = rig.ask(SubmitOrder(buy(4), "plan:p9|0|buy"))
    assert result.status == "placed"
    with rig.sandbox.sandbox.account.lock:  # cash gone before the fill: the broker rejects
        rig.sandbox.sandbox.account.state["cash"]["EUR"] = "0"
    for _ in range(3):
        rig.clock.advance(30)
        rig.ask(FollowUpOrders())
    assert rig.orders()[0]["state"] == "rejected"
    assert rig.trades() == []


def test_throttled_placement_is_not_placed_and_not_retried_blindly(rig: Rig) -> None:
    rig.start_executor()
    rig.sandbox.sandbox.inject("rate_limit", command="putTradeOrder")
    result = rig.ask(SubmitOrder(buy(2), "plan:p10|0|buy"))
    assert result.state in ("not_placed", "unresolved"), result
    assert rig.sandbox_orders() == []
    rig.clock.advance(timedelta(minutes=6))
    rig.ask(FollowUpOrders())
    assert rig.orders()[0]["state"] == "not_placed" and rig.trades() == []


def test_stale_broker_quote_blocks_the_order(rig: Rig) -> None:
    rig.start_executor()
    rig.lag["s"] = 20 * 60  # the broker's last quote is 20 minutes old
    result = rig.ask(SubmitOrder(buy(2), "plan:p11|0|buy"))
    assert (result.status, result.code) == ("blocked", "price_stale"), result
    assert rig.sandbox_orders() == []


# ------------------------------------------------------------------ currency exchange
def _fx_trades(rig: Rig) -> list[Any]:
    return rig.store.fetch_all("SELECT * FROM fx_trades ORDER BY id")


def _cash(rig: Rig, currency: str) -> Decimal:
    return Decimal(rig.sandbox.sandbox.account.state["cash"].get(currency, "0"))


def test_an_exchange_goes_through_the_journal_and_moves_both_currencies(rig: Rig) -> None:
    rig.start_executor()
    rig.bus.subscribe(CurrencyExchanged, "collector")
    eur, usd = _cash(rig, "EUR"), _cash(rig, "USD")
    result = rig.ask(SubmitExchange("EUR", "USD", Decimal("500"), "fx:t1",
                                    source="emergency_rebalancing"))
    assert isinstance(result, OrderResult) and result.status == "placed", result
    assert (result.details["symbol"], result.details["side"]) == ("EUR/USD", "SELL")
    (order,) = rig.orders()  # journaled like any order, under the pair's FX id
    assert (order["isin"], order["symbol"], order["currency"]) == (
        "FX:EUR/USD", "EUR/USD", "USD")
    (at_broker,) = rig.sandbox_orders()
    assert at_broker["user_order_id"] == order["client_order_id"] == result.client_order_id
    for _ in range(4):
        rig.clock.advance(30)
        rig.ask(FollowUpOrders())
    assert rig.orders()[0]["state"] == "filled"
    fills = _fx_trades(rig)
    qty = int(result.details["quantity"])
    assert sum(Decimal(f["quantity"]) for f in fills) == qty
    assert sum(Decimal(f["base_amount"]) for f in fills) == -qty  # EUR paid
    assert rig.trades() == []  # an exchange is no position: nothing in the trade ledger
    for _ in range(2):
        rig.ask(FollowUpOrders())
    assert len(_fx_trades(rig)) == len(fills)  # each fill recorded once
    # at the broker: exactly the EUR quantity left, at least the asked USD arrived
    assert _cash(rig, "EUR") == eur - qty
    assert _cash(rig, "USD") - usd >= Decimal("500")
    assert _cash(rig, "USD") - usd >= Decimal(result.details["min_receive"])
    pykka.ActorRegistry.stop_all(block=True)
    exchanged = [e for e in rig.events if isinstance(e, CurrencyExchanged)]
    assert [e.trade_key for e in exchanged] == [f["trade_key"] for f in fills]
    assert all(e.base_currency == "EUR" and e.quote_amount > 0 for e in exchanged)


def test_an_exchange_intent_is_sent_once(rig: Rig) -> None:
    rig.start_executor()
    first = rig.ask(SubmitExchange("USD", "HKD", Decimal("1000"), "fx:t2"))
    again = rig.ask(SubmitExchange("USD", "HKD", Decimal("1000"), "fx:t2"))
    assert first.status == "placed" and again.status == "duplicate", first
    assert first.details["symbol"] == "HKD/USD" and first.details["side"] == "BUY"
    assert again.client_order_id == first.client_order_id
    assert len(rig.sandbox_orders()) == 1


def test_exchange_layers_block_before_anything_is_sent(rig: Rig) -> None:
    rig.start_executor()
    cases = [
        (SubmitExchange("GBP", "HKD", Decimal("10"), "fx:b1"), "fx_pair_unsupported"),
        (SubmitExchange("EUR", "CHF", Decimal("10"), "fx:b2"), "fx_pair_unsupported"),
        (SubmitExchange("EUR", "USD", Decimal("50000"), "fx:b3"), "fx_amount_too_large"),
        (SubmitExchange("HKD", "EUR", Decimal("100"), "fx:b4"), "insufficient_cash"),
        (SubmitExchange("USD", "EUR", Decimal("0"), "fx:b5"), "fx_order"),
    ]
    for message, code in cases:
        result = rig.ask(message)
        assert (result.status, result.code) == ("blocked", code), (message, result)
    capped = rig.ask(SubmitExchange("USD", "EUR", Decimal("5000"), "fx:b6",
                                    spend_cap=Decimal("300")))
    assert capped.status == "placed" and Decimal(capped.details["max_spend"]) <= 300
    pending = rig.ask(SubmitExchange("USD", "EUR", Decimal("10"), "fx:b7"))
    assert (pending.status, pending.code) == ("blocked", "unresolved_order")
    no_rate = rig.ask(SubmitExchange("EUR", "GBP", Decimal("10"), "fx:b8"))
    assert (no_rate.status, no_rate.code) == ("blocked", "fx_order")  # never 1:1
    assert "GBP" in no_rate.message
    rig.clock.advance(timedelta(days=4))  # Saturday: the FX market is closed
    weekend = rig.ask(SubmitExchange("EUR", "HKD", Decimal("10"), "fx:b9"))
    assert (weekend.status, weekend.code) == ("blocked", "fx_market_closed")
    assert len(rig.sandbox_orders()) == 1  # only the capped exchange was ever sent
    rejections = order_journal.list_rejections(rig.store)
    assert rejections[0]["isin"] == "FX:HKD/EUR" and len(rejections) == 6


def test_a_crash_after_sending_an_exchange_is_reconciled_into_the_fx_ledger(
        rig: Rig) -> None:
    intent = OrderIntent("FX:EUR/USD", "EUR/USD", "SELL", Decimal(100),
                         "emergency_rebalancing")
    cid = SqliteOrderJournal(rig.store).journal_order(
        NewOrder(intent, "fx:t3", 100, Decimal("1.05"), "USD", "live"),
        rig.clock.now(), client_order_id).record.client_order_id
    rig.io.run(rig.client.place_order(OrderRequest("EUR/USD", "SELL", 100, cid,
                                                   Decimal("1.05"))), 10)
    rig.start_executor()  # reconciles the open entry first
    again = rig.ask(SubmitExchange("EUR", "USD", Decimal("100"), "fx:t3"))
    assert again.status == "duplicate" and again.client_order_id == cid
    for _ in range(4):
        rig.clock.advance(30)
        rig.ask(FollowUpOrders())
    assert rig.orders()[0]["state"] == "filled" and rig.trades() == []
    assert sum(Decimal(f["quantity"]) for f in _fx_trades(rig)) == 100


def test_a_research_exchange_runs_against_the_paper_broker_only(rig: Rig) -> None:
    from arduino_trader.adapters.paper_broker import PaperBroker
    from arduino_trader.adapters.paper_ledger import PaperFees

    paper = PaperBroker(rig.store, rig.clock, fees=lambda: PaperFees(Decimal("2"),
                                                                     Decimal("0.002")),
                        eur_rates=lambda: {"EUR": Decimal(1), "USD": Decimal("1.085")})
    rig.io.run(paper.deposit("USD", Decimal("-50")), 5)
    rig.settings = rig.settings.with_overrides({"trading_mode": "research"})
    ctx = ActorContext(bus=rig.bus, io=rig.io, clock=rig.clock, settings=lambda: rig.settings,
                       deps=wired(store=rig.store, broker=rig.client,
                                  paper_broker=paper))
    rig.bus.register("executor", ExecutorActor.start(ctx))
    result = rig.ask(SubmitExchange("EUR", "USD", Decimal("60"), "fx:r1"))
    assert result.status == "placed" and result.details["mode"] == "research", result
    rig.ask(FollowUpOrders())
    (order,) = rig.orders()
    assert (order["mode"], order["state"]) == ("research", "filled")
    (fill,) = _fx_trades(rig)
    assert fill["mode"] == "research" and fill["trade_key"].startswith("research:")
    account = rig.io.run(paper.account(), 5)
    assert account.cash_in("USD") >= Decimal("10")  # -50 + at least the asked 60
    assert account.cash_in("EUR") == Decimal("10000") - int(result.details["quantity"])
    assert rig.sandbox_orders() == []  # nothing reached the real broker


def test_not_placed_entry_the_broker_shows_later_is_reopened_and_settled(rig: Rig) -> None:
    """An entry concluded ``not_placed`` (absent past the grace) whose order the broker
    shows afterwards is reopened; its fill is recorded once, on the order."""
    key = "plan:late|0|buy"
    cid = SqliteOrderJournal(rig.store).journal_order(
        NewOrder(buy(2), key, 2, Decimal("500"), "EUR", "live"),
        rig.clock.now(), client_order_id).record.client_order_id
    rig.start_executor()
    rig.clock.advance(timedelta(minutes=6))
    rig.ask(FollowUpOrders())
    assert rig.orders()[0]["state"] == "not_placed"
    # The request was in flight all along: the broker books it late.
    rig.io.run(rig.client.place_order(OrderRequest(SAP[1], "BUY", 2, cid, Decimal("500"))), 10)
    rig.ask(FollowUpOrders())  # too soon after the last look: not asked again yet
    assert rig.orders()[0]["state"] == "not_placed"
    rig.clock.advance(RECHECK_EVERY)
    for _ in range(4):
        rig.ask(FollowUpOrders())
        rig.clock.advance(30)
    order = rig.orders()[0]
    assert order["state"] == "filled", order
    assert order["broker_order_id"] == rig.sandbox_orders()[0]["order_id"]
    assert len(rig.sandbox_orders()) == 1
    trades = rig.trades()  # the sandbox fills in parts: each part once
    assert sum(Decimal(t["quantity"]) for t in trades) == 2
    assert {t["broker_order_id"] for t in trades} == {order["broker_order_id"]}
    assert sum(e.quantity for e in rig.events if isinstance(e, TradeExecuted)) == 2


def test_not_placed_entry_is_not_asked_about_forever(rig: Rig) -> None:
    SqliteOrderJournal(rig.store).journal_order(
        NewOrder(buy(2), "plan:gone|0|buy", 2, Decimal("500"), "EUR", "live"),
        rig.clock.now(), client_order_id)
    rig.start_executor()
    rig.clock.advance(timedelta(minutes=6))
    rig.ask(FollowUpOrders())
    rig.clock.advance(RECHECK_WINDOW)
    requests = len(rig.sandbox.sandbox.requests)
    rig.ask(FollowUpOrders())
    assert len(rig.sandbox.sandbox.requests) == requests  # nothing open, nothing asked
    assert rig.orders()[0]["state"] == "not_placed"
