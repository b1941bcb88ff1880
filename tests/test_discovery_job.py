"""The discovery job where the broker gives no screen: the market-data source screens
(Yahoo's screener, read from a recorded answer on a fake Yahoo at 127.0.0.1), the broker's
finder supplies the ISIN, filters and the volume rule apply, failed adds are retried."""

from __future__ import annotations

import json
import math
from collections.abc import Iterator, Sequence
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from yfinance.data import YfData

from arduino_trader.actors.base import ActorContext
from arduino_trader.actors.discovery import run_discovery
from arduino_trader.adapters.clock import ManualClock
from arduino_trader.adapters.market_data.replay_source import ReplaySource
from arduino_trader.adapters.market_data.yfinance_source import YFinanceSource
from arduino_trader.adapters.store.sqlite import SqliteStore
from arduino_trader.config.settings import Settings, load_settings
from arduino_trader.daemon.io_loop import IoLoop
from arduino_trader.protocols.broker import FinderHit
from arduino_trader.protocols.broker_errors import BrokerUnavailable, BrokerUnsupported
from arduino_trader.protocols.market_data import (
    AddSecurity,
    EmptyHistory,
    MarketDataUnavailable,
    PriceBar,
    PriceHistory,
    SecurityInfo,
    UnknownSymbol,
)
from tests.wiring import wired
from tests.yahoo_fake import LocalYahooSession, fake_yahoo, fixture

NOW = datetime(2026, 5, 15, 2, 0, tzinfo=UTC)
MSFT, SAP = "US5949181045", "DE0007164600"


# ------------------------------------------------------------- Yahoo's screener
@pytest.fixture
def yahoo(tmp_path: Path) -> Iterator[tuple[YFinanceSource, Any]]:
    YfData.cache_get.cache_clear()
    with fake_yahoo() as (fake, port):
        fake.screener = fixture("screener_dayvolume.json")
        source = YFinanceSource(LocalYahooSession(port), ManualClock(NOW), min_interval_s=0.0,
                                retries=0, cache_dir=tmp_path / "yf", sleep=lambda _: None)
        yield source, fake
    YfData.cache_get.cache_clear()


def test_yahoo_screener_reads_equities_with_their_venue(
        yahoo: tuple[YFinanceSource, Any]) -> None:
    source, fake = yahoo
    found = source.screen(["US", "EU", "ASIA"], 1_000_000, 40)
    assert [(s.symbol, s.currency, s.mic) for s in found] == [
        ("MSFT", "USD", "XNAS"), ("SAP.DE", "EUR", "XETR"), ("7203.T", "JPY", "XTKS"),
        ("ULVR.L", "GBP", "XLON")]  # the ETF is skipped; pence are pounds
    assert all(s.isin is None and s.name for s in found)
    (body,) = [json.loads(b) for b in fake.posted]
    assert (body["size"], body["sortField"], body["sortType"]) == (40, "dayvolume", "DESC")
    region, volume = body["query"]["operands"]
    assert region["operator"] == "OR"  # yfinance writes is-in as OR of EQs
    codes = {op["operands"][1] for op in region["operands"]}
    assert {"us", "de", "gb", "jp"} <= codes and all(
        op["operands"][0] == "region" for op in region["operands"])
    assert (volume["operator"], volume["operands"]) == ("GT", ["dayvolume", 1_000_000])
    assert source.screen(["OTHER"], 0, 10) == [] and len(fake.posted) == 1


def test_yahoo_screener_outage_is_typed(yahoo: tuple[YFinanceSource, Any]) -> None:
    source, fake = yahoo
    fake.screener = None  # Yahoo answers 500
    with pytest.raises(MarketDataUnavailable):
        source.screen(["US"], 0, 10)


# ----------------------------------------------------------- the job, with fakes
def bars(drift: float, volume: float, days: int = 600) -> tuple[PriceBar, ...]:
    out: list[PriceBar] = []
    day = NOW.date() - timedelta(days=1)
    while len(out) < days:
        if day.weekday() < 5:
            out.append(PriceBar(day, 0.0, volume=volume))
        day -= timedelta(days=1)
    out.reverse()
    return tuple(PriceBar(b.day, 100 * math.exp(drift * i / 252 + 0.02 * math.sin(i / 5)),
                          volume=b.volume) for i, b in enumerate(out))


