"""Yahoo's equity screener for security discovery: the query for the configured regions
and the reading of its answer (``finance.result[0].quotes[]``: ``symbol``,
``longName``/``shortName``, ``currency``, ``exchange``, ``fullExchangeName``,
``quoteType``, ``regularMarketVolume``). The screener has no ISIN and no issuer country:
discovery gets both from the broker's listing (or the ISIN's prefix)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from arduino_trader.domain.universe import mic_for_exchange, product_type_for
from arduino_trader.protocols.market_data import MalformedPayload, SecurityInfo

from .yahoo_units import major_currency

# Yahoo's market regions (listing countries) screened for each discovery geography.
YAHOO_REGIONS: dict[str, tuple[str, ...]] = {
    "US": ("us",),
    "EU": ("at", "be", "ch", "de", "dk", "es", "fi", "fr", "gb", "ie", "it", "nl", "no",
           "pt", "se"),
    "ASIA": ("cn", "hk", "in", "jp", "kr", "sg", "tw"),
}
MAX_SIZE = 250  # Yahoo's largest screener page


def region_codes(regions: Sequence[str]) -> list[str]:
    """Yahoo's region codes of the geographies (unknown geographies add none)."""
    return sorted({code for r in regions for code in YAHOO_REGIONS.get(r.upper(), ())})


def screen_query(yf: Any, codes: Sequence[str], min_volume: int) -> Any:
    """Equities listed in ``codes`` that traded more than ``min_volume`` shares today."""
    query = yf.EquityQuery
    return query("and", [query("is-in", ["region", *codes]),
                         query("gt", ["dayvolume", max(0, int(min_volume))])])


def read_screen(answer: Any) -> list[SecurityInfo]:
    """The screener's equities as securities (no ISIN), in Yahoo's order; rows without a
    symbol, name or currency, and other quote types, are skipped."""
    quotes = answer.get("quotes") if isinstance(answer, Mapping) else None
    if not isinstance(quotes, list):
        raise MalformedPayload("Yahoo's screener answer has no quotes list")
    out: list[SecurityInfo] = []
    for q in quotes:
        if not isinstance(q, Mapping) or q.get("quoteType") != "EQUITY":
            continue
        symbol = str(q.get("symbol") or "").upper()
        name = str(q.get("longName") or q.get("shortName") or "")
        currency = major_currency(str(q.get("currency") or ""))[0]
        if not symbol or not name or not currency:
            continue
        exchange = q.get("fullExchangeName") or q.get("exchange")
        mic = mic_for_exchange(str(q.get("fullExchangeName") or "")) or \
            mic_for_exchange(str(q.get("exchange") or ""))
        out.append(SecurityInfo(symbol=symbol, yahoo_symbol=symbol, name=name,
                                currency=currency, exchange=str(exchange) if exchange else None,
                                mic=mic, product_type=product_type_for("EQUITY", name)))
    return out
