"""The sync cycle against the Tradernet sandbox (real client, signed requests, loopback):
live trades imported once, a negative currency named, a missing rate fails the
critical step until the rate is stored."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

import pytest
from broker_support import make_client, running_sandbox

from arduino_trader.actors.base import ActorContext, BaseActor, handles
from arduino_trader.actors.portfolio import PortfolioActor
from arduino_trader.adapters.clock import ManualClock
from arduino_trader.adapters.store import market_repo
from arduino_trader.adapters.store.sqlite import SqliteStore
from arduino_trader.config.settings import load_settings
from arduino_trader.daemon.bus import ActorBus
from arduino_trader.daemon.io_loop import IoLoop
from arduino_trader.protocols.broker import OrderRequest
from arduino_trader.protocols.market_data import FxRate, GetFxRate, RateUnavailable
from arduino_trader.protocols.messages import JobOutcome, Ping, RunJob
from tests.wiring import wired


class Sink(BaseActor):
    """Plays market_data: accepts the price-refresh request; has no rate to fetch."""

    name = "market_data"

    @handles(RunJob)
    def _ignore(self, msg: RunJob) -> None:
        return None

    @handles(GetFxRate)
    def _no_rate(self, msg: GetFxRate) -> None:
        raise RateUnavailable(f"no {msg.currency} rate")


@pytest.fixture
def cycle(io: IoLoop, store: SqliteStore, bus: ActorBus) -> Iterator[Any]:
    now = datetime.now(UTC).replace(microsecond=0)
    clock = ManualClock(now)
    for isin, symbol, ccy in (("US0378331005", "AAPL.US", "USD"),
                              ("IE00BK5BQT80", "VWCE.EU", "EUR")):
        store.execute("INSERT INTO securities (isin, symbol, name, currency, country, "
                             "created_at, updated_at) VALUES (?, ?, ?, ?, 'Ireland', 0, 0)",
                             (isin, symbol, symbol, ccy))
    market_repo.write_fx(store, [FxRate("USD", Decimal("0.9"), now.date(), now, "t")],
                                now)
    settings = load_settings(None, environ={})
    with running_sandbox() as sandbox:
        client = make_client(sandbox.url)
        ctx = ActorContext(bus=bus, io=io, clock=clock, settings=lambda: settings,
                           deps=wired(store=store, broker=client))
        sink = Sink.start(ctx)
        bus.register("market_data", sink)
        ref = PortfolioActor.start(ctx)
        bus.register("portfolio", ref)
        bus.ask("portfolio", Ping(now), 10)

        def run() -> tuple[JobOutcome, Any]:
            outcome = bus.ask("portfolio", RunJob("sync_cycle", "r"), 60)
            return outcome, client

        try:
            yield run
        finally:
            ref.stop()
            sink.stop()
            io.run(client.close(), 10)


def _rows(io: IoLoop, store: SqliteStore, sql: str) -> list[dict[str, Any]]:
    return [dict(r) for r in store.fetch_all(sql)]


def test_sandbox_account_sync(cycle: Any, io: IoLoop, store: SqliteStore) -> None:
    outcome, client = cycle()
    steps = outcome.details["steps"]
    # The sandbox holds HKD (negative) and there is no HKD rate yet: the critical step
    # fails and names it; nothing is valued 1:1 and no snapshot is written.
    assert not outcome.ok and steps["portfolio"]["status"] == "failed"
    assert "HKD" in steps["portfolio"]["summary"]
    assert _rows(io, store, "SELECT amount, amount_eur FROM portfolio_cash "
                            "WHERE currency = 'HKD'") == [{"amount": "-12.5",
                                                           "amount_eur": None}]
    assert _rows(io, store, "SELECT * FROM portfolio_snapshots") == []

    now = datetime.now(UTC)
    market_repo.write_fx(store, [FxRate("HKD", Decimal("0.12"), now.date(), now, "t")],
                                now)
    io.run(client.place_order(OrderRequest("AAPL.US", "BUY", 2, 4242)), 30)
    io.run(client.place_order(OrderRequest("EUR/USD", "SELL", 50, 4243)), 30)
    for _ in range(3):  # each signed read steps the sandbox's orders: two partial fills
        io.run(client.open_orders(), 30)
    outcome, _ = cycle()
    steps = outcome.details["steps"]
    assert outcome.ok, outcome.summary
    assert steps["trades"]["inserted"] == 2 and steps["trades"]["unknown_symbols"] == []
    # the exchange's fills are no security trades: skipped and counted, not "unknown"
    assert steps["trades"]["currency_exchanges"] == 2
    assert "NEGATIVE cash: HKD -12.5" in steps["emergency"]["summary"]
    trades = _rows(io, store, "SELECT trade_key, mode, isin, quantity, value_eur FROM trades")
    assert len(trades) == 2 and all(t["trade_key"].startswith("live:") for t in trades)
    assert {(t["mode"], t["isin"], t["quantity"]) for t in trades} == \
        {("live", "US0378331005", "1")}
    assert all(t["value_eur"] is not None for t in trades)
    positions = {r["symbol"]: r for r in _rows(io, store, "SELECT * FROM portfolio_positions")}
    assert positions["AAPL.US"]["quantity"] == "12"
    assert positions["VWCE.EU"]["market_value_eur"] is not None
    snaps = _rows(io, store, "SELECT total_value, position_count FROM portfolio_snapshots")
    assert len(snaps) == 1 and snaps[0]["position_count"] == 2

    outcome, _ = cycle()  # a repeated sync changes nothing
    assert outcome.ok and outcome.details["steps"]["trades"]["inserted"] == 0
    assert len(_rows(io, store, "SELECT * FROM trades")) == 2
    assert len(_rows(io, store, "SELECT * FROM portfolio_snapshots")) == 1
