"""The market-data actor with a scripted source: seeding, history, prices, staleness,
quarantine, onboarding, FX and health reports."""

from __future__ import annotations

import time
from collections.abc import Iterator, Sequence
from dataclasses import replace
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from itertools import pairwise
from typing import Any, Literal

import pykka
import pytest

from arduino_trader.actors.base import ActorContext
from arduino_trader.actors.market_data import MarketDataActor
from arduino_trader.adapters.clock import ManualClock
from arduino_trader.adapters.market_data.calendars import MarketCalendars
from arduino_trader.adapters.store import securities_repo
from arduino_trader.adapters.store.sqlite import SqliteStore
from arduino_trader.config.settings import defaults
from arduino_trader.daemon.io_loop import IoLoop
from arduino_trader.domain.price_series import monthly_means
from arduino_trader.domain.universe import IdentifierError
from arduino_trader.protocols.market_data import (
    AddSecurity,
    AnalystData,
    EmptyHistory,
    Fundamentals,
    FxRate,
    GetFxRate,
    GetQuotes,
    Listing,
    ListingMismatch,
    MarketData,
    MarketDataUnavailable,
    MonthlyPrice,
    PriceBar,
    PriceHistory,
    PricesUpdated,
    Quote,
    RateLimited,
    RateUnavailable,
    RefreshSecurity,
    SecurityAdded,
    SecurityInfo,
    UnknownSymbol,
)
from arduino_trader.protocols.messages import ComponentStatus, JobOutcome, RunJob
from tests.wiring import wired

NOW = datetime(2024, 6, 3, 20, 30, tzinfo=UTC)
AAPL = SecurityInfo("AAPL.US", "AAPL", "Apple Inc.", "USD", "US0378331005", "NasdaqGS",
                    "XNAS", "United States", "Consumer Electronics", "EQUITY")
SAP = SecurityInfo("SAP.DE", "SAP.DE", "SAP SE", "EUR", "DE0007164600", "XETRA", "XETR",
                   "Germany", "Software", "EQUITY")


class FakeSource:
    """A scripted MarketData source."""

    name = "fake"

    def __init__(self, clock: ManualClock) -> None:
        self.clock = clock
        self.directory = [AAPL]
        self.prices: dict[str, float] = {"AAPL": 190.0, "SAP.DE": 170.0}
        self.fail: Exception | None = None
        self.fx: dict[str, Decimal] = {"USD": Decimal("0.92")}
        self.currency: dict[str, str] = {"AAPL": "USD", "SAP.DE": "EUR"}
        self.history_calls: list[tuple[str, date, date]] = []

    def reference_time(self, now: datetime) -> datetime:
        return now

    def quotes(self, symbols: Sequence[str]) -> dict[str, Quote]:
        if self.fail is not None:
            raise self.fail
        return {s: Quote(s, self.prices[s], self.currency.get(s, "USD"), self.clock.now(),
                         self.name)
                for s in symbols if s in self.prices}

    def history(self, symbol: str, start: date, end: date) -> PriceHistory:
        self.history_calls.append((symbol, start, end))
        if self.fail is not None:
            raise self.fail
        base = self.prices.get(symbol)
        if base is None:
            raise EmptyHistory(symbol)
        days = [start + timedelta(days=i) for i in range((end - start).days + 1)]
        bars = tuple(PriceBar(d, base * (1 + 0.0001 * i)) for i, d in enumerate(days)
                     if d.weekday() < 5)
        return PriceHistory(symbol, self.currency.get(symbol, "USD"), bars, self.clock.now(),
                            self.name)

    def monthly(self, symbol: str, start: date, end: date) -> list[MonthlyPrice]:
        return monthly_means(self.history(symbol, start, end).bars)

    def fundamentals(self, symbol: str) -> Fundamentals:
        return Fundamentals(symbol, self.clock.now(), {"trailingPE": 30.0})

    def analyst(self, symbol: str) -> AnalystData:
        raise MarketDataUnavailable("no analyst data")

    def lookup(self, identifier: str, listing: Listing | None = None) -> SecurityInfo:
        for info in [AAPL, SAP]:
            if identifier in (info.isin, info.symbol, info.yahoo_symbol):
                if listing is not None and listing.currency != info.currency:
                    raise ListingMismatch(f"{identifier} is {info.currency}")
                return info
        raise UnknownSymbol(identifier)

    def universe(self) -> list[SecurityInfo]:
        return list(self.directory)

    def fx_rate(self, currency: str) -> FxRate:
        if currency not in self.fx:
            raise RateUnavailable(currency)
        now = self.clock.now()
        return FxRate(currency, self.fx[currency], now.date(), now, self.name)