class ScreeningSource:
    """A market-data source that screens, with deterministic histories."""

    name = "fake"

    def __init__(self, found: list[SecurityInfo], histories: dict[str, tuple[PriceBar, ...]]
                 ) -> None:
        self.found = found
        self.histories = histories
        self.screened: list[tuple[Sequence[str], int, int]] = []

    def reference_time(self, now: datetime) -> datetime:
        return now

    def history(self, symbol: str, start: date, end: date) -> PriceHistory:
        if symbol not in self.histories:
            raise EmptyHistory(f"no bars for {symbol}")
        return PriceHistory(symbol, "USD", tuple(b for b in self.histories[symbol]
                                                 if start <= b.day <= end), NOW, self.name)

    def fundamentals(self, symbol: str) -> Any:
        raise MarketDataUnavailable("no fundamentals here")

    analyst = fundamentals

    def screen(self, regions: Sequence[str], min_volume: int, limit: int
               ) -> list[SecurityInfo]:
        self.screened.append((regions, min_volume, limit))
        return self.found


class NoScreenBroker:
    """A broker without screens whose finder knows MSFT and SAP."""

    HITS = {"MSFT": FinderHit("MSFT.US", "Microsoft", MSFT, 1, 1, "FIX", 1, "USD"),
            "SAP": FinderHit("SAP.EU", "SAP", SAP, 1, 1, "EU", 30, "EUR")}

    async def top_securities(self, exchange: str, **_: Any) -> tuple[str, ...]:
        raise BrokerUnsupported("no screens", command="getTopSecurities")

    async def find_security(self, text: str) -> tuple[FinderHit, ...]:
        hit = self.HITS.get(text)
        return (hit,) if hit else ()


class AddingBus:
    """Answers AddSecurity like the market-data actor: inserts the security row."""

    def __init__(self, io: IoLoop, store: SqliteStore, fail: bool = False) -> None:
        self.io, self.store, self.fail = io, store, fail
        self.asked: list[AddSecurity] = []

    def ask(self, actor: str, message: object, timeout: float) -> Any:
        assert actor == "market_data" and isinstance(message, AddSecurity)
        self.asked.append(message)
        if self.fail:
            raise UnknownSymbol(f"{message.identifier}: not found")
        o = message.overrides
        at = int(NOW.timestamp())
        self.store.execute(
            "INSERT INTO securities (isin, symbol, name, currency, created_at, updated_at) "
            "VALUES (?, ?, ?, ?, ?, ?)", (message.identifier, o["symbol"], o["name"],
                                          o["currency"], at, at))
        return {"isin": message.identifier}

    def tell(self, actor: str, message: object) -> None: ...

    def publish(self, event: object) -> None: ...


def settings(**values: str) -> Settings:
    env = {"ARDUINO_TRADER_SECURITY_DISCOVERY_" + k.upper(): v for k, v in values.items()}
    return load_settings(None, environ=env)


def context(io: IoLoop, store: SqliteStore, bus: AddingBus, source: Any, s: Settings,
            broker: Any = None) -> ActorContext:
    return ActorContext(bus=bus, io=io, clock=ManualClock(NOW), settings=lambda: s,
                        deps=wired(store=store, market_data=source, broker=broker))


FOUND = [SecurityInfo("MSFT", "MSFT", "Microsoft Corporation", "USD", mic="XNAS"),
         SecurityInfo("SAP.DE", "SAP.DE", "SAP SE", "EUR", mic="XETR"),
         SecurityInfo("7203.T", "7203.T", "Toyota Motor Corporation", "JPY", mic="XTKS"),
         SecurityInfo("ULVR.L", "ULVR.L", "Unilever PLC", "GBP", mic="XLON")]


def test_the_source_screens_where_the_broker_gives_none(io: IoLoop,
                                                         store: SqliteStore) -> None:
    source = ScreeningSource(FOUND, {"MSFT": bars(0.3, 2e6), "SAP.DE": bars(0.3, 4e5)})
    bus = AddingBus(io, store)
    s = settings(require_manual_review="false", score_threshold="0.4")
    out = run_discovery(context(io, store, bus, source, s, NoScreenBroker()))
    assert out.ok, out.summary
    assert source.screened == [(["ASIA", "EU", "US"], 1_000_000, 50)]
    assert out.details["screens"] == {"usa": "fake", "europe": "fake"}
    assert out.details["added"] == ["MSFT.US"]
    (asked,) = bus.asked
    assert asked.identifier == MSFT and asked.overrides["yahoo_symbol"] == "MSFT"
    assert "volume 400,000 below 1,000,000" in out.details["left_out"]["SAP.EU"]
    assert any("ULVR.L: no ISIN" in p for p in out.details["problems"])
    assert not any("broker screen" in p for p in out.details["problems"])  # none: no error
    # the Tokyo listing is on no configured exchange: never looked at

    again = run_discovery(context(io, store, bus, source, s, NoScreenBroker()))
    assert again.details["added"] == [] and len(bus.asked) == 1  # nothing added twice


