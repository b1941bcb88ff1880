"""The satellite manager actor and its store: one transaction per money move, replays
change nothing, fills/cash flows settle against their bucket, the three jobs."""

from __future__ import annotations

import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

import pykka
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from arduino_trader.actors.base import HEALTH_ACTOR
from arduino_trader.actors.satellite_book import load_book
from arduino_trader.actors.satellites import SatelliteActor
from arduino_trader.adapters.clock import ManualClock
from arduino_trader.adapters.store import (
    bucket_repo,
    market_repo,
    securities_repo,
)
from arduino_trader.adapters.store import satellites_repo as repo
from arduino_trader.adapters.store.bucket_trades_repo import SqliteBucketTrades
from arduino_trader.adapters.store.satellites_repo import SqliteBucketLedger
from arduino_trader.adapters.store.sqlite import SqliteStore
from arduino_trader.config.settings import Settings, load_settings
from arduino_trader.daemon.bus import ActorBus
from arduino_trader.daemon.io_loop import IoLoop
from arduino_trader.domain.cash_flows.effects import EffectContext
from arduino_trader.domain.satellites.balances import InsufficientFunds
from arduino_trader.domain.satellites.planning import PlanScope
from arduino_trader.protocols.broker import AccountSnapshot, CashBalance, Position
from arduino_trader.protocols.bucket_ledger import Operation
from arduino_trader.protocols.cash_flows import (
    DepositReceived,
    DividendReceived,
    WithdrawalRecorded,
)
from arduino_trader.protocols.execution import CurrencyExchanged, TradeExecuted
from arduino_trader.protocols.market_data import FxRate
from arduino_trader.protocols.messages import ComponentStatus, JobOutcome, Ping, RunJob
from arduino_trader.protocols.portfolio import PortfolioSynced, TradeFeeRecorded
from arduino_trader.protocols.satellite_records import LedgerEntry, ReawakeningState
from arduino_trader.protocols.satellites import (
    ApplyPreset,
    BucketEvent,
    CreateSatellite,
    GetBucketValues,
    GetCashFlowContext,
    GetPlanningScopes,
    InitializeFromBroker,
    PutSettings,
    ReconcileCurrency,
    SatelliteRefused,
    SetSatelliteBudget,
    TransferCash,
    UpdateBucket,
)
from tests.satellites_helpers import satellite
from tests.wiring import wired

START = datetime(2026, 3, 10, 12, 0, tzinfo=UTC)
DAY = START.date()
D = Decimal


@dataclass
class FakeBroker:
    """Per-currency cash and priced positions, as the broker port reports them."""

    cash: dict[str, Decimal] = field(default_factory=dict)
    positions: dict[str, tuple[Decimal, Decimal, str]] = field(default_factory=dict)
    simulated: bool = True
    down: bool = False

    async def account(self) -> AccountSnapshot:
        if self.down:
            from arduino_trader.protocols.broker_errors import BrokerUnavailable
            raise BrokerUnavailable("broker down")
        return AccountSnapshot(
            positions=tuple(Position(s, q, p, p, c) for s, (q, p, c) in self.positions.items()),
            cash=tuple(CashBalance(c, a) for c, a in self.cash.items()), simulated=True)


@dataclass
class Rig:
    io: IoLoop
    store: SqliteStore
    bus: ActorBus
    clock: ManualClock
    broker: FakeBroker
    settings: Settings

    def ask(self, message: object) -> Any:
        return self.bus.ask("satellites", message, 30)

    def tell(self, message: object) -> None:
        self.bus.tell("satellites", message)
        self.bus.ask("satellites", Ping(self.clock.now()), 30)  # processed in order

    def job(self, name: str) -> JobOutcome:
        outcome = self.ask(RunJob(name, f"run-{time.monotonic_ns()}"))
        assert isinstance(outcome, JobOutcome)
        return outcome


    def balance(self, bucket_id: str, currency: str = "EUR") -> Decimal:
        return load_book(SqliteBucketLedger(self.store)).balance(bucket_id, currency)

    def cache(self) -> dict[tuple[str, str], Decimal]:
        rows = repo.balance_rows(self.store)
        return {(r["bucket_id"], r["currency"]): D(r["balance"]) for r in rows}

    def ledger_rows(self) -> int:
        row = self.store.fetch_one("SELECT COUNT(*) AS n FROM bucket_transactions")
        return int(row["n"])

    def fund(self, bucket_id: str, amount: str, currency: str = "EUR") -> None:
        entry = LedgerEntry(bucket_id=bucket_id, currency=currency, type="deposit",
                            amount=D(amount), source_kind="manual",
                            source_id=f"seed:{bucket_id}:{currency}:{amount}",
                            created_at=self.clock.now())
        assert repo.apply_operation(self.store, Operation((entry,)),
                                            self.clock.now()) is not None
        self.broker.cash[currency] = self.broker.cash.get(currency, D(0)) + D(amount)

    def trade(self, key: str, bucket_id: str, side: str, symbol: str, qty: str,
              price: str, currency: str = "EUR", fee: str | None = None) -> TradeExecuted:
        value = D(qty) * D(price)
        self.store.execute(
            "INSERT INTO trades (trade_key, isin, symbol, side, quantity, price, value, "
            "currency, fee, executed_at, source, bucket_id, mode, created_at) "
            "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, 'planner', ?, 'research', ?)",
            (key, "IS" + symbol, symbol, side, qty, price, str(value), currency, fee,
             int(self.clock.now().timestamp()), bucket_id, int(self.clock.now().timestamp())))
        return TradeExecuted(key, "IS" + symbol, symbol, side, D(qty), D(price),  # type: ignore[arg-type]
                             currency, self.clock.now(), "planner", bucket_id, "research")


