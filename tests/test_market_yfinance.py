"""The yfinance adapter on the production session type (curl_cffi) against a fake Yahoo
on 127.0.0.1 (tests/yahoo_fake.py): real status codes, yfinance's own retry paths."""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from pathlib import Path

import pytest
from yfinance.data import YfData
from yfinance.exceptions import YFPricesMissingError, YFTzMissingError

from arduino_trader.adapters.clock import ManualClock
from arduino_trader.adapters.market_data.yahoo_session import Answer
from arduino_trader.adapters.market_data.yahoo_units import bar_divisor, dividend_yield
from arduino_trader.adapters.market_data.yfinance_source import YFinanceSource, map_error
from arduino_trader.protocols.market_data import (
    EmptyHistory,
    Listing,
    ListingMismatch,
    MalformedPayload,
    MarketDataUnavailable,
    RateLimited,
    RateUnavailable,
    UnknownSymbol,
)
from tests.yahoo_fake import (
    HTML,
    INVALID_CRUMB,
    OUTAGE_HTML,
    FakeYahoo,
    LocalYahooSession,
    Reply,
    fake_yahoo,
    fixture,
)

pytestmark = pytest.mark.filterwarnings("ignore:The inplace keyword")

NOW = datetime(2024, 6, 3, 21, 0, tzinfo=UTC)
CHART_ERROR_500 = json.dumps({"chart": {"result": None, "error": {
    "code": "Internal Server Error", "description": "Internal Server Error"}}}).encode()


@dataclass
class Env:
    source: YFinanceSource
    fake: FakeYahoo
    session: LocalYahooSession
    sleeps: list[float]


def _source(session: LocalYahooSession, cache: Path, sleeps: list[float], *,
            min_interval_s: float = 0.0, retries: int = 2,
            now: datetime = NOW) -> YFinanceSource:
    return YFinanceSource(session, ManualClock(now), min_interval_s=min_interval_s,
                          retries=retries, cache_dir=cache, sleep=sleeps.append)


@pytest.fixture
def yahoo(tmp_path: Path) -> Iterator[Env]:
    YfData.cache_get.cache_clear()  # another test's server answered the same URLs
    with fake_yahoo() as (fake, port):
        session = LocalYahooSession(port)
        sleeps: list[float] = []
        yield Env(_source(session, tmp_path / "yf", sleeps), fake, session, sleeps)
    YfData.cache_get.cache_clear()


def test_quotes_use_the_live_meta_price_and_time(yahoo: Env) -> None:
    quotes = yahoo.source.quotes(["AAPL", "NOPE"])
    assert set(quotes) == {"AAPL"}
    q = quotes["AAPL"]
    assert q.price == 194.03 and q.currency == "USD" and q.source == "yfinance"
    assert q.as_of == datetime.fromtimestamp(1717444801, UTC)
    assert yahoo.fake.count("/v8/finance/chart/AAPL") >= 1


def test_unknown_symbols_are_404s_and_typed(yahoo: Env) -> None:
    with pytest.raises(UnknownSymbol):
        yahoo.source.quotes(["NOPE", "ALSO.NOPE"])
    with pytest.raises(UnknownSymbol):
        yahoo.source.history("NOPE", date(2024, 5, 1), date(2024, 6, 1))
    with pytest.raises(UnknownSymbol):
        yahoo.source.lookup("NOPE")
    assert yahoo.sleeps == []  # not an outage: never retried


def test_history_bars_skip_nulls_and_keep_bad_ohlc_for_validation(yahoo: Env) -> None:
    hist = yahoo.source.history("AAPL", date(2024, 5, 13), date(2024, 6, 3))
    days = [b.day for b in hist.bars]
    assert days[0] == date(2024, 5, 13) and days[-1] == date(2024, 6, 3)
    assert date(2024, 5, 16) not in days  # the null row
    assert date(2024, 5, 27) not in days  # Memorial Day
    assert len(hist.bars) == 14 and hist.currency == "USD"
    first = hist.bars[0]
    assert first.close == 186.28 and first.open == 185.28 and first.volume == 50_000_000
    assert first.adj_close == pytest.approx(186.28 * 0.998, abs=1e-3)
    bad = next(b for b in hist.bars if b.day == date(2024, 5, 20))
    assert bad.high is not None and bad.high < bad.close  # validation's job, not the adapter's
    narrower = yahoo.source.history("AAPL", date(2024, 5, 29), date(2024, 5, 31))
    assert [b.day for b in narrower.bars] == [date(2024, 5, 29), date(2024, 5, 30),
                                              date(2024, 5, 31)]


