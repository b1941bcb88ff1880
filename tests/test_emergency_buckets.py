"""Emergency sales sell from, and credit, the bucket that holds the position; a
satellite whose own cash is short sells its own positions first."""

from __future__ import annotations

from decimal import Decimal

import test_fx_exchange_emergency as fx_emergency
from test_fx_exchange_emergency import AAPL, SAP, Rig

from arduino_trader.actors.cash_flow_emergency import _holdings
from arduino_trader.domain.cash_flows.fx import RateTable
from arduino_trader.domain.emergency import Holding, plan_sales
from arduino_trader.protocols.broker import AccountSnapshot, CashBalance, Position

D = Decimal
rig = fx_emergency.rig  # live emergency runs against the sandbox
RATES = RateTable(latest={"USD": D("0.9")})


def _holding(symbol: str, qty: str, bucket: str, price: str = "100") -> Holding:
    return Holding(symbol, D(qty), D(price), "USD", "XNAS", bucket_id=bucket)


def test_a_short_satellite_sells_its_own_positions_first() -> None:
    holdings = [_holding("AAA.US", "50", "core"), _holding("BBB.US", "3", "s1")]
    balances = {"USD": D("-200"), "EUR": D("5")}
    sales, _ = plan_sales(balances, {"USD"}, holdings, RATES, lambda mic: True,
                          bucket_cash={"s1": {"USD": D("-200")}, "core": {"USD": D("0")}})
    assert (sales[0].symbol, sales[0].bucket_id) == ("BBB.US", "s1")
    # without the satellite short, the largest position goes first, and it is core's
    sales, _ = plan_sales(balances, {"USD"}, holdings, RATES, lambda mic: True)
    assert [(s.symbol, s.bucket_id) for s in sales] == [("AAA.US", "core")]


def test_a_broker_position_is_split_by_the_buckets_holding_it() -> None:
    account = AccountSnapshot(positions=(Position("AAA.US", D(15), D(90), D(100), "USD"),),
                              cash=(CashBalance("USD", D(0)),))
    parts = _holdings(account, {"AAA.US": {"mic": "XNAS", "min_lot": 1}},
                      {"s1": {"AAA.US": D(5)}, "core": {"AAA.US": D(10)}})
    assert sorted((h.bucket_id, h.quantity) for h in parts) == [("core", D(10)),
                                                                ("s1", D(5))]


def test_an_emergency_sale_of_a_satellites_shares_is_the_satellites(rig: Rig) -> None:
    (position,) = [p for p in rig.io.run(rig.client.account(), 10).positions
                   if p.symbol == AAPL[1]]
    rig.store.execute(  # every AAPL share at the broker is s1's (its fills)
        "INSERT INTO trades (trade_key, isin, symbol, side, quantity, price, value, currency,"
        " executed_at, source, bucket_id, mode, created_at, published_at) VALUES "
        "('live:1', ?, ?, 'BUY', ?, '100', '0', 'USD', 0, 'satellite', 's1', 'live', 0, 0)",
        (AAPL[0], AAPL[1], str(position.quantity)))
    rig.set_cash("USD", D("-100"))
    rig.settings = rig.settings.with_overrides({"fx_max_exchange_eur": "10"})  # no exchange
    _, run = rig.emergency("fx-bucket")
    sales = [a for a in run["actions"] if a["kind"] == "sale"]
    assert sales and sales[0]["symbol"] == AAPL[1] and sales[0]["bucket_id"] == "s1", run
    orders = rig.rows("SELECT symbol, bucket_id FROM orders WHERE side = 'SELL'")
    assert orders and {(o["symbol"], o["bucket_id"]) for o in orders} == {(AAPL[1], "s1")}
    assert SAP[1] not in {s["symbol"] for s in sales}
