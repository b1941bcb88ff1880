"""Onboarding securities into the universe: a security's source symbol, the universe
record of a source's security, the seeding of an empty universe, the resolution of an
identifier the owner adds (checked against the broker's listing), and the
``rebuild_universe`` job."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from datetime import datetime
from typing import Any

from arduino_trader.adapters.store import securities_repo
from arduino_trader.domain.universe import (
    Identifier,
    IdentifierError,
    mic_for_exchange,
    validate_isin,
    yahoo_symbol_for,
)
from arduino_trader.protocols.broker_errors import BROKER_CALL_FAILURES
from arduino_trader.protocols.market_data import (
    Listing,
    ListingMismatch,
    MarketData,
    MarketDataError,
    MarketDataUnavailable,
    SecurityAdded,
    SecurityInfo,
    UnknownSymbol,
)
from arduino_trader.protocols.messages import JobOutcome

from .base import ActorContext


def source_symbol(sec: Mapping[str, Any]) -> str:
    """The symbol the market-data source knows a stored security by."""
    return str(sec.get("yahoo_symbol") or yahoo_symbol_for(
        sec["symbol"], mic=sec.get("mic"), isin=sec["isin"]) or sec["symbol"])


def security_record(info: SecurityInfo, isin: str, overrides: Mapping[str, Any],
                    source_name: str) -> dict[str, Any]:
    """The universe row of a source's security, with the owner's overrides."""
    mic = info.mic or mic_for_exchange(info.exchange)
    record: dict[str, Any] = {
        "isin": isin, "symbol": info.symbol.upper(), "name": info.name,
        "yahoo_symbol": info.yahoo_symbol or yahoo_symbol_for(info.symbol, mic=mic,
                                                              isin=isin),
        "product_type": info.product_type, "country": info.country,
        "industry": info.industry, "exchange": info.exchange, "mic": mic,
        "currency": info.currency.upper(), "source": source_name,
    }
    for key in ("name", "yahoo_symbol", "min_lot", "allow_buy", "allow_sell"):
        if overrides.get(key) is not None:
            record[key] = overrides[key]
    return record


def seed_universe(ctx: ActorContext, source: MarketData, log: Any, now: datetime,
                  problem: Callable[[str, str], None]) -> int:
    """Store the source's universe when the universe is empty; the number added (0 when
    it was not empty, or the source failed: that is a ``problem``)."""
    db = ctx.deps.store
    if securities_repo.has_securities(db):
        return 0
    try:
        offered = source.universe()
    except MarketDataError as exc:
        problem("universe", f"{exc.code}: {exc}")
        return 0
    records = [security_record(info, info.isin or "", {}, source.name)
               for info in offered if info.isin]
    added = int(securities_repo.insert_securities(db, records, now))
    if added:
        log.info("universe_seeded", source=source.name, added=added)
        for record in records:  # the universe was empty: each of them joined it now
            ctx.bus.publish(SecurityAdded(str(record["isin"]), str(record["symbol"]), now))
    return added


def new_security_record(source: MarketData, log: Any, identifier: str, ident: Identifier,
                        overrides: Mapping[str, Any], listing: Listing | None
                        ) -> dict[str, Any]:
    """The universe row of a security not in the universe yet, looked up at the source
    (checked against the broker's ``listing``); :class:`IdentifierError` when it has no
    ISIN or no name."""
    try:  # a chosen Yahoo symbol is looked up instead (and checked the same way)
        info = source.lookup(str(overrides.get("yahoo_symbol") or ident.value), listing)
    except ListingMismatch:
        raise
    except UnknownSymbol:
        if not all(overrides.get(k) for k in ("symbol", "name", "currency")):
            raise
        info = SecurityInfo(symbol=str(overrides["symbol"]), yahoo_symbol=None,
                            name=str(overrides["name"]),
                            currency=str(overrides["currency"]))
    isin = ident.value if ident.kind == "isin" else (info.isin or "")
    if ident.kind == "isin" and info.isin and info.isin != isin:
        log.warning("isin_mismatch", requested=isin, source_isin=info.isin)
    if not isin:
        raise IdentifierError(f"{identifier}: the source knows no ISIN for it; add it by "
                              "ISIN (the ISIN is the primary key)")
    isin = validate_isin(isin)
    if overrides.get("symbol"):
        info = SecurityInfo(**{**info.__dict__, "symbol": str(overrides["symbol"])})
    if not info.name:
        raise IdentifierError(f"{identifier}: no name known; refused")
    return security_record(info, isin, overrides, source.name)


def broker_listing(ctx: ActorContext, identifier: str) -> Listing | None:
    """The broker's listing of ``identifier`` (a real broker wires ``broker_listing``);
    None when there is no broker or it does not list the identifier."""
    feed = ctx.deps.broker_listing
    if feed is None:
        return None
    try:
        return feed(identifier)
    except BROKER_CALL_FAILURES as exc:
        raise MarketDataUnavailable(f"the broker's listing of {identifier} is "
                                    f"unavailable: {exc}") from exc


def rebuild_universe(ctx: ActorContext,
                     add_security: Callable[[str, Mapping[str, Any]], dict[str, Any]]
                     ) -> JobOutcome:
    """Onboard (``add_security``) every broker position missing from the universe."""
    db = ctx.deps.store
    positions = ctx.deps.broker_positions
    if positions is None:
        return JobOutcome(False, "rebuild needs the broker's positions, and no broker "
                                 "positions provider is wired into this daemon")
    try:
        symbols = positions()
    except BROKER_CALL_FAILURES as exc:
        return JobOutcome(False, f"broker positions unavailable: {exc}")
    added: list[str] = []
    errors: list[dict[str, str]] = []
    for symbol in symbols:
        if securities_repo.find_security(db, symbol) is not None:
            continue
        try:
            record = add_security(symbol, {})
            added.append(record["isin"])
        except (MarketDataError, IdentifierError, securities_repo.DuplicateSecurity) as exc:
            errors.append({"symbol": symbol, "message": str(exc)})
    status = "success" if not errors else ("partial_success" if added else "error")
    return JobOutcome(status != "error", f"{status}: {len(added)} added of "
                                         f"{len(symbols)} positions",
                      {"status": status, "added": added, "errors": errors,
                       "portfolio_positions": len(symbols)})
