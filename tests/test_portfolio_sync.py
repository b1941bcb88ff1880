"""The portfolio actor's sync cycle against the paper broker: step order and outcomes,
EUR valuation at stored FX (a missing rate fails the critical step, never 1:1), upserts
that keep bucket ids, idempotent snapshots and trade imports, revaluation on new prices."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

import pytest

from arduino_trader.actors.base import ActorContext, BaseActor, handles
from arduino_trader.actors.portfolio import PortfolioActor
from arduino_trader.adapters.clock import ManualClock
from arduino_trader.adapters.paper_broker import PaperBroker
from arduino_trader.adapters.paper_ledger import PaperFees
from arduino_trader.adapters.store import (
    broker_trade_import,
    market_repo,
    snapshot_repo,
    trade_history_coverage,
)
from arduino_trader.adapters.store.sqlite import SqliteStore
from arduino_trader.config.settings import load_settings
from arduino_trader.daemon.bus import ActorBus
from arduino_trader.daemon.io_loop import IoLoop
from arduino_trader.protocols.broker import OrderRequest, Trade
from arduino_trader.protocols.market_data import (
    FxRate,
    GetFxRate,
    PricesUpdated,
    RateUnavailable,
    SecurityAdded,
)
from arduino_trader.protocols.messages import JobOutcome, Ping, RunJob
from arduino_trader.protocols.portfolio import PortfolioSynced, TradeFeeRecorded
from tests.wiring import wired

START = datetime(2026, 3, 10, 11, 0, tzinfo=UTC)
SAP = ("DE0007164600", "SAP.EU", "EUR", "Germany", "Software")
AAPL = ("US0378331005", "AAPL.US", "USD", "United States", "Technology, Hardware")


class Recorder(BaseActor):
    """Stands in for market_data and for subscribers: keeps what it receives."""

    name = "recorder"

    def __init__(self, ctx: ActorContext, seen: list[Any], fx: dict[str, Decimal]) -> None:
        super().__init__(ctx)
        self.seen = seen
        self.fx = fx

    @handles(RunJob, PortfolioSynced, TradeFeeRecorded)
    def _keep(self, msg: Any) -> None:
        self.seen.append(msg)

    @handles(GetFxRate)
    def _rate(self, msg: GetFxRate) -> FxRate:
        """Like market data: fetch (from ``fx``), store, answer; else RateUnavailable."""
        self.seen.append(msg)
        if msg.currency not in self.fx:
            raise RateUnavailable(f"no FX rate for {msg.currency}")
        now = self.ctx.clock.now()
        rate = FxRate(msg.currency, self.fx[msg.currency], now.date(), now, "fake")
        market_repo.write_fx(self.ctx.deps.store, [rate], now)
        return rate


@dataclass
class Rig:
    io: IoLoop
    store: SqliteStore
    bus: ActorBus
    clock: ManualClock
    broker: PaperBroker
    seen: list[Any]
    fx: dict[str, Decimal]
    fees: dict[str, PaperFees]

    def run(self, coro: Any) -> Any:
        return self.io.run(coro, 30)

    def cycle(self) -> JobOutcome:
        outcome = self.bus.ask("portfolio", RunJob("sync_cycle", "run-1"), 60)
        assert isinstance(outcome, JobOutcome)
        return outcome

    def buy(self, symbol: str, qty: int, uid: int, side: str = "BUY") -> None:
        self.run(self.broker.place_order(OrderRequest(symbol, side, qty, uid)))  # type: ignore[arg-type]

    def rows(self, sql: str, params: tuple[Any, ...] = ()) -> list[dict[str, Any]]:
        return [dict(r) for r in self.store.fetch_all(sql, params)]


@pytest.fixture
def rig(io: IoLoop, store: SqliteStore, bus: ActorBus) -> Iterator[Rig]:
    clock = ManualClock(START)
    fees = {"now": PaperFees(Decimal(0), Decimal(0))}
    broker = PaperBroker(store, clock, fees=lambda: fees["now"],
                         initial_cash_eur=Decimal("1000"))
    for isin, symbol, ccy, country, industry in (SAP, AAPL):
        store.execute(
            "INSERT INTO securities (isin, symbol, name, currency, country, industry, "
            "created_at, updated_at) VALUES (?, ?, ?, ?, ?, ?, 0, 0)",
            (isin, symbol, symbol, ccy, country, industry))
    io.run(broker.set_price("SAP.EU", Decimal("100"), "EUR"), 10)
    io.run(broker.set_price("AAPL.US", Decimal("150"), "USD"), 10)
    io.run(broker.deposit("USD", Decimal("2000")), 10)
    settings = load_settings(None, environ={})
    seen: list[Any] = []
    fx: dict[str, Decimal] = {}
    ctx = ActorContext(bus=bus, io=io, clock=clock, settings=lambda: settings,
                       deps=wired(store=store, broker=broker))
    recorder = Recorder.start(ctx, seen, fx)
    bus.register("market_data", recorder)
    bus.subscribe(PortfolioSynced, "market_data")
    bus.subscribe(TradeFeeRecorded, "market_data")
    ref = PortfolioActor.start(ctx)
    bus.register("portfolio", ref)
    bus.subscribe(SecurityAdded, "portfolio")
    bus.ask("portfolio", Ping(clock.now()), 10)
    yield Rig(io, store, bus, clock, broker, seen, fx, fees)
    ref.stop()
    recorder.stop()


def _fx(rig: Rig, eur_per: str = "0.9") -> None:
    market_repo.write_fx(rig.store, [FxRate("USD", Decimal(eur_per), START.date(),
                                                    START, "test")], START)


def test_full_cycle_values_positions_and_snapshots(rig: Rig) -> None:
    _fx(rig)
    rig.buy("SAP.EU", 3, 1)
    rig.buy("AAPL.US", 5, 2)
    outcome = rig.cycle()
    steps = outcome.details["steps"]
    assert outcome.ok, outcome.summary
    assert list(steps) == ["trades", "cash_flows", "portfolio", "emergency", "prices"]
    assert {k: v["status"] for k, v in steps.items()} == {
        "trades": "ok", "cash_flows": "unavailable", "portfolio": "ok",
        "emergency": "unavailable", "prices": "ok"}
    assert steps["portfolio"]["critical"] and not steps["trades"]["critical"]
    assert "cash_flows actor not running" in outcome.summary
    positions = {r["symbol"]: r for r in rig.rows("SELECT * FROM portfolio_positions")}
    assert positions["SAP.EU"]["market_value_eur"] == "300"
    assert positions["AAPL.US"]["market_value_eur"] == "675"  # 5 × 150 × 0.9
    assert positions["AAPL.US"]["isin"] == AAPL[0]
    assert {r["currency"]: r["amount_eur"] for r in rig.rows("SELECT * FROM portfolio_cash")} \
        == {"EUR": "700", "USD": "1125"}
    snaps = rig.rows("SELECT * FROM portfolio_snapshots")
    assert [(s["date"], s["total_value"], s["invested_value"], s["position_count"])
            for s in snaps] == [("2026-03-10", "2800", "975", 2)]
    assert snaps[0]["geo_us_pct"] == pytest.approx(675 / 975 * 100)
    assert len(rig.rows("SELECT * FROM portfolio_snapshot_positions")) == 2
    trades = rig.rows("SELECT trade_key, isin, value_eur, mode FROM trades ORDER BY id")
    assert [(t["isin"], t["value_eur"], t["mode"]) for t in trades] == [
        (SAP[0], "300", "research"), (AAPL[0], "675", "research")]
    # The executor keys its fills "<mode>:<broker trade id>": the import uses the same key,
    # so a fill recorded by an order follow-up is never imported a second time.
    paper_ids = [r["trade_id"] for r in rig.rows("SELECT trade_id FROM paper_trades "
                                                 "ORDER BY trade_id")]
    assert [t["trade_key"] for t in trades] == [f"research:{i}" for i in paper_ids]
    assert rig.bus.settle(30)  # the cycle's tells reach the recorder
    runs = [m for m in rig.seen if isinstance(m, RunJob)]
    synced = [m for m in rig.seen if isinstance(m, PortfolioSynced)]
    assert [r.job for r in runs] == ["sync_prices"]
    assert synced and synced[0].total_value_eur == Decimal("2800")


def test_repeated_cycles_change_nothing_and_keep_buckets(rig: Rig) -> None:
    _fx(rig)
    rig.buy("SAP.EU", 3, 1)
    rig.buy("AAPL.US", 5, 2)
    assert rig.cycle().ok
    rig.store.execute("UPDATE portfolio_positions SET bucket_id = 'sat1' "
                              "WHERE symbol = 'SAP.EU'")
    first = rig.rows("SELECT * FROM portfolio_snapshots")
    assert rig.cycle().ok and rig.cycle().ok
    assert len(rig.rows("SELECT * FROM trades")) == 2
    assert len(rig.rows("SELECT * FROM portfolio_snapshots")) == 1
    assert rig.rows("SELECT total_value FROM portfolio_snapshots") == \
        [{"total_value": first[0]["total_value"]}]
    sap = rig.rows("SELECT bucket_id, first_bought_at FROM portfolio_positions "
                   "WHERE symbol = 'SAP.EU'")
    assert sap == [{"bucket_id": "sat1", "first_bought_at": int(START.timestamp())}]
    # A position sold out vanishes; the next day gets its own snapshot.
    rig.buy("AAPL.US", 5, 3, side="SELL")
    rig.clock.advance(timedelta(days=1))
    assert rig.cycle().ok
    assert [r["symbol"] for r in rig.rows("SELECT symbol FROM portfolio_positions")] == \
        ["SAP.EU"]
    assert [r["date"] for r in rig.rows("SELECT date FROM portfolio_snapshots ORDER BY date")] \
        == ["2026-03-10", "2026-03-11"]


def test_missing_fx_fails_the_critical_step_and_never_assumes_parity(rig: Rig) -> None:
    rig.buy("SAP.EU", 3, 1)
    rig.buy("AAPL.US", 5, 2)
    outcome = rig.cycle()
    steps = outcome.details["steps"]
    assert not outcome.ok
    assert steps["portfolio"]["status"] == "failed" and "USD" in steps["portfolio"]["summary"]
    assert steps["emergency"]["status"] == steps["prices"]["status"] == "skipped"
    aapl = rig.rows("SELECT market_value, market_value_eur FROM portfolio_positions "
                    "WHERE symbol = 'AAPL.US'")
    assert aapl == [{"market_value": "750", "market_value_eur": None}]
    assert rig.rows("SELECT * FROM portfolio_snapshots") == []
    assert rig.bus.settle(30)  # anything the cycle told has reached the recorder
    assert not [m for m in rig.seen if isinstance(m, PortfolioSynced | RunJob)]
    # Trades without a rate are kept with their EUR value unknown.
    usd = rig.rows("SELECT currency_rate, value_eur FROM trades WHERE symbol = 'AAPL.US'")
    assert usd == [{"currency_rate": None, "value_eur": None}]


def test_a_missing_rate_is_fetched_through_market_data(rig: Rig) -> None:
    rig.run(rig.broker.deposit("HKD", Decimal("-12.5")))  # a cash currency, no security
    rig.fx.update({"USD": Decimal("0.9"), "HKD": Decimal("0.12")})
    outcome = rig.cycle()
    assert outcome.ok, outcome.summary
    asked = sorted(m.currency for m in rig.seen if isinstance(m, GetFxRate))
    assert asked == ["HKD", "USD"]
    assert {r["currency"]: r["amount_eur"] for r in rig.rows("SELECT * FROM portfolio_cash")} \
        == {"EUR": "1000", "USD": "1800", "HKD": "-1.5"}
    assert rig.cycle().ok  # stored now: not asked again
    assert len([m for m in rig.seen if isinstance(m, GetFxRate)]) == 2


def test_negative_cash_is_named_by_the_emergency_step(rig: Rig) -> None:
    _fx(rig)
    rig.run(rig.broker.deposit("EUR", Decimal("-1500")))
    outcome = rig.cycle()
    emergency = outcome.details["steps"]["emergency"]
    assert emergency["status"] == "unavailable"
    assert "NEGATIVE cash: EUR -500" in emergency["summary"]
    assert rig.bus.settle(30)  # the cycle's tells reach the recorder
    synced = [m for m in rig.seen if isinstance(m, PortfolioSynced)]
    assert synced[0].negative_cash == {"EUR": Decimal("-500")}


def test_a_dead_market_data_actor_fails_only_the_prices_step(rig: Rig) -> None:
    _fx(rig)
    rig.bus.unregister("market_data")
    outcome = rig.cycle()
    steps = outcome.details["steps"]
    assert not outcome.ok and outcome.details["failed"] == ["prices"]
    assert steps["portfolio"]["status"] == "ok"


def test_new_prices_revalue_positions(rig: Rig) -> None:
    _fx(rig)
    rig.buy("SAP.EU", 3, 1)
    assert rig.cycle().ok
    later = START + timedelta(minutes=5)
    rig.store.execute(
        "INSERT INTO latest_prices (isin, price, currency, as_of, fetched_at, source) "
        "VALUES (?, 110.5, 'EUR', ?, ?, 'test')", (SAP[0], int(later.timestamp()),
                                                   int(later.timestamp())))
    rig.bus.tell("portfolio", PricesUpdated({SAP[0]: 110.5}, {SAP[0]: later}, (), later))
    rig.bus.ask("portfolio", Ping(later), 10)
    row = rig.rows("SELECT current_price, market_value_eur, unrealized_pnl_eur "
                   "FROM portfolio_positions")
    assert row == [{"current_price": "110.5", "market_value_eur": "331.5",
                    "unrealized_pnl_eur": "31.5"}]


def test_unknown_job_is_refused(rig: Rig) -> None:
    outcome = rig.bus.ask("portfolio", RunJob("nope", "r"), 10)
    assert not outcome.ok and "nope" in outcome.summary


def test_snapshot_records_the_days_completed_external_flows(rig: Rig) -> None:
    _fx(rig)
    for tid, kind, amount, status in (("d1", "deposit", "500", "completed"),
                                      ("d2", "deposit", "300", "pending"),
                                      ("w1", "withdrawal", "-120.5", "completed"),
                                      ("v1", "dividend", "7", "completed")):
        rig.store.execute(
            "INSERT INTO cash_flows (transaction_id, source, type_doc_id, transaction_type, "
            "kind, date, amount, currency, amount_eur, status, created_at) VALUES "
            "(?, 'cps', '1', ?, ?, ?, ?, 'EUR', ?, ?, 0)",
            (tid, kind, kind, START.date().isoformat(), amount, amount, status))
    assert rig.cycle().ok
    assert rig.rows("SELECT net_external_flow_eur FROM portfolio_snapshots") == [
        {"net_external_flow_eur": "379.5"}]


def test_a_fill_stored_without_its_commission_learns_it_once(io: IoLoop,
                                                            store: SqliteStore) -> None:
    # the executor stores its fills with fee NULL (order fills carry no commission)
    store.execute(
        "INSERT INTO trades (trade_key, isin, symbol, side, quantity, price, value, currency,"
        " executed_at, source, bucket_id, mode, created_at) VALUES ('live:41', ?, 'AAPL.US',"
        " 'BUY', '5', '150', '750', 'USD', 0, 'planner', 's1', 'live', 0)", (AAPL[0],))
    broker_row = Trade(41, 7, "AAPL.US", "BUY", Decimal(5), Decimal(150), Decimal(750), "USD",
                       START, fee=Decimal("1.75"))
    free = Trade(42, 7, "AAPL.US", "BUY", Decimal(1), Decimal(150), Decimal(150), "USD", START,
                 fee=Decimal(0))
    isins = {"AAPL.US": AAPL[0]}
    first = broker_trade_import.import_broker_trades(store, [broker_row, free], "live",
                                                       isins, {}, START)
    assert first["fees_learned"] == [TradeFeeRecorded("live:41", "s1", Decimal("1.75"), "USD",
                                                      "live")]
    assert first["inserted"] == 1  # the free trade is new; the known one only learned its fee
    again = broker_trade_import.import_broker_trades(store, [broker_row, free], "live",
                                                       isins, {}, START)
    assert (again["fees_learned"], again["inserted"]) == ([], 0)
    fees = store.fetch_all("SELECT trade_key, fee FROM trades ORDER BY id")
    assert [(r["trade_key"], r["fee"]) for r in fees] == [("live:41", "1.75"),
                                                           ("live:42", "0")]


def test_a_trade_listed_twice_in_one_window_learns_its_fee_from_the_second(
        io: IoLoop, store: SqliteStore) -> None:
    """A trade inserted without a fee earlier in the same import still learns the fee a
    later row of the window carries (the stored-fills read is kept up to date)."""
    bare = Trade(51, 7, "AAPL.US", "BUY", Decimal(2), Decimal(150), Decimal(300), "USD", START)
    priced = Trade(51, 7, "AAPL.US", "BUY", Decimal(2), Decimal(150), Decimal(300), "USD",
                   START, fee=Decimal("1.10"))
    result = broker_trade_import.import_broker_trades(
        store, [bare, priced], "live", {"AAPL.US": AAPL[0]}, {}, START)
    assert result["inserted"] == 1
    assert [f.fee for f in result["fees_learned"]] == [Decimal("1.10")]
    rows = store.fetch_all("SELECT trade_key, fee FROM trades")
    assert [(r["trade_key"], r["fee"]) for r in rows] == [("live:51", "1.1")]


def test_an_exchange_fill_learns_its_fee_in_the_quote_currency(io: IoLoop,
                                                                store: SqliteStore) -> None:
    store.execute(
        "INSERT INTO orders (client_order_id, intent_key, isin, symbol, side, quantity,"
        " limit_price, currency, source, bucket_id, mode, state, created_at, updated_at)"
        " VALUES (5, 'fx:1', 'FX:EUR/USD', 'EUR/USD', 'SELL', 100, '1.08', 'USD',"
        " 'emergency_rebalancing', 'core', 'live', 'filled', 0, 0)")
    store.execute(
        "INSERT INTO fx_trades (trade_key, order_row, symbol, side, quantity, price,"
        " base_currency, base_amount, quote_currency, quote_amount, executed_at, source,"
        " bucket_id, mode, created_at) VALUES ('live:77', 1, 'EUR/USD', 'SELL', '100',"
        " '1.08', 'EUR', '-100', 'USD', '108', 0, 'emergency_rebalancing', 'core', 'live',"
        " 0)")
    row = Trade(77, 9, "EUR/USD", "SELL", Decimal(100), Decimal("1.08"), Decimal(108), "USD",
                START, fee=Decimal("2.20"))
    result = broker_trade_import.import_broker_trades(store, [row], "live", {}, {}, START)
    assert result["fees_learned"] == [TradeFeeRecorded("live:77", "core", Decimal("2.20"),
                                                       "USD", "live")]
    assert (result["currency_exchanges"], result["inserted"], result["unknown_symbols"]) == (
        1, 0, [])
    again = broker_trade_import.import_broker_trades(store, [row], "live", {}, {}, START)
    assert again["fees_learned"] == []


def test_the_sync_announces_a_commission_the_executor_did_not_know(rig: Rig) -> None:
    _fx(rig)
    rig.fees["now"] = PaperFees(Decimal("1.50"), Decimal(0))
    rig.buy("SAP.EU", 2, 1)
    (fill,) = rig.run(rig.broker.trades(START.date(), START.date()))
    rig.store.execute(  # as the executor stores its fill: no fee
        "INSERT INTO trades (trade_key, isin, symbol, side, quantity, price, value, currency,"
        " executed_at, source, bucket_id, mode, created_at) VALUES (?, ?, 'SAP.EU', 'BUY',"
        " '2', '100', '200', 'EUR', 0, 'planner', 'core', 'research', 0)",
        (f"research:{fill.trade_id}", SAP[0]))
    assert rig.cycle().ok
    rig.bus.ask("market_data", Ping(rig.clock.now()), 10)
    learned = [m for m in rig.seen if isinstance(m, TradeFeeRecorded)]
    assert learned == [TradeFeeRecorded(f"research:{fill.trade_id}", "core", Decimal("1.50"),
                                        "EUR", "research")]
    rig.cycle()
    rig.bus.ask("market_data", Ping(rig.clock.now()), 10)
    assert len([m for m in rig.seen if isinstance(m, TradeFeeRecorded)]) == 1


def test_snapshot_totals_are_the_readable_totals_since_a_day(io: IoLoop,
                                                             store: SqliteStore) -> None:
    for day, total in (("2026-02-27", "7"), ("2026-03-01", "1000.5"), ("2026-03-02", "abc"),
                       ("2026-03-03", "NaN"), ("2026-13-45", "5"), ("2026-03-04", "20.25")):
        store.execute(
            "INSERT INTO portfolio_snapshots (date, total_value, cash_balance, "
            "invested_value, unrealized_pnl, updated_at) VALUES (?, ?, '0', '0', '0', 0)",
            (day, total))
    since = START.date().replace(day=1)
    totals = snapshot_repo.snapshot_totals(store, since)
    assert totals == {"2026-03-01": 1000.5, "2026-03-04": 20.25}
    assert list(totals) == sorted(totals)
    good, bad = snapshot_repo.read_snapshots(store, since)
    assert totals == {r["date"]: float(r["total_value"]) for r in good}
    assert set(bad) == {"2026-03-02", "2026-03-03", "2026-13-45"}


def test_a_security_joining_later_gets_its_older_trades_imported(rig: Rig) -> None:
    """A buy of a security outside the universe is skipped; once the security joins
    (``SecurityAdded``), its trade history is imported a year back at once — not left to
    the 30-day re-sync window, which no longer reaches a buy made 40 days before — and it
    counts as covered, so its hold time is known."""
    _fx(rig)
    msft = ("US5949181045", "MSFT.US")
    rig.run(rig.broker.set_price(msft[1], Decimal("300"), "USD"))
    rig.buy("SAP.EU", 3, 1)
    rig.buy(msft[1], 2, 2)
    first = rig.cycle()
    assert first.ok, first.summary
    trades = first.details["steps"]["trades"]
    assert trades["unknown_symbols"] == [msft[1]] and trades["newly_covered"] == 2
    assert "last 365 days" in first.summary
    assert trade_history_coverage.covered_isins(rig.store, "research") == {SAP[0], AAPL[0]}
    rig.clock.advance(timedelta(days=40))
    _fx(rig)
    again = rig.cycle()
    assert "last 30 days" in again.summary  # everything in the universe is covered
    assert not rig.rows("SELECT * FROM trades WHERE isin = ?", (msft[0],))
    rig.store.execute(
        "INSERT INTO securities (isin, symbol, name, currency, created_at, updated_at) "
        "VALUES (?, ?, 'Microsoft', 'USD', 0, 0)", msft)
    rig.bus.publish(SecurityAdded(msft[0], msft[1], rig.clock.now()))
    assert rig.bus.settle(30)
    imported = rig.rows("SELECT isin, side, quantity, executed_at FROM trades WHERE isin = ?",
                        (msft[0],))
    assert imported == [{"isin": msft[0], "side": "BUY", "quantity": "2",
                         "executed_at": int(START.timestamp())}]
    assert msft[0] in trade_history_coverage.covered_isins(rig.store, "research")
    before = rig.rows("SELECT COUNT(*) AS n FROM trades")
    rig.bus.publish(SecurityAdded(msft[0], msft[1], rig.clock.now()))  # covered: no-op
    assert rig.bus.settle(30)
    assert rig.rows("SELECT COUNT(*) AS n FROM trades") == before
    assert "last 30 days" in rig.cycle().summary
