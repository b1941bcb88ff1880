"""The market-data port: quotes, history, fundamentals, analyst data, FX, security lookup.

Every item carries the moment it describes (``as_of``) so each consumer knows how old a
price is. Sources raise the typed errors below, never bare exceptions, never a made-up
value: a missing FX rate is :class:`RateUnavailable`, not 1:1.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import date, datetime
from decimal import Decimal
from typing import Protocol, runtime_checkable

from .runtime import ASK_FAILURES

PRODUCT_TYPES: tuple[str, ...] = ("EQUITY", "ETF", "ETC", "MUTUALFUND", "UNKNOWN")
BASE_CURRENCY = "EUR"


# --------------------------------------------------------------------------- errors
class MarketDataError(RuntimeError):
    """Base of every market-data failure; ``code`` is stable (API, health)."""

    code = "market_data_error"


class MarketDataUnavailable(MarketDataError):
    """The source could not be reached or answered with a server error / timeout."""

    code = "market_data_unavailable"


class RateLimited(MarketDataError):
    """The source throttled us (HTTP 429); retry later."""

    code = "market_data_rate_limited"


class MalformedPayload(MarketDataError):
    """The source answered, but not in the shape we read."""

    code = "market_data_malformed"


class UnknownSymbol(MarketDataError):
    """The source does not know the symbol / identifier."""

    code = "unknown_symbol"


class ListingMismatch(UnknownSymbol):
    """The source knows the identifier only on another venue or in another currency than
    the broker's instrument (never taken: prices would be in the wrong unit)."""

    code = "listing_mismatch"


class EmptyHistory(MarketDataError):
    """The source returned no bars for the requested range."""

    code = "empty_history"


class CurrencyMismatch(MarketDataError):
    """The source prices the security in another currency than the one it trades in:
    its numbers are not this security's prices (a relabelled or wrong listing)."""

    code = "currency_mismatch"


def currency_problem(quoted: str, expected: str | None) -> str | None:
    """Why prices quoted in ``quoted`` are not in the security's ``expected`` currency,
    or None (either unknown, or the same code)."""
    if not quoted or not expected or quoted.upper() == expected.upper():
        return None
    return f"priced in {quoted}, the security trades in {expected}"


class RateUnavailable(MarketDataError):
    """No FX rate for that currency (never assume 1:1)."""

    code = "fx_rate_unavailable"


MARKET_DATA_ASK_FAILURES: tuple[type[Exception], ...] = (*ASK_FAILURES, MarketDataError)
"""What an ask of the market-data actor raises when it has no answer: it is not running
or too slow, or its source failed."""


# -------------------------------------------------------------------------- records
@dataclass(frozen=True)
class Quote:
    """The latest price of one symbol and the moment it was traded/printed."""

    symbol: str
    price: float
    currency: str
    as_of: datetime
    source: str


@dataclass(frozen=True)
class PriceBar:
    """One daily bar. ``open/high/low`` may be None when the source has closes only."""

    day: date
    close: float
    open: float | None = None
    high: float | None = None
    low: float | None = None
    adj_close: float | None = None
    volume: float | None = None


@dataclass(frozen=True)
class PriceHistory:
    """Daily bars of one symbol, oldest first, with the time the series was read.

    ``splits`` are the share splits the source reported inside the range, ``(day,
    ratio)`` with ratio 4.0 for a 4-for-1 split; a source whose bars are split-adjusted
    (Yahoo) rescales every bar before such a day, so a stored series older than the
    range must be rescaled likewise to join it.
    """

    symbol: str
    currency: str
    bars: tuple[PriceBar, ...]
    as_of: datetime
    source: str
    splits: tuple[tuple[date, float], ...] = ()


@dataclass(frozen=True)
class MonthlyPrice:
    """Mean close of one ``YYYY-MM`` month (CAGR input)."""

    month: str
    avg_close: float
    avg_adj_close: float


@dataclass(frozen=True)
class Fundamentals:
    """Valuation and quality figures; a missing figure is None."""

    symbol: str
    as_of: datetime
    values: dict[str, float | None] = field(default_factory=dict)


@dataclass(frozen=True)
class AnalystData:
    """Analyst consensus: recommendation key, score 0..1, price target and upside %."""

    symbol: str
    as_of: datetime
    recommendation: str
    score: float
    target_price: float | None
    upside_pct: float | None
    analysts: int | None


@dataclass(frozen=True)
class SecurityInfo:
    """What a source knows about a security (onboarding and classification)."""

    symbol: str
    yahoo_symbol: str | None
    name: str
    currency: str
    isin: str | None = None
    exchange: str | None = None
    mic: str | None = None
    country: str | None = None
    industry: str | None = None
    product_type: str = "UNKNOWN"