def test_a_refused_add_records_nothing_and_the_next_run_retries(
        io: IoLoop, store: SqliteStore) -> None:
    source = ScreeningSource(FOUND[:1], {"MSFT": bars(0.3, 2e6)})
    s = settings(require_manual_review="false", score_threshold="0.4")
    failing = AddingBus(io, store, fail=True)
    out = run_discovery(context(io, store, failing, source, s, NoScreenBroker()))
    assert not out.ok and "MSFT.US: not added" in out.summary
    rows = store.fetch_all("SELECT * FROM discovery_candidates")
    assert rows == []
    working = AddingBus(io, store)
    out = run_discovery(context(io, store, working, source, s, NoScreenBroker()))
    assert out.ok and out.details["added"] == ["MSFT.US"]


def test_without_any_screen_the_run_fails_and_says_why(io: IoLoop,
                                                       store: SqliteStore) -> None:
    class PricesOnly:
        name = "replay"

    out = run_discovery(context(io, store, AddingBus(io, store), PricesOnly(), settings(),
                                NoScreenBroker()))
    assert not out.ok and "the replay source cannot screen" in out.summary


def test_offline_the_replay_screens_its_bundled_directory(io: IoLoop,
                                                          store: SqliteStore) -> None:
    source = ReplaySource(ManualClock(NOW))
    assert source.screen(["EU"], 0, 10) == []  # the bundled stocks are all US issuers
    three = source.screen(["US"], 10**9, 3)  # no volumes in the replay: not applied
    assert [s.symbol for s in three] == ["AAPL.US", "AMD.US", "BAC.US"]
    s = settings(score_threshold="0.0", exchanges="usa")
    out = run_discovery(context(io, store, AddingBus(io, store), source, s, NoScreenBroker()))
    assert out.ok and out.details["screens"] == {"usa": "replay"}, out.summary
    assert len(out.details["scores"]) == 20 and len(out.details["proposed"]) == 2
    best = sorted(out.details["scores"].items(), key=lambda kv: (-kv[1], kv[0]))[:2]
    assert sorted(out.details["proposed"]) == sorted(symbol for symbol, _ in best)
    assert out.details["over_cap"] and out.details["used_this_month"] == 0


def test_a_broker_outage_is_reported_and_the_source_screens_instead(
        io: IoLoop, store: SqliteStore) -> None:
    class DownBroker(NoScreenBroker):
        async def top_securities(self, exchange: str, **_: Any) -> tuple[str, ...]:
            raise BrokerUnavailable("timeout", command="getTopSecurities")

    source = ScreeningSource(FOUND[:1], {"MSFT": bars(0.3, 2e6)})
    s = settings(score_threshold="0.4", exchanges="usa")
    out = run_discovery(context(io, store, AddingBus(io, store), source, s, DownBroker()))
    assert out.ok and out.details["proposed"] == ["MSFT.US"], out.summary
    assert any("broker screen usa" in p and "timeout" in p for p in out.details["problems"])


def test_an_unreadable_answer_leaves_one_candidate_out_not_the_run(
        io: IoLoop, store: SqliteStore) -> None:
    class Garbled(ScreeningSource):
        def history(self, symbol: str, start: date, end: date) -> PriceHistory:
            if symbol == "SAP.DE":
                raise ValueError("could not convert string to float: 'n/a'")
            return super().history(symbol, start, end)

    source = Garbled(FOUND[:2], {"MSFT": bars(0.3, 2e6)})
    s = settings(score_threshold="0.4", min_volume="0")
    out = run_discovery(context(io, store, AddingBus(io, store), source, s, NoScreenBroker()))
    assert out.ok and out.details["proposed"] == ["MSFT.US"], out.summary
    assert out.details["left_out"]["SAP.EU"].startswith("not scored: ValueError")


def test_a_broker_ticker_without_venue_is_identified_by_the_source(
        io: IoLoop, store: SqliteStore) -> None:
    class TopBroker(NoScreenBroker):
        async def top_securities(self, exchange: str, **_: Any) -> tuple[str, ...]:
            return ("SAP.EU",) if exchange == "europe" else ()

        async def find_security(self, text: str) -> tuple[FinderHit, ...]:
            return (self.HITS["SAP"],) if text == "SAP.EU" else ()

    class Listed(ScreeningSource):
        def lookup(self, identifier: str, listing: Any = None) -> SecurityInfo:
            assert identifier == SAP and listing.currency == "EUR"
            return SecurityInfo("SAP.DE", "SAP.DE", "SAP SE", "EUR", isin=SAP, mic="XETR")

    source = Listed([], {"SAP.DE": bars(0.3, 2e6)})
    s = settings(score_threshold="0.4", exchanges="europe")
    bus = AddingBus(io, store)
    out = run_discovery(context(io, store, bus, source, s, TopBroker()))
    assert out.ok and out.details["proposed"] == ["SAP.EU"], out.summary
    assert out.details["screens"] == {"europe": "broker"}
    row = store.fetch_one("SELECT detail FROM discovery_candidates")
    assert json.loads(row["detail"])["yahoo_symbol"] == "SAP.DE"  # approve onboards that
