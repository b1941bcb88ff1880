"""The ``sync_prices`` job's steps: which quotes are due, the verdict on each fresh quote
(accepted, or quarantined with its reason), the split-like quotes whose history is
re-read, the stale list and the job's outcome; and the stored quotes' answer."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime, timedelta
from typing import Any

from arduino_trader.adapters.market_data.calendars import MarketCalendars
from arduino_trader.domain.price_validation import check_price
from arduino_trader.protocols.market_data import Quote, currency_problem
from arduino_trader.protocols.messages import JobOutcome
from arduino_trader.protocols.price_history import Quarantined, QuarantineReason

from .ttl_cache import TtlCache

REREAD_GAP = timedelta(hours=1)  # history re-reads after a split-like quote, at most


def due_symbols(by_symbol: Mapping[str, str], mics: Mapping[str, str | None],
                stored: Mapping[str, Quote], cache: TtlCache[str, Quote],
                calendars: MarketCalendars, now: datetime, *, force: bool) -> list[str]:
    """The symbols whose quote is read now: all when ``force``; else those without a
    cached quote whose exchange may have moved since the stored quote."""
    return [sym for sym, isin in by_symbol.items()
            if force or (cache.get(isin) is None
                         and calendars.may_have_moved(
                             mics[isin], stored[isin].as_of if isin in stored else None,
                             now))]


def judge_quotes(fresh: Mapping[str, Quote], by_symbol: Mapping[str, str],
                 stored: Mapping[str, Quote], recent: Mapping[str, list[float]],
                 cache: TtlCache[str, Quote], log: Any,
                 currencies: Mapping[str, str | None]
                 ) -> tuple[dict[str, Quote], dict[str, tuple[Quarantined, ...]]]:
    """Each fresh quote checked against the security's currency (``currencies`` by ISIN),
    the stored quote (else the newest close) and the recent closes: the accepted ones
    (cached), and the quarantined ones by ISIN."""
    accepted: dict[str, Quote] = {}
    refused: dict[str, tuple[Quarantined, ...]] = {}
    for symbol, quote in fresh.items():
        isin = by_symbol[symbol]
        closes = recent[isin]
        previous = stored[isin].price if isin in stored else (closes[-1] if closes else None)
        mismatch = currency_problem(quote.currency, currencies.get(isin))
        verdict: tuple[QuarantineReason, str] | None = ("currency", mismatch) if mismatch \
            else check_price(quote.price, previous, closes)
        if verdict is None:
            accepted[isin] = quote
            cache.put(isin, quote)
        else:
            refused[isin] = (Quarantined(quote.as_of.date(), quote.price, *verdict),)
            log.warning("price_quarantined", isin=isin, price=quote.price,
                        reason=verdict[0], detail=verdict[1])
    return accepted, refused


def split_rereads(securities: list[dict[str, Any]],
                  refused: Mapping[str, tuple[Quarantined, ...]],
                  reread: dict[str, datetime], now: datetime) -> list[dict[str, Any]]:
    """The securities whose quote was refused as a split and whose history was not
    re-read within :data:`REREAD_GAP`; ``reread`` records them as re-read now."""
    split = [s for s in securities if s["isin"] in refused
             and refused[s["isin"]][0].reason == "split"
             and now - reread.get(s["isin"], now - REREAD_GAP) >= REREAD_GAP]
    reread.update({s["isin"]: now for s in split})
    return split


def stale_isins(securities: list[dict[str, Any]], latest: Mapping[str, Quote],
                reference: datetime, max_age: timedelta) -> tuple[str, ...]:
    """The securities without a quote, or whose quote is older than ``max_age`` at the
    source's ``reference`` time, sorted."""
    return tuple(sorted(s["isin"] for s in securities
                        if s["isin"] not in latest
                        or reference - latest[s["isin"]].as_of > max_age))


def quote_rows(stored: Mapping[str, Quote], wanted: set[str], reference: datetime,
               max_age: timedelta) -> dict[str, dict[str, Any]]:
    """The stored quotes of the ``wanted`` ISINs, each with its staleness at the source's
    ``reference`` time (the ``GetQuotes`` answer)."""
    return {i: {"price": q.price, "currency": q.currency, "as_of": q.as_of,
                "source": q.source, "stale": reference - q.as_of > max_age}
            for i, q in stored.items() if i in wanted}


def prices_outcome(ok: bool, *, accepted: int, cached: int, refused: int,
                   stale: tuple[str, ...], missing: list[str]) -> JobOutcome:
    """The ``sync_prices`` job's outcome and counts."""
    return JobOutcome(ok, f"{accepted} prices updated, {cached} cached or closed, "
                          f"{refused} quarantined, {len(stale)} stale, "
                          f"{len(missing)} unavailable",
                      {"updated": accepted, "cached": cached,
                       "quarantined": refused, "stale": list(stale),
                       "unavailable": missing})
