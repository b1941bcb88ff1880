"""A London listing (Yahoo quotes it in pence, ``GBp``) valued in pounds end to end:
onboarding by ISIN through the real yfinance adapter on the fake Yahoo, the price sync,
the portfolio's revaluation and the planner's input."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

import pykka
import pytest
from yfinance.data import YfData

from arduino_trader.actors.base import ActorContext
from arduino_trader.actors.market_data import MarketDataActor
from arduino_trader.actors.planner_inputs import InputGatherer
from arduino_trader.adapters.clock import ManualClock
from arduino_trader.adapters.market_data.calendars import MarketCalendars
from arduino_trader.adapters.market_data.yfinance_source import YFinanceSource
from arduino_trader.adapters.store import (
    market_repo,
    portfolio_repo,
    price_history_repo,
    securities_repo,
)
from arduino_trader.adapters.store.sqlite import SqliteStore
from arduino_trader.config.settings import defaults
from arduino_trader.daemon.broker_listing import listing_feed
from arduino_trader.daemon.io_loop import IoLoop
from arduino_trader.domain.valuation import value_account
from arduino_trader.protocols.broker import AccountSnapshot, Position
from arduino_trader.protocols.market_data import AddSecurity, FxRate, Listing, ListingMismatch
from arduino_trader.protocols.messages import JobOutcome, RunJob
from tests.broker_support import make_client, running_sandbox
from tests.test_market_actor import RecordingBus
from tests.wiring import wired
from tests.yahoo_fake import LocalYahooSession, fake_yahoo, fixture

pytestmark = pytest.mark.filterwarnings("ignore:The inplace keyword")

NOW = datetime(2024, 6, 3, 21, 0, tzinfo=UTC)
UNILEVER = "GB00B10RZP78"
GBP_EUR = Decimal("1.17")


BROKER_LISTING: dict[str, Listing] = {}


@pytest.fixture
def market(io: IoLoop, store: SqliteStore, tmp_path: Path) -> Iterator[pykka.ActorRef[Any]]:
    YfData.cache_get.cache_clear()
    BROKER_LISTING.clear()
    with fake_yahoo() as (fake, port):
        fake.searches[UNILEVER] = fixture(f"search_{UNILEVER}.json")
        clock = ManualClock(NOW)
        source = YFinanceSource(LocalYahooSession(port), clock, min_interval_s=0.0, retries=0,
                                cache_dir=tmp_path / "yf", sleep=lambda _: None)
        ctx = ActorContext(bus=RecordingBus(), io=io, clock=clock, settings=defaults,
                           deps=wired(store=store, broker_listing=BROKER_LISTING.get))
        ref = MarketDataActor.start(ctx, source=source,
                                    calendars=MarketCalendars(today=NOW.date()))
        yield ref
        ref.stop()
    YfData.cache_get.cache_clear()


def test_a_london_position_is_valued_in_pounds_from_quote_to_plan(
        market: pykka.ActorRef[Any], io: IoLoop, store: SqliteStore) -> None:
    record = market.ask(AddSecurity(UNILEVER), timeout=30)
    assert (record["symbol"], record["yahoo_symbol"], record["currency"], record["mic"]) == (
        "ULVR.L", "ULVR.L", "GBP", "XLON")
    for job in ("sync_historical", "sync_prices"):
        out = market.ask(RunJob(job, "r1", "manual"), timeout=30)
        assert isinstance(out, JobOutcome) and out.ok, out.summary
    quote = market_repo.read_quotes(store)[UNILEVER]
    assert (quote.price, quote.currency) == (43.12, "GBP")
    closes = [(b.day, b.close) for b in price_history_repo.read_history(
        store, UNILEVER, NOW.date() - timedelta(days=7), NOW.date())]
    assert closes[-1] == (NOW.date(), 43.12) and all(c < 50 for _, c in closes)

    # The broker holds 100 shares in GBP; the stored quote revalues them.
    market_repo.write_fx(store, [FxRate("GBP", GBP_EUR, NOW.date(), NOW, "test")],
                                NOW)
    held = Position("ULVR.L", Decimal(100), Decimal("40.00"), Decimal("40.00"), "GBP")
    valuation = value_account([held], [], {"GBP": GBP_EUR}, {"ULVR.L": UNILEVER})
    portfolio_repo.save_account(store, valuation, NOW - timedelta(days=1))
    assert portfolio_repo.apply_latest_prices(store, NOW) == 1
    (row,) = portfolio_repo.list_positions(store)
    assert Decimal(str(row["market_value"])) == Decimal("4312.00")
    assert Decimal(str(row["market_value_eur"])) == Decimal("5045.04")

    # The planner prices the holding from the stored closes, in pounds.
    gathered = InputGatherer(io, store, None).gather(
        AccountSnapshot((held,), ()), "live", defaults(), NOW)
    (security,) = gathered.plan_input.securities
    assert security.currency == "GBP"
    assert gathered.details["total_value_eur"] == pytest.approx(100 * 43.12 * 1.17)


def test_onboarding_refuses_a_yahoo_listing_other_than_the_brokers(
        market: pykka.ActorRef[Any], io: IoLoop, store: SqliteStore) -> None:
    """The broker trades the ISIN in EUR; Yahoo's search only finds the London line in
    pounds: refused with both named, nothing stored (a GBP price for a EUR instrument
    would be a wrong valuation and wrong order sizes)."""
    BROKER_LISTING[UNILEVER] = Listing("EUR")
    with pytest.raises(ListingMismatch, match=r"ULVR\.L in GBP"):
        market.ask(AddSecurity(UNILEVER), timeout=30)
    assert securities_repo.list_securities(store) == []
    BROKER_LISTING[UNILEVER] = Listing("GBP")
    assert market.ask(AddSecurity(UNILEVER), timeout=30)["currency"] == "GBP"


def test_the_brokers_listing_comes_from_its_ticker_finder(io: IoLoop, tmp_path: Path) -> None:
    """The feed a real broker wires for onboarding, against the Tradernet sandbox."""
    with running_sandbox(tmp_path / "sandbox.json") as sandbox:
        listing = listing_feed(io, make_client(sandbox.url))
        assert listing("US0378331005") == Listing("USD")
        assert listing("aapl.us") == Listing("USD")
        assert listing("XX0000000000") is None
        assert "tickerFinder" in sandbox.sandbox.requests


def test_a_chosen_yahoo_symbol_is_checked_against_the_brokers_listing(
        market: pykka.ActorRef[Any], io: IoLoop, store: SqliteStore) -> None:
    """The operator's way past a refused search: name the Yahoo line (it must still be
    the broker's currency)."""
    BROKER_LISTING[UNILEVER] = Listing("USD")
    with pytest.raises(ListingMismatch):
        market.ask(AddSecurity(UNILEVER, {"yahoo_symbol": "ULVR.L"}), timeout=30)
    BROKER_LISTING[UNILEVER] = Listing("GBP")
    record = market.ask(AddSecurity(UNILEVER, {"yahoo_symbol": "ULVR.L"}), timeout=30)
    assert (record["isin"], record["yahoo_symbol"], record["currency"]) == (
        UNILEVER, "ULVR.L", "GBP")