def test_a_range_without_bars_is_empty_history_not_an_unknown_symbol(yahoo: Env) -> None:
    """Yahoo answers 200 with the symbol's meta and no timestamps; yfinance raises
    YFPricesMissingError ("possibly delisted")."""
    chart = json.loads(yahoo.fake.histories["AAPL"])
    result = chart["chart"]["result"][0]
    for key in ("timestamp", "events"):
        result.pop(key, None)
    result["indicators"] = {"quote": [{}], "adjclose": [{}]}
    yahoo.fake.histories["AAPL"] = json.dumps(chart).encode()
    with pytest.raises(EmptyHistory):
        yahoo.source.history("AAPL", date(2024, 5, 25), date(2024, 5, 26))
    assert yahoo.sleeps == []


def test_fundamentals_analyst_and_lookup(yahoo: Env) -> None:
    fundamentals = yahoo.source.fundamentals("AAPL")
    assert fundamentals.values["trailingPE"] == 30.17
    assert fundamentals.values["forwardPE"] == 28.52
    assert fundamentals.values["debtToEquity"] == 140.968
    assert fundamentals.values["fiveYearAvgDividendYield"] == 0.69
    # Yahoo's v7 dividendYield is 0.4 (percent) today; the adapter reports a fraction.
    assert fundamentals.values["dividendYield"] == 0.004
    assert fundamentals.values["trailingPegRatio"] == 2.41  # pegRatio no longer exists
    assert "pegRatio" not in fundamentals.values
    assert fundamentals.as_of == NOW
    analyst = yahoo.source.analyst("AAPL")
    assert analyst.recommendation == "buy" and analyst.score == 0.8
    assert analyst.analysts == 38
    assert analyst.upside_pct == pytest.approx((204.52 - 194.03) / 194.03 * 100)
    info = yahoo.source.lookup("AAPL")
    assert (info.name, info.currency, info.exchange, info.mic) == (
        "Apple Inc.", "USD", "NasdaqGS", "XNAS")
    assert info.industry == "Consumer Electronics" and info.product_type == "EQUITY"
    assert info.isin is None  # Yahoo has no ISIN: onboarding takes it from elsewhere
    assert yahoo.fake.count("quoteSummary") >= 1


def test_london_pence_become_pounds_on_every_path(yahoo: Env) -> None:
    quote = yahoo.source.quotes(["ULVR.L"])["ULVR.L"]
    assert (quote.price, quote.currency) == (43.12, "GBP")
    hist = yahoo.source.history("ULVR.L", date(2024, 5, 28), date(2024, 6, 3))
    assert hist.currency == "GBP"
    assert [b.close for b in hist.bars] == [43.01, 42.88, 42.705, 42.9, 43.12]
    assert hist.bars[0].open == pytest.approx(42.91) and hist.bars[0].high == pytest.approx(43.16)
    assert hist.bars[0].adj_close == pytest.approx(43.01) and hist.bars[0].volume == 2_100_000
    info = yahoo.source.lookup("ULVR.L")
    assert (info.currency, info.mic) == ("GBP", "XLON")
    assert yahoo.source.fundamentals("ULVR.L").values["dividendYield"] == 0.0342
    analyst = yahoo.source.analyst("ULVR.L")
    assert analyst.target_price == 46.5
    assert analyst.upside_pct == pytest.approx((4650 - 4312) / 4312 * 100)


def test_isin_lookup_searches_and_an_empty_search_is_unknown(yahoo: Env) -> None:
    info = yahoo.source.lookup("US0378331005")
    assert (info.symbol, info.currency, info.mic) == ("AAPL", "USD", "XNAS")
    assert yahoo.fake.count("/v1/finance/search") == 1
    with pytest.raises(UnknownSymbol):
        yahoo.source.lookup("DE0007164600")  # Yahoo's search: no quotes
    assert yahoo.sleeps == []


