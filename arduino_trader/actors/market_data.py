"""The market-data actor: universe onboarding, price/history/data/FX syncs, TTL caches,
``PricesUpdated`` events and the ``market_data`` health component.

The source (replay or yfinance) is blocking: it runs in this actor's thread, never on
the I/O loop; it writes the store directly, on this thread. A failing source keeps the last
accepted prices (marked stale) and degrades health; it never invents a price or a rate.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from arduino_trader.adapters.market_data.calendars import MarketCalendars
from arduino_trader.adapters.store import market_repo as repo
from arduino_trader.adapters.store import market_stats, securities_repo
from arduino_trader.adapters.store.security_reactivation import reactivate
from arduino_trader.domain.universe import (
    IdentifierError,
    classify,
)
from arduino_trader.protocols.jobs import JobSpec
from arduino_trader.protocols.market_data import (
    AddSecurity,
    FxRate,
    FxRatesUpdated,
    GetFxHistory,
    GetFxRate,
    GetQuotes,
    HistoryUpdated,
    MarketData,
    MarketDataError,
    PricesUpdated,
    Quote,
    RefreshSecurity,
    SecurityAdded,
)
from arduino_trader.protocols.messages import ComponentStatus, HealthLevel, JobOutcome, RunJob
from arduino_trader.protocols.price_history import Rescale
from arduino_trader.protocols.runtime import ActorUnavailable
from arduino_trader.protocols.store import Database

from .base import HEALTH_ACTOR, ActorContext, BaseActor, handles
from .fx_backfill import history_rates
from .market_data_details import fetch_details
from .market_data_fx import eur_rate, fetch_fx, fx_outcome
from .market_data_history import KnownHistories, sync_histories
from .market_data_prices import (
    due_symbols,
    judge_quotes,
    prices_outcome,
    quote_rows,
    split_rereads,
    stale_isins,
)
from .market_data_universe import (
    broker_listing,
    new_security_record,
    rebuild_universe,
    seed_universe,
    source_symbol,
)
from .ttl_cache import CacheHandle, TtlCache

ACTOR = "market_data"
COMPONENT = "market_data"

JOBS: tuple[JobSpec, ...] = (
    JobSpec("sync_prices", ACTOR, "Latest quotes of every active security (validated)",
            every_minutes_key="job_sync_prices_minutes", timeout_s=300, run_at_startup=True),
    JobSpec("sync_securities_data", ACTOR, "Seed the demo universe when empty; history, "
            "fundamentals and classification of securities not synced for 24 h",
            every_minutes_key="job_securities_data_minutes", timeout_s=3600,
            run_at_startup=True),
    JobSpec("sync_historical", ACTOR, "History top-up of every active security",
            every_minutes_key="job_historical_sync_minutes", timeout_s=3600),
    JobSpec("refresh_all_securities", ACTOR, "Securities data sync ignoring the 24 h rule "
            "(manual)", timeout_s=3600),
    JobSpec("rebuild_universe", ACTOR, "Add every broker position missing from the universe "
            "(manual; needs the broker)", timeout_s=1800),
    JobSpec("sync_fx", ACTOR, "FX rates (EUR base) of every universe currency",
            every_minutes_key="job_fx_sync_minutes", timeout_s=300, run_at_startup=True),
)

@dataclass(frozen=True)
class _SyncOne:
    """Internal: sync one security in the background (after onboarding)."""

    isin: str


class MarketDataActor(BaseActor):
    """Owns the market-data source, the caches and the market-data jobs."""

    name = ACTOR
    needs = ("store",)
    ctx: ActorContext

    def __init__(self, ctx: ActorContext, *, source: MarketData,
                 calendars: MarketCalendars | None = None) -> None:
        super().__init__(ctx)
        self.source = source
        self.calendars = (calendars or ctx.deps.calendars
                          or MarketCalendars(today=ctx.clock.now().date()))
        s = ctx.settings
        mono = ctx.clock.monotonic
        self.quotes: TtlCache[str, Quote] = TtlCache(
            "market_data.quotes", lambda: s().typed.market_data.quote_ttl_s, mono)
        self.fx: TtlCache[str, FxRate] = TtlCache(
            "market_data.fx", lambda: s().typed.market_data.fx_ttl_minutes * 60.0, mono)
        self.fundamentals: TtlCache[str, dict[str, Any]] = TtlCache(
            "market_data.fundamentals",
            lambda: s().typed.market_data.fundamentals_ttl_hours * 3600.0, mono)
        self.analyst: TtlCache[str, dict[str, Any]] = TtlCache(
            "market_data.analyst",
            lambda: s().typed.market_data.analyst_ttl_hours * 3600.0, mono)
        self._problems: dict[str, str] = {}
        self._last_level: HealthLevel | None = None
        # The source's last history answer per ISIN once stored, and the newest stored
        # closes: a top-up validates and writes only the bars that differ from it (new
        # days, revisions). An ISIN another writer changed is forgotten (change log).
        self._known = KnownHistories()
        self._rescales: dict[str, Rescale] = {}  # split rescales due with the next write
        self._reread: dict[str, datetime] = {}  # history re-read after a split-like quote
        # The last PricesUpdated published: an unchanged one is not published again (its
        # subscribers revalue positions and re-plan on it).
        self._published: PricesUpdated | None = None

    def on_start(self) -> None:
        """Register the caches so the admin API can report and clear them."""
        registry = self.ctx.deps.caches
        if registry is not None:
            for cache in (self.quotes, self.fx, self.fundamentals, self.analyst):
                registry.register(CacheHandle(cache.name, cache.size, cache.clear))

    # ------------------------------------------------------------------ helpers
    @property
    def _db(self) -> Database:
        return self.ctx.deps.store

    def _now(self) -> datetime:
        return self.ctx.clock.now()

    def _report(self) -> None:
        """Tell health the source's state (only what changed is logged there)."""
        level: HealthLevel = "degraded" if self._problems else "ok"
        message = "; ".join(f"{k}: {v}" for k, v in sorted(self._problems.items())) or \
            f"source {self.source.name} ok"
        try:
            self.ctx.bus.tell(HEALTH_ACTOR, ComponentStatus(COMPONENT, level, message[:500],
                                                            self._now()))
        except ActorUnavailable:
            pass
        self._last_level = level

    def _problem(self, key: str, message: str | None) -> None:
        if message is None:
            self._problems.pop(key, None)
        else:
            self._problems[key] = message
            self.log.warning("market_data_problem", problem=key, message=message)

    # --------------------------------------------------------------------- jobs
    @handles(RunJob)
    def _on_run_job(self, msg: RunJob) -> JobOutcome:
        jobs: dict[str, Callable[[], JobOutcome]] = {
            "sync_prices": lambda: self.sync_prices(force=msg.trigger == "manual"),
            "sync_securities_data": lambda: self.sync_securities_data(force=False),
            "refresh_all_securities": lambda: self.sync_securities_data(force=True),
            "sync_historical": self.sync_historical,
            "rebuild_universe": lambda: rebuild_universe(self.ctx, self.add_security),
            "sync_fx": self.sync_fx,
        }
        job = jobs.get(msg.job)
        if job is None:
            return JobOutcome(False, f"market_data does not run job {msg.job!r}")
        try:
            return job()
        finally:
            self._report()

    def sync_prices(self, *, force: bool = False) -> JobOutcome:
        """Quotes of every active security; validated, stored, published.

        A scheduled run skips securities whose quote is younger than the quote TTL and
        those whose exchange is closed and already gave its closing price (price sync
        touches open exchanges only); a manual trigger (``force``) refreshes them all.
        """
        now = self._now()
        self.calendars.renew(now.date())
        self._seed_universe(now)
        securities = securities_repo.list_securities(self._db, active_only=True)
        if not securities:
            self._problem("prices", None)
            return JobOutcome(True, "no active securities")
        by_symbol = {source_symbol(s): s["isin"] for s in securities}
        stored: dict[str, Quote] = repo.read_quotes(self._db)
        mics = {s["isin"]: s.get("mic") for s in securities}
        wanted = due_symbols(by_symbol, mics, stored, self.quotes, self.calendars, now,
                             force=force)
        try:
            fresh = self.source.quotes(wanted) if wanted else {}
        except MarketDataError as exc:
            fresh = {}
            self._problem("prices", f"{exc.code}: {exc}")
        prices = self.ctx.deps.price_history
        recent = prices.recent_closes_many(sorted({by_symbol[s] for s in fresh}))
        accepted, refused = judge_quotes(fresh, by_symbol, stored, recent, self.quotes,
                                         self.log, {s["isin"]: s.get("currency")
                                                    for s in securities})
        repo.write_quotes(self._db, accepted, now)
        if refused:
            prices.write_history({i: ((), q) for i, q in refused.items()},
                                 f"{self.source.name}:quote", now)
            # A split: re-read the history so the store joins Yahoo's adjusted scale and
            # the next quote is judged on it.
            split = split_rereads(securities, refused, self._reread, now)
            if split:
                self._sync_many(split, now, reread=True)
        active = {s["isin"] for s in securities}
        latest = {i: q for i, q in {**stored, **accepted}.items() if i in active}
        max_age = timedelta(hours=self.ctx.settings().typed.max_price_age_hours)
        reference = self.source.reference_time(now)
        stale = stale_isins(securities, latest, reference, max_age)
        missing = sorted(set(wanted) - set(fresh))
        if fresh or not wanted:
            self._problem("prices", f"{len(stale)} stale price(s)" if stale else None)
        event = PricesUpdated(prices={i: q.price for i, q in latest.items()},
                              as_of={i: q.as_of for i, q in latest.items()}, stale=stale,
                              at=now)
        if self._published is None or (event.prices, event.as_of, event.stale) != (
                self._published.prices, self._published.as_of, self._published.stale):
            self.ctx.bus.publish(event)
            self._published = event
        self.market_problems([s["mic"] for s in securities if s.get("mic")])
        ok = bool(fresh) or not wanted
        cached = len(by_symbol) - len(wanted)
        return prices_outcome(ok, accepted=len(accepted), cached=cached, refused=len(refused),
                              stale=stale, missing=missing)

    def sync_securities_data(self, *, force: bool) -> JobOutcome:
        """Seed an empty universe from the source; then history + data of due securities."""
        now = self._now()
        seeded = self._seed_universe(now)
        settings = self.ctx.settings()
        cutoff = now + timedelta(seconds=1) if force else now - timedelta(
            hours=settings.typed.market_data.resync_hours)
        if force:
            self._known.clear()
        due = securities_repo.securities_due(self._db, cutoff)
        processed, errors = self._sync_many(due, now)
        active = securities_repo.list_securities(self._db, active_only=True)
        self.market_problems([s["mic"] for s in active if s.get("mic")])
        summary = (f"{len(processed)} securities synced, {len(errors)} errors"
                   + (f", {seeded} added to an empty universe" if seeded else ""))
        return JobOutcome(not errors or bool(processed), summary,
                          {"processed": processed, "errors": errors, "seeded": seeded})

    def _seed_universe(self, now: datetime) -> int:
        return seed_universe(self.ctx, self.source, self.log, now, self._problem)

    def _sync_many(self, securities: list[dict[str, Any]], now: datetime,
                   reread: bool = False) -> tuple[list[str], list[dict[str, str]]]:
        synced = sync_histories(
            self.ctx, self.source, self.log, securities, now, reread=reread,
            known_by_isin=self._known, rescales=self._rescales,
            details=lambda sec: fetch_details(self.ctx, self.source, self.log, sec,
                                              self.fundamentals, self.analyst))
        processed, errors, stored = synced.processed, synced.errors, synced.stored
        self._problem("history", f"{len(errors)} securities failed: "
                                 f"{errors[0]['message']}" if errors else None)
        if stored:
            self.ctx.bus.publish(HistoryUpdated(dict(stored), now))
            self.log.info("history_synced", securities=len(stored), rows=synced.rows)
        return processed, errors

    def sync_historical(self) -> JobOutcome:
        """History top-up of every active security (ignores last_synced)."""
        now = self._now()
        securities = securities_repo.list_securities(self._db, active_only=True)
        processed, errors = self._sync_many(securities, now)
        return JobOutcome(not errors or bool(processed),
                          f"history of {len(processed)} securities up to date, "
                          f"{len(errors)} errors", {"processed": processed, "errors": errors})

    def sync_fx(self) -> JobOutcome:
        """Refresh the rate of every currency of the universe and store it with its day."""
        self._seed_universe(self._now())
        securities = securities_repo.list_securities(self._db, active_only=True)
        currencies = sorted({s["currency"] for s in securities} - {"EUR"})
        got: list[FxRate] = []
        failed: dict[str, str] = {}
        for code in currencies:
            try:
                got.append(fetch_fx(self.ctx, self.source, self.fx, self.log, code))
            except MarketDataError as exc:
                failed[code] = str(exc)
        repo.write_fx(self._db, got, self._now())
        if got:  # money waiting for one of these rates is booked now, not at its schedule
            self.ctx.bus.publish(FxRatesUpdated(tuple(r.currency for r in got), self._now()))
        self._problem("fx", f"no rate for {', '.join(sorted(failed))}" if failed else None)
        return fx_outcome(got, failed)

    # ------------------------------------------------------------------ FX
    @handles(GetFxRate)
    def _on_get_fx(self, msg: GetFxRate) -> FxRate:
        return eur_rate(self.ctx, self.source, self.fx, self.log, msg.currency)

    @handles(GetFxHistory)
    def _on_fx_history(self, msg: GetFxHistory) -> int:
        rates = history_rates(self.source, msg.currency, msg.start, msg.end, self._now())
        repo.write_fx(self._db, rates, self._now())
        return len(rates)

    # -------------------------------------------------------------- universe
    def add_security(self, identifier: str, overrides: Mapping[str, Any]) -> dict[str, Any]:
        """Onboard one security; the history follows in the background."""
        ident = classify(identifier)
        existing = securities_repo.find_security(self._db, ident.value)
        if existing is not None:  # soft-deleted: back again; still active: a duplicate
            back = reactivate(self._db, existing, overrides, self._now())
            self.log.info("security_reactivated", isin=back["isin"], symbol=back["symbol"])
            self.ctx.bus.publish(SecurityAdded(back["isin"], back["symbol"], self._now()))
            self.actor_ref.tell(_SyncOne(back["isin"]))
            return back
        record = new_security_record(self.source, self.log, identifier, ident, overrides,
                                     broker_listing(self.ctx, ident.value))
        isin = record["isin"]
        now = self._now()
        securities_repo.insert_security(self._db, record, now)
        self.log.info("security_added", isin=isin, symbol=record["symbol"])
        self.ctx.bus.publish(SecurityAdded(isin, record["symbol"], now))
        self.actor_ref.tell(_SyncOne(isin))
        stored = securities_repo.get_security(self._db, isin)
        if stored is None:  # written just above, on this thread
            raise IdentifierError(f"{identifier}: not stored; refused")
        return stored

    @handles(AddSecurity)
    def _on_add(self, msg: AddSecurity) -> dict[str, Any]:
        return self.add_security(msg.identifier, msg.overrides)

    @handles(_SyncOne)
    def _on_sync_one(self, msg: _SyncOne) -> None:
        try:
            self.refresh_security(msg.isin)
        except (MarketDataError, LookupError) as exc:  # the source failed this one
            # security, or it is gone
            self.log.warning("security_sync_failed", isin=msg.isin, error=repr(exc))
        self._report()

    def refresh_security(self, isin: str) -> dict[str, Any]:
        """History and data of one security now (ignores the 24 h rule)."""
        sec = securities_repo.get_security(self._db, isin)
        if sec is None:
            raise LookupError(f"unknown security {isin}")
        self.fundamentals.clear()
        self.analyst.clear()
        self._known.forget(isin)
        processed, errors = self._sync_many([sec], self._now())
        stats = market_stats.history_stats(self._db, isin)
        return {"isin": isin, "synced": bool(processed), "errors": errors, **stats}

    @handles(RefreshSecurity)
    def _on_refresh(self, msg: RefreshSecurity) -> dict[str, Any]:
        try:
            return self.refresh_security(msg.isin)
        finally:
            self._report()

    @handles(GetQuotes)
    def _on_quotes(self, msg: GetQuotes) -> dict[str, dict[str, Any]]:
        stored: dict[str, Quote] = repo.read_quotes(self._db)
        wanted = set(msg.isins) or set(stored)
        max_age = timedelta(hours=self.ctx.settings().typed.max_price_age_hours)
        return quote_rows(stored, wanted, self.source.reference_time(self._now()), max_age)

    def market_problems(self, mics: list[str]) -> None:
        """Record calendars of held exchanges that are unavailable or end soon."""
        days = self.ctx.settings().typed.market_data.calendar_warn_days
        self.calendars.renew(self._now().date())  # the daemon's one instance, in place
        problems = self.calendars.ending_within(mics, self._now(), days)
        self._problem("calendars", "; ".join(f"{m} {p}" for m, p in problems.items())
                      if problems else None)
