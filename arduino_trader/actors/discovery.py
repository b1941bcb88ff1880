"""The security_discovery job's work (run by the maintenance actor on the 15th).

Screens for candidates (:mod:`.discovery_screens`), leaves out the known ones and those
outside the configured geographies, exchanges and volume, scores the rest with the
universe scorer on the market-data source's prices and fundamentals, and adds the best
(through the market-data actor's onboarding) or proposes them for review, within the
month's cap. A re-run finds the same candidates known and adds nothing twice.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

import numpy as np
import structlog

from arduino_trader.adapters.store import discovery_repo
from arduino_trader.config.settings import Settings
from arduino_trader.domain.discovery import (
    Candidate,
    Decision,
    DiscoveryConfigError,
    DiscoveryRules,
    decide,
    mean_volume,
    parse_exchanges,
    parse_geographies,
    screen_out,
)
from arduino_trader.domain.price_validation import validate_series
from arduino_trader.domain.scoring.fundamentals import fundamentals_from_data
from arduino_trader.domain.scoring.scorers import SecurityScore
from arduino_trader.domain.scoring.universe import score_universe
from arduino_trader.domain.universe import looks_like_isin, yahoo_symbol_for
from arduino_trader.protocols.jobs import JobSpec
from arduino_trader.protocols.market_data import (
    MARKET_DATA_ASK_FAILURES,
    AddSecurity,
    Listing,
    MarketData,
    MarketDataError,
)
from arduino_trader.protocols.messages import JobOutcome

from .base import ActorContext
from .discovery_screens import Screens
from .planner_inputs import planner_settings

JOB = JobSpec("security_discovery", "maintenance",
              "Screen the broker (or the market-data source) for new securities; add or "
              "propose those scoring above the threshold, a few a month",
              daily_hour_key="job_security_discovery_hour", month_day=15,
              enabled_key="security_discovery_enabled", timeout_s=1800)
ADD_TIMEOUT_S = 120.0
LISTED = 10  # names listed per kind in the job's summary (all of them are logged)
log = structlog.get_logger(actor="maintenance", job=JOB.name)


def rules_from(settings: Settings) -> DiscoveryRules:
    """The ``security_discovery_*`` settings (``DiscoveryConfigError`` names a bad one)."""
    return DiscoveryRules(
        threshold=settings.typed.security_discovery_score_threshold,
        max_per_month=settings.typed.security_discovery_max_per_month,
        manual_review=settings.typed.security_discovery_require_manual_review,
        geographies=parse_geographies(settings.typed.security_discovery_geographies),
        exchanges=parse_exchanges(settings.typed.security_discovery_exchanges),
        min_volume=settings.typed.security_discovery_min_volume,
        fetch_limit=settings.typed.security_discovery_fetch_limit)


def run_discovery(ctx: ActorContext) -> JobOutcome:
    """Screen, filter, score, decide, apply; summarize what happened to each candidate."""
    settings = ctx.settings()
    try:
        rules = rules_from(settings)
    except DiscoveryConfigError as exc:
        return JobOutcome(False, f"discovery not run: {exc}")
    store = ctx.deps.store
    source = ctx.deps.market_data
    assert source is not None  # MaintenanceActor.needs it: checked at wiring
    now = ctx.clock.now()
    symbols = discovery_repo.known_symbols(store)
    screened = Screens(ctx.io, ctx.deps.broker, source).gather(
        rules, frozenset(symbols))
    known = discovery_repo.known_isins(store)
    left_out: dict[str, str] = {}
    scored: list[tuple[Candidate, float]] = []
    details: dict[str, dict[str, Any]] = {}
    fresh = [c for c in screened.candidates if c.isin not in known]
    for c in fresh[:rules.fetch_limit]:
        if ctx.stopping.is_set():
            break
        reason = screen_out(c, rules)
        if reason is None:
            try:
                reason, score, detail = _score(source, c, rules, settings, now)
            except (MarketDataError, ValueError, ArithmeticError) as exc:
                # one unreadable answer must not end the run
                reason, score, detail = f"not scored: {type(exc).__name__}: {exc}", None, {}
            if score is not None:
                scored.append((c, score.total))
                details[c.isin] = detail
        if reason is not None:
            left_out[c.symbol] = reason
    used = discovery_repo.used_in_month(store, discovery_repo.month_of(now))
    decisions = decide(scored, rules, used)
    added, proposed, failed = _apply(ctx, decisions, details, now)
    below = [d.candidate.symbol for d in decisions if d.action == "below_threshold"]
    over = [d.candidate.symbol for d in decisions if d.action == "over_cap"]
    problems = screened.problems + failed
    reasons = "; ".join(f"{k}: {v}" for k, v in list(left_out.items())[:LISTED])
    message = (f"screened {len(screened.candidates) + screened.known} ({len(fresh)} new, "
               f"screens {screened.screens or 'none'}); added {added}; proposed {proposed}; "
               f"below {rules.threshold}: {len(below)} {below[:LISTED]}; over the monthly "
               f"cap: {len(over)} {over[:LISTED]}; left out: {len(left_out)}"
               + (f" ({reasons})" if reasons else "")
               + (f"; problems: {problems[:LISTED]}" if problems else ""))
    log.info("security_discovery_run", added=added, proposed=proposed, below=below,
             over_cap=over, left_out=left_out, problems=problems, screens=screened.screens,
             used_this_month=used)
    ok = not failed and (bool(screened.screens) or not rules.exchanges)
    return JobOutcome(ok, message, {
        "added": added, "proposed": proposed, "below_threshold": below, "over_cap": over,
        "left_out": left_out, "problems": problems, "screens": screened.screens,
        "scores": {c.symbol: s for c, s in scored}, "used_this_month": used})


def _score(source: MarketData, c: Candidate, rules: DiscoveryRules, settings: Settings,
           now: datetime) -> tuple[str | None, SecurityScore | None, dict[str, Any]]:
    """(why left out, score, detail): the universe scorer over the source's validated
    history (the planner's window) and fundamentals, as the universe is scored."""
    symbol = c.yahoo_symbol or yahoo_symbol_for(c.symbol, mic=c.mic, isin=c.isin)
    if not symbol or looks_like_isin(symbol):  # a venue-less ticker (.EU): ask the source
        try:
            info = source.lookup(c.isin, Listing(c.currency) if c.currency else None)
        except MarketDataError as exc:
            return f"the source cannot identify it ({exc.code}: {exc})", None, {}
        symbol = info.yahoo_symbol or info.symbol
    days = settings.typed.planner_history_days
    end = source.reference_time(now).date()
    try:
        history = source.history(symbol, end - timedelta(days=int(days * 7 / 5) + 10), end)
    except MarketDataError as exc:
        return f"no prices from the source ({exc.code})", None, {}
    report = validate_series(history.bars,
                             max_gap_days=settings.typed.market_data.max_gap_days)
    bars = report.accepted[-days:]
    volume = mean_volume([b.volume for b in bars])
    reason = screen_out(c, rules, volume)
    if reason is not None or not bars:
        return reason or "no valid price from the source", None, {}
    prices = np.array([[b.close if b.close > 0 else np.nan for b in bars]])
    doc: dict[str, Any] = {}
    for kind, fetch in (("fundamentals", source.fundamentals), ("analyst", source.analyst)):
        try:
            data = dict(fetch(symbol).__dict__)
        except MarketDataError:
            continue  # scored neutral on what the source lacks, as the universe is
        data.pop("symbol", None)
        data.pop("as_of", None)
        doc[kind] = {"data": data}
    fundamentals = fundamentals_from_data(doc)
    ps = planner_settings(settings)
    (score,) = score_universe([c.symbol], prices,
                              {c.symbol: fundamentals} if fundamentals else None,
                              risk_free_rate=ps.risk_free_rate,
                              target_return=ps.target_annual_return,
                              market_pe=ps.market_avg_pe)
    if score is None:
        return "no valid price from the source", None, {}
    return None, score, {"groups": {g: round(s.score, 3) for g, s in score.groups.items()},
                         "bars": len(bars), "mean_volume": volume,
                         "price_source": history.source, "yahoo_symbol": symbol}


_NOT_ADDED: tuple[type[Exception], ...] = (*MARKET_DATA_ASK_FAILURES, ValueError)
"""An onboarding's failures: no answer, the source's, or a refusal (a ValueError: an
identifier not understood, a duplicate)."""


def _apply(ctx: ActorContext, decisions: list[Decision], details: dict[str, dict[str, Any]],
           now: datetime) -> tuple[list[str], list[str], list[str]]:
    """Add (through the market-data actor, then record) or record as pending; returns
    (added, proposed, failures). A failed add records nothing: the next run retries."""
    store = ctx.deps.store
    added: list[str] = []
    proposed: list[str] = []
    failed: list[str] = []
    for d in decisions:
        c = d.candidate
        if d.action == "add":
            try:
                overrides = approve_overrides({"symbol": c.symbol, "name": c.name,
                                               "currency": c.currency,
                                               "detail": details.get(c.isin)})
                ctx.bus.ask("market_data", AddSecurity(c.isin, overrides), ADD_TIMEOUT_S)
            except _NOT_ADDED as exc:  # no answer, or the onboarding's refusal
                failed.append(f"{c.symbol}: not added ({type(exc).__name__}: {exc})")
                continue
            status = "added"
        elif d.action == "propose":
            status = "pending"
        else:
            continue
        if discovery_repo.record(store, d, status, details.get(c.isin, {}), now):
            (added if status == "added" else proposed).append(c.symbol)
    return added, proposed, failed


def approve_overrides(row: dict[str, Any]) -> dict[str, object]:
    """The onboarding overrides of a recorded candidate (or one about to be): the
    broker's ticker, name and currency, and the source symbol it was scored on."""
    out: dict[str, object] = {"symbol": row["symbol"], "name": row["name"]}
    if row.get("currency"):
        out["currency"] = row["currency"]
    yahoo = (row.get("detail") or {}).get("yahoo_symbol")
    if yahoo:
        out["yahoo_symbol"] = yahoo
    return out