class RecordingBus:
    """Records what the actor tells and publishes."""

    def __init__(self) -> None:
        self.told: list[tuple[str, object]] = []
        self.published: list[object] = []

    def tell(self, actor: str, message: object) -> None:
        self.told.append((actor, message))

    def ask(self, actor: str, message: object, timeout: float) -> Any:
        raise AssertionError("not used")

    def publish(self, event: object) -> None:
        self.published.append(event)

    def components(self) -> list[ComponentStatus]:
        return [m for _, m in self.told if isinstance(m, ComponentStatus)]


class Env:
    def __init__(self, ref: pykka.ActorRef[Any], source: FakeSource, bus: RecordingBus,
                 clock: ManualClock, io: IoLoop, store: SqliteStore, ctx: ActorContext) -> None:
        self.ref, self.source, self.bus, self.clock = ref, source, bus, clock
        self.io, self.store, self.ctx = io, store, ctx

    def job(self, name: str, trigger: Literal["schedule", "manual"] = "manual") -> JobOutcome:
        out = self.ref.ask(RunJob(name, "r1", trigger), timeout=30)
        assert isinstance(out, JobOutcome)
        return out

    def ask(self, message: object) -> Any:
        return self.ref.ask(message, timeout=10)

    def rewire(self, **adapters: Any) -> None:
        """Restart the actor with ``adapters`` wired in as well."""
        self.ref.stop()
        self.ctx = replace(self.ctx, deps=replace(self.ctx.deps, **adapters))
        self.ref = MarketDataActor.start(self.ctx, source=self.source,
                                         calendars=MarketCalendars(today=NOW.date()))

    def q(self, sql: str, params: Sequence[Any] = ()) -> list[Any]:
        return [tuple(r) for r in self.store.fetch_all(sql, params)]


@pytest.fixture
def env(io: IoLoop, store: SqliteStore) -> Iterator[Env]:
    clock = ManualClock(NOW)
    source = FakeSource(clock)
    typed: MarketData = source  # the fake honours the port (checked by mypy)
    assert typed.monthly("AAPL", date(2024, 1, 1), date(2024, 2, 29))[1].month == "2024-02"
    source.history_calls.clear()
    bus = RecordingBus()
    ctx = ActorContext(bus=bus, io=io, clock=clock, settings=defaults, deps=wired(
        store=store))
    ref = MarketDataActor.start(ctx, source=source,
                                calendars=MarketCalendars(today=NOW.date()))
    env = Env(ref, source, bus, clock, io, store, ctx)
    yield env
    env.ref.stop()


def test_seed_and_history_are_idempotent(env: Env) -> None:
    out = env.job("sync_securities_data")
    assert out.ok and out.details["seeded"] == 1 and out.details["processed"] == [AAPL.isin]
    rows = env.q("SELECT COUNT(*), MIN(day), MAX(day) FROM price_history")[0]
    assert rows[0] > 2500 and rows[2] == "2024-06-03"
    assert env.source.history_calls[0][1] <= date(2014, 6, 4)  # 10 y seed
    sec = env.q("SELECT last_synced FROM securities")[0]
    assert sec[0] == int(NOW.timestamp())
    data = env.q("SELECT kind FROM security_data")
    assert data == [("fundamentals",)]
    # Not due again within 24 h; a forced refresh re-reads nothing new.
    assert env.job("sync_securities_data").details["processed"] == []
    assert env.job("refresh_all_securities").ok
    assert env.q("SELECT COUNT(*) FROM price_history")[0][0] == rows[0]
    assert env.q("SELECT COUNT(*) FROM securities")[0][0] == 1