def test_an_isin_is_never_priced_through_an_unchecked_search(yahoo: Env) -> None:
    """yfinance accepts an ISIN as a ticker and takes its search's first hit, whatever
    its venue and currency: the adapter prices Yahoo symbols only."""
    with pytest.raises(UnknownSymbol, match="is an ISIN"):
        yahoo.source.quotes(["US0378331005"])
    with pytest.raises(UnknownSymbol):
        yahoo.source.history("US0378331005", date(2024, 5, 13), date(2024, 6, 3))
    assert yahoo.fake.requests == []


def test_fx_from_the_eur_pair(yahoo: Env) -> None:
    rate = yahoo.source.fx_rate("usd")
    assert rate.currency == "USD" and rate.eur_per == (Decimal(1) / Decimal("1.0852")).quantize(
        Decimal("1E-10"))
    assert rate.source == "yfinance" and rate.day == date(2024, 6, 3)
    assert yahoo.source.fx_rate("EUR").eur_per == 1
    with pytest.raises(RateUnavailable):
        yahoo.source.fx_rate("XYZ")


def test_rate_limit_is_typed_and_not_retried(yahoo: Env) -> None:
    yahoo.fake.always["/v8/finance/chart/"] = Reply(429, b"Too Many Requests", HTML)
    with pytest.raises(RateLimited):
        yahoo.source.quotes(["AAPL"])
    assert yahoo.sleeps == []


def test_a_429_on_the_crumb_request_is_a_rate_limit(yahoo: Env) -> None:
    """Yahoo refuses the crumb (401 Invalid Crumb); yfinance asks for a new one, gets
    429, logs it and retries without a crumb: the cause is the rate limit, not an
    outage."""
    yahoo.fake.always["/v1/test/getcrumb"] = Reply(429, b"Too Many Requests", HTML)
    yahoo.fake.always["/v10/finance/quoteSummary/"] = Reply(401, INVALID_CRUMB)
    with pytest.raises(RateLimited):
        yahoo.source.lookup("AAPL")
    assert yahoo.sleeps == []


def test_a_503_page_is_a_retried_outage_and_never_replayed_from_yfinance_cache(
        yahoo: Env) -> None:
    """Both of yfinance's tries get the HTML error page (not JSON): the adapter retries
    after 1 s, and the retry reaches Yahoo again instead of yfinance's cached 503."""
    yahoo.fake.queue("/v8/finance/chart/AAPL", Reply(503, OUTAGE_HTML, HTML),
                     Reply(503, OUTAGE_HTML, HTML))
    hist = yahoo.source.history("AAPL", date(2024, 5, 13), date(2024, 6, 3))
    assert len(hist.bars) == 14
    assert yahoo.sleeps == [1.0]


def test_a_503_page_until_the_retries_run_out_is_unavailable(yahoo: Env,
                                                             tmp_path: Path) -> None:
    yahoo.fake.always["/v8/finance/chart/"] = Reply(503, OUTAGE_HTML, HTML)
    with pytest.raises(MarketDataUnavailable):
        yahoo.source.history("AAPL", date(2024, 5, 13), date(2024, 6, 3))
    assert yahoo.sleeps == [1.0, 2.0]
    del yahoo.fake.always["/v8/finance/chart/"]  # Yahoo is back: a fresh adapter sees it
    fresh = _source(LocalYahooSession(yahoo.session.port), tmp_path / "yf-fresh", [])
    assert len(fresh.history("AAPL", date(2024, 5, 13), date(2024, 6, 3)).bars) == 14


def test_a_500_with_a_json_error_is_an_outage_not_empty_history(yahoo: Env) -> None:
    yahoo.fake.always["/v8/finance/chart/"] = Reply(500, CHART_ERROR_500)
    with pytest.raises(MarketDataUnavailable):
        yahoo.source.history("AAPL", date(2024, 5, 13), date(2024, 6, 3))
    assert yahoo.sleeps == [1.0, 2.0]