@dataclass(frozen=True)
class Listing:
    """What the broker says an instrument is: its trading currency and, when known, its
    venue (MIC). A lookup given one refuses a source listing that differs."""

    currency: str
    mic: str | None = None


@dataclass(frozen=True)
class FxRate:
    """EUR value of one unit of ``currency`` on ``day`` (amount_eur = amount × eur_per)."""

    currency: str
    eur_per: Decimal
    day: date
    as_of: datetime
    source: str


# ---------------------------------------------------------------------------- port
class MarketData(Protocol):
    """A source of market data. Blocking: call it from an actor thread, never the loop."""

    name: str

    def reference_time(self, now: datetime) -> datetime:
        """The moment the source's data describes: ``now`` for a live source, the replay
        position for a replay (staleness is judged against it)."""
        ...

    def quotes(self, symbols: Sequence[str]) -> dict[str, Quote]:
        """Latest prices; symbols the source does not know are absent from the result.

        Raises :class:`MarketDataUnavailable` / :class:`RateLimited` when nothing could be
        read at all.
        """
        ...

    def history(self, symbol: str, start: date, end: date) -> PriceHistory:
        """Daily bars with ``start <= day <= end`` (``EmptyHistory`` when none)."""
        ...

    def monthly(self, symbol: str, start: date, end: date) -> list[MonthlyPrice]:
        """Mean close and mean adjusted close per month within ``[start, end]``."""
        ...

    def fundamentals(self, symbol: str) -> Fundamentals:
        """Fundamentals of one symbol."""
        ...

    def analyst(self, symbol: str) -> AnalystData:
        """Analyst consensus of one symbol."""
        ...

    def lookup(self, identifier: str, listing: Listing | None = None) -> SecurityInfo:
        """Resolve a broker ticker / Yahoo symbol / ISIN to a security
        (``UnknownSymbol`` when not found, ``ListingMismatch`` when ``listing`` is given
        and the source's currency or venue differ from it)."""
        ...

    def universe(self) -> list[SecurityInfo]:
        """The securities this source offers as a default universe (empty for live)."""
        ...

    def fx_rate(self, currency: str) -> FxRate:
        """EUR value of one unit of ``currency`` (``RateUnavailable`` when unknown)."""
        ...


@runtime_checkable
class Screener(Protocol):
    """A source that can screen its market for candidates (security discovery, where the
    broker has no screen). Blocking, like :class:`MarketData`."""

    def screen(self, regions: Sequence[str], min_volume: int, limit: int
               ) -> list[SecurityInfo]:
        """Up to ``limit`` equities of issuers in ``regions`` (EU, US, ASIA) trading at
        least ``min_volume`` shares a day, most traded first (``isin`` may be unknown)."""
        ...


# ------------------------------------------------------------------------- messages
@dataclass(frozen=True)
class PricesUpdated:
    """Published after a price sync: ISIN → latest accepted price, and staleness."""

    prices: dict[str, float]
    as_of: dict[str, datetime]
    stale: tuple[str, ...]
    at: datetime


@dataclass(frozen=True)
class GetFxHistory:
    """Store the daily EUR rates of ``currency`` for ``start..end`` from the source's
    history (records dated before any stored rate); answers the days stored."""

    currency: str
    start: date
    end: date


@dataclass(frozen=True)
class FxRatesUpdated:
    """Published after EUR rates were stored: the currencies that got one."""

    currencies: tuple[str, ...]
    at: datetime


@dataclass(frozen=True)
class HistoryUpdated:
    """Published after a history sync: rows written per ISIN."""

    rows: dict[str, int]
    at: datetime


@dataclass(frozen=True)
class SecurityAdded:
    """Published when a security joined the universe."""

    isin: str
    symbol: str
    at: datetime


@dataclass(frozen=True)
class AddSecurity:
    """Ask market data to onboard ``identifier`` (ISIN, broker ticker or Yahoo symbol).

    The reply is the stored record (dict) or a :class:`MarketDataError` subclass /
    ``ValueError`` instance raised to the asker.
    """

    identifier: str
    overrides: dict[str, object] = field(default_factory=dict)


@dataclass(frozen=True)
class RefreshSecurity:
    """Ask market data to refresh one security's history and data now (ignores 24 h)."""

    isin: str


@dataclass(frozen=True)
class GetQuotes:
    """Ask for the cached latest prices (ISIN → dict with price, as_of, stale)."""

    isins: tuple[str, ...] = ()


@dataclass(frozen=True)
class GetFxRate:
    """Ask for the EUR value of one unit of ``currency`` (reply: :class:`FxRate`)."""

    currency: str
