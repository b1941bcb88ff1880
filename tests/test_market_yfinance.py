"""The yfinance adapter, fully offline: an injected session serves recorded-format Yahoo
responses (tests/fixtures/yahoo); any other host is refused, so nothing reaches the net."""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import UTC, date, datetime
from decimal import Decimal
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pytest
import requests

from arduino_trader.adapters.clock import ManualClock
from arduino_trader.adapters.market_data.yfinance_source import YFinanceSource, map_error
from arduino_trader.protocols.market_data import (
    EmptyHistory,
    MalformedPayload,
    MarketDataUnavailable,
    RateLimited,
    RateUnavailable,
    UnknownSymbol,
)

pytestmark = pytest.mark.filterwarnings("ignore:The inplace keyword")

FIXTURES = Path(__file__).resolve().parent / "fixtures" / "yahoo"
NOW = datetime(2024, 6, 3, 21, 0, tzinfo=UTC)
YAHOO_HOSTS = {"query1.finance.yahoo.com", "query2.finance.yahoo.com", "fc.yahoo.com",
               "guce.yahoo.com", "consent.yahoo.com", "finance.yahoo.com"}


def _fixture(name: str) -> bytes:
    return (FIXTURES / name).read_bytes()


class FakeYahoo(requests.Session):
    """A requests session that answers like Yahoo from fixture files, never the network."""

    def __init__(self) -> None:
        super().__init__()
        self.calls: list[str] = []
        self.status_override: int | None = None
        self.raise_error: Exception | None = None
        self.body_override: bytes | None = None

    def request(self, method: str | bytes, url: str | bytes, *args: Any,
                **kwargs: Any) -> requests.Response:
        text_url = url.decode() if isinstance(url, bytes) else url
        parts = urlsplit(text_url)
        assert parts.hostname in YAHOO_HOSTS, f"unexpected host {parts.hostname}"
        self.calls.append(parts.path)
        if parts.path.endswith("/v1/test/getcrumb"):
            return _response(200, b"crumb-Abc123", text_url)
        if parts.hostname in ("fc.yahoo.com", "guce.yahoo.com", "consent.yahoo.com"):
            return _response(200, b"<html>ok</html>", text_url)
        if self.raise_error is not None:
            raise self.raise_error
        if self.status_override is not None:
            return _response(self.status_override, b"Too Many Requests"
                             if self.status_override == 429 else b"{}", text_url)
        if self.body_override is not None:
            return _response(200, self.body_override, text_url)
        params = kwargs.get("params") or {}
        return _response(200, self._route(parts.path, params), text_url)

    def _route(self, path: str, params: dict[str, Any]) -> bytes:
        if "/v8/finance/chart/" in path:
            symbol = path.rsplit("/", 1)[1]
            if symbol == "AAPL":
                return _fixture("chart_AAPL_history.json" if "period1" in params
                                else "chart_AAPL_5d.json")
            if symbol == "EURUSD=X":
                return _fixture("chart_EURUSD=X_5d.json")
            return _fixture("chart_not_found.json")
        if "/v10/finance/quoteSummary/" in path:
            if path.endswith("/AAPL"):
                return _fixture("quoteSummary_AAPL.json")
            return json.dumps({"quoteSummary": {"result": None, "error": {
                "code": "Not Found", "description": "Quote not found"}}}).encode()
        if path.endswith("/v7/finance/quote"):
            if params.get("symbols") == "AAPL":
                return _fixture("quote_AAPL.json")
            return json.dumps({"quoteResponse": {"result": [], "error": None}}).encode()
        return b"{}"


def _response(status: int, body: bytes, url: str) -> requests.Response:
    resp = requests.Response()
    resp.status_code = status
    resp._content = body
    resp.url = url
    resp.encoding = "utf-8"
    resp.headers["Content-Type"] = "application/json"
    return resp


@pytest.fixture
def yahoo(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[YFinanceSource, FakeYahoo]]:
    session = FakeYahoo()
    sleeps: list[float] = []
    source = YFinanceSource(session, ManualClock(NOW), min_interval_s=0.0, retries=2,
                            cache_dir=tmp_path_factory.getbasetemp() / "yf-cache",
                            sleep=sleeps.append)
    source.sleeps = sleeps  # type: ignore[attr-defined]
    yield source, session


def test_quotes_use_the_live_meta_price_and_time(yahoo: tuple[YFinanceSource, FakeYahoo]
                                                 ) -> None:
    source, session = yahoo
    quotes = source.quotes(["AAPL", "NOPE"])
    assert set(quotes) == {"AAPL"}
    q = quotes["AAPL"]
    assert q.price == 194.03 and q.currency == "USD" and q.source == "yfinance"
    assert q.as_of == datetime.fromtimestamp(1717444801, UTC)
    assert any("/v8/finance/chart/AAPL" in c for c in session.calls)


def test_quotes_all_failing_raise_typed(yahoo: tuple[YFinanceSource, FakeYahoo]) -> None:
    source, _ = yahoo
    with pytest.raises(UnknownSymbol):
        source.quotes(["NOPE", "ALSO.NOPE"])


def test_history_bars_skip_nulls_and_keep_bad_ohlc_for_validation(
        yahoo: tuple[YFinanceSource, FakeYahoo]) -> None:
    source, _ = yahoo
    hist = source.history("AAPL", date(2024, 5, 13), date(2024, 6, 3))
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
    narrower = source.history("AAPL", date(2024, 5, 29), date(2024, 5, 31))
    assert [b.day for b in narrower.bars] == [date(2024, 5, 29), date(2024, 5, 30),
                                              date(2024, 5, 31)]