def test_the_timeout_setting_bounds_every_request(tmp_path: Path) -> None:
    """yfinance asks its timezone lookup for 10 s and .info for 30 s; the session's
    ceiling applies to them too."""
    YfData.cache_get.cache_clear()
    with fake_yahoo() as (_, port):
        session = LocalYahooSession(port, timeout_s=3.0)
        source = _source(session, tmp_path / "yf", [])
        source.history("AAPL", date(2024, 5, 13), date(2024, 6, 3))
        source.fundamentals("AAPL")
    YfData.cache_get.cache_clear()
    paths = [a.url for a in session.seen]
    assert any("range=1d" in u or "/chart/AAPL" in u for u in paths)
    assert any("quoteSummary" in u for u in paths)
    assert {a.timeout_s for a in session.seen} == {3.0}


def test_unreachable_yahoo_is_retried_then_typed(tmp_path: Path) -> None:
    YfData.cache_get.cache_clear()
    with fake_yahoo() as (_, port):
        pass  # the port is closed again: connection refused
    sleeps: list[float] = []
    source = _source(LocalYahooSession(port), tmp_path / "yf", sleeps)
    with pytest.raises(MarketDataUnavailable):
        source.quotes(["AAPL"])
    assert sleeps[-2:] == [1.0, 2.0]


def test_malformed_payload_is_typed(yahoo: Env) -> None:
    yahoo.fake.always["/v8/finance/chart/"] = Reply(
        200, b'{"chart": {"result": [{"meta": {}}], "error": null}}')
    with pytest.raises(MalformedPayload):
        yahoo.source.quotes(["AAPL"])
    yahoo.fake.always["/v8/finance/chart/"] = Reply(200, b"<html>not json</html>", HTML)
    with pytest.raises(MalformedPayload):
        yahoo.source.quotes(["AAPL"])


def test_map_error_reads_the_statuses() -> None:
    chart = "https://query2.finance.yahoo.com/v8/finance/chart/X"
    crumb = "https://query1.finance.yahoo.com/v1/test/getcrumb"
    assert isinstance(map_error(ValueError("Expecting value"), "X", [Answer(chart, 503, 5)]),
                      MarketDataUnavailable)
    assert isinstance(map_error(KeyError("meta"), "X", [Answer(chart, 200, 5)]),
                      MalformedPayload)
    assert isinstance(map_error(RuntimeError("401"), "X",
                                [Answer(crumb, 429, 5), Answer(chart, 401, 5)]), RateLimited)
    assert isinstance(map_error(ValueError("x"), "X", [Answer(chart, 404, 5)]), UnknownSymbol)
    # yfinance words a missing range or timezone "possibly delisted": empty, unless 404.
    no_tz = YFTzMissingError("X")
    assert "delisted" in str(no_tz)
    assert isinstance(map_error(no_tz, "X", [Answer(chart, 200, 5)]), EmptyHistory)
    assert isinstance(map_error(no_tz, "X", [Answer(chart, 404, 5)]), UnknownSymbol)
    no_prices = YFPricesMissingError("X", "(1d 2024-05-25 -> 2024-05-26)")
    assert isinstance(map_error(no_prices, "X", []), EmptyHistory)


def test_throttle_spaces_requests(yahoo: Env, tmp_path: Path) -> None:
    sleeps: list[float] = []
    source = _source(yahoo.session, tmp_path / "yf2", sleeps, min_interval_s=5.0, retries=0)
    source.quotes(["AAPL"])
    source.quotes(["AAPL"])
    assert sleeps and 0 < sleeps[0] <= 5.0


def test_factory_builds_the_yfinance_adapter_without_network(tmp_path: Path) -> None:
    from arduino_trader.adapters.market_data.factory import build_source
    from arduino_trader.adapters.market_data.yahoo_session import YahooSession
    from arduino_trader.config.settings import load_settings

    settings = load_settings(None, environ={"ARDUINO_TRADER_MARKET_DATA__SOURCE": "yfinance",
                                            "ARDUINO_TRADER_MARKET_DATA__YAHOO_TIMEOUT_S": "7"})
    source = build_source(settings, ManualClock(NOW), tmp_path)
    assert isinstance(source, YFinanceSource) and source.universe() == []
    session = source._session
    assert isinstance(session, YahooSession) and session.timeout_s == 7.0
    assert source.reference_time(NOW) == NOW
    assert (tmp_path / "yfinance").is_dir()


