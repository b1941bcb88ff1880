"""The planner actor and its pieces: the portfolio hash, the recommendations store
(identity, dismissal, refresh), input gathering (aligned history, FX never 1:1) and the
actor's explicit answers for an empty universe, a cash-only account and failures."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, replace
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from typing import Any

import numpy as np
import pytest
from hypothesis import given
from hypothesis import settings as hyp_settings
from hypothesis import strategies as st

from arduino_trader.actors.base import ActorContext
from arduino_trader.actors.history_cache import Closes, HistoryCache
from arduino_trader.actors.planner import PlannerActor
from arduino_trader.actors.planner_inputs import InputGatherer, aligned_prices, planner_settings
from arduino_trader.adapters.clock import ManualClock
from arduino_trader.adapters.store import (
    market_repo,
    plan_repo,
    securities_repo,
    trade_history_coverage,
)
from arduino_trader.adapters.store.price_history_repo import SqlitePriceHistory
from arduino_trader.adapters.store.sqlite import SqliteStore
from arduino_trader.config.settings import Settings, load_settings
from arduino_trader.daemon.bus import ActorBus
from arduino_trader.daemon.io_loop import IoLoop
from arduino_trader.domain.planner.models import (
    FORWARD_SYMBOLS,
    MarketIndicators,
    PlanResult,
    Step,
)
from arduino_trader.domain.planner_hash import (
    HashSecurity,
    PendingOrder,
    canonical_form,
    portfolio_hash,
)
from arduino_trader.protocols.broker import AccountSnapshot, CashBalance, Position
from arduino_trader.protocols.broker_errors import BrokerUnavailable
from arduino_trader.protocols.cash_flows import DepositReceived
from arduino_trader.protocols.market_data import FxRate, PriceBar, PricesUpdated, UnknownSymbol
from arduino_trader.protocols.messages import RunJob
from arduino_trader.protocols.planning import (
    GetPlan,
    PlannerStatus,
    PlanReady,
    PlanSummary,
    RequestPlan,
)
from tests.wiring import wired

NOW = datetime(2024, 6, 3, 12, 0, tzinfo=UTC)
SECS = [HashSecurity("AAPL.US", country="United States", industry="Tech"),
        HashSecurity("SAP.DE", allow_buy=False, max_target=10.0)]


# ------------------------------------------------------------------- portfolio hash
def test_hash_is_the_canonical_form_of_the_spec() -> None:
    text = canonical_form(SECS, {"AAPL.US": Decimal("3")},
                          {"EUR": Decimal("100.005"), "USD": Decimal("-5")})
    assert text == ("AAPL.US:3:1:1:::United States:Tech,CASH.EUR:100.01,"
                    "SAP.DE:0:0:1::10::")
    h = portfolio_hash(SECS, {"AAPL.US": Decimal("3")}, {"EUR": Decimal("100.005")})
    assert len(h) == 16 and int(h, 16) >= 0


def test_pending_orders_are_applied_before_hashing() -> None:
    pending = [PendingOrder("AAPL.US", "BUY", Decimal(2), Decimal("10"), "EUR")]
    assert portfolio_hash(SECS, {"AAPL.US": Decimal(1)}, {"EUR": Decimal(100)}, pending) == \
        portfolio_hash(SECS, {"AAPL.US": Decimal(3)}, {"EUR": Decimal(80)})
    sell = [PendingOrder("AAPL.US", "SELL", Decimal(1), Decimal("10"), "EUR")]
    assert portfolio_hash(SECS, {"AAPL.US": Decimal(1)}, {}, sell) == \
        portfolio_hash(SECS, {}, {})


@given(st.permutations(range(4)), st.integers(0, 50), st.integers(0, 10_000))
def test_hash_ignores_order_and_sees_every_change(perm: list[int], qty: int,
                                                  cents: int) -> None:
    secs = [HashSecurity(f"S{i}.US") for i in range(4)]
    shuffled = [secs[i] for i in perm]
    pos = {"S1.US": Decimal(qty)}
    cash = {"EUR": Decimal(cents) / 100}
    h = portfolio_hash(secs, pos, cash)
    assert portfolio_hash(shuffled, dict(reversed(pos.items())), cash) == h
    assert portfolio_hash(secs, {"S1.US": Decimal(qty + 1)}, cash) != h
    assert portfolio_hash([replace(secs[0], allow_sell=False), *secs[1:]], pos, cash) != h


# -------------------------------------------------------------- recommendations store
def _step(n: int, symbol: str, side: str = "BUY", qty: int = 5) -> Step:
    return Step(n, side, symbol, symbol, qty, 101.25, "USD", 470.1, 2.94, "weight_based",  # type: ignore[arg-type]
                0.8, f"Buy {qty} {symbol}: reason", 0.5, 0.52, 0.6, {"total": 0.6})


def _result(*steps: Step) -> PlanResult:
    return PlanResult("plan" if steps else "nothing_to_do", "test", steps=steps,
                      current_score=0.5, end_state_score=0.55)


def _statuses(io: IoLoop, store: SqliteStore) -> dict[tuple[str, str], tuple[str, Any]]:
    rows = store.fetch_all("SELECT symbol, portfolio_hash, status, dismissed_by "
                                  "FROM recommendations")
    return {(r["symbol"], r["portfolio_hash"]): (r["status"], r["dismissed_by"]) for r in rows}


def test_dismissed_stays_dismissed_and_pending_is_refreshed(io: IoLoop,
                                                           store: SqliteStore) -> None:
    isins = {"AAPL.US": "US0378331005", "AMD.US": "US0079031078"}
    plan_repo.store_plan(store, _result(_step(1, "AAPL.US"), _step(2, "AMD.US")),
                                "a" * 16, "test", isins, 5.0, NOW)
    pending = plan_repo.pending_recommendations(store)
    assert [(p["step"], p["isin"], p["estimated_value"]) for p in pending] == \
        [(1, "US0378331005", "470.10"), (2, "US0079031078", "470.10")]
    assert plan_repo.dismiss_all_by_portfolio_hash(store, "a" * 16, NOW) == 2
    # The same plan for the same portfolio: the user's dismissal sticks.
    plan_repo.store_plan(store, _result(_step(1, "AAPL.US")), "a" * 16, "test", isins,
                                5.0, NOW)
    assert plan_repo.pending_recommendations(store) == []
    # A new portfolio: new rows; a later plan without them supersedes them.
    plan_repo.store_plan(store, _result(_step(1, "AMD.US", qty=7)), "b" * 16, "test",
                                isins, 5.0, NOW)
    assert [p["quantity"] for p in plan_repo.pending_recommendations(store)] == [7]
    plan_repo.store_plan(store, _result(), "b" * 16, "test", isins, 5.0, NOW)
    assert _statuses(io, store)[("AMD.US", "b" * 16)] == ("dismissed", "superseded")
    # ... and proposing it again makes it pending again (refreshed, same row).
    plan_repo.store_plan(store, _result(_step(1, "AMD.US", qty=7)), "b" * 16, "test",
                                isins, 5.0, NOW)
    assert _statuses(io, store)[("AMD.US", "b" * 16)] == ("pending", None)
    assert plan_repo.count_pending_by_side(store) == {"BUY": 1, "SELL": 0}
    assert plan_repo.mark_executed(store, "AMD.US", "BUY", "b" * 16, NOW) == 1
    latest = plan_repo.latest_plan(store)
    assert latest is not None and latest["result"]["steps"][0]["symbol"] == "AMD.US"


# ------------------------------------------------------------------- input gathering
def test_prices_are_aligned_on_the_union_of_days() -> None:
    d = [date(2024, 1, i) for i in (2, 3, 4)]
    out = aligned_prices([Closes.from_mapping({d[0]: 1.0, d[2]: 3.0}),
                          Closes.from_mapping({d[1]: 20.0, d[2]: -1.0})], 2)
    assert out.shape == (2, 2)
    assert np.isnan(out[0, 0]) and out[0, 1] == 3.0 and out[1, 0] == 20.0
    assert np.isnan(out[1, 1])  # a non-positive close is never a price


def _aligned_by_lookup(histories: list[dict[date, float]], days: int) -> np.ndarray:
    """The plain definition: the union of days, the last ``days`` of them, one lookup per
    security and day; missing and non-positive closes are NaN."""
    calendar = sorted(set().union(*histories))[-days:]
    out = np.array([[h.get(d, np.nan) for d in calendar] for h in histories],
                   dtype=np.float64).reshape(len(histories), len(calendar))
    out[~(out > 0)] = np.nan
    return out


@hyp_settings(max_examples=200, deadline=None)
@given(st.lists(st.dictionaries(st.integers(0, 60).map(lambda i: date(2024, 1, 1)
                                                         + timedelta(days=i)),
                                st.floats(-5, 500, allow_nan=False), max_size=40),
                min_size=1, max_size=6),
       st.integers(0, 70))
def test_aligned_prices_equal_one_lookup_per_day(histories: list[dict[date, float]],
                                                 days: int) -> None:
    got = aligned_prices([Closes.from_mapping(h) for h in histories], days)
    np.testing.assert_array_equal(got, _aligned_by_lookup(histories, days))


@hyp_settings(max_examples=100, deadline=None)
@given(st.sets(st.integers(0, 60), max_size=40),
       st.lists(st.lists(st.floats(-5, 500, allow_nan=False), min_size=40, max_size=40),
                min_size=1, max_size=5),
       st.integers(0, 70), st.booleans())
def test_aligned_prices_on_one_shared_calendar(days_set: set[int], values: list[list[float]],
                                               days: int, drop_first: bool) -> None:
    """The fast path: every security has the same days (one may lack the oldest)."""
    calendar = [date(2024, 1, 1) + timedelta(days=i) for i in sorted(days_set)]
    histories = [dict(zip(calendar, v, strict=False)) for v in values]
    if drop_first and calendar:
        histories[0].pop(calendar[0])
    got = aligned_prices([Closes.from_mapping(h) for h in histories], days)
    np.testing.assert_array_equal(got, _aligned_by_lookup(histories, days))


def test_planner_settings_follow_the_configured_values() -> None:
    settings = load_settings(None, environ={}).with_overrides(
        {"max_plan_depth": 2, "monte_carlo_path_count": 20, "min_cash_reserve": "750"})
    ps = planner_settings(settings)
    assert (ps.max_plan_depth, ps.monte_carlo_paths, ps.min_cash_reserve) == (2, 20, 750.0)
    assert ps.regime_cash_reserve["bear"] == 0.05


# ---------------------------------------------------------------------------- actor
@dataclass
class FakeBroker:
    """An account the test sets; ``fail`` makes ``account()`` raise."""

    snapshot: AccountSnapshot
    fail: bool = False
    simulated: bool = True

    async def account(self) -> AccountSnapshot:
        if self.fail:
            raise BrokerUnavailable("broker down")  # the port's failure type
        return self.snapshot


@dataclass
class Rig:
    io: IoLoop
    store: SqliteStore
    bus: ActorBus
    broker: FakeBroker
    published: list[object]


class Recorder(ActorBus):
    """A bus that also records what is published."""

    def __init__(self, sink: list[object]) -> None:
        super().__init__()
        self.sink = sink

    def publish(self, event: object) -> None:
        self.sink.append(event)
        super().publish(event)


@pytest.fixture
def rig(io: IoLoop, store: SqliteStore) -> Iterator[Rig]:
    settings: Settings = load_settings(None, environ={}).with_overrides(
        {"max_plan_depth": 2, "monte_carlo_path_count": 10, "planner_debounce_seconds": 1})
    published: list[object] = []
    bus = Recorder(published)
    broker = FakeBroker(AccountSnapshot((), (CashBalance("EUR", Decimal("10000")),), True))
    ctx = ActorContext(bus=bus, io=io, clock=ManualClock(NOW), settings=lambda: settings,
                       deps=wired(store=store, paper_broker=broker, broker=broker))
    bus.register("planner", PlannerActor.start(ctx, warm=False))
    yield Rig(io, store, bus, broker, published)


def _ask(rig: Rig, msg: object) -> Any:
    return rig.bus.ask("planner", msg, 60)


def test_empty_universe_is_an_explicit_nothing_to_do(rig: Rig) -> None:
    summary = _ask(rig, RequestPlan("test"))
    assert isinstance(summary, PlanSummary) and summary.ok
    assert summary.status == "nothing_to_do" and "empty universe" in summary.reason
    ready = [e for e in rig.published if isinstance(e, PlanReady)]
    assert len(ready) == 1 and ready[0].portfolio_hash == summary.portfolio_hash
    status = _ask(rig, GetPlan())
    assert isinstance(status, PlannerStatus) and status.last_summary == summary


def _seed_universe(rig: Rig, currency: str = "EUR", days: int = 300) -> None:
    rng = np.random.default_rng(3)
    rows = [{"isin": f"DE000000000{i}", "symbol": f"S{i}.DE", "name": f"S{i}",
             "currency": currency, "country": "Germany", "industry": "Software"}
            for i in range(3)]
    securities_repo.insert_securities(rig.store, rows, NOW)
    with rig.store.transaction() as tx:  # as the first trade sync leaves it
        trade_history_coverage.cover(tx, "research", [r["isin"] for r in rows], NOW)
    start = NOW.date() - timedelta(days=days)
    series: dict[str, tuple[list[PriceBar], list[Any]]] = {}
    for i, r in enumerate(rows):
        closes = 50 * np.exp(np.cumsum(rng.normal(0.0005 * (i + 1), 0.01, days)))
        series[r["isin"]] = ([PriceBar(start + timedelta(days=k), float(c), adj_close=float(c))
                              for k, c in enumerate(closes)], [])
    SqlitePriceHistory(rig.store).write_history(series, "test", NOW)


def test_missing_fx_excludes_the_currency_never_one_to_one(rig: Rig) -> None:
    _seed_universe(rig, currency="USD")
    rig.broker.snapshot = AccountSnapshot(
        (Position("S0.DE", Decimal(5), Decimal(40), Decimal(50), "USD"),),
        (CashBalance("USD", Decimal("5000")),), True)
    summary = _ask(rig, RequestPlan("test"))  # the USD holding and cash are not valued
    assert summary.ok and summary.status == "waiting" and summary.plan_id is None, summary
    assert "the FX rate of USD (positions and cash in it cannot be valued yet)" in \
        summary.reason, summary.reason
    assert any("no FX rate for USD" in w for w in summary.warnings)
    assert rig.store.fetch_one("SELECT COUNT(*) FROM plans")[0] == 0
    market_repo.write_fx(rig.store, [FxRate("USD", Decimal("0.9"), NOW.date(),
                                                       NOW, "test")], NOW)
    summary = _ask(rig, RequestPlan("test"))
    assert not any("no FX rate" in w for w in summary.warnings)
    # the USD universe and cash are in the plan now (its three rising walks all sit at
    # their 52-week high, so the cash waits, and the plan says why)
    assert summary.ok and summary.status == "nothing_to_do", summary
    assert "cash 4000 EUR above the reserve is not deployed: every candidate is blocked " \
        "by a safety rule (near the 52-week high: 3)" in summary.reason, summary.reason


def test_a_holding_without_imported_trade_history_is_waited_for(rig: Rig) -> None:
    _seed_universe(rig)
    rig.store.execute("DELETE FROM trade_history_coverage WHERE isin = 'DE0000000000'")
    rig.broker.snapshot = AccountSnapshot(
        (Position("S0.DE", Decimal(5), Decimal(40), Decimal(50), "EUR"),),
        (CashBalance("EUR", Decimal("5000")),), True)
    summary = _ask(rig, RequestPlan("test"))
    assert summary.ok and summary.status == "waiting" and summary.plan_id is None
    assert "the trade history of held S0.DE" in summary.reason, summary.reason
    assert rig.store.fetch_one("SELECT COUNT(*) FROM plans")[0] == 0
    with rig.store.transaction() as tx:  # the trade sync imported it
        trade_history_coverage.cover(tx, "research", ["DE0000000000"], NOW)
    summary = _ask(rig, RequestPlan("test"))
    assert summary.status != "waiting" and summary.plan_id is not None, summary


def test_holdings_wait_for_the_universe_while_it_is_empty(rig: Rig) -> None:
    rig.broker.snapshot = AccountSnapshot(
        (Position("S0.DE", Decimal(5), Decimal(40), Decimal(50), "EUR"),),
        (CashBalance("EUR", Decimal("5000")),), True)
    summary = _ask(rig, RequestPlan("test"))
    assert summary.ok and summary.status == "waiting", summary
    assert "the universe (not seeded yet: held S0.DE would be left out)" in summary.reason
    _seed_universe(rig)
    summary = _ask(rig, RequestPlan("test"))
    assert summary.status != "waiting" and summary.plan_id is not None, summary
    rig.broker.snapshot = AccountSnapshot(  # outside a universe that exists: a warning
        (Position("XX.DE", Decimal(5), Decimal(40), Decimal(50), "EUR"),),
        (CashBalance("EUR", Decimal("5000")),), True)
    summary = _ask(rig, RequestPlan("test"))
    assert summary.plan_id is not None, summary
    assert "held XX.DE not in the universe: left out of this plan" in summary.warnings


def test_cash_only_account_gets_an_answer_with_a_reason(rig: Rig) -> None:
    _seed_universe(rig)
    summary = _ask(rig, RequestPlan("test"))
    assert summary.ok and summary.status == "nothing_to_do", summary
    assert "cash 9500 EUR above the reserve is not deployed: every candidate is blocked " \
        "by a safety rule (near the 52-week high: 3)" in summary.reason, summary.reason
    rig.broker.snapshot = AccountSnapshot((), (), True)  # nothing at all
    summary = _ask(rig, RequestPlan("test"))
    assert summary.status == "nothing_to_do" and "no cash" in summary.reason


def test_a_broker_failure_is_reported_not_raised(rig: Rig) -> None:
    rig.broker.fail = True
    summary = _ask(rig, RequestPlan("test"))
    assert not summary.ok and "broker down" in summary.reason
    outcome = _ask(rig, RunJob("planner", "r1"))
    assert not outcome.ok and "broker down" in outcome.summary
    assert _ask(rig, RunJob("nope", "r2")).ok is False


def test_autonomous_execution_with_nothing_pending(rig: Rig) -> None:
    outcome = _ask(rig, RunJob("autonomous_execution", "r1"))
    assert outcome.ok and "no pending recommendation" in outcome.summary


def test_prices_updated_triggers_a_debounced_plan(rig: Rig) -> None:
    from daemon_harness import wait_for

    rig.bus.tell("planner", PricesUpdated({}, {}, (), NOW))
    rig.bus.tell("planner", PricesUpdated({}, {}, (), NOW))
    wait_for(lambda: any(isinstance(e, PlanReady) for e in rig.published), 10, "a plan")
    rig.bus.tell("planner", DepositReceived("k", Decimal(5), "EUR", Decimal(5), NOW.date(), ()))
    wait_for(lambda: sum(isinstance(e, PlanReady) for e in rig.published) == 2, 10, "plan 2")
    rows = rig.store.fetch_all("SELECT trigger FROM plans ORDER BY id")
    assert [r["trigger"] for r in rows] == ["prices_updated", "deposit_received"]


def test_kernels_are_warmed_in_the_background_at_start(io: IoLoop,
                                                       store: SqliteStore) -> None:
    from daemon_harness import wait_for

    settings = load_settings(None, environ={})
    bus = ActorBus()
    ctx = ActorContext(bus=bus, io=io, clock=ManualClock(NOW), settings=lambda: settings,
                       deps=wired(store=store))
    bus.register("planner", PlannerActor.start(ctx))
    first = bus.ask("planner", GetPlan(), 5)  # answers at once, while warming
    assert isinstance(first, PlannerStatus) and first.last_summary is None
    wait_for(lambda: bus.ask("planner", GetPlan(), 5).warmed_up, 60, "warm kernels")


class FakeIndex:
    """A market-data source with only the S&P 500 (or nothing)."""

    def __init__(self, closes: list[float] | None) -> None:
        self.closes = closes
        self.calls = 0

    def history(self, symbol: str, start: date, end: date) -> Any:
        self.calls += 1
        if self.closes is None:
            raise UnknownSymbol("no index")
        bars = [PriceBar(start + timedelta(days=k), c) for k, c in enumerate(self.closes)]
        return type("H", (), {"bars": bars})()


def test_regime_comes_from_the_index_once_a_day(io: IoLoop, store: SqliteStore) -> None:
    from arduino_trader.actors.planner_inputs import InputGatherer

    settings = load_settings(None, environ={})
    account = AccountSnapshot((), (CashBalance("EUR", Decimal(1000)),), True)
    falling = FakeIndex([100 * 0.99 ** k for k in range(60)])
    cache: dict[date, float] = {}
    indicators: dict[date, Any] = {}
    first = InputGatherer(io, store, falling, cache, indicators_cache=indicators).gather(
        account, "research", settings, NOW)
    assert first.plan_input.regime_score < -0.3  # a steady fall is a bear market
    again = InputGatherer(io, store, falling, cache, indicators_cache=indicators).gather(
        account, "research", settings, NOW)
    assert again.plan_input.regime_score == first.plan_input.regime_score
    # the forward indicators: last closes of ^VIX, ^TNX and ^IRX (all the fake's series)
    vix = 100 * 0.99 ** 59
    assert again.plan_input.market == MarketIndicators(vix, 0.0, None)
    assert again.details["market_indicators"]["vix"] == vix
    assert falling.calls == 1 + len(FORWARD_SYMBOLS)  # each series once a day
    missing = InputGatherer(io, store, FakeIndex(None)).gather(account, "research", settings,
                                                               NOW)
    assert missing.plan_input.regime_score == 0.0
    assert missing.plan_input.market == MarketIndicators()  # unknown: adjustment 0
    assert any("regime neutral" in w for w in missing.warnings)
    assert missing.details["cash_eur"] == 1000.0 and missing.details["current_weights"] == {}


def test_cached_history_inputs_equal_fresh_ones_and_the_hash_needs_no_history(
        rig: Rig) -> None:
    """The planner's history cache gives the same planning input as fresh reads after a
    new day and a revision; the portfolio hash alone equals the gathered one."""
    _seed_universe(rig)
    rig.broker.snapshot = AccountSnapshot(
        (Position("S1.DE", Decimal(5), Decimal(40), Decimal(50), "EUR"),),
        (CashBalance("EUR", Decimal("5000")),), True)
    settings = load_settings(None, environ={})
    cache = HistoryCache(SqlitePriceHistory(rig.store))

    def both() -> tuple[Any, Any]:
        cached = InputGatherer(rig.io, rig.store, None, history=cache).gather(
            rig.broker.snapshot, "research", settings, NOW)
        fresh = InputGatherer(rig.io, rig.store, None).gather(
            rig.broker.snapshot, "research", settings, NOW)
        return cached, fresh

    for change in (None, (NOW.date(), 61.0), (NOW.date() - timedelta(days=40), 55.5)):
        if change is not None:
            SqlitePriceHistory(rig.store).write_history({"DE0000000001": (
                [PriceBar(change[0], change[1])], [])}, "test", NOW)
        cached, fresh = both()
        np.testing.assert_array_equal(cached.plan_input.prices, fresh.plan_input.prices)
        assert cached.portfolio_hash == fresh.portfolio_hash == InputGatherer(
            rig.io, rig.store, None).portfolio_hash(rig.broker.snapshot, "research")
    assert 55.5 in fresh.plan_input.prices and 61.0 in fresh.plan_input.prices
