"""A security's details beside its prices: fundamentals and analyst data (cached and
stored) and the classification fields still missing from its universe row. A source
without them is tolerated."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from arduino_trader.adapters.store import market_repo as repo
from arduino_trader.adapters.store import securities_repo
from arduino_trader.domain.universe import mic_for_exchange
from arduino_trader.protocols.market_data import MarketData, MarketDataError

from .base import ActorContext
from .market_data_universe import source_symbol
from .ttl_cache import TtlCache


def fetch_details(ctx: ActorContext, source: MarketData, log: Any, sec: Mapping[str, Any],
                  fundamentals: TtlCache[str, dict[str, Any]],
                  analyst: TtlCache[str, dict[str, Any]]) -> None:
    """Fundamentals, analyst data and classification; failures are tolerated."""
    db = ctx.deps.store
    isin, symbol = sec["isin"], source_symbol(sec)
    now = ctx.clock.now()
    for kind, cache, fetch in (("fundamentals", fundamentals, source.fundamentals),
                               ("analyst", analyst, source.analyst)):
        if cache.get(isin) is not None:
            continue
        try:
            item = fetch(symbol)
        except MarketDataError as exc:
            log.debug("security_data_unavailable", isin=isin, kind=kind, error=str(exc))
            continue
        data = dict(item.__dict__)
        data.pop("symbol", None)
        as_of = data.pop("as_of")
        cache.put(isin, data)
        repo.write_security_data(db, isin, kind, data, as_of)
    if not sec.get("country") or not sec.get("industry") or not sec.get("exchange"):
        try:
            info = source.lookup(symbol)
        except MarketDataError:
            return
        securities_repo.fill_missing(db, isin, {
            "country": info.country, "industry": info.industry, "exchange": info.exchange,
            "mic": info.mic or mic_for_exchange(info.exchange),
            "product_type": info.product_type}, now)
