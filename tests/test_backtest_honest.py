"""Honest simulation: a decision sees only the closes published at its moment, and an
order fills at the next close not yet seen, moved against it by the configured slippage
(replay source, paper broker, and a whole backtest run)."""

from __future__ import annotations

import json
from datetime import date, datetime, time
from decimal import Decimal
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
from hypothesis import given
from hypothesis import strategies as st

from arduino_trader.adapters.clock import StepClock
from arduino_trader.adapters.market_data.replay_source import ReplaySource
from arduino_trader.adapters.paper_broker import PaperBroker
from arduino_trader.adapters.paper_ledger import PaperFees
from arduino_trader.adapters.paper_prices import MarketDataPrices, slipped
from arduino_trader.adapters.store.sqlite import SqliteStore
from arduino_trader.config.settings import load_settings
from arduino_trader.daemon.backtest import BacktestConfig, backtest_settings, build_source
from arduino_trader.daemon.cli import main
from arduino_trader.daemon.io_loop import IoLoop
from arduino_trader.protocols.broker import OrderRequest

NY = ZoneInfo("America/New_York")
PRICES = "Date,AAA,BBB\n2020-01-02,10,20\n2020-01-03,11,21\n2020-01-06,12,\n2020-01-07,13,23\n"


def _source(tmp_path: Path, at: datetime) -> tuple[ReplaySource, StepClock]:
    path = tmp_path / "prices.csv"
    path.write_text(PRICES, encoding="utf-8")
    clock = StepClock(at)
    return ReplaySource(clock, prices=path), clock


def test_a_15h_decision_sees_yesterdays_close_and_fills_at_todays(tmp_path: Path) -> None:
    source, clock = _source(tmp_path, datetime.combine(date(2020, 1, 3), time(15), NY))
    assert source.quotes(["AAA"])["AAA"].price == 10  # 2020-01-03's close is not out yet
    assert source.history("AAA", date(2020, 1, 1), date(2020, 1, 3)).bars[-1].day \
        == date(2020, 1, 2)
    assert source.next_quotes(["AAA"])["AAA"].price == 11
    clock.set(datetime.combine(date(2020, 1, 3), time(16), NY))
    assert source.quotes(["AAA"])["AAA"].price == 11  # published at 16:00
    clock.set(datetime.combine(date(2020, 1, 6), time(15), NY))
    assert source.next_quotes(["BBB"])["BBB"].price == 23  # the gap day is skipped
    clock.set(datetime.combine(date(2020, 1, 8), time(15), NY))  # after the data
    assert source.next_quotes(["AAA"])["AAA"].price == 13


@given(st.decimals(min_value=Decimal("0.01"), max_value=Decimal(10_000), places=2),
       st.decimals(min_value=Decimal(0), max_value=Decimal(500), places=1))
def test_slippage_always_goes_against_the_order(price: Decimal, bps: Decimal) -> None:
    buy, sell = slipped(price, "BUY", bps), slipped(price, "SELL", bps)
    assert sell <= price <= buy
    assert buy - price <= price * bps / 10_000 + Decimal("0.01")
    assert buy == buy.quantize(Decimal("0.01")) and sell == sell.quantize(Decimal("0.01"))


def test_paper_orders_fill_at_the_next_close_with_slippage(tmp_path: Path, io: IoLoop,
                                                           store: SqliteStore) -> None:
    source, clock = _source(tmp_path, datetime.combine(date(2020, 1, 3), time(15), NY))
    broker = PaperBroker(store, clock, fees=lambda: PaperFees(Decimal(0), Decimal(0)),
                         prices=MarketDataPrices(source), initial_cash_eur=Decimal(0),
                         slippage_bps=lambda: Decimal(10))
    io.run(broker.deposit("USD", Decimal(1000)), 10)
    io.run(broker.place_order(OrderRequest("AAA", "BUY", 10, 1)), 10)
    io.run(broker.place_order(OrderRequest("AAA", "SELL", 5, 2)), 10)
    trades = io.run(broker.trades(date(2020, 1, 1), date(2020, 1, 9)), 10)
    assert [t.price for t in trades] == [Decimal("11.02"), Decimal("10.98")]


@pytest.mark.slow
@pytest.mark.timeout(600)  # a month of simulated days
def test_backtest_orders_fill_at_their_days_close_with_slippage(tmp_path: Path) -> None:
    """A whole run: every security fill is a close published after its 15:00 decision
    (the order day's, or a later one for a limit the close did not reach) moved against
    the order by ``broker.paper_slippage_bps``; most fill on their order day."""
    config_file = tmp_path / "small.toml"
    config_file.write_text("max_plan_depth = 2\nplanner_max_sequences = 50\nbeam_width = 3\n"
                           "monte_carlo_path_count = 20\n[broker]\npaper_slippage_bps = 20\n",
                           encoding="utf-8")
    start, end = date(2019, 1, 2), date(2019, 1, 31)
    assert main(["backtest", "--start", start.isoformat(), "--end", end.isoformat(),
                 "--initial-cash", "10000", "--config", str(config_file),
                 "--report", str(tmp_path / "r"), "--progress-every", "0",
                 "--log-level", "none"]) == 0
    orders = json.loads((tmp_path / "r" / "orders.json").read_text())["orders"]
    cfg = BacktestConfig(start, end, Decimal(10000))
    source = build_source(cfg, backtest_settings(load_settings(config_file, environ={}), cfg),
                          StepClock(datetime.combine(start, time(15), NY)))
    fills = [o for o in orders if o["fill_prices"] and "/" not in o["symbol"]]
    days = source.trading_days(start, end)
    same_day = 0
    for o in fills:
        info = source.lookup(o["symbol"])
        later = [d for d in days if d >= date.fromisoformat(o["day"])]
        closes = source.closes(info.yahoo_symbol or info.symbol, later)
        allowed = [slipped(Decimal(repr(c)), o["side"], Decimal(20)) for c in closes if c]
        prices = {Decimal(p) for p in o["fill_prices"].split(";")}
        assert prices <= set(allowed), o
        same_day += prices == {allowed[0]}
    assert fills and same_day > len(fills) / 2


def test_an_unfilled_limit_expires_at_the_end_of_its_day(tmp_path: Path, io: IoLoop,
                                                         store: SqliteStore) -> None:
    """A limit the next close did not reach holds its cash only for its day: the next
    day it is expired (71), the cash is free, and it never fills later."""
    source, clock = _source(tmp_path, datetime.combine(date(2020, 1, 3), time(15), NY))
    broker = PaperBroker(store, clock, fees=lambda: PaperFees(Decimal(0), Decimal(0)),
                         prices=MarketDataPrices(source), initial_cash_eur=Decimal(0))
    io.run(broker.deposit("USD", Decimal(100)), 10)
    io.run(broker.place_order(OrderRequest("AAA", "BUY", 9, 1, limit_price=Decimal("10.5"))),
           10)  # the 2020-01-03 close is 11: not marketable
    assert [o.status for o in io.run(broker.open_orders(), 10)] == [10]
    clock.set(datetime.combine(date(2020, 1, 7), time(15), NY))  # 13 > 10.5 anyway
    assert io.run(broker.open_orders(), 10) == ()
    order = io.run(broker.find_order(1), 10)
    assert order is not None and order.status == 71 and not order.fills
    io.run(broker.place_order(OrderRequest("AAA", "BUY", 7, 2)), 10)  # the cash is free