@pytest.fixture
def rig(io: IoLoop, store: SqliteStore, bus: ActorBus) -> Iterator[Rig]:
    from arduino_trader.actors.base import ActorContext

    clock = ManualClock(START)
    broker = FakeBroker()
    cfg = load_settings(None, environ={})
    market_repo.write_fx(store, [FxRate("USD", D("0.9"), START.date(), START, "test")],
                                START)
    ctx = ActorContext(bus=bus, io=io, clock=clock, settings=lambda: cfg,
                       deps=wired(store=store, broker=broker))
    ref = SatelliteActor.start(ctx)
    bus.register("satellites", ref)
    yield Rig(io, store, bus, clock, broker, cfg)
    ref.stop()


def _satellite(rig: Rig, bucket_id: str, target: str, *, budget: str = "0.20",
               activate: bool = True) -> None:
    rig.ask(SetSatelliteBudget(D(budget)))
    created = rig.ask(CreateSatellite(bucket_id, bucket_id.upper(), start_in_research=False))
    assert created["status"] == "accumulating"
    assert "id" in rig.ask(UpdateBucket(bucket_id, target_pct=D(target)))
    if activate:
        assert rig.ask(BucketEvent(bucket_id, "activate"))["status"] == "active"


# ------------------------------------------------------------------------ store
def test_bucket_state_round_trips_through_the_store(rig: Rig) -> None:
    bucket = satellite("s1", "hibernating", target="0.05", hwm="1234.5", losses=2)
    bucket = bucket.touched(START, reawakening=ReawakeningState(stage=2, wins=1, trades=3),
                            last_reallocated_at=START)
    bucket_repo.save_buckets(rig.store, [bucket])
    loaded = bucket_repo.load_buckets(rig.store)
    assert loaded["s1"] == bucket
    assert loaded["core"].target_pct == 1


def test_an_operation_is_all_or_nothing_and_a_replay_is_a_no_op(rig: Rig) -> None:
    rig.fund("core", "100")
    bucket_repo.save_buckets(rig.store, [satellite("s1")])
    legs = (LedgerEntry("core", "EUR", "transfer_out", D("-150"), "manual", "t1", START),
            LedgerEntry("s1", "EUR", "transfer_in", D("150"), "manual", "t1", START))
    with pytest.raises(InsufficientFunds):
        repo.apply_operation(rig.store, Operation(legs), START)
    assert rig.ledger_rows() == 1 and rig.balance("s1") == 0   # nothing written
    ok = (LedgerEntry("core", "EUR", "transfer_out", D("-40"), "manual", "t2", START),
          LedgerEntry("s1", "EUR", "transfer_in", D("40"), "manual", "t2", START))
    assert repo.apply_operation(rig.store, Operation(ok), START) == {
        ("core", "EUR"): D("60"), ("s1", "EUR"): D("40")}
    assert repo.apply_operation(rig.store, Operation(ok), START) is None
    assert rig.ledger_rows() == 3
    assert rig.cache() == {("core", "EUR"): D("60"), ("s1", "EUR"): D("40")}


