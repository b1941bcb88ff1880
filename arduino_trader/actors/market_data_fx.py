"""EUR rates for the market-data actor: one currency's rate read from the broker (when
one is wired) or else the source, the rate an actor asks for (cache, broker, source,
then a recent stored rate), and the ``sync_fx`` job's outcome."""

from __future__ import annotations

from collections.abc import Mapping
from decimal import Decimal
from typing import Any

from arduino_trader.adapters.store import market_repo as repo
from arduino_trader.protocols.broker_errors import BROKER_CALL_FAILURES
from arduino_trader.protocols.market_data import (
    FxRate,
    FxRatesUpdated,
    MarketData,
    MarketDataError,
    RateUnavailable,
)
from arduino_trader.protocols.messages import JobOutcome

from .base import ActorContext
from .ttl_cache import TtlCache


def fetch_fx(ctx: ActorContext, source: MarketData, cache: TtlCache[str, FxRate], log: Any,
             code: str) -> FxRate:
    """The rate of ``code`` from the broker, else (no broker, or it failed) from the
    source; cached. A source failure raises its ``MarketDataError``."""
    broker = ctx.deps.broker_fx
    now = ctx.clock.now()
    if broker is not None:
        try:
            rate = FxRate(code, broker(code), now.date(), now, "broker")
            cache.put(code, rate)
            return rate
        except BROKER_CALL_FAILURES as exc:
            log.warning("broker_fx_failed", currency=code, error=repr(exc))
    rate = source.fx_rate(code)
    cache.put(code, rate)
    return rate


def eur_rate(ctx: ActorContext, source: MarketData, cache: TtlCache[str, FxRate], log: Any,
             currency: str) -> FxRate:
    """EUR value of one unit: cache, broker, source, then a recent stored rate; else
    :class:`RateUnavailable` (never 1:1). A rate read is stored and announced."""
    db = ctx.deps.store
    code = currency.strip().upper()
    if code == "EUR":
        now = ctx.clock.now()
        return FxRate("EUR", Decimal(1), now.date(), now, "identity")
    cached = cache.get(code)
    if cached is not None:
        return cached
    try:
        rate = fetch_fx(ctx, source, cache, log, code)
    except MarketDataError as exc:
        stored: FxRate | None = repo.read_fx(db, code)
        max_age = ctx.settings().typed.market_data.fx_max_age_days
        if stored is not None and (ctx.clock.now().date() - stored.day).days <= max_age:
            return stored
        raise RateUnavailable(f"no FX rate for {code}: {exc}") from exc
    repo.write_fx(db, [rate], ctx.clock.now())
    ctx.bus.publish(FxRatesUpdated((code,), ctx.clock.now()))
    return rate


def fx_outcome(got: list[FxRate], failed: Mapping[str, str]) -> JobOutcome:
    """The ``sync_fx`` job's outcome: the rates read and the currencies without one."""
    return JobOutcome(not failed, f"{len(got)} FX rates updated"
                      + (f", missing: {', '.join(sorted(failed))}" if failed else ""),
                      {"rates": {r.currency: str(r.eur_per) for r in got},
                       "missing": failed})