def test_unknown_symbol_history(yahoo: tuple[YFinanceSource, FakeYahoo]) -> None:
    source, _ = yahoo
    with pytest.raises((UnknownSymbol, EmptyHistory)):
        source.history("NOPE", date(2024, 5, 1), date(2024, 6, 1))


def test_fundamentals_analyst_and_lookup(yahoo: tuple[YFinanceSource, FakeYahoo]) -> None:
    source, session = yahoo
    fundamentals = source.fundamentals("AAPL")
    assert fundamentals.values["trailingPE"] == 30.17
    assert fundamentals.values["forwardPE"] == 28.52
    assert fundamentals.values["debtToEquity"] == 140.968
    assert fundamentals.values["fiveYearAvgDividendYield"] == 0.69
    assert fundamentals.as_of == NOW
    analyst = source.analyst("AAPL")
    assert analyst.recommendation == "buy" and analyst.score == 0.8
    assert analyst.analysts == 38
    assert analyst.upside_pct == pytest.approx((204.52 - 194.03) / 194.03 * 100)
    info = source.lookup("AAPL")
    assert (info.name, info.currency, info.exchange, info.mic) == (
        "Apple Inc.", "USD", "NasdaqGS", "XNAS")
    assert info.industry == "Consumer Electronics" and info.product_type == "EQUITY"
    assert info.isin is None  # Yahoo has no ISIN: onboarding takes it from elsewhere
    assert any("quoteSummary" in c for c in session.calls)
    with pytest.raises(UnknownSymbol):
        source.lookup("NOPE")


def test_fx_from_the_eur_pair(yahoo: tuple[YFinanceSource, FakeYahoo]) -> None:
    source, _ = yahoo
    rate = source.fx_rate("usd")
    assert rate.currency == "USD" and rate.eur_per == (Decimal(1) / Decimal("1.0852")).quantize(
        Decimal("1E-10"))
    assert rate.source == "yfinance" and rate.day == date(2024, 6, 3)
    assert source.fx_rate("EUR").eur_per == 1
    with pytest.raises(RateUnavailable):
        source.fx_rate("XYZ")


def test_rate_limit_is_typed_and_not_retried(yahoo: tuple[YFinanceSource, FakeYahoo]) -> None:
    source, session = yahoo
    session.status_override = 429
    with pytest.raises(RateLimited):
        source.quotes(["AAPL"])
    assert source.sleeps == []  # type: ignore[attr-defined]


def test_timeouts_are_retried_then_typed(yahoo: tuple[YFinanceSource, FakeYahoo]) -> None:
    source, session = yahoo
    session.raise_error = requests.exceptions.ConnectTimeout("timed out")
    with pytest.raises(MarketDataUnavailable):
        source.quotes(["AAPL"])
    assert source.sleeps[-2:] == [1.0, 2.0]  # type: ignore[attr-defined]


def test_malformed_payload_is_typed(yahoo: tuple[YFinanceSource, FakeYahoo]) -> None:
    source, session = yahoo
    session.body_override = b'{"chart": {"result": [{"meta": {}}], "error": null}}'
    with pytest.raises(MalformedPayload):
        source.quotes(["AAPL"])
    session.body_override = b"<html>Will be right back</html>"
    with pytest.raises((MarketDataUnavailable, MalformedPayload)):
        source.quotes(["AAPL"])


def test_server_errors_are_unavailable() -> None:
    err = requests.HTTPError("503")
    err.response = _response(503, b"", "https://query2.finance.yahoo.com/x")
    assert isinstance(map_error(err, "X"), MarketDataUnavailable)
    err404 = requests.HTTPError("404")
    err404.response = _response(404, b"", "https://query2.finance.yahoo.com/x")
    assert isinstance(map_error(err404, "X"), UnknownSymbol)
    assert isinstance(map_error(KeyError("meta"), "X"), MalformedPayload)


def test_throttle_spaces_requests(tmp_path: Path) -> None:
    session = FakeYahoo()
    sleeps: list[float] = []
    source = YFinanceSource(session, ManualClock(NOW), min_interval_s=5.0, retries=0,
                            cache_dir=tmp_path / "yf", sleep=sleeps.append)
    source.quotes(["AAPL"])
    source.quotes(["AAPL"])
    assert sleeps and 0 < sleeps[0] <= 5.0


def test_factory_builds_the_yfinance_adapter_without_network(tmp_path: Path) -> None:
    from arduino_trader.adapters.market_data.factory import build_source
    from arduino_trader.config.settings import load_settings

    settings = load_settings(None, environ={"ARDUINO_TRADER_MARKET_DATA__SOURCE": "yfinance"})
    source = build_source(settings, ManualClock(NOW), tmp_path)
    assert isinstance(source, YFinanceSource) and source.universe() == []
    assert source.reference_time(NOW) == NOW
    assert (tmp_path / "yfinance").is_dir()


def test_monthly_from_yahoo_history(yahoo: tuple[YFinanceSource, FakeYahoo]) -> None:
    source, _ = yahoo
    months = source.monthly("AAPL", date(2024, 5, 13), date(2024, 6, 3))
    assert [m.month for m in months] == ["2024-05", "2024-06"]
    assert months[1].avg_close == 194.03
    assert months[1].avg_adj_close == pytest.approx(194.03 * 0.998, abs=1e-3)