def test_monthly_from_yahoo_history(yahoo: Env) -> None:
    months = yahoo.source.monthly("AAPL", date(2024, 5, 13), date(2024, 6, 3))
    assert [m.month for m in months] == ["2024-05", "2024-06"]
    assert months[1].avg_close == 194.03
    assert months[1].avg_adj_close == pytest.approx(194.03 * 0.998, abs=1e-3)


def test_an_aapl_like_yield_scores_as_a_fraction(yahoo: Env) -> None:
    """0.4 % from Yahoo reaches the scorer as 0.004 (stored document shape of the
    market-data actor)."""
    from arduino_trader.domain.scoring.fundamentals import fundamentals_from_data

    values = yahoo.source.fundamentals("AAPL").values
    scored = fundamentals_from_data({"fundamentals": {"data": {"values": values}}})
    assert scored is not None and scored.dividend_yield == 0.004


def test_history_reports_the_split_events_of_the_range(yahoo: Env) -> None:
    """Yahoo's chart carries splits as ``events.splits`` (numerator/denominator); the
    bars are already adjusted, the event tells the store to rescale what it kept."""
    chart = json.loads(yahoo.fake.histories["AAPL"])
    chart["chart"]["result"][0]["events"]["splits"] = {"1717162200": {
        "date": 1717162200, "numerator": 4.0, "denominator": 1.0, "splitRatio": "4:1"}}
    yahoo.fake.histories["AAPL"] = json.dumps(chart).encode()
    hist = yahoo.source.history("AAPL", date(2024, 5, 13), date(2024, 6, 3))
    assert hist.splits == ((date(2024, 5, 31), 4.0),)
    assert len(hist.bars) == 14 and hist.bars[0].close == 186.28
    assert yahoo.source.history("AAPL", date(2024, 5, 13), date(2024, 5, 30)).splits == ()


def _unilever_in_amsterdam(fake: FakeYahoo) -> None:
    """Yahoo's search for Unilever's ISIN: London (GBp) first, Amsterdam (EUR) second."""
    search = json.loads(fixture("search_GB00B10RZP78.json"))
    amsterdam = dict(search["quotes"][0], symbol="UNA.AS", exchange="AMS",
                     exchDisp="Amsterdam", shortname="UNILEVER")
    search["quotes"].append(amsterdam)
    search["count"] = 2
    fake.searches["GB00B10RZP78"] = json.dumps(search).encode()
    summary = json.loads(fake.summaries["ULVR.L"])
    result = summary["quoteSummary"]["result"][0]
    result["summaryDetail"]["currency"] = "EUR"
    result["quoteType"].update({"exchange": "AMS", "symbol": "UNA.AS"})
    fake.summaries["UNA.AS"] = json.dumps(summary).encode()
    quote = json.loads(fake.quotes["ULVR.L"])
    quote["quoteResponse"]["result"][0].update({"symbol": "UNA.AS", "currency": "EUR",
                                                "exchange": "AMS",
                                                "fullExchangeName": "Amsterdam"})
    fake.quotes["UNA.AS"] = json.dumps(quote).encode()


def test_an_isin_search_takes_only_the_brokers_listing(yahoo: Env) -> None:
    _unilever_in_amsterdam(yahoo.fake)
    assert yahoo.source.lookup("GB00B10RZP78").symbol == "ULVR.L"  # no listing: first hit
    by_currency = yahoo.source.lookup("GB00B10RZP78", Listing("EUR"))
    assert (by_currency.symbol, by_currency.currency, by_currency.mic) == (
        "UNA.AS", "EUR", "XAMS")
    assert yahoo.source.lookup("GB00B10RZP78", Listing("EUR", "XAMS")).symbol == "UNA.AS"
    assert yahoo.source.lookup("GB00B10RZP78", Listing("GBP", "XLON")).symbol == "ULVR.L"
    with pytest.raises(ListingMismatch, match=r"ULVR\.L in GBP.*UNA\.AS in EUR"):
        yahoo.source.lookup("GB00B10RZP78", Listing("USD"))
    with pytest.raises(ListingMismatch):
        yahoo.source.lookup("ULVR.L", Listing("EUR"))  # a symbol is checked as well
    assert yahoo.source.lookup("ULVR.L", Listing("GBP")).symbol == "ULVR.L"