@settings(max_examples=25, deadline=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(moves=st.lists(st.tuples(st.sampled_from(["core", "s1", "s2"]),
                                st.sampled_from(["core", "s1", "s2"]),
                                st.integers(min_value=1, max_value=8000)), max_size=12))
def test_transfers_keep_cache_equal_to_ledger_and_never_go_negative(
        io: IoLoop, tmp_path_factory: pytest.TempPathFactory,
        moves: list[tuple[str, str, int]]) -> None:
    store = SqliteStore(tmp_path_factory.mktemp("prop") / "p.db")
    store.open()
    try:
        bucket_repo.save_buckets(store, [satellite("s1"), satellite("s2")])
        seed = LedgerEntry("core", "EUR", "deposit", D("100"), "manual", "seed", START)
        repo.apply_operation(store, Operation((seed,)), START)
        for i, (src, dst, cents) in enumerate(moves):
            if src == dst:
                continue
            amount = D(cents) / 100
            legs = (LedgerEntry(src, "EUR", "transfer_out", -amount, "manual", f"m{i}", START),
                    LedgerEntry(dst, "EUR", "transfer_in", amount, "manual", f"m{i}", START))
            try:
                repo.apply_operation(store, Operation(legs), START)
            except InsufficientFunds:
                pass
        book = load_book(SqliteBucketLedger(store))
        rows = repo.balance_rows(store)
        for row in rows:                     # invariant 1: cache = Σ ledger
            assert D(row["balance"]) == book.ledger_sum(row["bucket_id"], row["currency"])
            assert D(row["balance"]) >= 0    # invariant 5
        assert book.currency_total("EUR") == D("100")   # invariant 4: zero-sum moves
    finally:
        store.close()


# --------------------------------------------------------------------- commands
def test_lifecycle_commands_and_refusals(rig: Rig) -> None:
    assert rig.ask(CreateSatellite("s1", "Momentum"))["status"] == "research"
    dup = rig.ask(CreateSatellite("s1", "Again"))
    assert isinstance(dup, SatelliteRefused) and dup.status == 400
    refused = rig.ask(UpdateBucket("s1", target_pct=D("0.05")))  # budget is 0
    assert isinstance(refused, SatelliteRefused) and refused.code == "target_refused"
    assert rig.ask(SetSatelliteBudget(D("0.1")))["satellite_budget_pct"] == "0.1"
    assert rig.ask(UpdateBucket("s1", target_pct=D("0.05")))["target_pct"] == "0.05"
    assert bucket_repo.load_buckets(rig.store)["core"].target_pct == D("0.95")
    assert rig.ask(BucketEvent("s1", "activate"))["status"] == "active"
    assert rig.ask(BucketEvent("s1", "hibernate"))["status"] == "hibernating"
    bad = rig.ask(BucketEvent("s1", "resume"))
    assert isinstance(bad, SatelliteRefused) and bad.code == "invalid_transition"
    assert rig.ask(BucketEvent("s1", "pause"))["status"] == "paused"
    assert rig.ask(BucketEvent("s1", "retire"))["status"] == "retired"
    buckets = bucket_repo.load_buckets(rig.store)
    assert buckets["s1"].target_pct == 0 and buckets["core"].target_pct == 1
    missing = rig.ask(BucketEvent("nope", "pause"))
    assert isinstance(missing, SatelliteRefused) and missing.status == 404


def test_retire_refused_while_cash_remains(rig: Rig) -> None:
    _satellite(rig, "s1", "0.05")
    rig.fund("s1", "10")
    rig.ask(BucketEvent("s1", "pause"))
    refused = rig.ask(BucketEvent("s1", "retire"))
    assert isinstance(refused, SatelliteRefused) and "cash left" in refused.message


def test_settings_and_presets(rig: Rig) -> None:
    rig.ask(CreateSatellite("s1", "S1"))
    saved = rig.ask(PutSettings("s1", {"risk_appetite": "0", "dividend_handling":
                                       "send_to_core"}))
    assert saved["risk_appetite"] == "0"
    bad = rig.ask(PutSettings("s1", {"risk_appetite": "1.5"}))
    assert isinstance(bad, SatelliteRefused) and bad.status == 400
    preset = rig.ask(ApplyPreset("s1", "dividend_catcher"))
    assert preset["dividend_handling"] == "accumulate_cash" and preset["preset"] == \
        "dividend_catcher"
    unknown = rig.ask(ApplyPreset("s1", "yolo"))
    assert isinstance(unknown, SatelliteRefused) and unknown.code == "unknown_preset"
    assert bucket_repo.load_settings(rig.store)["s1"].preset == "dividend_catcher"


def test_transfer_moves_both_legs_and_respects_the_core_floor(rig: Rig) -> None:
    _satellite(rig, "s1", "0.10")
    rig.fund("core", "1000")
    too_much = rig.ask(TransferCash("core", "s1", D("300"), "EUR", "r1"))
    assert isinstance(too_much, SatelliteRefused) and too_much.code == "core_floor"
    done = rig.ask(TransferCash("core", "s1", D("150"), "EUR", "r2"))
    assert done["from_balance"] == D("850") and done["to_balance"] == D("150")
    again = rig.ask(TransferCash("core", "s1", D("150"), "EUR", "r2"))
    assert again["applied"] is False and rig.balance("s1") == D("150")
    back = rig.ask(TransferCash("s1", "core", D("500"), "EUR", "r3"))
    assert isinstance(back, SatelliteRefused) and back.code == "insufficient_funds"


# ----------------------------------------------------------------------- events
def test_deposit_event_is_split_deficit_first_once(rig: Rig) -> None:
    _satellite(rig, "s1", "0.10")
    _satellite(rig, "s2", "0.10")
    event = DepositReceived("cf:dep:1", D("1000"), "EUR", D("1000"), DAY, ())
    rig.tell(event)
    rig.tell(event)
    assert [rig.balance(b) for b in ("core", "s1", "s2")] == [D("800"), D("100"), D("100")]
    # rows the cash-flow actor already split are taken as they are, once
    rig.tell(DepositReceived("cf:dep:2", D("10"), "USD", D("9"), DAY, (("core", D("10")),)))
    rig.tell(DepositReceived("cf:dep:2", D("10"), "USD", D("9"), DAY, (("core", D("10")),)))
    assert rig.balance("core", "USD") == D("10")
    assert rig.ledger_rows() == 4


def test_fill_settles_against_its_bucket_and_sell_pnl_feeds_the_streak(rig: Rig) -> None:
    _satellite(rig, "s1", "0.10")
    rig.fund("s1", "1000")
    buy = rig.trade("research:1", "s1", "BUY", "ABC", "10", "50", fee="1.5")
    rig.tell(buy)
    rig.tell(buy)
    assert rig.balance("s1") == D("498.5")
    rig.clock.advance(timedelta(hours=1))
    sell = rig.trade("research:2", "s1", "SELL", "ABC", "10", "40", fee="1")
    rig.tell(sell)
    rig.tell(sell)
    assert rig.balance("s1") == D("897.5")
    bucket = bucket_repo.load_buckets(rig.store)["s1"]
    assert bucket.consecutive_losses == 1
    trades = SqliteBucketTrades(rig.store).closed_trades("s1")
    assert [t.realized_pnl for t in trades] == [D("-102.5")]
    # a fill tagged with an unknown bucket settles on core, never disappears
    rig.tell(rig.trade("research:3", "ghost", "BUY", "XYZ", "1", "5"))
    assert rig.balance("core") == D("-5")


def test_an_exchange_moves_the_asking_buckets_cash_between_currencies_once(
        rig: Rig) -> None:
    _satellite(rig, "s1", "0.10")
    rig.fund("core", "1000")
    # SELL EUR/USD: 100 EUR paid, 108.4876 USD received (sub-cent rounded half-even)
    fill = CurrencyExchanged("research:fx1", "EUR/USD", "SELL", "EUR", D("-100"), "USD",
                             D("108.4876"), D("1.084876"), START, "emergency_rebalancing",
                             "core", "research")
    rig.tell(fill)
    rig.tell(fill)  # a replayed event changes nothing
    assert (rig.balance("core", "EUR"), rig.balance("core", "USD")) == (D("900"),
                                                                        D("108.49"))
    assert rig.ledger_rows() == 3
    # an exchange a satellite asked for settles on it; an unknown bucket falls to core
    rig.fund("s1", "50", "USD")
    rig.tell(CurrencyExchanged("research:fx2", "EUR/USD", "BUY", "EUR", D("10"), "USD",
                               D("-10.85"), D("1.085"), START, "manual", "s1", "research"))
    assert (rig.balance("s1", "EUR"), rig.balance("s1", "USD")) == (D("10"), D("39.15"))
    rig.tell(CurrencyExchanged("research:fx3", "HKD/EUR", "BUY", "HKD", D("100"), "EUR",
                               D("-11.8"), D("0.118"), START, "manual", "ghost", "research"))
    assert (rig.balance("core", "HKD"), rig.balance("core", "EUR")) == (D("100"), D("888.2"))


def test_a_commission_learned_after_the_fill_debits_its_bucket_once(rig: Rig) -> None:
    _satellite(rig, "s1", "0.10")
    rig.fund("s1", "1000")
    rig.tell(rig.trade("research:7", "s1", "BUY", "ABC", "10", "50"))  # fill: no fee yet
    assert rig.balance("s1") == D("500")
    fee = TradeFeeRecorded("research:7", "s1", D("1.25"), "EUR", "research")
    rig.tell(fee)
    rig.tell(fee)
    assert rig.balance("s1") == D("498.75")
    # a fill whose fee was known at settlement is not charged again by a late event
    rig.tell(rig.trade("research:8", "s1", "BUY", "ABC", "1", "10", fee="1"))
    rig.tell(TradeFeeRecorded("research:8", "s1", D("1"), "EUR", "research"))
    assert rig.balance("s1") == D("487.75")
    rows = rig.store.fetch_all(
        "SELECT source_id, amount FROM bucket_transactions WHERE type = 'fee' ORDER BY id")
    assert [(r["source_id"], r["amount"]) for r in rows] == [("research:7:fee", "-1.25"),
                                                              ("research:8:fee", "-1")]


def _journal_order(rig: Rig, client_id: int, bucket_id: str, symbol: str, side: str) -> int:
    """An order row of ours (the journal's), as the executor writes before sending."""
    now = int(rig.clock.now().timestamp())
    rig.store.execute(
        "INSERT INTO orders (client_order_id, intent_key, isin, symbol, side, quantity, "
        "limit_price, currency, source, bucket_id, mode, state, created_at, updated_at) "
        "VALUES (?, ?, ?, ?, ?, 1, '1', 'EUR', 'planner', ?, 'research', 'filled', ?, ?)",
        (client_id, f"intent:{client_id}", "IS" + symbol, symbol, side, bucket_id, now, now))
    row = rig.store.fetch_one("SELECT id FROM orders WHERE client_order_id = ?",
                                     (client_id,))
    return int(row["id"])


def _synced(rig: Rig) -> None:
    rig.tell(PortfolioSynced(rig.clock.now(), 0, None, None, None))


def _our_fill(rig: Rig, client_id: int, key: str, order_bucket: str, qty: str, price: str,
              fee: str | None = None, trade_bucket: str = "core") -> None:
    """A BUY fill of our own order (journal row linked), with no ledger row and no event."""
    order = _journal_order(rig, client_id, order_bucket, "ABC", "BUY")
    rig.trade(key, trade_bucket, "BUY", "ABC", qty, price, fee=fee)
    rig.store.execute("UPDATE trades SET order_row = ? WHERE trade_key = ?",
                             (order, key))


def _booked_by_an_older_version(rig: Rig, key: str, amount: str) -> None:
    entry = LedgerEntry(bucket_id="core", currency="EUR", type="trade_buy", amount=D(amount),
                        source_kind="trade", source_id=key, created_at=rig.clock.now())
    repo.apply_operation(rig.store, Operation((entry,)), rig.clock.now())


def test_fills_whose_event_was_lost_are_settled_from_the_store_once(rig: Rig) -> None:
    _satellite(rig, "s1", "0.10")
    rig.fund("s1", "1000")
    rig.fund("core", "1000")
    # a fill of our order committed, then the process died before TradeExecuted went out;
    # its order says s1 although the broker sync stored the fill under core
    _our_fill(rig, 1, "research:41", "s1", "10", "50", fee="1.5")
    # a fill that is not ours (no journal row) is reconciliation's business, not settled
    rig.trade("research:42", "core", "BUY", "XYZ", "1", "7")
    # an exchange fill whose CurrencyExchanged was lost
    fx_order = _journal_order(rig, 2, "core", "EUR/USD", "SELL")
    now = int(rig.clock.now().timestamp())
    rig.store.execute(
        "INSERT INTO fx_trades (trade_key, order_row, symbol, side, quantity, price, "
        "base_currency, base_amount, quote_currency, quote_amount, fee, executed_at, "
        "source, bucket_id, mode, created_at) VALUES ('research:fx9', ?, 'EUR/USD', "
        "'SELL', '100', '1.08', 'EUR', '-100', 'USD', '108', '0.5', ?, 'emergency', 'core', "
        "'research', ?)", (fx_order, now, now))
    _synced(rig)
    assert rig.balance("s1") == D("498.5")  # value and fee, on the order's bucket
    assert (rig.balance("core", "EUR"), rig.balance("core", "USD")) == (D("900"), D("107.5"))
    rows = rig.ledger_rows()
    _synced(rig)
    rig.tell(TradeExecuted("research:41", "ISABC", "ABC", "BUY", D("10"), D("50"), "EUR",
                           START, "planner", "s1", "research"))  # the event, late: a replay
    assert rig.ledger_rows() == rows
    assert rig.balance("s1") == D("498.5")
    assert rig.store.fetch_one(
        "SELECT COUNT(*) AS n FROM bucket_transactions WHERE source_id LIKE 'research:42%'"
    )["n"] == 0


def test_a_fill_settled_net_of_its_fee_before_fee_rows_is_not_charged_again(rig: Rig) -> None:
    rig.fund("core", "1000")
    _our_fill(rig, 3, "research:51", "core", "10", "50", fee="2")
    _booked_by_an_older_version(rig, "research:51", "-502")  # net of its fee
    _synced(rig)
    assert rig.balance("core") == D("498")
    # a fill settled at its value whose commission row is missing gets it
    _our_fill(rig, 4, "research:52", "core", "1", "50", fee="1")
    _booked_by_an_older_version(rig, "research:52", "-50")  # at its value, fee row lost
    _synced(rig)
    _synced(rig)
    assert rig.balance("core") == D("447")


def test_dividends_are_booked_as_split_and_withdrawals_debit_core(rig: Rig) -> None:
    _satellite(rig, "s1", "0.10")
    rig.fund("s1", "1000")
    rig.tell(rig.trade("research:1", "s1", "BUY", "DIV", "10", "10"))
    split = (("s1", D("7")), ("core", D("3")))
    rig.tell(DividendReceived("cf:div:1", "DIV", D("10"), "EUR", D("10"), DAY, split))
    rig.tell(DividendReceived("cf:div:1", "DIV", D("10"), "EUR", D("10"), DAY, split))
    assert (rig.balance("s1"), rig.balance("core")) == (D("907"), D("3"))
    rig.tell(DividendReceived("cf:div:2", "OTHER", D("2"), "EUR", D("2"), DAY,
                              (("core", D("2")),)))
    assert rig.balance("core") == D("5")
    rig.fund("core", "100")
    rig.tell(WithdrawalRecorded("cf:wd:1", D("40"), "EUR", D("40"), DAY))
    rig.tell(WithdrawalRecorded("cf:wd:1", D("40"), "EUR", D("40"), DAY))
    assert rig.balance("core") == D("65")


# ------------------------------------------------------------------------- jobs
def test_reconciliation_initialises_corrects_small_and_reports_large_gaps(rig: Rig) -> None:
    rig.broker.cash = {"EUR": D("1000"), "USD": D("50")}
    empty = rig.job("satellite_reconciliation")      # an empty ledger is never absorbed
    assert not empty.ok and empty.details["gaps"] == ["EUR", "USD"]
    assert rig.ask(InitializeFromBroker()) == {"initialised": {"EUR": D("1000"),
                                                               "USD": D("50")}}
    assert rig.ask(InitializeFromBroker()) == {"initialised": {}}
    first = rig.job("satellite_reconciliation")
    assert first.ok, first.summary
    assert rig.balance("core") == D("1000") and rig.balance("core", "USD") == D("50")
    rig.broker.cash["EUR"] = D("1003")
    small = rig.job("satellite_reconciliation")
    assert small.ok and small.details["currencies"]["EUR"]["status"] == "corrected"
    assert rig.balance("core") == D("1003")
    rig.broker.cash["EUR"] = D("1100")
    large = rig.job("satellite_reconciliation")
    assert not large.ok and large.details["gaps"] == ["EUR"]
    assert rig.balance("core") == D("1003")        # never absorbed silently
    audit = repo.audits(rig.store)
    assert [a["status"] for a in audit[:2]] == ["reconciled", "gap_reported"]
    assert any(a["status"] == "corrected" and a["adjustment"] == "3" for a in audit)
    # USD: 5 EUR ≈ 5.55 USD; a 5 USD gap is corrected, the manual route agrees
    rig.broker.cash["USD"] = D("55")
    answer = rig.ask(ReconcileCurrency("USD"))
    assert answer["status"] == "corrected" and rig.balance("core", "USD") == D("55")


class _HealthInbox(pykka.ThreadingActor):
    """Stands in for the health actor: keeps what it is told."""

    def __init__(self, told: list[Any]) -> None:
        super().__init__()
        self.told = told

    def on_receive(self, message: Any) -> None:
        self.told.append(message)


def test_a_deposit_settled_after_the_sync_that_found_its_gap_clears_the_ledger_health(
        rig: Rig) -> None:
    """The sync cycle's PortfolioSynced can come before the deposit its broker cash holds
    is settled (the cash-flow job ran beside the cycle): the ledger is reported degraded,
    and reported again once the deposit is settled, not only at the next cycle."""
    told: list[Any] = []
    rig.bus.register(HEALTH_ACTOR, _HealthInbox.start(told))

    def ledger_levels() -> list[str]:
        rig.bus.ask("satellites", Ping(rig.clock.now()), 30)
        return [m.level for m in told if isinstance(m, ComponentStatus)
                and m.name == "ledger"]

    rig.fund("core", "1000")
    rig.broker.cash["EUR"] = D("1500")  # the broker already holds the new deposit
    _synced(rig)
    assert ledger_levels() == ["degraded"]
    rig.tell(DepositReceived("cf:dep:late", D("500"), "EUR", D("500"), DAY, ()))
    assert ledger_levels() == ["degraded", "ok"]
    rig.tell(DepositReceived("cf:dep:next", D("5"), "EUR", D("5"), DAY, ()))
    assert ledger_levels() == ["degraded", "ok"]  # no check while it agrees


def test_reconciliation_defers_while_a_cash_flow_is_unprocessed(rig: Rig) -> None:
    rig.fund("core", "100")
    rig.store.execute(
        "INSERT INTO cash_flows (transaction_id, source, type_doc_id, transaction_type, kind, "
        "date, amount, currency, amount_eur, status, created_at) VALUES ('k1', 'cps', '1', "
        "'deposit', 'deposit', '2026-03-10', '2', 'EUR', '2', 'pending', 0)")
    rig.broker.cash["EUR"] = D("102")
    out = rig.job("satellite_reconciliation")
    assert out.details["currencies"]["EUR"]["status"] == "deferred"
    assert rig.balance("core") == D("100")


def test_reconciliation_settles_a_lost_fill_instead_of_correcting_the_gap(rig: Rig) -> None:
    rig.fund("core", "1000")
    assert rig.job("satellite_reconciliation").ok
    _our_fill(rig, 5, "research:61", "core", "1", "2")   # 2 EUR: a "small" gap
    rig.broker.cash["EUR"] = D("998")
    out = rig.job("satellite_reconciliation")
    assert out.ok and out.details["currencies"]["EUR"]["status"] != "corrected"
    assert rig.balance("core") == D("998")
    kinds = rig.store.fetch_all("SELECT DISTINCT type FROM bucket_transactions")
    assert {r["type"] for r in kinds} == {"deposit", "trade_buy"}


def test_maintenance_hibernates_at_35_percent_and_recovers_gradually(rig: Rig) -> None:
    _satellite(rig, "s1", "0.10")
    rig.fund("s1", "1000")
    rig.tell(rig.trade("research:1", "s1", "BUY", "XYZ", "10", "100"))
    rig.broker.positions = {"XYZ": (D("10"), D("100"), "EUR")}
    assert rig.job("satellite_maintenance").ok
    assert bucket_repo.load_buckets(rig.store)["s1"].high_water_mark == D("1000")
    rig.clock.advance(timedelta(days=1))
    rig.broker.positions["XYZ"] = (D("10"), D("65"), "EUR")
    out = rig.job("satellite_maintenance")
    assert "hibernated" in out.details["events"]["s1"]
    assert bucket_repo.load_buckets(rig.store)["s1"].status == "hibernating"
    rig.clock.advance(timedelta(days=1))
    rig.broker.positions["XYZ"] = (D("10"), D("72"), "EUR")   # dd 0.28 < 0.30
    rig.job("satellite_maintenance")
    s1 = bucket_repo.load_buckets(rig.store)["s1"]
    assert s1.status == "active" and s1.reawakening.stage == 1
    series = SqliteBucketTrades(rig.store).value_series("s1")
    assert [p.value_eur for p in series] == [D("1000"), D("650"), D("720")]
    # broker down: values unknown, nothing is hibernated on a guess
    rig.broker.down = True
    down = rig.job("satellite_maintenance")
    assert not down.ok and "s1" in down.details["errors"]


def test_evaluation_applies_once_per_period(rig: Rig) -> None:
    _satellite(rig, "s1", "0.05", budget="0.20")
    _satellite(rig, "s2", "0.05", budget="0.20")
    first = rig.job("satellite_evaluation")
    assert first.ok and first.details["applied"] is True
    buckets = bucket_repo.load_buckets(rig.store)
    total = buckets["s1"].target_pct + buckets["s2"].target_pct
    assert buckets["core"].target_pct + total == 1
    assert buckets["s1"].last_reallocated_at is not None
    rig.clock.advance(timedelta(days=7))
    second = rig.job("satellite_evaluation")
    assert second.ok and second.details["applied"] is False
    assert rig.job("nonexistent").ok is False


def test_planning_scopes_expose_what_a_planner_needs(rig: Rig) -> None:
    _satellite(rig, "s1", "0.10")
    securities_repo.insert_security(rig.store, {
        "isin": "US0000000001", "symbol": "AAA.US", "name": "A", "currency": "USD"}, START)
    securities_repo.insert_security(rig.store, {
        "isin": "US0000000002", "symbol": "BBB.US", "name": "B", "currency": "USD"}, START)
    bucket_repo.assign_security(rig.store, "US0000000002", "s1", START)
    rig.fund("core", "900")
    rig.fund("s1", "100")
    scopes, skipped = rig.ask(GetPlanningScopes())
    by_id = {s.bucket_id: s for s in scopes}
    assert isinstance(by_id["core"], PlanScope)
    assert by_id["core"].symbols == {"AAA.US"} and by_id["core"].cash_eur == D("900")
    assert by_id["s1"].symbols == {"BBB.US"} and by_id["s1"].buy_scale == 1
    assert by_id["s1"].parameters is not None and skipped == []


def test_planning_scopes_and_values_use_each_buckets_own_fills(rig: Rig) -> None:
    """Two satellites bought the same symbol and core held some before: each scope holds
    its own quantity, the buckets add up to the broker position, values follow."""
    _satellite(rig, "s1", "0.10")
    _satellite(rig, "s2", "0.05", budget="0.20")
    rig.fund("core", "900")
    rig.fund("s1", "100")
    rig.fund("s2", "100")
    securities_repo.insert_security(rig.store, {
        "isin": "US0000000001", "symbol": "AAA", "name": "A", "currency": "EUR"}, START)
    bucket_repo.assign_security(rig.store, "US0000000001", "s1", START)
    securities_repo.insert_security(rig.store, {
        "isin": "US0000000002", "symbol": "BBB", "name": "B", "currency": "EUR"}, START)
    bucket_repo.assign_security(rig.store, "US0000000002", "s2", START)
    securities_repo.insert_security(rig.store, {
        "isin": "US0000000003", "symbol": "CCC", "name": "C", "currency": "EUR"}, START)
    rig.tell(rig.trade("research:p1", "s1", "BUY", "AAA", "3", "10"))
    rig.tell(rig.trade("research:p2", "s2", "BUY", "AAA", "2", "10"))
    rig.broker.positions = {"AAA": (D("10"), D("10"), "EUR")}  # 5 held before the fills
    scopes, _ = rig.ask(GetPlanningScopes())
    by_id = {s.bucket_id: s for s in scopes}
    assert by_id["s1"].positions == {"AAA": D("3")}
    assert by_id["s2"].positions == {"AAA": D("2")}
    assert by_id["core"].positions == {"AAA": D("5")}
    assert by_id["s1"].avg_costs == {"AAA": D("10")} and by_id["core"].avg_costs is None
    values = rig.ask(GetBucketValues())
    assert values["s1"]["value_eur"] == D("100") - D("30") + D("30")  # cash − buy + shares
    assert values["core"]["value_eur"] == D("900") + D("50")
    rig.broker.down = True  # positions unknown: the planner falls back to the account
    scopes, _ = rig.ask(GetPlanningScopes())
    assert all(s.positions is None for s in scopes)


def test_cash_flow_context_splits_income_over_every_bucket_holding_the_security(
        rig: Rig) -> None:
    _satellite(rig, "s1", "0.10")
    rig.fund("core", "900")
    rig.fund("s1", "100")
    rig.tell(rig.trade("research:1", "s1", "BUY", "DIV", "1", "10"))
    rig.broker.positions = {"DIV": (D("4"), D("10"), "EUR")}  # core holds the other 3
    rig.ask(PutSettings("s1", {"dividend_handling": "accumulate_cash"}))
    context = rig.ask(GetCashFlowContext(rates="R"))
    assert isinstance(context, EffectContext) and context.rates == "R"
    shares = {s.bucket_id: s for s in context.buckets}
    assert shares["s1"].target_pct == D("0.10") and shares["s1"].value_eur == D("100")
    assert shares["core"].value_eur == D("900") + D("30") and context.satellite_budget == D("0.20")
    assert context.income_shares == {"DIV": (("core", D("3")), ("s1", D("1")))}
    assert context.maturity_shares == {"DIV": (("core", D("3")), ("s1", D("1")))}
    rig.ask(PutSettings("s1", {"dividend_handling": "send_to_core"}))
    assert rig.ask(GetCashFlowContext(rates="R")).income_shares == {"DIV": (("core", D("4")),)}


def test_cash_flow_context_splits_by_the_fills_while_the_broker_is_down(rig: Rig) -> None:
    _satellite(rig, "s1", "0.10")
    rig.fund("s1", "100")
    rig.tell(rig.trade("research:1", "s1", "BUY", "DIV", "1", "10"))
    rig.ask(PutSettings("s1", {"dividend_handling": "reinvest_same"}))
    rig.broker.down = True
    context = rig.ask(GetCashFlowContext(rates="R"))
    assert context.income_shares == {"DIV": (("s1", D("1")),)}


def test_hwm_shifts_once_for_a_deposit_the_cash_flow_actor_booked(rig: Rig) -> None:
    _satellite(rig, "s1", "0.10")
    bucket_repo.save_buckets(rig.store, [bucket_repo.load_buckets(rig.store)["s1"].touched(
        START, high_water_mark=D("1000"))])
    booked = LedgerEntry("s1", "EUR", "deposit", D("500"), "cash_flow", "cf:dep:9", START)
    rig.store.execute(                      # as the cash-flow repository writes it
        "INSERT INTO bucket_transactions (bucket_id, type, amount, currency, description, "
        "source_kind, source_id, created_at) VALUES ('s1', 'deposit', '500', 'EUR', '', "
        "'cash_flow', 'cf:dep:9', 0)")
    event = DepositReceived("cf:dep:9", D("500"), "EUR", D("500"), DAY, (("s1", D("500")),))
    rig.tell(event)
    rig.tell(event)
    assert bucket_repo.load_buckets(rig.store)["s1"].high_water_mark == D("1500")
    assert rig.balance("s1") == booked.amount and rig.ledger_rows() == 1


def test_scenario_core_and_two_satellites_through_hibernation_and_reawakening(
        rig: Rig) -> None:
    """Deposit, trades, a 40 % drawdown into hibernation, recovery and a graduated
    re-awakening — balances exact at every step, all through the actor."""
    _satellite(rig, "s1", "0.10")
    _satellite(rig, "s2", "0.10")

    def balances() -> list[Decimal]:
        return [rig.balance(b) for b in ("core", "s1", "s2")]

    rig.tell(DepositReceived("cf:dep:1", D("10000"), "EUR", D("10000"), DAY, ()))
    rig.broker.cash["EUR"] = D("10000")
    assert balances() == [D("8000"), D("1000"), D("1000")]
    rig.tell(rig.trade("research:b1", "s1", "BUY", "XYZ", "10", "100"))
    rig.tell(rig.trade("research:b2", "s2", "BUY", "ABC", "5", "100"))
    assert balances() == [D("8000"), D("0"), D("500")]
    rig.broker.cash["EUR"] = D("8500")
    rig.broker.positions = {"XYZ": (D("10"), D("100"), "EUR"),
                            "ABC": (D("5"), D("100"), "EUR")}
    assert rig.job("satellite_maintenance").ok
    assert rig.job("satellite_reconciliation").ok

    def stage() -> tuple[str, int]:
        s1 = bucket_repo.load_buckets(rig.store)["s1"]
        return s1.status, s1.reawakening.stage

    rig.clock.advance(timedelta(days=1))
    rig.broker.positions["XYZ"] = (D("10"), D("60"), "EUR")
    rig.job("satellite_maintenance")
    assert stage() == ("hibernating", 0)
    assert bucket_repo.load_buckets(rig.store)["s2"].status == "active"
    rig.clock.advance(timedelta(days=1))
    rig.broker.positions["XYZ"] = (D("10"), D("75"), "EUR")
    rig.job("satellite_maintenance")
    assert stage() == ("active", 1)
    aggression = rig.ask(GetBucketValues())["s1"]["aggression"]
    assert aggression["reawakening_multiplier"] == D("0.25")      # buys at a quarter
    assert aggression["effective_aggression"] == aggression["aggression"] * D("0.25")
    for i, expected in enumerate([("active", 2), ("active", 3), ("active", 0)]):
        rig.clock.advance(timedelta(hours=1))
        rig.tell(rig.trade(f"research:s{i}", "s1", "SELL", "XYZ", "1", "110"))
        assert stage() == expected
    assert balances() == [D("8000"), D("330"), D("500")]
    assert bucket_repo.load_buckets(rig.store)["s1"].reawakening.wins == 3
    rig.broker.cash["EUR"] = D("8830")
    assert rig.job("satellite_reconciliation").ok