def test_prices_published_then_kept_stale_when_the_source_fails(env: Env) -> None:
    env.job("sync_securities_data")
    out = env.job("sync_prices")
    assert out.ok and out.details["updated"] == 1
    event = [e for e in env.bus.published if isinstance(e, PricesUpdated)][-1]
    assert event.prices == {AAPL.isin: 190.0} and event.stale == ()
    assert env.bus.components()[-1].level == "ok"

    env.source.fail = MarketDataUnavailable("connection refused")
    env.clock.advance(timedelta(hours=49))
    out = env.job("sync_prices")
    assert not out.ok
    event = [e for e in env.bus.published if isinstance(e, PricesUpdated)][-1]
    assert event.prices == {AAPL.isin: 190.0} and event.stale == (AAPL.isin,)
    status = env.bus.components()[-1]
    assert status.level == "degraded" and "market_data_unavailable" in status.message
    quotes = env.ask(GetQuotes())
    assert quotes[AAPL.isin]["stale"] is True and quotes[AAPL.isin]["price"] == 190.0

    env.source.fail = None
    assert env.job("sync_prices").ok
    assert env.bus.components()[-1].level == "ok"


def test_an_unchanged_price_sync_publishes_nothing_new(env: Env) -> None:
    """Subscribers revalue and re-plan on PricesUpdated: a sync that changes no price,
    quote time or staleness does not publish it again; a new quote does."""
    env.job("sync_securities_data")

    def events() -> list[PricesUpdated]:
        return [e for e in env.bus.published if isinstance(e, PricesUpdated)]

    assert env.job("sync_prices").ok
    assert env.job("sync_prices").ok  # every quote cached: the same answer
    assert len(events()) == 1
    env.source.prices["AAPL"] = 191.5
    env.clock.advance(timedelta(hours=1))  # past the quote cache
    assert env.job("sync_prices").ok
    assert [e.prices[AAPL.isin] for e in events()] == [190.0, 191.5]


def test_rate_limit_is_typed_and_degrades(env: Env) -> None:
    env.job("sync_securities_data")
    env.source.fail = RateLimited("429")
    assert not env.job("sync_prices").ok
    assert "rate_limited" in env.bus.components()[-1].message


def test_anomalous_quote_is_quarantined_never_stored(env: Env) -> None:
    env.job("sync_securities_data")
    env.job("sync_prices")
    env.source.prices["AAPL"] = 1900.0 * 10
    out = env.job("sync_prices")
    assert out.details["quarantined"] == 1
    assert env.q("SELECT price FROM latest_prices") == [(190.0,)]
    assert env.q("SELECT reason FROM price_quarantine")[0][0] in ("jump", "anomaly")


def test_prices_in_another_currency_are_never_taken_for_the_security(env: Env) -> None:
    """A source relabelling a listing (pounds for a dollar stock) hands out another
    security's numbers: the quote is quarantined, the history stored not at all."""
    env.job("sync_securities_data")
    env.job("sync_prices")
    stored = env.q("SELECT COUNT(*) FROM price_history")
    env.source.currency["AAPL"] = "GBP"
    env.source.prices["AAPL"] = 191.0
    out = env.job("sync_prices")
    assert out.details["quarantined"] == 1
    assert env.q("SELECT price FROM latest_prices") == [(190.0,)]
    assert env.q("SELECT reason, detail FROM price_quarantine") == [
        ("currency", "priced in GBP, the security trades in USD")]
    env.clock.advance(timedelta(days=2))
    out = env.job("sync_historical")
    assert [e["error"] for e in out.details["errors"]] == ["currency_mismatch"], out
    assert env.q("SELECT COUNT(*) FROM price_history") == stored


def test_history_failure_is_reported_per_security(env: Env) -> None:
    env.source.fail = MarketDataUnavailable("timeout")
    out = env.job("sync_securities_data")
    assert out.details["errors"][0]["error"] == "market_data_unavailable"
    assert env.q("SELECT last_synced FROM securities") == [(None,)]
    assert env.bus.components()[-1].level == "degraded"


def _wait_rows(env: Env, isin: str) -> int:
    for _ in range(100):
        n = env.q("SELECT COUNT(*) FROM price_history WHERE isin = ?", (isin,))[0][0]
        if n:
            return int(n)
        time.sleep(0.05)
    return 0