@pytest.mark.parametrize(("info", "expected"), [
    ({"trailingAnnualDividendYield": 0.004, "dividendYield": 0.4}, 0.004),  # today
    ({"trailingAnnualDividendYield": 0.004, "dividendYield": 0.0041}, 0.004),  # former
    ({"dividendYield": 0.4}, 0.004),  # the percent figure alone
    ({"trailingAnnualDividendYield": 0.0342}, 0.0342),
    ({"trailingAnnualDividendYield": 0.05, "dividendYield": 0.5}, None),  # ×10: refused
    ({"trailingAnnualDividendYield": -0.01, "dividendYield": 0.4}, None),
    ({"trailingAnnualDividendYield": "0.004", "dividendYield": None}, None),
    ({}, None),
])
def test_the_dividend_yield_rule(info: dict[str, object], expected: float | None) -> None:
    assert dividend_yield(info) == expected


# Tuesday 2024-06-04 on Nasdaq: 09:30-16:00 New York.
TUESDAY_OPEN = datetime(2024, 6, 4, 13, 30, tzinfo=UTC)
TUESDAY_CLOSE = datetime(2024, 6, 4, 20, 0, tzinfo=UTC)


def _with_tuesday_running(raw: bytes, *, session_known: bool = True) -> bytes:
    """An AAPL chart as Yahoo answers it during Tuesday's session: Tuesday's bar with the
    live price and 90 minutes of volume, and Tuesday as the current trading period (or,
    ``session_known=False``, no trading period at all)."""
    chart = json.loads(raw)
    result = chart["chart"]["result"][0]
    meta = result["meta"]
    meta["regularMarketTime"] = int(TUESDAY_OPEN.timestamp()) + 90 * 60
    if session_known:
        meta["currentTradingPeriod"]["regular"].update(
            start=int(TUESDAY_OPEN.timestamp()), end=int(TUESDAY_CLOSE.timestamp()))
    else:
        del meta["currentTradingPeriod"]
    result["timestamp"].append(int(TUESDAY_OPEN.timestamp()))
    quote = result["indicators"]["quote"][0]
    for key, value in (("open", 194.8), ("high", 196.9), ("low", 194.1), ("close", 196.5),
                       ("volume", 12_000_000)):
        quote[key].append(value)
    result["indicators"]["adjclose"][0]["adjclose"].append(196.5)
    return json.dumps(chart).encode()


@pytest.mark.parametrize(("now", "session_known", "last_day"), [
    (TUESDAY_OPEN + timedelta(hours=1, minutes=30), True, date(2024, 6, 3)),  # running
    (TUESDAY_CLOSE + timedelta(minutes=10), True, date(2024, 6, 3)),  # settling
    (TUESDAY_CLOSE + timedelta(minutes=20), True, date(2024, 6, 4)),  # final
    # No trading period in the answer: the bar is final after its day ends in New York.
    (TUESDAY_CLOSE + timedelta(hours=1), False, date(2024, 6, 3)),
    (datetime(2024, 6, 5, 4, 20, tzinfo=UTC), False, date(2024, 6, 4)),
], ids=["open", "settling", "closed", "no-period-same-day", "no-period-next-day"])
def test_history_leaves_out_the_bar_of_a_session_not_yet_closed(
        yahoo: Env, tmp_path: Path, now: datetime, session_known: bool,
        last_day: date) -> None:
    """Yahoo's daily chart carries the running session's bar (live price, partial
    volume); a backtest's replay stops at the last published close, so live must too."""
    yahoo.fake.histories["AAPL"] = _with_tuesday_running(yahoo.fake.histories["AAPL"],
                                                         session_known=session_known)
    source = _source(yahoo.session, tmp_path / "yf-now", [], now=now)
    bars = source.history("AAPL", date(2024, 5, 28), now.date()).bars
    assert bars[-1].day == last_day
    if last_day == date(2024, 6, 3):
        assert bars[-1].close == 194.03, "Monday's close, not Tuesday's live price"


