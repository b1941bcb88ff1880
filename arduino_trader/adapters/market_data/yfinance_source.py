"""The market-data port over Yahoo Finance through ``yfinance``.

yfinance is synchronous and keeps one process-wide data singleton; so every call here
runs in the calling actor's thread (never the I/O loop), under one module-wide lock,
throttled to ``min_interval_s`` between requests, retried with 1 s doubling on
transient failures, and always passes our session explicitly: a :class:`YahooSession`
(curl_cffi) that bounds every request by ``timeout_s`` and records the statuses Yahoo
answered, by which a failure is classified (``yahoo_errors``). After a failed call
yfinance's in-process response cache is cleared, so a retry asks Yahoo again instead
of replaying the failed answer. Prices come out in the major currency unit (pence →
pounds, ``yahoo_units``); daily bars are finished ones only (``yahoo_bars``). Symbols
given to this adapter are Yahoo symbols (mapping: ``domain/universe.py``); an ISIN is
resolved by Yahoo's search, and a search without a hit is an unknown symbol.
"""

from __future__ import annotations

import math
import threading
import time
from collections.abc import Callable, Sequence
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal, InvalidOperation
from pathlib import Path
from typing import Any, TypeVar

from arduino_trader.config.settings import Settings
from arduino_trader.domain.price_series import monthly_means
from arduino_trader.domain.universe import (
    analyst_score,
    looks_like_isin,
    mic_for_exchange,
    product_type_for,
    upside_pct,
)
from arduino_trader.protocols.clock import Clock
from arduino_trader.protocols.market_data import (
    AnalystData,
    EmptyHistory,
    Fundamentals,
    FxRate,
    Listing,
    ListingMismatch,
    MalformedPayload,
    MarketDataError,
    MarketDataUnavailable,
    MonthlyPrice,
    PriceHistory,
    Quote,
    RateLimited,
    RateUnavailable,
    SecurityInfo,
    UnknownSymbol,
)

from .yahoo_bars import bar_time, exchange_zone, finished_bars, session_end, split_events
from .yahoo_errors import map_error
from .yahoo_screen import MAX_SIZE, read_screen, region_codes, screen_query
from .yahoo_session import YahooSession
from .yahoo_units import dividend_yield, major_currency, number, to_major

T = TypeVar("T")
_YF_LOCK = threading.Lock()

FUNDAMENTAL_FIELDS = (
    "trailingPE", "forwardPE", "trailingPegRatio", "priceToBook", "revenueGrowth", "earningsGrowth",
    "profitMargins", "operatingMargins", "returnOnEquity", "debtToEquity", "currentRatio",
    "marketCap", "dividendYield", "fiveYearAvgDividendYield", "payoutRatio",
)