def test_add_security_by_identifier(env: Env) -> None:
    record = env.ask(AddSecurity("DE0007164600", {"min_lot": 5}))
    assert record["symbol"] == "SAP.DE" and record["min_lot"] == 5 and record["mic"] == "XETR"
    assert any(isinstance(e, SecurityAdded) for e in env.bus.published)
    assert _wait_rows(env, "DE0007164600") > 2000  # background history seed
    with pytest.raises(securities_repo.DuplicateSecurity):
        env.ask(AddSecurity("SAP.DE"))
    with pytest.raises(IdentifierError, match="check digit"):
        env.ask(AddSecurity("DE0007164601"))
    with pytest.raises(UnknownSymbol):
        env.ask(AddSecurity("NOPE.US"))
    with pytest.raises(IdentifierError):
        env.ask(AddSecurity(""))
    refreshed = env.ask(RefreshSecurity("DE0007164600"))
    assert refreshed["synced"] and refreshed["daily_rows"] > 2000
    with pytest.raises(LookupError):
        env.ask(RefreshSecurity("US5949181045"))


def test_fx_never_one_to_one(env: Env) -> None:
    assert env.ask(GetFxRate("USD")).eur_per == Decimal("0.92")
    assert env.ask(GetFxRate("EUR")).eur_per == 1
    with pytest.raises(RateUnavailable):
        env.ask(GetFxRate("GBP"))
    # The stored rate is the fallback while the source fails (within fx_max_age_days).
    env.source.fx.clear()
    env.clock.advance(timedelta(hours=2))  # past the 60 min cache
    rate = env.ask(GetFxRate("USD"))
    assert rate.eur_per == Decimal("0.92") and rate.day == NOW.date()
    env.clock.advance(timedelta(days=10))
    with pytest.raises(RateUnavailable):
        env.ask(GetFxRate("USD"))


def test_broker_rates_come_first(env: Env) -> None:
    env.rewire(broker_fx=lambda code: Decimal("0.9100"))
    env.job("sync_securities_data")
    out = env.job("sync_fx")
    assert out.ok and out.details["rates"] == {"USD": "0.9100"}
    assert env.q("SELECT currency, eur_per, source FROM fx_rates") == [
        ("USD", "0.91", "broker")]


def test_rebuild_needs_the_broker(env: Env) -> None:
    out = env.job("rebuild_universe")
    assert not out.ok and "broker" in out.summary
    env.rewire(broker_positions=lambda: ["SAP.DE", "AAPL.US", "NOPE.US"])
    out = env.job("rebuild_universe")
    assert out.details["status"] == "partial_success"
    assert out.details["added"] == ["DE0007164600", "US0378331005"]
    assert out.details["errors"][0]["symbol"] == "NOPE.US"


def test_unknown_job_is_refused(env: Env) -> None:
    assert not env.job("nope").ok


def test_scheduled_price_sync_uses_the_quote_cache(env: Env) -> None:
    env.job("sync_securities_data")
    env.clock.advance(timedelta(hours=18))  # Tuesday 10:30 New York: the market is open
    assert env.job("sync_prices", "schedule").details["updated"] == 1
    env.source.prices["AAPL"] = 191.0
    out = env.job("sync_prices", "schedule")
    assert out.ok and out.details["cached"] == 1 and out.details["updated"] == 0
    env.clock.advance(301)  # past market_data.quote_ttl_s
    assert env.job("sync_prices", "schedule").details["updated"] == 1
    assert env.q("SELECT price FROM latest_prices") == [(191.0,)]


def test_calendar_ending_soon_for_a_held_exchange_degrades(io: IoLoop,
                                                           store: SqliteStore) -> None:
    clock = ManualClock(datetime(2026, 11, 20, 9, 0, tzinfo=UTC))
    source = FakeSource(clock)
    shanghai = SecurityInfo("600519.SS", "600519.SS", "Kweichow Moutai", "CNY", "CNE0000018R8",
                            "Shanghai", "XSHG", "China", "Beverages", "EQUITY")
    source.directory = [shanghai]
    source.prices["600519.SS"] = 1500.0
    source.currency["600519.SS"] = "CNY"
    bus = RecordingBus()
    ctx = ActorContext(bus=bus, io=io, clock=clock, settings=defaults,
                       deps=wired(store=store))
    ref = MarketDataActor.start(ctx, source=source,
                                calendars=MarketCalendars(today=clock.now().date()))
    try:
        out: Any = ref.ask(RunJob("sync_securities_data", "r", "manual"), timeout=30)
        assert out.ok
        status = bus.components()[-1]
        assert status.level == "degraded" and "XSHG calendar ends 2026-12-31" in status.message
    finally:
        ref.stop()


