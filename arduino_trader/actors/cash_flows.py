"""The cash-flow processor actor: broker cash movements into the ledger, exactly once,
plus the DRIP and emergency-rebalancing jobs.

``cash_flow_sync`` fetches every broker source the port offers (the cash-flow ledger,
which also carries trading commissions, and client requests), normalises them, and
stores each record with its effects in one transaction (the cash-flow port's
``store_record``).
Between full reads of the ledger (at least daily, and after any sync that left a record
unbooked) a sync reads only its recent end (``domain/cash_flows/recent_read``);
a source failing mid-sync is logged and reported in the job outcome (not ok) and never
deletes anything. Events are published only after their record is committed. Rows held
for the owner's review keep the ``cash_flow_review`` health component degraded.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Coroutine, Sequence
from datetime import date, datetime, timedelta
from decimal import Decimal
from typing import Any, TypeVar

from arduino_trader.adapters.store import securities_repo
from arduino_trader.domain.cash_flows.deposit_split import CORE_ID, BucketShare
from arduino_trader.domain.cash_flows.effects import EffectContext, is_unchanged, rules
from arduino_trader.domain.cash_flows.fx import MissingRate, RateTable
from arduino_trader.domain.cash_flows.normalise import (
    RowMemo,
    cash_flow_rows,
    cps_rows,
    normalise_sources,
    with_instruments,
)
from arduino_trader.domain.cash_flows.recent_read import (
    FULL_READ_HOURS,
    RECENT_DAYS,
)
from arduino_trader.domain.cash_flows.records import Rejection
from arduino_trader.domain.cash_flows.summary import count_sync
from arduino_trader.protocols.broker import Broker
from arduino_trader.protocols.broker_errors import BROKER_CALL_FAILURES
from arduino_trader.protocols.cash_flow_store import (
    CashFlowRecord,
    CashFlowStore,
    Effects,
    NeedsReview,
    Source,
)
from arduino_trader.protocols.cash_flows import (
    CheckBalances,
)
from arduino_trader.protocols.execution import TradeExecuted
from arduino_trader.protocols.jobs import JobSpec
from arduino_trader.protocols.market_data import (
    MARKET_DATA_ASK_FAILURES,
    FxRatesUpdated,
    GetFxHistory,
)
from arduino_trader.protocols.messages import ComponentStatus, JobOutcome, RunJob
from arduino_trader.protocols.runtime import ASK_FAILURES, ActorUnavailable
from arduino_trader.protocols.store import Database

from .base import HEALTH_ACTOR, ActorContext, BaseActor, handles
from .cash_flow_allocation import run_concentration
from .cash_flow_drip import book_waiting_fills, consume_fill, run_drip
from .cash_flow_emergency import check, run_emergency
from .cash_flow_ledger import read_ledger
from .fx_rules import max_age_days, rate_table

BROKER_TIMEOUT_S = 60.0
T = TypeVar("T")
UNAVAILABLE_SOURCES: tuple[str, ...] = ("corporate_action",)  # not offered by the port

JOBS: tuple[JobSpec, ...] = (
    JobSpec("cash_flow_sync", "cash_flows", "Sync deposits, withdrawals, dividends and fees "
            "from every broker source; apply each once", every_minutes_key=
            "job_cash_flow_sync_minutes", timeout_s=300, run_at_startup=True),
    JobSpec("dividend_reinvestment", "cash_flows", "Reinvest dividends (DRIP) through the "
            "executor; park small/low-yield ones as pending bonus",
            daily_hour_key="job_dividend_reinvestment_hour", minute=30, timeout_s=600,
            places_orders=True),
    JobSpec("emergency_rebalance", "cash_flows", "Repair negative or thin cash balances "
            "(research mode: record the plan only)",
            every_minutes_key="job_emergency_rebalance_minutes", timeout_s=600,
            places_orders=True),
    JobSpec("concentration_check", "cash_flows", "Country, sector and position "
            "concentration alerts (logged; listed in the job outcome)",
            every_minutes_key="job_concentration_check_minutes", timeout_s=300),
)


def core_only_context(rates: RateTable) -> EffectContext:
    """Effect context while no satellite exists: every deposit goes to core through the
    deposit split (satellite budget 0), income to core."""
    return EffectContext(rates=rates, buckets=(BucketShare(CORE_ID, "core", Decimal(1),
                                                           Decimal(0)),),
                         satellite_budget=Decimal(0))


NO_EFFECTS = Effects("none")
# One record not stored, the sync going on: its values cannot be read or booked, or an
# actor its effects need gave no answer. A store failure ends the sync (the actor restarts).
_RECORD_FAILURES: tuple[type[Exception], ...] = (ValueError, ArithmeticError, *ASK_FAILURES)


def _facts(record: CashFlowRecord) -> tuple[str, Decimal, str]:
    """What decides whether a stored record is unchanged (with its stored processing)."""
    return record.status, record.amount, record.currency


class CashFlowActor(BaseActor):
    """Owns the cash-flow ledger writes, DRIP consumption and emergency runs."""

    name = "cash_flows"
    needs = ("store", "broker", "paper_broker", "order_journal")
    ctx: ActorContext

    def __init__(self, ctx: ActorContext,
                 context_for: Callable[[RateTable], EffectContext] = core_only_context,
                 ) -> None:
        super().__init__(ctx)
        self._context_for = context_for
        # Records an earlier sync found stored and unchanged: key -> (status, amount,
        # currency). Their stored rows change only through this actor's store_record, so
        # a record still showing those facts is unchanged without asking the store again.
        self._settled: dict[str, tuple[str, Decimal, str]] = {}
        # The broker sends its whole cash-flow history every sync: rows seen before are
        # not parsed again.
        self._rows = RowMemo()
        self._waiting_for: set[str] = set()  # currencies the last sync lacked a rate for
        self._backfill_tried: set[tuple[str, date]] = set()
        # When the last full read of the ledger booked everything it listed (None: the
        # next sync reads it whole), and what it held for review: a recent read lists
        # only its own rows, so it adds to these instead of replacing them.
        self._full_read_at: datetime | None = None
        self._full_held: set[str] = set()
        self._full_unreadable: set[tuple[str, str]] = set()

    # ----------------------------------------------------------------- wiring
    def _db(self) -> Database:
        return self.ctx.deps.store

    def _flows(self) -> CashFlowStore:
        return self.ctx.deps.cash_flows

    def _broker(self) -> Broker:
        """The configured broker: the account whose cash flows are real."""
        return self.ctx.deps.broker

    def _run(self, coro: Coroutine[Any, Any, T], timeout: float = BROKER_TIMEOUT_S) -> T:
        """A broker call on the I/O loop."""
        return self.ctx.io.run(coro, timeout)

    # --------------------------------------------------------------- handlers
    @handles(RunJob)
    def _on_job(self, msg: RunJob) -> JobOutcome:
        if msg.job == "cash_flow_sync":  # the owner's run (the API) reads everything
            return self.sync(whole=msg.trigger == "manual")
        if msg.job == "dividend_reinvestment":
            return run_drip(self.ctx, self.log)
        if msg.job == "emergency_rebalance":
            return run_emergency(self.ctx, self.log, msg.run_id,
                                                     msg.trigger)
        if msg.job == "concentration_check":
            return run_concentration(self.ctx, self.log)
        return JobOutcome(False, f"unknown job {msg.job}")

    def on_start(self) -> None:
        """Book the DRIP fills whose event was lost while this actor was down."""
        book_waiting_fills(self.ctx, self.log)

    @handles(TradeExecuted)
    def _on_trade(self, msg: TradeExecuted) -> None:
        if msg.source != "drip" or msg.side != "BUY":
            return
        try:
            consume_fill(self.ctx, self.log, msg)
        except MissingRate as exc:  # booked when a rate arrives, or before the next run
            self.log.error("drip_fill_not_consumed", trade=msg.trade_key, error=repr(exc))

    def _backfill(self, dated: dict[str, list[date]]) -> int:
        """Ask market data for the rates of the days records wait for; days stored."""
        stored = 0
        for currency, days in sorted(dated.items()):
            if (currency, min(days)) in self._backfill_tried:
                continue  # the source had nothing for these days: not asked every sync
            try:
                stored += int(self.ctx.bus.ask("market_data", GetFxHistory(
                    currency, min(days) - timedelta(days=7), max(days)), 120))
                self._backfill_tried.add((currency, min(days)))
            except MARKET_DATA_ASK_FAILURES as exc:  # the records keep waiting
                self.log.warning("fx_backfill_failed", currency=currency, error=repr(exc))
        return stored

    @handles(FxRatesUpdated)
    def _on_rates(self, msg: FxRatesUpdated) -> None:
        """Records and DRIP fills that waited for one of these rates are booked now,
        not at the next scheduled sync or DRIP run."""
        book_waiting_fills(self.ctx, self.log)
        if self._waiting_for & set(msg.currencies):
            outcome = self.sync()
            self.log.info("cash_flow_sync_on_rates", currencies=list(msg.currencies),
                          ok=outcome.ok, summary=outcome.summary)

    @handles(CheckBalances)
    def _on_check(self, msg: CheckBalances) -> dict[str, Any]:
        return check(self.ctx)

    # ------------------------------------------------------------------- sync
    def _recent_since(self, now: datetime, whole: bool) -> date | None:
        """The first day a recent read covers; None when this sync reads the whole
        ledger (asked to, none since start or a sync left a record unbooked, or one is
        due)."""
        if whole or self._full_read_at is None or \
                now - self._full_read_at >= timedelta(hours=FULL_READ_HOURS):
            return None
        return now.date() - timedelta(days=RECENT_DAYS)

    def _fetch(self, now: datetime, since: date | None
               ) -> tuple[dict[Source, Any], int, bool]:
        """Every source's rows (or its failure), how many, and whether the ledger was
        read only from ``since`` on (False: the whole of it)."""
        broker = self._broker()
        days = self.ctx.settings().typed.cash_flow_history_days
        start = now - timedelta(days=days)
        answers: dict[Source, Any] = {}
        raw = 0
        recent = False

        def flows() -> list[dict[str, Any]]:
            nonlocal recent
            rows, recent = read_ledger(lambda take, skip: self._run(
                broker.cash_flows(take, skip), BROKER_TIMEOUT_S), since)
            return cash_flow_rows(rows)

        fetchers: Sequence[tuple[Source, Callable[[], list[dict[str, Any]]]]] = (
            ("user_cash_flow", flows),
            ("cps", lambda: cps_rows(self._run(broker.client_requests(start, now),
                                               BROKER_TIMEOUT_S))),
        )
        for source, fetch in fetchers:
            try:
                rows = fetch()
            except BROKER_CALL_FAILURES as exc:
                self.log.warning("cash_flow_source_failed", source=source, error=repr(exc))
                answers[source] = exc
                continue
            answers[source] = rows
            raw += len(rows)
        return answers, raw, recent

    def sync(self, backfilled: bool = False, whole: bool = False) -> JobOutcome:
        """One sync of every source; re-running it changes nothing. Records dated
        where no stored rate reaches get their days' rates back-filled, then one more
        sync books them (``backfilled``: that second sync). ``whole``: read the whole
        cash-flow ledger, not only its recent end."""
        now = self.ctx.clock.now()
        answers, raw, recent = self._fetch(now, self._recent_since(now, whole))
        batch, failures = normalise_sources(answers, memo=self._rows)
        if failures and len(failures) == len(answers):
            return JobOutcome(False, "broker unavailable: every cash-flow source failed",
                              {"broker_unavailable": True,
                               "failed_sources": {f.source: f.error for f in failures}})
        for rej in batch.rejections:
            if not rej.ignorable:
                self.log.warning("cash_flow_rejected", source=rej.source, id=rej.raw_id,
                                 reason=rej.reason)
        db = self._db()
        records = self._with_instruments(batch.records)
        rates: RateTable | None = None  # read when a record needs applying (the whole
        applied: list[Effects] = []       # rate history: most syncs apply nothing)
        missing_rate: list[str] = []
        waiting: set[str] = set()
        dated: dict[str, list[date]] = {}
        errors: dict[str, str] = {}
        context: EffectContext | None = None
        once = Counter(r.key for r in records)
        present = frozenset(once)  # a row this answer lists itself is never an alias
        settled = self._settled
        facts = [_facts(r) for r in records]
        unsettled = [r.key for r, f in zip(records, facts, strict=True)
                     if settled.get(r.key) != f]
        flows = self._flows()
        stored = flows.seen_flows(unsettled) if unsettled else {}
        for record, fact in zip(records, facts, strict=True):
            if once[record.key] == 1 and (
                    settled.get(record.key) == fact
                    or is_unchanged(stored.get(record.key), record)):
                settled[record.key] = fact
                applied.append(NO_EFFECTS)  # what store_record would do, without
                continue                    # a transaction per known record
            try:
                if rates is None:
                    rates = rate_table(self.ctx, db)
                if context is None:  # built here, in the actor thread; rebuilt after a
                    context = self._context_for(rates)  # deposit changed bucket values
                eff = flows.store_record(record, rules(context), now, present)
            except MissingRate as exc:
                self.log.warning("cash_flow_missing_rate", key=record.key, error=str(exc))
                missing_rate.append(record.key)
                if exc.on is None or (now.date() - exc.on).days <= max_age_days(self.ctx):
                    waiting.add(exc.currency)  # a rate stored today would serve it
                if exc.on is not None:
                    dated.setdefault(exc.currency, []).append(exc.on)
                continue
            except _RECORD_FAILURES as exc:  # this record only
                self.log.error("cash_flow_store_failed", key=record.key, error=repr(exc))
                errors[record.key] = repr(exc)
                continue
            applied.append(eff)
            if any(e.type == "deposit" for e in eff.ledger):
                context = None
            self._publish(eff, record)
        self._waiting_for = waiting
        unbooked = bool(failures or errors or missing_rate)
        if unbooked:
            self._full_read_at = None  # whatever stayed unbooked is read again, whole
        if dated and not backfilled and self._backfill(dated):
            return self.sync(backfilled=True)
        counts = count_sync(batch, applied, raw)
        self._report_review(records, batch.rejections, now, partial=recent or bool(failures))
        ok = not failures and not errors
        if not unbooked and not recent:
            self._full_read_at = now
        details: dict[str, Any] = {
            **counts.__dict__, "missing_rate": missing_rate, "errors": errors,
            "failed_sources": {f.source: f.error for f in failures},
            "unavailable_sources": list(UNAVAILABLE_SOURCES), "broker_unavailable": False,
            "ledger_read": "recent" if recent else "full"}
        summary = (f"synced {counts.synced} new of {counts.total_from_api} from the broker, "
                   f"{counts.deposits_processed} deposits, {counts.dividends_created} "
                   f"dividends")
        if failures:
            summary += "; failed sources: " + ", ".join(f.source for f in failures)
        if missing_rate:
            summary += f"; {len(missing_rate)} waiting for an FX rate"
        if errors:
            summary += f"; {len(errors)} records failed"
        self.log.info("cash_flow_sync_done", **{k: v for k, v in counts.__dict__.items()})
        return JobOutcome(ok, summary, details)

    def _with_instruments(self, records: Sequence[CashFlowRecord]
                          ) -> tuple[CashFlowRecord, ...]:
        """Name each income/tax record's security by symbol and ISIN from the universe
        (a broker row may give only one of them)."""
        if not any((r.symbol or r.isin) and not (r.symbol and r.isin) for r in records):
            return tuple(records)
        secs = securities_repo.list_securities(self._db())
        return with_instruments(records,
                                {str(s["isin"]): str(s["symbol"]) for s in secs},
                                {str(s["symbol"]): str(s["isin"]) for s in secs})

    def _report_review(self, records: Sequence[CashFlowRecord],
                       rejections: Sequence[Rejection], now: datetime, *,
                       partial: bool) -> None:
        """Health: degraded while the broker's history holds rows kept for the owner's
        review (kind ``other``) or rows that could not be read. A ``partial`` answer (a
        recent read, or a source failed) adds its own to those of the last full read."""
        held_keys = {r.key for r in records if r.kind == "other"}
        unreadable = {(str(r.source), r.raw_id) for r in rejections if not r.ignorable}
        if partial:
            held_keys |= self._full_held
            unreadable |= self._full_unreadable
        else:
            self._full_held, self._full_unreadable = set(held_keys), set(unreadable)
        held, bad = sorted(held_keys), sorted(unreadable)
        message = (f"{len(held)} broker cash flows held for review ({', '.join(held[:5])})"
                   f"; {len(bad)} unreadable" if held or bad else "no cash flow held")
        try:
            self.ctx.bus.tell(HEALTH_ACTOR, ComponentStatus(
                "cash_flow_review", "degraded" if held or bad else "ok", message[:500], now))
        except ActorUnavailable:
            pass

    def _publish(self, eff: Effects, record: CashFlowRecord) -> None:
        for event in eff.events:
            if isinstance(event, NeedsReview):
                self.log.warning("cash_flow_needs_review", key=event.key, reason=event.reason)
                continue
            self.ctx.bus.publish(event)

