"""A buy whose currency has no direct pair with the cash that can pay for it is funded
through EUR: two exchanges (GBP → EUR, then EUR → HKD), each journaled with its client
id before it is sent, exact amounts with fees, then the buy: each leg defers the buy and
the order follow-up carries it on once the leg filled; a retry never exchanges again.
End to end against the sandbox broker on 127.0.0.1 (live mode)."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime
from decimal import Decimal

import pytest
from broker_support import make_client, running_sandbox, seed_from_sandbox
from test_fx_funding import Rig, _commissions

from arduino_trader.adapters.clock import ManualClock
from arduino_trader.adapters.market_data.calendars import MarketCalendars
from arduino_trader.adapters.sandbox.market import EUR_RATES
from arduino_trader.adapters.store import market_repo
from arduino_trader.adapters.store.sqlite import SqliteStore
from arduino_trader.config.settings import load_settings
from arduino_trader.daemon.bus import ActorBus
from arduino_trader.daemon.io_loop import IoLoop
from arduino_trader.domain.fx_funding import funding_key
from arduino_trader.protocols.execution import OrderIntent, SubmitOrder
from arduino_trader.protocols.market_data import FxRate

D = Decimal
HK_OPEN = datetime(2026, 3, 10, 2, 30, tzinfo=UTC)  # a Tuesday, 10:30 in Hong Kong
TENCENT = ("KYG875721634", "700.HK")


@pytest.fixture
def rig(io: IoLoop, store: SqliteStore) -> Iterator[Rig]:
    clock = ManualClock(HK_OPEN)
    with running_sandbox(wall_time=lambda: clock.now().timestamp()) as sandbox:
        client = make_client(sandbox.url, wall_time=lambda: clock.now().timestamp())
        settings = load_settings(None, environ={}).with_overrides({
            "trading_mode": "live", "trade_frequency_limits_enabled": False})
        seed_from_sandbox(io, store, client, [(*TENCENT, "HKD", "XHKG")], HK_OPEN)
        market_repo.write_fx(store, [FxRate("GBP", D(1) / EUR_RATES["GBP"],
                                                   HK_OPEN.date(), HK_OPEN, "test")],
                                    HK_OPEN)
        r = Rig(io, store, ActorBus(), clock, client, sandbox, settings)
        with sandbox.sandbox.account.lock:  # a GBP account: no pair GBP/HKD
            sandbox.sandbox.account.state["positions"] = {}
        for currency, amount in (("EUR", D(0)), ("USD", D(0)), ("HKD", D(0)),
                                 ("GBP", D(50_000))):
            r.set_cash(currency, amount)
        yield r
        io.run(client.close(), 5)


def test_a_gbp_account_buys_a_hkd_stock_through_eur(rig: Rig) -> None:
    rig.start_executor(calendars=MarketCalendars(today=HK_OPEN.date()))
    gbp = rig.cash("GBP")
    key = "plan:r1|0|buy"
    result = rig.ask(SubmitOrder(OrderIntent(*TENCENT, "BUY", D(100), "autonomous"), key))
    assert result.code == "funding_pending", result  # the first leg is sent, not filled
    first = result.details["funding"]
    assert (first["symbol"], first["side"]) == ("EUR/GBP", "BUY")
    assert first["intent_key"] == f"{funding_key(key)}|leg:1"
    rig.follow_until(key)  # leg 1 fills → leg 2 sent → it fills → the buy
    placed = rig.ask(SubmitOrder(OrderIntent(*TENCENT, "BUY", D(100), "autonomous"), key))
    assert placed.status == "duplicate"
    leg2 = rig.store.fetch_one("SELECT * FROM orders WHERE intent_key = ?",
                               (funding_key(key),))
    assert leg2 is not None and leg2["symbol"] == "HKD/EUR"
    rig.settle()
    rows = rig.rows("SELECT * FROM orders ORDER BY id")
    assert [(r["isin"], r["state"]) for r in rows] == [
        ("FX:EUR/GBP", "filled"), ("FX:HKD/EUR", "filled"), (TENCENT[0], "filled")]
    assert all(r["client_order_id"] for r in rows)
    leg1, leg2 = rig.broker_orders(fx=True)
    (stock,) = rig.broker_orders(fx=False)
    # every amount exact: EUR/GBP BUY pays GBP (value + fee) for EUR; HKD/EUR BUY pays
    # EUR (value + fee) for HKD; the buy pays HKD (value + fees)
    leg1_paid = sum((v + fee for v, fee in _commissions(rig, leg1)), D(0))
    leg2_paid = sum((v + fee for v, fee in _commissions(rig, leg2)), D(0))
    stock_paid = sum((v + fee for v, fee in _commissions(rig, stock)), D(0))
    eur_in, hkd_in = D(rows[0]["filled_quantity"]), D(rows[1]["filled_quantity"])
    assert rig.cash("GBP") == gbp - leg1_paid
    assert rig.cash("EUR") == eur_in - leg2_paid >= 0
    assert rig.cash("HKD") == hkd_in - stock_paid >= 0
    # a retry is a duplicate: no third exchange, no second buy
    assert rig.ask(SubmitOrder(OrderIntent(*TENCENT, "BUY", D(100), "autonomous"),
                               key)).status == "duplicate"
    assert len(rig.broker_orders(fx=True)) == 2 and len(rig.broker_orders(fx=False)) == 1


def test_a_pending_first_leg_defers_the_buy_and_is_never_sent_twice(rig: Rig) -> None:
    rig.start_executor(calendars=MarketCalendars(today=HK_OPEN.date()))
    with rig.sandbox.sandbox.account.lock:  # the pairs do not fill for now
        rig.sandbox.sandbox.account.state["closed_markets"] = ["MONEY"]
    key, intent = "plan:r2|0|buy", OrderIntent(*TENCENT, "BUY", D(100), "autonomous")
    first = rig.ask(SubmitOrder(intent, key))
    assert (first.status, first.code) == ("blocked", "funding_pending"), first
    assert first.details["funding"]["intent_key"] == f"{funding_key(key)}|leg:1"
    assert rig.ask(SubmitOrder(intent, key)).code == "funding_pending"
    assert len(rig.broker_orders(fx=True)) == 1 and rig.broker_orders(fx=False) == []
    with rig.sandbox.sandbox.account.lock:
        rig.sandbox.sandbox.account.state["closed_markets"] = []
    rig.follow_until(key)
    assert rig.deferred(key)[0] == "done"
    assert [o["instr"] for o in rig.broker_orders(fx=True)] == ["EUR/GBP", "HKD/EUR"]
    assert len(rig.broker_orders(fx=False)) == 1
    assert rig.ask(SubmitOrder(intent, key)).status == "duplicate"
    assert len(rig.rows("SELECT * FROM orders")) == 3
