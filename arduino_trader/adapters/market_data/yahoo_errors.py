"""What a failed yfinance call means, from the exception and the statuses Yahoo answered.

yfinance reports most failures as its own exceptions or as a JSON decode error of an
error page; the HTTP status of the answers (recorded by the adapter's session) says
which kind of failure it was:

* a 429 on any request of the call, the crumb request included → rate limited;
* the last data answer (not the cookie/crumb handshake) 5xx → outage, retried, whatever
  the body (an HTML page that fails JSON decoding, or a JSON error document);
* the last data answer 404 → Yahoo does not know the symbol;
* other 4xx → outage (e.g. a refused crumb);
* no prices / no timezone for a symbol Yahoo answered for → empty history (a valid symbol
  with no bars in the range; yfinance words this "possibly delisted");
* a payload that does not parse → malformed; anything else (network) → outage.
"""

from __future__ import annotations

from collections.abc import Sequence

from arduino_trader.protocols.market_data import (
    EmptyHistory,
    MalformedPayload,
    MarketDataError,
    MarketDataUnavailable,
    RateLimited,
    UnknownSymbol,
)

from .yahoo_session import Answer

NO_DATA = ("YFPricesMissingError", "YFTzMissingError", "YFTickerMissingError",
           "YFInvalidPeriodError")


def _status_of(exc: BaseException) -> int | None:
    status = getattr(getattr(exc, "response", None), "status_code", None)
    return status if isinstance(status, int) else None


def map_error(exc: BaseException, symbol: str,
              answers: Sequence[Answer] = ()) -> MarketDataError:
    """Translate a yfinance / HTTP-client exception into the port's typed errors."""
    if isinstance(exc, MarketDataError):
        return exc
    name = type(exc).__name__
    text = str(exc)
    statuses = [a.status for a in answers]
    if name == "YFRateLimitError" or 429 in statuses or _status_of(exc) == 429:
        return RateLimited(f"Yahoo rate limit hit reading {symbol}")
    data = [a.status for a in answers if not a.is_handshake]
    status = _status_of(exc) or (data[-1] if data else None)
    if status is not None and status >= 500:
        return MarketDataUnavailable(f"Yahoo answered HTTP {status} for {symbol}")
    if status == 404:
        return UnknownSymbol(f"Yahoo does not know {symbol}")
    if status is not None and status >= 400:
        return MarketDataUnavailable(f"Yahoo answered HTTP {status} for {symbol}")
    if name in NO_DATA:
        return EmptyHistory(f"Yahoo returned no prices for {symbol}: {text[:200]}")
    if isinstance(exc, KeyError | TypeError | ValueError | IndexError | AttributeError):
        return MalformedPayload(f"unexpected Yahoo payload for {symbol}: {name}: {text[:200]}")
    return MarketDataUnavailable(f"Yahoo unreachable for {symbol}: {name}: {text[:200]}")