def test_scheduled_price_sync_skips_closed_markets_already_priced(env: Env) -> None:
    env.job("sync_securities_data")
    assert env.job("sync_prices", "schedule").details["updated"] == 1  # 16:30 New York
    env.clock.advance(timedelta(hours=4, minutes=30))  # 01:00 UTC Tuesday: XNAS closed
    out = env.job("sync_prices", "schedule")
    assert out.details["updated"] == 0 and out.details["cached"] == 1
    env.clock.advance(timedelta(hours=13, minutes=45))  # 14:45 UTC: open again
    assert env.job("sync_prices", "schedule").details["updated"] == 1
    env.clock.advance(timedelta(days=5))  # Sunday: closed, stored quote older than Friday's close
    assert env.job("sync_prices", "schedule").details["updated"] == 1
    assert env.job("sync_prices", "manual").details["updated"] == 1  # manual always refreshes


def test_top_up_stores_only_what_differs_from_the_last_answer(env: Env) -> None:
    """A daily top-up re-reads a year from the source but validates and writes only new
    or revised bars; the stored history equals what a full re-validation would give."""
    revised: dict[date, float] = {}

    def stable(symbol: str, start: date, end: date) -> PriceHistory:
        days = [start + timedelta(days=i) for i in range((end - start).days + 1)]
        bars = tuple(PriceBar(d, revised.get(d, 100.0 + d.toordinal() % 7)) for d in days
                     if d.weekday() < 5)
        return PriceHistory(symbol, "USD", bars, env.clock.now(), "fake")

    env.source.history = stable  # type: ignore[method-assign]
    assert env.job("sync_securities_data").ok

    def logged() -> int:
        return int(env.q("SELECT COUNT(*) FROM history_change_log")[0][0])

    seeded = logged()
    env.clock.advance(timedelta(days=2))  # Wednesday: Tuesday and Wednesday are new
    assert env.job("sync_historical").ok
    assert logged() == seeded + 2
    env.clock.advance(timedelta(days=2))
    old = date(2024, 5, 21)
    revised[old] = 104.5  # the source revises a close inside the top-up year
    assert env.job("sync_historical").ok
    assert logged() == seeded + 5  # Thursday, Friday and the revised bar only
    assert env.q("SELECT close FROM price_history WHERE day = ?",
                 (old.isoformat(),)) == [(104.5,)]
    env.clock.advance(timedelta(days=3))  # Monday
    revised[date(2024, 5, 28)] = 0.0  # a bad revision is quarantined, never stored
    assert env.job("sync_historical").ok
    assert env.q("SELECT reason FROM price_quarantine WHERE day = '2024-05-28'") == [
        ("non_positive",)]
    assert env.q("SELECT close FROM price_history WHERE day = '2024-05-28'") != [(0.0,)]
    # New days are judged against the stored closes before them (kept in memory).
    env.clock.advance(timedelta(days=2))  # Wednesday 2024-06-12
    revised[date(2024, 6, 11)] = 1000.0
    assert env.job("sync_historical").ok
    assert env.q("SELECT reason FROM price_quarantine WHERE day = '2024-06-11'") == [
        ("split",)]  # ×10 against Monday's stored close
    assert env.q("SELECT COUNT(*) FROM price_history WHERE day >= '2024-06-11'") == [(1,)]


def test_calendars_built_for_a_span_serve_all_of_it() -> None:
    """Weekly rebuilds on wall time; a backtest's calendar (long history) is not rebuilt
    while the simulated days stay inside the span it was built for."""
    wall = MarketCalendars(today=date(2024, 6, 3))
    assert not wall.outdated(date(2024, 6, 10)) and wall.outdated(date(2024, 6, 11))
    assert not wall.outdated(date(2024, 5, 27)) and wall.outdated(date(2024, 5, 26))
    span = MarketCalendars(history_days=3700, today=date(2021, 12, 31))
    assert not span.outdated(date(2012, 1, 3)) and not span.outdated(date(2021, 12, 31))
    assert span.outdated(date(2011, 1, 3)) and span.outdated(date(2022, 1, 10))