def test_a_fallback_quote_is_the_last_finished_close_at_its_session_close(
        yahoo: Env, tmp_path: Path) -> None:
    """Without a live market price the quote falls back to the daily bars: never the
    running session's, and timed at the close of its day, not at its local midnight."""
    chart = json.loads(_with_tuesday_running(yahoo.fake.charts["AAPL"]))
    del chart["chart"]["result"][0]["meta"]["regularMarketPrice"]
    yahoo.fake.charts["AAPL"] = json.dumps(chart).encode()
    source = _source(yahoo.session, tmp_path / "yf-now", [], now=TUESDAY_OPEN + timedelta(hours=2))
    quote = source.quotes(["AAPL"])["AAPL"]
    assert quote.price == 194.03, "Monday's close, not Tuesday's live price"
    # Monday's close time is not in Tuesday's answer: the end of Monday in New York.
    assert quote.as_of == datetime(2024, 6, 4, 4, 0, tzinfo=UTC)


def test_london_bars_already_in_pounds_under_a_pence_label_are_not_divided_again(
        yahoo: Env) -> None:
    """Yahoo sometimes sends a London listing's bars in pounds while its meta says GBp:
    the market price (4312 pence) is then 100 × the newest close (43.12)."""
    chart = json.loads(yahoo.fake.histories["ULVR.L"])
    result = chart["chart"]["result"][0]
    prices = result["indicators"]["quote"][0]
    for key in ("open", "high", "low", "close"):
        prices[key] = [v / 100 for v in prices[key]]
    result["indicators"]["adjclose"][0]["adjclose"] = list(prices["close"])
    yahoo.fake.histories["ULVR.L"] = yahoo.fake.charts["ULVR.L"] = json.dumps(chart).encode()
    hist = yahoo.source.history("ULVR.L", date(2024, 5, 28), date(2024, 6, 3))
    assert hist.currency == "GBP"
    assert [b.close for b in hist.bars] == pytest.approx([43.01, 42.88, 42.705, 42.9, 43.12])
    assert hist.bars[0].open == pytest.approx(42.91)
    quote = yahoo.source.quotes(["ULVR.L"])["ULVR.L"]
    assert (quote.price, quote.currency) == (43.12, "GBP"), "the pence market price: / 100"


@pytest.mark.parametrize(("per", "market_price", "close", "divisor"), [
    (100, 4312.0, 4312.0, 100),  # bars in pence, as labelled
    (100, 4312.0, 43.12, 1),  # bars in pounds already
    (100, 4312.0, 40.0, 1),  # ×107.8: within 10 % of 100
    (100, 4312.0, 30.0, 100),  # ×143.7: no unit switch, a price move
    (100, None, 43.12, 100),  # nothing to compare with: the label rules
    (1, 194.03, 1.9403, 1),  # a major-unit label is never rescaled
])
def test_the_minor_unit_bar_rule(per: int, market_price: float | None, close: float,
                                 divisor: int) -> None:
    assert bar_divisor(per, market_price, close) == divisor


@pytest.mark.parametrize(("session_known", "day", "as_of"), [
    # Monday's bar closes with the session in the answer (20:00 UTC).
    (True, date(2024, 6, 3), datetime(2024, 6, 3, 20, 0, tzinfo=UTC)),
    # No trading period: at 21:00 UTC Monday has not ended in London; Friday's rate,
    # timed at the end of Friday in London.
    (False, date(2024, 5, 31), datetime(2024, 5, 31, 23, 0, tzinfo=UTC)),
], ids=["session-known", "no-period"])
def test_a_fallback_fx_rate_is_dated_by_its_bars_trading_day(
        yahoo: Env, session_known: bool, day: date, as_of: datetime) -> None:
    """The EUR/USD bar of Monday is indexed at 00:00 London, Sunday 23:00 UTC: the rate
    is still Monday's."""
    chart = json.loads(yahoo.fake.charts["EURUSD=X"])
    meta = chart["chart"]["result"][0]["meta"]
    del meta["regularMarketPrice"]
    if not session_known:
        del meta["currentTradingPeriod"]
    yahoo.fake.charts["EURUSD=X"] = json.dumps(chart).encode()
    rate = yahoo.source.fx_rate("USD")
    assert (rate.day, rate.as_of) == (day, as_of)
