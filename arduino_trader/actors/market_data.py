"""The market-data actor: universe onboarding, price/history/data/FX syncs, TTL caches,
``PricesUpdated`` events and the ``market_data`` health component.

The source (replay or yfinance) is blocking: it runs in this actor's thread, never on
the I/O loop; it writes the store directly, on this thread. A failing source keeps the last
accepted prices (marked stale) and degrades health; it never invents a price or a rate.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from decimal import Decimal
from typing import Any

from arduino_trader.adapters.market_data.calendars import MarketCalendars
from arduino_trader.adapters.store import market_repo as repo
from arduino_trader.adapters.store import market_stats, price_history_repo, securities_repo
from arduino_trader.adapters.store.history_splits import Rescale
from arduino_trader.adapters.store.security_reactivation import reactivate
from arduino_trader.domain.price_validation import (
    Quarantined,
    check_price,
    split_rescale,
    validate_series,
)
from arduino_trader.domain.universe import (
    IdentifierError,
    classify,
    mic_for_exchange,
    validate_isin,
    yahoo_symbol_for,
)
from arduino_trader.protocols.jobs import JobSpec
from arduino_trader.protocols.market_data import (
    AddSecurity,
    EmptyHistory,
    FxRate,
    FxRatesUpdated,
    GetFxHistory,
    GetFxRate,
    GetQuotes,
    HistoryUpdated,
    Listing,
    ListingMismatch,
    MarketData,
    MarketDataError,
    MarketDataUnavailable,
    PriceBar,
    PriceHistory,
    PricesUpdated,
    Quote,
    RateUnavailable,
    RefreshSecurity,
    SecurityAdded,
    SecurityInfo,
    UnknownSymbol,
)
from arduino_trader.protocols.messages import ComponentStatus, HealthLevel, JobOutcome, RunJob
from arduino_trader.protocols.runtime import ActorUnavailable
from arduino_trader.protocols.store import Database

from .base import HEALTH_ACTOR, ActorContext, BaseActor, handles
from .fx_backfill import history_rates
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
class _Known:
    """The source's last stored history answer of one ISIN and the newest accepted
    ``(day, close)`` pairs in the store (the validation context of the next top-up)."""

    answer: dict[date, PriceBar]
    tail: tuple[tuple[date, float], ...]


REREAD_GAP = timedelta(hours=1)  # history re-reads after a split-like quote, at most
SPLIT_PROBE = timedelta(days=14)  # stored days searched for a close shared with a re-read
TAIL = 30  # accepted closes a top-up is validated against (validate_series' window)


@dataclass(frozen=True)
class _SyncOne:
    """Internal: sync one security in the background (after onboarding)."""

    isin: str


BrokerFx = Callable[[str], Decimal]
BrokerListing = Callable[[str], Listing | None]
BrokerPositions = Callable[[], list[str]]


class MarketDataActor(BaseActor):
    """Owns the market-data source, the caches and the market-data jobs."""

    name = ACTOR

    def __init__(self, ctx: ActorContext, *, source: MarketData,
                 calendars: MarketCalendars | None = None) -> None:
        super().__init__(ctx)
        self.source = source
        self.calendars = (calendars or ctx.resources.get("calendars")
                          or MarketCalendars(today=ctx.clock.now().date()))
        s = ctx.settings
        mono = ctx.clock.monotonic
        self.quotes: TtlCache[str, Quote] = TtlCache(
            "market_data.quotes", lambda: s().get_int("market_data.quote_ttl_s"), mono)
        self.fx: TtlCache[str, FxRate] = TtlCache(
            "market_data.fx", lambda: s().get_int("market_data.fx_ttl_minutes") * 60.0, mono)
        self.fundamentals: TtlCache[str, dict[str, Any]] = TtlCache(
            "market_data.fundamentals",
            lambda: s().get_int("market_data.fundamentals_ttl_hours") * 3600.0, mono)
        self.analyst: TtlCache[str, dict[str, Any]] = TtlCache(
            "market_data.analyst",
            lambda: s().get_int("market_data.analyst_ttl_hours") * 3600.0, mono)
        self._problems: dict[str, str] = {}
        self._last_level: HealthLevel | None = None
        # The source's last history answer per ISIN once stored, and the newest stored
        # closes: a top-up validates and writes only the bars that differ from it (new
        # days, revisions). This actor is the only writer of accepted history.
        self._known: dict[str, _Known] = {}
        self._rescales: dict[str, Rescale] = {}  # split rescales due with the next write
        self._reread: dict[str, datetime] = {}  # history re-read after a split-like quote
        # The last PricesUpdated published: an unchanged one is not published again (its
        # subscribers revalue positions and re-plan on it).
        self._published: PricesUpdated | None = None

    def on_start(self) -> None:
        """Register the caches so the admin API can report and clear them."""
        registry = self.ctx.resources.get("caches")
        if registry is not None:
            for cache in (self.quotes, self.fx, self.fundamentals, self.analyst):
                registry.register(CacheHandle(cache.name, cache.size, cache.clear))

    # ------------------------------------------------------------------ helpers
    @property
    def _db(self) -> Database:
        db: Database = self.ctx.resource("store")
        return db


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

    def _symbol(self, sec: Mapping[str, Any]) -> str:
        return str(sec.get("yahoo_symbol") or yahoo_symbol_for(
            sec["symbol"], mic=sec.get("mic"), isin=sec["isin"]) or sec["symbol"])

    # --------------------------------------------------------------------- jobs
    @handles(RunJob)
    def _on_run_job(self, msg: RunJob) -> JobOutcome:
        jobs: dict[str, Callable[[], JobOutcome]] = {
            "sync_prices": lambda: self.sync_prices(force=msg.trigger == "manual"),
            "sync_securities_data": lambda: self.sync_securities_data(force=False),
            "refresh_all_securities": lambda: self.sync_securities_data(force=True),
            "sync_historical": self.sync_historical,
            "rebuild_universe": self.rebuild_universe,
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
        self._seed_universe(now)
        securities = securities_repo.list_securities(self._db, active_only=True)
        if not securities:
            self._problem("prices", None)
            return JobOutcome(True, "no active securities")
        by_symbol = {self._symbol(s): s["isin"] for s in securities}
        stored: dict[str, Quote] = repo.read_quotes(self._db)
        mics = {s["isin"]: s.get("mic") for s in securities}
        wanted = [sym for sym, isin in by_symbol.items()
                  if force or (self.quotes.get(isin) is None
                               and self.calendars.may_have_moved(
                                   mics[isin], stored[isin].as_of if isin in stored else None,
                                   now))]
        try:
            fresh = self.source.quotes(wanted) if wanted else {}
        except MarketDataError as exc:
            fresh = {}
            self._problem("prices", f"{exc.code}: {exc}")
        accepted: dict[str, Quote] = {}
        refused: dict[str, tuple[Quarantined, ...]] = {}
        recent: dict[str, list[float]] = price_history_repo.recent_closes_many(
            self._db, sorted({by_symbol[s] for s in fresh}))
        for symbol, quote in fresh.items():
            isin = by_symbol[symbol]
            closes = recent[isin]
            previous = stored[isin].price if isin in stored else (closes[-1] if closes else None)
            verdict = check_price(quote.price, previous, closes)
            if verdict is None:
                accepted[isin] = quote
                self.quotes.put(isin, quote)
            else:
                refused[isin] = (Quarantined(quote.as_of.date(), quote.price, *verdict),)
                self.log.warning("price_quarantined", isin=isin, price=quote.price,
                                 reason=verdict[0], detail=verdict[1])
        repo.write_quotes(self._db, accepted, now)
        if refused:
            price_history_repo.write_history(self._db, {i: ((), q) for i, q in refused.items()},
                                             f"{self.source.name}:quote", now)
            # A split: re-read the history so the store joins Yahoo's adjusted scale and
            # the next quote is judged on it.
            split = [s for s in securities if s["isin"] in refused
                     and refused[s["isin"]][0].reason == "split"
                     and now - self._reread.get(s["isin"], now - REREAD_GAP) >= REREAD_GAP]
            self._reread.update({s["isin"]: now for s in split})
            if split:
                self._sync_many(split, now, reread=True)
        active = {s["isin"] for s in securities}
        latest = {i: q for i, q in {**stored, **accepted}.items() if i in active}
        max_age = timedelta(hours=self.ctx.settings().get_int("max_price_age_hours"))
        reference = self.source.reference_time(now)
        stale = tuple(sorted(s["isin"] for s in securities
                             if s["isin"] not in latest
                             or reference - latest[s["isin"]].as_of > max_age))
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
        return JobOutcome(ok, f"{len(accepted)} prices updated, {cached} cached or closed, "
                              f"{len(refused)} quarantined, {len(stale)} stale, "
                              f"{len(missing)} unavailable",
                          {"updated": len(accepted), "cached": cached,
                           "quarantined": len(refused), "stale": list(stale),
                           "unavailable": missing})

    def sync_securities_data(self, *, force: bool) -> JobOutcome:
        """Seed an empty universe from the source; then history + data of due securities."""
        now = self._now()
        seeded = self._seed_universe(now)
        settings = self.ctx.settings()
        cutoff = now + timedelta(seconds=1) if force else now - timedelta(
            hours=settings.get_int("market_data.resync_hours"))
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
        if securities_repo.has_securities(self._db):
            return 0
        try:
            offered = self.source.universe()
        except MarketDataError as exc:
            self._problem("universe", f"{exc.code}: {exc}")
            return 0
        records = [self._record(info, info.isin or "", {}) for info in offered if info.isin]
        added = int(securities_repo.insert_securities(self._db, records, now))
        if added:
            self.log.info("universe_seeded", source=self.source.name, added=added)
        return added

    def _sync_many(self, securities: list[dict[str, Any]], now: datetime,
                   reread: bool = False) -> tuple[list[str], list[dict[str, str]]]:
        settings = self.ctx.settings()
        last_days: dict[str, date] = price_history_repo.last_history_days(self._db)
        series: dict[str, tuple[Any, Any]] = {}
        known: dict[str, _Known] = {}
        processed: list[str] = []
        errors: list[dict[str, str]] = []
        end = self.source.reference_time(now).date()
        for sec in securities:
            if self.ctx.stopping.is_set():
                break
            isin = sec["isin"]
            last = last_days.get(isin)
            if reread or last is None or last < end - timedelta(days=1):
                years = settings.get_int("market_data.history_topup_years" if last
                                         else "market_data.history_seed_years")
                start = end - timedelta(days=365 * years + years // 4)
                try:
                    seen, changed = self._read_history(sec, start, end, last is not None)
                except MarketDataError as exc:
                    # A failed history skips the rest for this security.
                    errors.append({"isin": isin, "error": exc.code, "message": str(exc)})
                    continue
                known[isin] = seen
                if changed is not None:
                    series[isin] = changed
            self._fetch_data(sec)
            processed.append(isin)
        rows = 0
        if series:
            rescale = {i: self._rescales.pop(i) for i in series if i in self._rescales}
            rows = int(price_history_repo.write_history(self._db, series, self.source.name, now,
                                                        rescale))
        self._rescales.clear()
        self._known.update(known)  # only once stored
        securities_repo.set_last_synced(self._db, processed, now)
        self._problem("history", f"{len(errors)} securities failed: "
                                 f"{errors[0]['message']}" if errors else None)
        if series:
            self.ctx.bus.publish(HistoryUpdated({i: len(b) for i, (b, _) in series.items()},
                                                now))
            self.log.info("history_synced", securities=len(series), rows=rows)
        return processed, errors

    def _read_history(self, sec: Mapping[str, Any], start: date, end: date, top_up: bool
                      ) -> tuple[_Known, tuple[Any, Any] | None]:
        """Read one security's history; returns what is known once it is stored and the
        validated (accepted, quarantined) bars to store, None when nothing differs from
        the last stored answer. Validation starts at the first differing day, in the
        context of the stored closes before it (validation looks back only, so the
        verdicts equal those of validating the whole answer)."""
        isin = sec["isin"]
        history = self.source.history(self._symbol(sec), start, end)
        answer = {b.day: b for b in history.bars}
        rescale = self._split_rescale(isin, history) \
            if top_up and history.splits and history.bars else None
        known = self._known.get(isin) if top_up and rescale is None else None
        bars = sorted(history.bars, key=lambda b: b.day)
        if known is not None:
            # A source that hands back the same bar objects (the replay) is compared by
            # identity first: a field-by-field compare of a year per security is costly.
            first = next((b.day for b in bars
                          if (seen := known.answer.get(b.day)) is not b and seen != b), None)
            if first is None:
                return _Known(answer, known.tail), None
            bars = [b for b in bars if b.day >= first]
        previous: tuple[tuple[date, float], ...] = ()
        if top_up and bars:
            if known is not None and (not known.tail or known.tail[-1][0] < bars[0].day):
                previous = known.tail
            else:  # a revision before the newest stored close: ask the store
                previous = tuple(price_history_repo.closes_before(self._db, isin, bars[0].day,
                                                                  TAIL))
        if rescale is not None:  # judged on the split-adjusted scale the store takes
            self._rescales[isin] = rescale
            previous = tuple((d, c / rescale[0]) if d < rescale[1][0][0] else (d, c)
                             for d, c in previous)
        report = validate_series(bars, previous=[c for _, c in previous],
                                 max_gap_days=self.ctx.settings().get_int(
                                     "market_data.max_gap_days"))
        for q in report.quarantined:
            self.log.warning("price_quarantined", isin=isin, day=q.day.isoformat(),
                             close=q.close, reason=q.reason, detail=q.detail)
        if report.mostly_bad:
            self.log.warning("history_mostly_invalid", isin=isin,
                             quarantined=len(report.quarantined), repaired=len(report.repaired))
        if not report.accepted and known is None:
            raise EmptyHistory(f"no valid bars for {sec['symbol']}")
        tail = (*previous, *((b.day, b.close) for b in report.accepted))[-TAIL:]
        return _Known(answer, tail), (report.accepted, report.quarantined)

    def _split_rescale(self, isin: str, history: PriceHistory) -> Rescale | None:
        """How the stored history must be rescaled to join a split-adjusted re-read."""
        first = min(b.day for b in history.bars)
        stored = price_history_repo.read_history(self._db, isin, first, first + SPLIT_PROBE)
        found = split_rescale({b.day: b.close for b in stored}, history.bars, history.splits)
        if found is not None:
            self.log.info("history_split_rescaled", isin=isin, factor=found[0],
                          splits=[(d.isoformat(), r) for d, r in found[1]])
        return found

    def _fetch_data(self, sec: Mapping[str, Any]) -> None:
        """Fundamentals, analyst data and classification; failures are tolerated."""
        isin, symbol = sec["isin"], self._symbol(sec)
        now = self._now()
        for kind, cache, fetch in (("fundamentals", self.fundamentals, self.source.fundamentals),
                                   ("analyst", self.analyst, self.source.analyst)):
            if cache.get(isin) is not None:
                continue
            try:
                item = fetch(symbol)
            except MarketDataError as exc:
                self.log.debug("security_data_unavailable", isin=isin, kind=kind,
                               error=str(exc))
                continue
            data = dict(item.__dict__)
            data.pop("symbol", None)
            as_of = data.pop("as_of")
            cache.put(isin, data)
            repo.write_security_data(self._db, isin, kind, data, as_of)
        if not sec.get("country") or not sec.get("industry") or not sec.get("exchange"):
            try:
                info = self.source.lookup(symbol)
            except MarketDataError:
                return
            securities_repo.fill_missing(self._db, isin, {
                "country": info.country, "industry": info.industry, "exchange": info.exchange,
                "mic": info.mic or mic_for_exchange(info.exchange),
                "product_type": info.product_type}, now)

    def sync_historical(self) -> JobOutcome:
        """History top-up of every active security (ignores last_synced)."""
        now = self._now()
        securities = securities_repo.list_securities(self._db, active_only=True)
        processed, errors = self._sync_many(securities, now)
        return JobOutcome(not errors or bool(processed),
                          f"history of {len(processed)} securities up to date, "
                          f"{len(errors)} errors", {"processed": processed, "errors": errors})

    def rebuild_universe(self) -> JobOutcome:
        """Onboard every broker position missing from the universe."""
        positions: BrokerPositions | None = self.ctx.resources.get("broker_positions")
        if positions is None:
            return JobOutcome(False, "rebuild needs the broker's positions, and no broker "
                                     "positions provider is wired into this daemon")
        try:
            symbols = positions()
        except Exception as exc:
            return JobOutcome(False, f"broker positions unavailable: {exc}")
        added: list[str] = []
        errors: list[dict[str, str]] = []
        for symbol in symbols:
            if securities_repo.find_security(self._db, symbol) is not None:
                continue
            try:
                record = self.add_security(symbol, {})
                added.append(record["isin"])
            except (MarketDataError, IdentifierError, securities_repo.DuplicateSecurity) as exc:
                errors.append({"symbol": symbol, "message": str(exc)})
        status = "success" if not errors else ("partial_success" if added else "error")
        return JobOutcome(status != "error", f"{status}: {len(added)} added of "
                                             f"{len(symbols)} positions",
                          {"status": status, "added": added, "errors": errors,
                           "portfolio_positions": len(symbols)})

    def sync_fx(self) -> JobOutcome:
        """Refresh the rate of every currency of the universe and store it with its day."""
        self._seed_universe(self._now())
        securities = securities_repo.list_securities(self._db, active_only=True)
        currencies = sorted({s["currency"] for s in securities} - {"EUR"})
        got: list[FxRate] = []
        failed: dict[str, str] = {}
        for code in currencies:
            try:
                got.append(self._fetch_fx(code))
            except MarketDataError as exc:
                failed[code] = str(exc)
        repo.write_fx(self._db, got, self._now())
        if got:  # money waiting for one of these rates is booked now, not at its schedule
            self.ctx.bus.publish(FxRatesUpdated(tuple(r.currency for r in got), self._now()))
        self._problem("fx", f"no rate for {', '.join(sorted(failed))}" if failed else None)
        return JobOutcome(not failed, f"{len(got)} FX rates updated"
                          + (f", missing: {', '.join(sorted(failed))}" if failed else ""),
                          {"rates": {r.currency: str(r.eur_per) for r in got},
                           "missing": failed})

    # ------------------------------------------------------------------ FX
    def _fetch_fx(self, code: str) -> FxRate:
        broker: BrokerFx | None = self.ctx.resources.get("broker_fx")
        now = self._now()
        if broker is not None:
            try:
                rate = FxRate(code, broker(code), now.date(), now, "broker")
                self.fx.put(code, rate)
                return rate
            except Exception as exc:
                self.log.warning("broker_fx_failed", currency=code, error=repr(exc))
        rate = self.source.fx_rate(code)
        self.fx.put(code, rate)
        return rate

    def fx_rate(self, currency: str) -> FxRate:
        """EUR value of one unit: cache, broker, source, then a recent stored rate; else
        :class:`RateUnavailable` (never 1:1)."""
        code = currency.strip().upper()
        if code == "EUR":
            now = self._now()
            return FxRate("EUR", Decimal(1), now.date(), now, "identity")
        cached = self.fx.get(code)
        if cached is not None:
            return cached
        try:
            rate = self._fetch_fx(code)
        except MarketDataError as exc:
            stored: FxRate | None = repo.read_fx(self._db, code)
            max_age = self.ctx.settings().get_int("market_data.fx_max_age_days")
            if stored is not None and (self._now().date() - stored.day).days <= max_age:
                return stored
            raise RateUnavailable(f"no FX rate for {code}: {exc}") from exc
        repo.write_fx(self._db, [rate], self._now())
        self.ctx.bus.publish(FxRatesUpdated((code,), self._now()))
        return rate

    @handles(GetFxRate)
    def _on_get_fx(self, msg: GetFxRate) -> FxRate:
        return self.fx_rate(msg.currency)

    @handles(GetFxHistory)
    def _on_fx_history(self, msg: GetFxHistory) -> int:
        rates = history_rates(self.source, msg.currency, msg.start, msg.end, self._now())
        repo.write_fx(self._db, rates, self._now())
        return len(rates)

    # -------------------------------------------------------------- universe
    def _record(self, info: SecurityInfo, isin: str, overrides: Mapping[str, Any]
                ) -> dict[str, Any]:
        mic = info.mic or mic_for_exchange(info.exchange)
        record: dict[str, Any] = {
            "isin": isin, "symbol": info.symbol.upper(), "name": info.name,
            "yahoo_symbol": info.yahoo_symbol or yahoo_symbol_for(info.symbol, mic=mic,
                                                                  isin=isin),
            "product_type": info.product_type, "country": info.country,
            "industry": info.industry, "exchange": info.exchange, "mic": mic,
            "currency": info.currency.upper(), "source": self.source.name,
        }
        for key in ("name", "yahoo_symbol", "min_lot", "allow_buy", "allow_sell"):
            if overrides.get(key) is not None:
                record[key] = overrides[key]
        return record

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
        try:  # a chosen Yahoo symbol is looked up instead (and checked the same way)
            info = self.source.lookup(str(overrides.get("yahoo_symbol") or ident.value),
                                      self._listing(ident.value))
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
            self.log.warning("isin_mismatch", requested=isin, source_isin=info.isin)
        if not isin:
            raise IdentifierError(f"{identifier}: the source knows no ISIN for it; add it by "
                                  "ISIN (the ISIN is the primary key)")
        isin = validate_isin(isin)
        if overrides.get("symbol"):
            info = SecurityInfo(**{**info.__dict__, "symbol": str(overrides["symbol"])})
        if not info.name:
            raise IdentifierError(f"{identifier}: no name known; refused")
        record = self._record(info, isin, overrides)
        now = self._now()
        securities_repo.insert_security(self._db, record, now)
        self.log.info("security_added", isin=isin, symbol=record["symbol"])
        self.ctx.bus.publish(SecurityAdded(isin, record["symbol"], now))
        self.actor_ref.tell(_SyncOne(isin))
        stored = securities_repo.get_security(self._db, isin)
        if stored is None:  # written just above, on this thread
            raise IdentifierError(f"{identifier}: not stored; refused")
        return stored

    def _listing(self, identifier: str) -> Listing | None:
        """The broker's listing of ``identifier`` (a real broker wires ``broker_listing``);
        None when there is no broker or it does not list the identifier."""
        feed: BrokerListing | None = self.ctx.resources.get("broker_listing")
        if feed is None:
            return None
        try:
            return feed(identifier)
        except Exception as exc:
            raise MarketDataUnavailable(f"the broker's listing of {identifier} is "
                                        f"unavailable: {exc}") from exc

    @handles(AddSecurity)
    def _on_add(self, msg: AddSecurity) -> dict[str, Any]:
        return self.add_security(msg.identifier, msg.overrides)

    @handles(_SyncOne)
    def _on_sync_one(self, msg: _SyncOne) -> None:
        try:
            self.refresh_security(msg.isin)
        except Exception as exc:  # a background sync must not crash the actor
            self.log.warning("security_sync_failed", isin=msg.isin, error=repr(exc))
        self._report()

    def refresh_security(self, isin: str) -> dict[str, Any]:
        """History and data of one security now (ignores the 24 h rule)."""
        sec = securities_repo.get_security(self._db, isin)
        if sec is None:
            raise LookupError(f"unknown security {isin}")
        self.fundamentals.clear()
        self.analyst.clear()
        self._known.pop(isin, None)  # re-validate and re-store the whole answer
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
        max_age = timedelta(hours=self.ctx.settings().get_int("max_price_age_hours"))
        reference = self.source.reference_time(self._now())
        return {i: {"price": q.price, "currency": q.currency, "as_of": q.as_of,
                    "source": q.source, "stale": reference - q.as_of > max_age}
                for i, q in stored.items() if i in wanted}

    def market_problems(self, mics: list[str]) -> None:
        """Record calendars of held exchanges that are unavailable or end soon."""
        days = self.ctx.settings().get_int("market_data.calendar_warn_days")
        if self.calendars.outdated(self._now().date()):
            self.calendars = MarketCalendars(today=self._now().date())
        problems = self.calendars.ending_within(mics, self._now(), days)
        self._problem("calendars", "; ".join(f"{m} {p}" for m, p in problems.items())
                      if problems else None)