def test_a_split_adjusted_re_read_rescales_the_stored_history(env: Env) -> None:
    """Yahoo's closes are split-adjusted: after a 4-for-1 split the top-up window comes
    back divided by 4 before the split day, with the split event. The stored history
    older than the window and the latest quote join that scale in the same write: no
    "split" quarantine, no fake step, and the post-split quote is accepted."""
    split_day = date(2024, 6, 10)
    splits: tuple[tuple[date, float], ...] = ()

    def raw(day: date) -> float:
        return 400.0 + day.toordinal() % 5

    def adjusted(symbol: str, start: date, end: date) -> PriceHistory:
        scale = 4.0 if splits else 1.0  # once split, Yahoo divides every earlier bar
        days = [start + timedelta(days=i) for i in range((end - start).days + 1)]
        bars = tuple(PriceBar(d, raw(d) / scale, volume=1000.0 * scale)
                     for d in days if d.weekday() < 5)
        return PriceHistory(symbol, "USD", bars, env.clock.now(), "fake",
                            tuple(s for s in splits if start <= s[0] <= end))

    env.source.history = adjusted  # type: ignore[method-assign]
    env.source.prices["AAPL"] = raw(NOW.date())
    assert env.job("sync_securities_data").ok
    assert env.job("sync_prices").ok
    old_day = date(2015, 6, 3)
    assert env.q("SELECT close FROM price_history WHERE day = ?", (old_day.isoformat(),)) == [
        (raw(old_day),)]

    env.clock.advance(timedelta(days=9))  # Wednesday 2024-06-12, two days after the split
    splits = ((split_day, 4.0),)
    env.source.prices["AAPL"] = raw(date(2024, 6, 12)) / 4.0
    assert env.job("sync_historical").ok
    assert env.q("SELECT COUNT(*) FROM price_quarantine") == [(0,)]
    assert env.q("SELECT close, volume FROM price_history WHERE day = ?",
                 (old_day.isoformat(),)) == [(raw(old_day) / 4.0, 4000.0)]
    closes = [c for (c,) in env.q("SELECT close FROM price_history ORDER BY day")]
    steps = [b / a for a, b in pairwise(closes)]
    assert max(steps) < 1.02 and min(steps) > 0.98  # one scale end to end
    assert env.q("SELECT price FROM latest_prices") == [(raw(NOW.date()) / 4.0,)]
    out = env.job("sync_prices")
    assert out.details["updated"] == 1 and out.details["quarantined"] == 0


def test_a_split_like_quote_re_reads_the_history_at_once(env: Env) -> None:
    """The history is up to date (no top-up due) when the split happens: the quote is
    quarantined as a split-like move, which makes the actor re-read the history then
    (not a day later, while the broker already holds four times the shares); the next
    quote is accepted on the adjusted scale. The re-read is not repeated within the hour."""
    split_day = date(2024, 6, 4)
    splits: tuple[tuple[date, float], ...] = ()

    def raw(day: date) -> float:
        return 400.0 + day.toordinal() % 5

    reads: list[date] = []

    def adjusted(symbol: str, start: date, end: date) -> PriceHistory:
        reads.append(end)
        scale = 4.0 if splits else 1.0
        days = [start + timedelta(days=i) for i in range((end - start).days + 1)]
        return PriceHistory(symbol, "USD", tuple(PriceBar(d, raw(d) / scale) for d in days
                                                 if d.weekday() < 5),
                            env.clock.now(), "fake", splits)

    env.source.history = adjusted  # type: ignore[method-assign]
    env.source.prices["AAPL"] = raw(NOW.date())
    assert env.job("sync_securities_data").ok and env.job("sync_prices").ok
    env.clock.advance(timedelta(hours=20))  # Tuesday 16:30 UTC, the split day, market open
    splits = ((split_day, 4.0),)
    env.source.prices["AAPL"] = raw(split_day) / 4.0
    reads.clear()
    out = env.job("sync_prices")
    assert out.details["quarantined"] == 1 and reads == [split_day]
    assert env.q("SELECT close FROM price_history WHERE day = '2024-06-03'") == [
        (raw(NOW.date()) / 4.0,)]
    assert env.q("SELECT price FROM latest_prices") == [(raw(NOW.date()) / 4.0,)]
    env.clock.advance(timedelta(minutes=10))
    out = env.job("sync_prices")
    assert out.details["updated"] == 1 and out.details["quarantined"] == 0
    assert reads == [split_day]
    # A split-like quote the history does not explain: re-read at most hourly.
    env.source.prices["AAPL"] = raw(split_day)
    for minutes, expected in ((10, 1), (10, 1), (60, 2)):
        env.clock.advance(timedelta(minutes=minutes))
        assert env.job("sync_prices").details["quarantined"] == 1
        assert len(reads) == expected