class YFinanceSource:
    """:class:`arduino_trader.protocols.market_data.MarketData` over yfinance."""

    name = "yfinance"

    def __init__(self, session: Any, clock: Clock, *, min_interval_s: float = 0.5,
                 timeout_s: float = 20.0, retries: int = 3, cache_dir: Path | None = None,
                 sleep: Callable[[float], None] = time.sleep) -> None:
        import yfinance as yf

        self._yf = yf
        self._session = session
        self._clock = clock
        self._min_interval = min_interval_s
        self._timeout = timeout_s
        self._retries = retries
        self._sleep = sleep
        self._last_call = -math.inf
        # Errors must raise (not be logged and swallowed into an empty frame).
        yf.config.debug.hide_exceptions = False
        if cache_dir is not None:
            cache_dir.mkdir(parents=True, exist_ok=True)
            yf.set_tz_cache_location(str(cache_dir))

    @classmethod
    def from_settings(cls, settings: Settings, clock: Clock, cache_dir: Path) -> YFinanceSource:
        """The production adapter: a browser-impersonating curl_cffi session."""
        timeout_s = settings.typed.market_data.yahoo_timeout_s
        session = YahooSession(timeout_s, impersonate="chrome")
        return cls(session, clock,
                   min_interval_s=settings.typed.market_data.yahoo_min_interval_s,
                   timeout_s=timeout_s,
                   retries=settings.typed.market_data.yahoo_retries,
                   cache_dir=cache_dir / "yfinance")

    # ------------------------------------------------------------------ plumbing
    def _call(self, symbol: str, func: Callable[[], T]) -> T:
        """Run ``func`` throttled, serialized and retried (1 s doubling) on transient errors."""
        delay = 1.0
        for attempt in range(self._retries + 1):
            with _YF_LOCK:
                wait = self._last_call + self._min_interval - time.monotonic()
                if wait > 0:
                    self._sleep(wait)
                begin = getattr(self._session, "begin", None)
                if begin is not None:
                    begin()
                try:
                    return func()
                except Exception as exc:
                    error = map_error(exc, symbol, getattr(self._session, "answers", ()))
                    # yfinance keeps answers in memory for the process (timezones, past
                    # ranges, searches): a failed one must not be served to the retry.
                    self._yf.data.YfData.cache_get.cache_clear()
                finally:
                    self._last_call = time.monotonic()
            retryable = isinstance(error, MarketDataUnavailable)
            if not retryable or attempt == self._retries:
                raise error
            self._sleep(delay)
            delay *= 2
        raise AssertionError("unreachable")  # pragma: no cover

    def _ticker(self, symbol: str) -> Any:
        if looks_like_isin(symbol):  # yfinance would take its search's first hit, unchecked
            raise UnknownSymbol(f"{symbol} is an ISIN, not a Yahoo symbol: onboarding resolves "
                                "it against the broker's listing (or set the yahoo_symbol)")
        return self._yf.Ticker(symbol, session=self._session)

    def reference_time(self, now: datetime) -> datetime:
        """A live source describes the present."""
        return now

    # ---------------------------------------------------------------------- port
    def _priced(self, symbol: str) -> tuple[Quote, date]:
        """The latest price and the day it belongs to: Yahoo's live market price, else the
        newest finished daily close at its session's close (``yahoo_bars``)."""
        ticker = self._ticker(symbol)
        frame = ticker.history(period="5d", interval="1d", auto_adjust=False, actions=False,
                               timeout=self._timeout)
        meta = ticker.history_metadata or {}
        currency, per = major_currency(str(meta.get("currency") or ""))
        price = number(meta.get("regularMarketPrice"))
        stamp = meta.get("regularMarketTime")
        if price is not None and price > 0 and stamp is not None:
            as_of = stamp.to_pydatetime() if hasattr(stamp, "to_pydatetime") else \
                datetime.fromtimestamp(int(stamp), UTC)
            as_of = as_of.astimezone(UTC)
            return Quote(symbol, price / per, currency, as_of, self.name), as_of.date()
        now = self._clock.now()
        bars = finished_bars(frame, meta, per, now)
        if not bars:
            raise EmptyHistory(f"Yahoo returned no recent price for {symbol}")
        zone = exchange_zone(frame, meta)
        last = bars[-1]
        as_of = bar_time(last.day, zone, session_end(meta, zone), now)
        return Quote(symbol, last.close, currency, as_of, self.name), last.day

    def _quote(self, symbol: str) -> Quote:
        return self._priced(symbol)[0]

    def quotes(self, symbols: Sequence[str]) -> dict[str, Quote]:
        """Latest price per symbol (chart API, 5 days so venue holidays are covered).

        A symbol that fails is left out; when every symbol fails, the first error is
        raised so the caller can report the outage.
        """
        out: dict[str, Quote] = {}
        first_error: MarketDataError | None = None
        for symbol in symbols:
            try:
                out[symbol] = self._call(symbol, lambda s=symbol: self._quote(s))  # type: ignore[misc]
            except MarketDataError as exc:
                first_error = first_error or exc
                if isinstance(exc, RateLimited):
                    break
        if not out and first_error is not None:
            raise first_error
        return out

    def history(self, symbol: str, start: date, end: date) -> PriceHistory:
        """Daily OHLCV bars in ``[start, end]``, in the major currency unit.

        Every Yahoo price column is split-adjusted (a re-read after a split rescales all
        earlier bars); ``adj_close`` is adjusted for dividends as well. A bar is returned
        once its session closed 20 minutes ago (``yahoo_bars``): the running session's
        bar, live price and partial volume, is left out.
        """

        def read() -> PriceHistory:
            ticker = self._ticker(symbol)
            frame = ticker.history(start=start.isoformat(),
                                   end=(end + timedelta(days=1)).isoformat(), interval="1d",
                                   auto_adjust=False, actions=True, timeout=self._timeout)
            meta = ticker.history_metadata or {}
            currency, per = major_currency(str(meta.get("currency") or ""))
            now = self._clock.now()
            bars = [b for b in finished_bars(frame, meta, per, now) if start <= b.day <= end]
            if not bars:
                raise EmptyHistory(f"Yahoo returned no bars for {symbol} in {start}..{end}")
            splits = [s for s in split_events(frame) if start <= s[0] <= end]
            return PriceHistory(symbol, currency, tuple(bars), now, self.name, tuple(splits))

        return self._call(symbol, read)

    def monthly(self, symbol: str, start: date, end: date) -> list[MonthlyPrice]:
        """Monthly means of the daily history."""
        return monthly_means(self.history(symbol, start, end).bars)

    def _info(self, symbol: str) -> dict[str, Any]:
        def read() -> dict[str, Any]:
            info = self._ticker(symbol).info
            if not isinstance(info, dict):
                raise MalformedPayload(f"Yahoo info for {symbol} is not an object")
            if not any(k in info for k in ("quoteType", "longName", "shortName", "currency")):
                raise UnknownSymbol(f"Yahoo does not know {symbol}")
            return info

        return self._call(symbol, read)

    def fundamentals(self, symbol: str) -> Fundamentals:
        """The fundamentals the scorers read; a missing figure is None. ``dividendYield`` is a
        fraction (``yahoo_units.dividend_yield``); ``fiveYearAvgDividendYield`` stays
        Yahoo's percent."""
        info = self._info(symbol)
        values = {k: number(info.get(k)) for k in FUNDAMENTAL_FIELDS}
        values["dividendYield"] = dividend_yield(info)
        return Fundamentals(symbol, self._clock.now(), values)

    def analyst(self, symbol: str) -> AnalystData:
        """Recommendation (default hold), score, target (major currency unit) and
        upside %."""
        info = self._info(symbol)
        key = str(info.get("recommendationKey") or "hold")
        per = major_currency(str(info.get("currency") or ""))[1]
        target = to_major(number(info.get("targetMeanPrice")), per)
        price = to_major(number(info.get("currentPrice"))
                         or number(info.get("regularMarketPrice")), per)
        count = number(info.get("numberOfAnalystOpinions"))
        return AnalystData(symbol, self._clock.now(), key, analyst_score(key), target,
                           upside_pct(target, price), int(count) if count is not None else None)

    def lookup(self, identifier: str, listing: Listing | None = None) -> SecurityInfo:
        """Classification from Yahoo (name, currency, exchange, country, industry, type).

        Yahoo has no ISIN: onboarding gets it from the broker or the identifier itself.
        An ISIN is resolved by Yahoo's search (no hit: unknown symbol). Given the broker's
        ``listing``, only a Yahoo listing in its currency (and on its venue, when known)
        is taken, among all the search's hits; none → :class:`ListingMismatch`.
        """
        if not looks_like_isin(identifier):
            return self._matching(self._describe(identifier), listing)
        hits = self._call(identifier, lambda: self._search_isin(identifier))
        if listing is None:
            return self._describe(hits[0][0])
        seen: list[str] = []
        for symbol, exchange in hits:
            venue = mic_for_exchange(exchange)
            if listing.mic and venue and venue != listing.mic:
                seen.append(f"{symbol} on {venue}")
                continue
            info = self._describe(symbol)
            try:
                return self._matching(info, listing)
            except ListingMismatch:
                seen.append(f"{symbol} in {info.currency} on {info.mic or info.exchange}")
        raise ListingMismatch(f"Yahoo lists {identifier} as {', '.join(seen)}; none is the "
                              f"broker's {listing.currency} listing"
                              + (f" on {listing.mic}" if listing.mic else ""))

    @staticmethod
    def _matching(info: SecurityInfo, listing: Listing | None) -> SecurityInfo:
        if listing is None:
            return info
        if info.currency != major_currency(listing.currency)[0] or (
                listing.mic and info.mic and info.mic != listing.mic):
            raise ListingMismatch(
                f"Yahoo's {info.symbol} trades in {info.currency} on "
                f"{info.mic or info.exchange}, the broker's instrument in "
                f"{listing.currency}" + (f" on {listing.mic}" if listing.mic else ""))
        return info

    def _describe(self, symbol: str) -> SecurityInfo:
        info = self._info(symbol)
        name = str(info.get("longName") or info.get("shortName") or "")
        currency = major_currency(str(info.get("currency") or ""))[0]
        if not name or not currency:
            raise MalformedPayload(f"Yahoo info for {symbol} lacks a name or currency")
        exchange = info.get("fullExchangeName")
        yahoo = str(info.get("symbol") or symbol).upper()
        return SecurityInfo(
            symbol=yahoo, yahoo_symbol=yahoo, name=name, currency=currency, isin=None,
            exchange=str(exchange) if exchange else None,
            mic=mic_for_exchange(str(exchange)) if exchange else None,
            country=info.get("country"),
            industry=info.get("industry") or info.get("sector"),
            product_type=product_type_for(info.get("quoteType"), name))

    def _search_isin(self, isin: str) -> list[tuple[str, str | None]]:
        """``(symbol, exchange code)`` of each hit of Yahoo's search, best first."""
        found = self._yf.Search(isin, max_results=10, news_count=0, lists_count=0,
                                include_cb=False, recommended=0, session=self._session,
                                timeout=self._timeout).quotes
        hits = [(str(h["symbol"]), str(h["exchange"]) if h.get("exchange") else None)
                for h in found if isinstance(h, dict) and h.get("symbol")]
        if not hits:
            raise UnknownSymbol(f"Yahoo's search finds nothing for {isin}")
        return hits

    def universe(self) -> list[SecurityInfo]:
        """A live source offers no default universe."""
        return []

    def screen(self, regions: Sequence[str], min_volume: int, limit: int
               ) -> list[SecurityInfo]:
        """Yahoo's equity screener (:mod:`.yahoo_screen`), most traded first."""
        codes = region_codes(regions)
        if not codes:
            return []
        query = screen_query(self._yf, codes, min_volume)
        return read_screen(self._call("screener", lambda: self._yf.screen(
            query, size=min(max(1, limit), MAX_SIZE), sortField="dayvolume", sortAsc=False,
            session=self._session)))

    def fx_rate(self, currency: str) -> FxRate:
        """EUR value of one unit of ``currency`` from Yahoo's ``EUR<CCY>=X`` pair, dated by
        the day of its price (a daily close: its own trading day)."""
        code = currency.strip().upper()
        now = self._clock.now()
        if code == "EUR":
            return FxRate("EUR", Decimal(1), now.date(), now, self.name)
        pair = f"EUR{code}=X"
        try:
            quote, day = self._call(pair, lambda: self._priced(pair))
        except (UnknownSymbol, EmptyHistory) as exc:
            raise RateUnavailable(f"no Yahoo rate for {code}: {exc}") from exc
        try:
            per_eur = Decimal(repr(quote.price))
            eur_per = (Decimal(1) / per_eur).quantize(Decimal("1E-10"))
        except (InvalidOperation, ZeroDivisionError) as exc:
            raise RateUnavailable(f"invalid Yahoo rate for {code}: {quote.price!r}") from exc
        return FxRate(code, eur_per, day, quote.as_of, self.name)
