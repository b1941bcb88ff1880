"""The satellite manager: owns the buckets, their lifecycle, the per-bucket ledger and the
three satellite jobs.

Every decision is the pure domain's (``domain/satellites``); this actor gathers the facts
(store, broker snapshot, FX), applies the result, and writes each money-moving change in
one transaction (``adapters/store/satellites_repo.apply_operation``). Events it settles:

- ``TradeExecuted`` (executor): the fill's net settlement against its ``bucket_id``, and
  for a satellite's sell its realised P&L (loss streak, circuit breaker, re-awakening);
- ``CurrencyExchanged`` (executor): the exchange's two legs against its ``bucket_id``;
- the cash-flow events of ``protocols/cash_flows.py`` (``DepositReceived``,
  ``DividendReceived``, ``WithdrawalRecorded``): deposits split deficit-first,
  dividends through the router, withdrawals debit core. Rows are keyed by the cash-flow
  key: whichever of the cash-flow actor and this actor writes a record's rows first, the
  other is a no-op.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any, TypeVar

from arduino_trader.adapters.store import bucket_repo, bucket_trades_repo
from arduino_trader.adapters.store import satellites_repo as repo
from arduino_trader.domain.cash_flows import effects as cash_flow_effects
from arduino_trader.domain.cash_flows.deposit_split import BucketShare
from arduino_trader.domain.satellites import (
    balances,
    dividend_router,
    drawdown,
    lifecycle,
    meta_allocator,
    performance,
    planning,
    presets,
    reawakening,
    reconciliation,
    targets,
)
from arduino_trader.domain.satellites.balances import BalanceBook, UnknownBucket
from arduino_trader.domain.satellites.records import (
    CORE_ID,
    Bucket,
    InvalidBucket,
    LedgerEntry,
    SatelliteError,
    SatelliteSettings,
)
from arduino_trader.protocols.cash_flows import (
    DepositReceived,
    DividendReceived,
    WithdrawalRecorded,
)
from arduino_trader.protocols.execution import CurrencyExchanged, TradeExecuted
from arduino_trader.protocols.jobs import JobSpec
from arduino_trader.protocols.messages import JobOutcome, RunJob
from arduino_trader.protocols.money import ZERO, decimal_to_str, round_money
from arduino_trader.protocols.portfolio import PortfolioSynced, TradeFeeRecorded
from arduino_trader.protocols.satellites import (
    SATELLITES_ACTOR,
    AllocateDeposit,
    ApplyAllocation,
    ApplyPreset,
    AssignSecurity,
    BucketEvent,
    CheckReconciliation,
    CreateSatellite,
    GetBucketValues,
    GetCashFlowContext,
    GetPlanningScopes,
    InitializeFromBroker,
    PreviewAllocation,
    PutSettings,
    ReconcileCurrency,
    SatelliteRefused,
    SetSatelliteBudget,
    TransferCash,
    UpdateBucket,
)
from arduino_trader.protocols.store import Database

from .base import HEALTH_ACTOR, ActorContext, BaseActor, handles
from .satellite_facts import (
    Facts,
    MissingRate,
    effective_aggression,
    trailing_return,
)
from .satellite_reports import allocation_json, check_json, ledger_status, plan_json

T = TypeVar("T")

JOBS: tuple[JobSpec, ...] = (
    JobSpec("satellite_maintenance", SATELLITES_ACTOR,
            "Bucket high-water marks, drawdown hibernation/recovery, circuit breaker, "
            "win cooldown and the daily value point",
            daily_hour_key="job_satellite_maintenance_hour", minute=0, timeout_s=600),
    JobSpec("satellite_reconciliation", SATELLITES_ACTOR,
            "Reconcile bucket balances with broker cash in every currency",
            daily_hour_key="job_satellite_reconciliation_hour", minute=30, timeout_s=600),
    JobSpec("satellite_evaluation", SATELLITES_ACTOR,
            "Weekly meta-allocator preview; applied once per evaluation period",
            daily_hour_key="job_satellite_evaluation_hour", weekday=6, timeout_s=600),
)

_STATUS_OF: dict[type[SatelliteError], int] = {
    UnknownBucket: 404, balances.BadAmount: 400, presets.UnknownPreset: 400,
    InvalidBucket: 400,
}


def _refusal(exc: Exception) -> SatelliteRefused:
    """The API form of a refused command (4xx; nothing was written)."""
    if isinstance(exc, MissingRate):
        return SatelliteRefused(409, "no_fx_rate", str(exc))
    if isinstance(exc, SatelliteError):
        status = next((s for t, s in _STATUS_OF.items() if isinstance(exc, t)), 409)
        return SatelliteRefused(status, exc.code, str(exc))
    raise exc


def _moment(epoch: Any) -> datetime:
    """A stored epoch-seconds timestamp as an aware UTC datetime."""
    return datetime.fromtimestamp(int(epoch), UTC)


SUBSCRIPTIONS: tuple[type, ...] = (TradeExecuted, CurrencyExchanged, TradeFeeRecorded,
                                   PortfolioSynced, DepositReceived, DividendReceived,
                                   WithdrawalRecorded)


@dataclass(frozen=True)
class _State:
    buckets: dict[str, Bucket]
    book: BalanceBook


class SatelliteActor(BaseActor):
    """Owns the buckets: commands from the API, fills and cash flows, the three jobs."""

    name = SATELLITES_ACTOR

    def __init__(self, ctx: ActorContext) -> None:
        super().__init__(ctx)
        self._books = repo.BookReader()  # the committed ledger, read incrementally

    def on_start(self) -> None:
        """Refresh the balance cache from the ledger (rows other writers added), then
        settle what a crash left unsettled."""
        slots = repo.rebuild_balance_cache(self._db(), self.ctx.clock.now())
        self.log.info("satellites_started", balance_slots=slots)
        self._settle_missing_safely()

    # ----------------------------------------------------------------- plumbing
    def _db(self) -> Database:
        db: Database = self.ctx.resource("store")
        return db


    def _facts(self) -> Facts:
        return Facts(self.ctx.io, self._db(), self.ctx.resources.get("broker"), (
            self.ctx.clock.now().date(), self.ctx.settings().get_int(
                "market_data.fx_max_age_days")))

    def _state(self) -> _State:
        return _State(bucket_repo.load_buckets(self._db()),
                      self._books.load(self._db()))

    def _apply(self, op: repo.Operation) -> dict[tuple[str, str], Decimal] | None:
        result: dict[tuple[str, str], Decimal] | None = repo.apply_operation(self._db(), op,
                                                                             self.ctx.clock.now())
        return result

    def _guard(self, work: Callable[[], T]) -> T | SatelliteRefused:
        try:
            return work()
        except (SatelliteError, MissingRate) as exc:
            refusal = _refusal(exc)
            self.log.info("satellite_command_refused", code=refusal.code,
                          message=refusal.message)
            return refusal

    def _shifted(self, buckets: Mapping[str, Bucket], entries: tuple[LedgerEntry, ...],
                 facts: Facts, now: datetime) -> tuple[Bucket, ...]:
        """Buckets whose flow-adjusted HWM moves with these external flows."""
        out = []
        for bucket_id, per in balances.external_flows(entries).items():
            bucket = buckets.get(bucket_id)
            if bucket is None:
                continue
            try:
                flow = sum((amount * facts.eur_per(ccy) for ccy, amount in per.items()), ZERO)
            except MissingRate as exc:
                self.log.warning("hwm_shift_skipped", bucket_id=bucket_id, error=str(exc))
                continue
            shifted = drawdown.shift_for_flow(bucket, flow, now)
            if shifted is not bucket:
                out.append(shifted)
        return tuple(out)

    # ----------------------------------------------------------------- commands
    @handles(CreateSatellite)
    def _create(self, msg: CreateSatellite) -> dict[str, Any] | SatelliteRefused:
        def work() -> dict[str, Any]:
            now = self.ctx.clock.now()
            buckets = bucket_repo.load_buckets(self._db())
            alloc = bucket_repo.load_allocation(self._db())
            bucket = lifecycle.create_satellite(
                msg.bucket_id.strip(), msg.name, now=now, min_pct=alloc.satellite_min_pct,
                max_pct=alloc.satellite_max_pct, notes=msg.notes,
                start_in_research=msg.start_in_research, existing_ids=frozenset(buckets))
            bucket_repo.save_buckets(self._db(), [bucket])
            self.log.info("satellite_created", bucket_id=bucket.id, status=bucket.status)
            return bucket.to_json()
        return self._guard(work)

    def _known(self, buckets: Mapping[str, Bucket], bucket_id: str) -> Bucket:
        bucket = buckets.get(bucket_id)
        if bucket is None:
            raise UnknownBucket(f"unknown bucket {bucket_id!r}")
        return bucket

    @handles(UpdateBucket)
    def _update(self, msg: UpdateBucket) -> dict[str, Any] | SatelliteRefused:
        def work() -> dict[str, Any]:
            now = self.ctx.clock.now()
            buckets = bucket_repo.load_buckets(self._db())
            self._known(buckets, msg.bucket_id)
            alloc = bucket_repo.load_allocation(self._db())
            out = targets.update_bucket(buckets, msg.bucket_id, now,
                                        budget=alloc.satellite_budget_pct, name=msg.name,
                                        notes=msg.notes, target_pct=msg.target_pct,
                                        min_pct=msg.min_pct, max_pct=msg.max_pct)
            bucket_repo.save_buckets(self._db(), [b for k, b in out.items()
                                                    if b is not buckets.get(k)])
            return out[msg.bucket_id].to_json()
        return self._guard(work)

    @handles(BucketEvent)
    def _event(self, msg: BucketEvent) -> dict[str, Any] | SatelliteRefused:
        def work() -> dict[str, Any]:
            now = self.ctx.clock.now()
            state = self._state()
            bucket = self._known(state.buckets, msg.bucket_id)
            if msg.event == "activate":
                new = lifecycle.activate(bucket, now)
            elif msg.event == "pause":
                new = lifecycle.pause(bucket, now)
            elif msg.event == "resume":
                new = lifecycle.resume(bucket, now)
            elif msg.event == "hibernate":
                new = lifecycle.hibernate(bucket, now)
            elif msg.event == "retire":
                held = self._facts().holdings().get(bucket.id, {})
                new = lifecycle.retire(bucket, now, cash=state.book.balances_of(bucket.id),
                                       open_positions=len(held))
            else:
                raise InvalidBucket(f"unknown event {msg.event!r}")
            out = targets.with_core_target({**state.buckets, bucket.id: new}, now)
            bucket_repo.save_buckets(self._db(), [b for k, b in out.items()
                                                    if b is not state.buckets.get(k)])
            self.log.info("bucket_status", bucket_id=bucket.id, transition=msg.event,
                          previous=bucket.status, status=new.status)
            return new.to_json()
        return self._guard(work)

    def _satellite(self, satellite_id: str) -> Bucket:
        bucket = self._known(bucket_repo.load_buckets(self._db()), satellite_id)
        if bucket.is_core:
            raise InvalidBucket("core has no satellite settings")
        return bucket

    @handles(PutSettings)
    def _put_settings(self, msg: PutSettings) -> dict[str, Any] | SatelliteRefused:
        def work() -> dict[str, Any]:
            self._satellite(msg.satellite_id)
            settings = SatelliteSettings.from_mapping(msg.satellite_id, msg.data)
            bucket_repo.save_settings(self._db(), settings, self.ctx.clock.now())
            return settings.to_json()
        return self._guard(work)

    @handles(ApplyPreset)
    def _apply_preset(self, msg: ApplyPreset) -> dict[str, Any] | SatelliteRefused:
        def work() -> dict[str, Any]:
            self._satellite(msg.satellite_id)
            current = bucket_repo.load_settings(self._db()).get(msg.satellite_id)
            settings = presets.apply_preset(current or SatelliteSettings(msg.satellite_id),
                                            msg.preset)
            bucket_repo.save_settings(self._db(), settings, self.ctx.clock.now())
            return settings.to_json()
        return self._guard(work)

    @handles(TransferCash)
    def _transfer(self, msg: TransferCash) -> dict[str, Any] | SatelliteRefused:
        def work() -> dict[str, Any]:
            now = self.ctx.clock.now()
            state = self._state()
            self._known(state.buckets, msg.from_bucket_id)
            self._known(state.buckets, msg.to_bucket_id)
            facts = self._facts()
            floor = None
            if repo.has_source(self._db(), "manual", msg.request_id):
                return {"from_balance": state.book.balance(msg.from_bucket_id, msg.currency),
                        "to_balance": state.book.balance(msg.to_bucket_id, msg.currency),
                        "currency": msg.currency, "applied": False}
            if msg.from_bucket_id == CORE_ID:
                alloc = bucket_repo.load_allocation(self._db())
                valuation = facts.valuation(state.buckets, state.book)
                core_value = valuation.values.get(CORE_ID)
                floor = balances.CoreFloor(
                    core_value_eur=core_value if core_value is not None else ZERO,
                    total_value_eur=valuation.total if valuation.total is not None else ZERO,
                    satellite_budget=alloc.satellite_budget_pct,
                    eur_per_unit=facts.eur_per(msg.currency))
            entries = balances.transfer(state.book, state.buckets, msg.from_bucket_id,
                                        msg.to_bucket_id, msg.amount, msg.currency,
                                        msg.request_id, now, core_floor=floor,
                                        description=msg.description)
            op = repo.Operation(entries, self._shifted(state.buckets, entries, facts, now),
                                source=("manual", msg.request_id))
            result = self._apply(op)
            book = repo.load_book(self._db())
            self.log.info("bucket_transfer", from_bucket=msg.from_bucket_id,
                          to_bucket=msg.to_bucket_id, amount=str(msg.amount),
                          currency=msg.currency, replay=result is None)
            return {"from_balance": book.balance(msg.from_bucket_id, msg.currency),
                    "to_balance": book.balance(msg.to_bucket_id, msg.currency),
                    "currency": msg.currency, "applied": result is not None}
        return self._guard(work)

    def _deposit_entries(self, amount: Decimal, currency: str, source_id: str,
                         state: _State, facts: Facts, description: str = ""
                         ) -> tuple[LedgerEntry, ...]:
        alloc = bucket_repo.load_allocation(self._db())
        values = self._bucket_values(state, facts)
        return balances.deposit(amount, currency, source_id, self.ctx.clock.now(),
                                buckets=state.buckets, values_eur=values,
                                satellite_budget=alloc.satellite_budget_pct,
                                eur_per_unit=facts.eur_per(currency), description=description)

    @handles(AllocateDeposit)
    def _allocate(self, msg: AllocateDeposit) -> dict[str, Any] | SatelliteRefused:
        def work() -> dict[str, Any]:
            state, facts = self._state(), self._facts()
            source_id = f"api:{msg.request_id}"
            if repo.has_source(self._db(), "cash_flow", source_id):
                done = [e for e in state.book.entries if e.source_id == source_id]
                return {"allocations": {e.bucket_id: e.amount for e in done},
                        "currency": msg.currency, "applied": False}
            entries = self._deposit_entries(msg.amount, msg.currency, source_id, state, facts,
                                            msg.description)
            shifted = self._shifted(state.buckets, entries, facts, self.ctx.clock.now())
            result = self._apply(repo.Operation(entries, shifted,
                                                source=("cash_flow", source_id)))
            return {"allocations": {e.bucket_id: e.amount for e in entries},
                    "currency": msg.currency, "applied": result is not None}
        return self._guard(work)

    def _broker_cash(self, facts: Facts, currency: str, given: Decimal | None) -> Decimal:
        if given is not None:
            return given
        try:
            return facts.account().cash_in(currency)
        except Exception as exc:
            raise balances.BalanceError(f"broker cash unavailable: {exc}") from exc

    @handles(CheckReconciliation)
    def _check(self, msg: CheckReconciliation) -> dict[str, Any] | SatelliteRefused:
        def work() -> dict[str, Any]:
            facts = self._facts()
            actual = self._broker_cash(facts, msg.currency, msg.actual_balance)
            book = repo.load_book(self._db())
            return check_json(reconciliation.check(book, msg.currency, actual,
                                                    self.ctx.clock.now()))
        return self._guard(work)

    @handles(ReconcileCurrency)
    def _reconcile_one(self, msg: ReconcileCurrency) -> dict[str, Any] | SatelliteRefused:
        def work() -> dict[str, Any]:
            facts = self._facts()
            actual = self._broker_cash(facts, msg.currency, msg.actual_balance)
            return self._reconcile(facts, msg.currency, actual,
                                   msg.auto_correct_threshold_eur)
        return self._guard(work)

    def _reconcile(self, facts: Facts, currency: str, actual: Decimal,
                   threshold: Decimal | None) -> dict[str, Any]:
        now = self.ctx.clock.now()
        book = repo.load_book(self._db())
        limit = threshold if threshold is not None else \
            self.ctx.settings().get_decimal("satellite_reconcile_auto_correct_eur")
        outcome = reconciliation.reconcile(
            book, currency, actual, now, eur_per_unit=facts.rate_or_none(currency),
            threshold_eur=limit, blocked_by=repo.blockers(self._db()))
        check = outcome.check
        audit = {"currency": currency, "status": outcome.status,
                 "virtual_total": decimal_to_str(check.virtual_total - check.adjustments_made),
                 "actual_total": decimal_to_str(actual),
                 "difference": decimal_to_str(check.virtual_total - check.adjustments_made
                                              - actual),
                 "adjustment": decimal_to_str(check.adjustments_made),
                 "message": outcome.message}
        if outcome.entries:
            self._apply(repo.Operation(outcome.entries, audit=audit))
        else:
            repo.record_audit(self._db(), audit, now)
        level = self.log.warning if outcome.status == "gap_reported" else self.log.info
        level("bucket_reconciliation", currency=currency, status=outcome.status,
              virtual=audit["virtual_total"], actual=audit["actual_total"],
              difference=audit["difference"],
              difference_pct=str(check.difference_pct) if check.difference_pct is not None
              else "inf", adjustment=audit["adjustment"], note=outcome.message)
        return {**check_json(check), "status": outcome.status, "message": outcome.message}

    @handles(SetSatelliteBudget)
    def _set_budget(self, msg: SetSatelliteBudget) -> dict[str, Any] | SatelliteRefused:
        def work() -> dict[str, Any]:
            now = self.ctx.clock.now()
            buckets = bucket_repo.load_buckets(self._db())
            alloc = bucket_repo.load_allocation(self._db())
            new = targets.set_budget(alloc, buckets, msg.budget_pct)
            out = targets.with_core_target(buckets, now)
            bucket_repo.save_allocation_value(
                self._db(), "satellite_budget_pct", new.satellite_budget_pct, now,
                [b for k, b in out.items() if b is not buckets.get(k)])
            return allocation_json(new)
        return self._guard(work)

    def _scores(self, buckets: Mapping[str, Bucket], now: datetime) -> dict[str, float | None]:
        settings = bucket_repo.load_settings(self._db())
        scores: dict[str, float | None] = {}
        for bucket in buckets.values():
            if bucket.is_core:
                continue
            own = settings.get(bucket.id) or SatelliteSettings(bucket.id)
            metrics = performance.bucket_metrics(
                bucket_trades_repo.closed_trades(self._db(), bucket.id),
                bucket_trades_repo.value_series(self._db(), bucket.id), now=now,
                period_days=own.evaluation_period_days,
                risk_free_rate=float(own.risk_free_rate), sortino_mar=float(own.sortino_mar))
            scores[bucket.id] = None if metrics is None else metrics.composite_score
        return scores

    def _plan(self) -> tuple[dict[str, Bucket], meta_allocator.AllocationPlan]:
        now = self.ctx.clock.now()
        buckets = bucket_repo.load_buckets(self._db())
        alloc = bucket_repo.load_allocation(self._db())
        plan = meta_allocator.plan_allocation(buckets, self._scores(buckets, now), alloc, now)
        return buckets, plan

    def _apply_plan(self, buckets: dict[str, Bucket],
                    plan: meta_allocator.AllocationPlan) -> None:
        now = self.ctx.clock.now()
        alloc = bucket_repo.load_allocation(self._db())
        out = meta_allocator.apply_plan(buckets, plan, alloc, now)
        bucket_repo.save_buckets(self._db(), [b for k, b in out.items()
                                                if b is not buckets.get(k)])
        for rec in plan.recommendations:
            if abs(rec.adjustment_pct) > meta_allocator.WARN_CHANGE:
                self.log.warning("satellite_target_changed", bucket_id=rec.bucket_id,
                                 adjustment=str(rec.adjustment_pct))
            elif abs(rec.adjustment_pct) > meta_allocator.NO_CHANGE:
                self.log.info("satellite_target_changed", bucket_id=rec.bucket_id,
                              adjustment=str(rec.adjustment_pct))

    @handles(PreviewAllocation)
    def _preview(self, msg: PreviewAllocation) -> dict[str, Any] | SatelliteRefused:
        return self._guard(lambda: plan_json(self._plan()[1], applied=False))

    @handles(ApplyAllocation)
    def _apply_allocation(self, msg: ApplyAllocation) -> dict[str, Any] | SatelliteRefused:
        def work() -> dict[str, Any]:
            buckets, plan = self._plan()
            self._apply_plan(buckets, plan)
            return plan_json(plan, applied=True)
        return self._guard(work)

    @handles(AssignSecurity)
    def _assign(self, msg: AssignSecurity) -> dict[str, Any] | SatelliteRefused:
        def work() -> dict[str, Any]:
            bucket = self._known(bucket_repo.load_buckets(self._db()), msg.bucket_id)
            if bucket.status == "retired":
                raise InvalidBucket(f"bucket {bucket.id!r} is retired")
            if not bucket_repo.assign_security(self._db(), msg.isin, bucket.id,
                                                 self.ctx.clock.now()):
                raise UnknownBucket(f"unknown security {msg.isin!r}")
            return {"isin": msg.isin, "bucket_id": bucket.id}
        return self._guard(work)

    def _aggressions(self, state: _State, facts: Facts
                     ) -> tuple[dict[str, Decimal], dict[str, dict[str, Any]],
                                Mapping[str, Decimal | None]]:
        now = self.ctx.clock.now()
        valuation = facts.valuation(state.buckets, state.book)
        effective: dict[str, Decimal] = {}
        details: dict[str, dict[str, Any]] = {}
        for bucket in state.buckets.values():
            value = valuation.values.get(bucket.id)
            if bucket.is_core or value is None or valuation.total is None:
                continue
            series = bucket_trades_repo.value_series(self._db(), bucket.id)
            effective[bucket.id], details[bucket.id] = effective_aggression(
                bucket, value, valuation.total, series, now)
        return effective, details, valuation.values

    @handles(GetBucketValues)
    def _values(self, msg: GetBucketValues) -> dict[str, Any] | SatelliteRefused:
        def work() -> dict[str, Any]:
            state, facts = self._state(), self._facts()
            _, details, values = self._aggressions(state, facts)
            return {b: {"value_eur": values.get(b), "status": bucket.status,
                        "balances": state.book.balances_of(b),
                        "aggression": details.get(b)}
                    for b, bucket in sorted(state.buckets.items())}
        return self._guard(work)

    @handles(GetPlanningScopes)
    def _scopes(self, msg: GetPlanningScopes
                ) -> tuple[list[planning.PlanScope], list[planning.Skipped]]:
        """What a planner needs per bucket; see ``GetPlanningScopes``."""
        state, facts = self._state(), self._facts()
        effective, _, _ = self._aggressions(state, facts)
        cash = {b: state.book.balances_of(b) for b in state.buckets}
        return planning.plan_scopes(state.buckets, bucket_repo.security_buckets(self._db()),
                                    cash, facts.eur_per,
                                    bucket_repo.load_settings(self._db()), effective,
                                    facts.positions(state.buckets), facts.average_costs())

    def _bucket_values(self, state: _State, facts: Facts) -> dict[str, Decimal]:
        """EUR values for the deposit split; cash only when positions are unknown."""
        valuation = facts.valuation(state.buckets, state.book)
        values = {b: v for b, v in valuation.values.items() if v is not None}
        if len(values) != len(valuation.values):
            values = {b: sum((a * facts.eur_per(c) for c, a in
                              state.book.balances_of(b).items() if a), ZERO)
                      for b in state.buckets}
            self.log.warning("deposit_split_cash_only", reason=valuation.error or "no value")
        return values

    @handles(GetCashFlowContext)
    def _cash_flow_context(self, msg: GetCashFlowContext) -> cash_flow_effects.EffectContext:
        """The deposit split's bucket shares and the dividend/maturity destinations."""
        state, facts = self._state(), self._facts()
        alloc = bucket_repo.load_allocation(self._db())
        values = self._bucket_values(state, facts)
        shares = tuple(BucketShare(b.id, b.type, b.target_pct, values.get(b.id, ZERO),
                                   b.status)
                       for b in state.buckets.values() if b.status != "retired")
        owners = [(symbol, b) for b, per in sorted(facts.holdings().items()) if b != CORE_ID
                  for symbol in per]
        income = dividend_router.income_destinations(
            owners, state.buckets, bucket_repo.load_settings(self._db()))
        maturity: dict[str, str] = {}
        for symbol, bucket_id in owners:
            maturity.setdefault(symbol, bucket_id)
        return cash_flow_effects.EffectContext(
            rates=msg.rates, buckets=shares, satellite_budget=alloc.satellite_budget_pct,
            income_bucket=income, maturity_bucket=maturity)

    # ------------------------------------------------------------------- events
    @handles(TradeExecuted)
    def _on_trade(self, msg: TradeExecuted) -> None:
        try:
            self._settle_trade(msg)
        except Exception as exc:  # an event is never dropped silently: logged, and
            # reconciliation reports the gap it leaves.
            self.log.error("trade_settlement_failed", trade_key=msg.trade_key, error=repr(exc))

    def _settle_trade(self, msg: TradeExecuted) -> None:
        facts = self._facts()
        if msg.mode not in facts.modes():
            return
        now = self.ctx.clock.now()
        row = bucket_trades_repo.trade(self._db(), msg.trade_key)
        value = row.value if row is not None else msg.quantity * msg.price
        side: balances.TradeSide = "buy" if msg.side == "BUY" else "sell"
        buckets = bucket_repo.load_buckets(self._db())
        bucket_id = self._known_bucket(buckets, msg.bucket_id, msg.trade_key)
        entries = balances.settle_trade(bucket_id, value, msg.currency, side, msg.trade_key,
                                        now)
        changed: tuple[Bucket, ...] = ()
        result = None
        bucket = buckets[bucket_id]
        if side == "sell" and not bucket.is_core:
            pnl = facts.realized_pnl(bucket_id, msg.symbol, msg.trade_key)
            if pnl is not None:
                outcome = drawdown.record_trade_result(bucket, pnl, now)
                changed = (outcome.bucket,)
                result = {"trade_key": msg.trade_key, "bucket_id": bucket_id,
                          "symbol": msg.symbol, "realized_pnl": pnl, "currency": msg.currency,
                          "closed_at": msg.executed_at}
                if outcome.paused:
                    self.log.warning("circuit_breaker_paused", bucket_id=bucket_id,
                                     losses=outcome.bucket.consecutive_losses)
        applied = self._apply(repo.Operation(entries, changed, source=("trade", msg.trade_key),
                                             trade_result=result))
        self.log.info("trade_settled", trade_key=msg.trade_key, bucket_id=bucket_id,
                      amount=str(entries[0].amount), currency=msg.currency,
                      replay=applied is None)
        if row is not None and row.fee:
            self._settle_fee(bucket_id, row.fee, msg.currency, msg.trade_key)

    def _known_bucket(self, buckets: Mapping[str, Bucket], bucket_id: str, key: str) -> str:
        """``bucket_id`` if it exists, else core (a fill never disappears)."""
        if bucket_id in buckets:
            return bucket_id
        self.log.warning("trade_bucket_unknown", trade_key=key, bucket_id=bucket_id)
        return CORE_ID

    def _settle_fee(self, bucket_id: str, fee: Decimal, currency: str, trade_key: str) -> None:
        entries = balances.trade_fee(bucket_id, fee, currency, trade_key, self.ctx.clock.now())
        applied = self._apply(repo.Operation(entries, (), source=(
            "trade", balances.fee_source_id(trade_key))))
        self.log.info("trade_fee_settled", trade_key=trade_key, bucket_id=bucket_id,
                      fee=str(fee), currency=currency, replay=applied is None)

    @handles(TradeFeeRecorded)
    def _on_trade_fee(self, msg: TradeFeeRecorded) -> None:
        try:
            if msg.mode not in self._facts().modes():
                return
            buckets = bucket_repo.load_buckets(self._db())
            self._settle_fee(self._known_bucket(buckets, msg.bucket_id, msg.trade_key),
                             msg.fee, msg.currency, msg.trade_key)
        except Exception as exc:  # logged; reconciliation reports the gap it leaves
            self.log.error("trade_fee_settlement_failed", trade_key=msg.trade_key,
                           error=repr(exc))

    @handles(CurrencyExchanged)
    def _on_exchange(self, msg: CurrencyExchanged) -> None:
        try:
            self._settle_exchange(msg)
        except Exception as exc:  # logged; reconciliation reports the gap it leaves
            self.log.error("exchange_settlement_failed", trade_key=msg.trade_key,
                           error=repr(exc))

    def _settle_exchange(self, msg: CurrencyExchanged) -> None:
        if msg.mode not in self._facts().modes():
            return
        buckets = bucket_repo.load_buckets(self._db())
        bucket_id = self._known_bucket(buckets, msg.bucket_id, msg.trade_key)
        entries = balances.settle_exchange(
            bucket_id, {msg.base_currency: msg.base_amount,
                        msg.quote_currency: msg.quote_amount},
            msg.trade_key, msg.symbol, self.ctx.clock.now())
        applied = self._apply(repo.Operation(entries, (), source=("trade", msg.trade_key)))
        self.log.info("exchange_settled", trade_key=msg.trade_key, bucket_id=bucket_id,
                      rows=[(e.currency, str(e.amount)) for e in entries],
                      replay=applied is None)

    @handles(PortfolioSynced)
    def _on_synced(self, msg: PortfolioSynced) -> None:
        self._settle_missing_safely()
        self._report_ledger()

    def _report_ledger(self) -> None:
        """Tell health whether the ledger agrees with broker cash (a read-only pass)."""
        try:
            self.ctx.bus.tell(HEALTH_ACTOR, ledger_status(
                self._facts(), self._broker_cash_all, self._books.load(self._db()),
                repo.blockers(self._db()), self.ctx.settings().get_decimal(
                    "satellite_reconcile_auto_correct_eur"), self.ctx.clock.now()))
        except Exception as exc:  # no answer this time; the next sync tries again
            self.log.warning("ledger_health_unknown", error=repr(exc))

    def _settle_missing_safely(self) -> dict[str, int]:
        try:
            return self._settle_missing()
        except Exception as exc:  # retried at the next sync, start or reconciliation
            self.log.error("settle_missing_failed", error=repr(exc))
            return {}

    def _settle_missing(self) -> dict[str, int]:
        """Settle what the ledger lacks, from the store: fills and exchanges of our own
        orders whose in-memory event was lost (a crash after the fill's commit) or never
        sent (the broker sync stored the fill first), and their known commissions. Every
        row is keyed by its trade key, so running this again changes nothing."""
        modes = self._facts().modes()
        counts = {"fills": 0, "exchanges": 0, "fees": 0}
        for r in bucket_trades_repo.unsettled_fills(self._db(), modes):
            self._settle_trade(TradeExecuted(
                r["trade_key"], r["isin"], r["symbol"], r["side"], Decimal(r["quantity"]),
                Decimal(r["price"]), r["currency"], _moment(r["executed_at"]), r["source"],
                r["bucket_id"], r["mode"]))
            counts["fills"] += 1
        for r in bucket_trades_repo.unsettled_exchanges(self._db(), modes):
            self._settle_exchange(CurrencyExchanged(
                r["trade_key"], r["symbol"], r["side"], r["base_currency"],
                Decimal(r["base_amount"]), r["quote_currency"], Decimal(r["quote_amount"]),
                Decimal(r["price"]), _moment(r["executed_at"]), r["source"], r["bucket_id"],
                r["mode"]))
            counts["exchanges"] += 1
        buckets = bucket_repo.load_buckets(self._db())
        for r in bucket_trades_repo.unbooked_fees(self._db(), modes):
            fee = Decimal(r["fee"])
            if fee <= 0 or r["settled"] is None:  # nothing to book, or booked with its fill
                continue
            if r["value"] is not None and \
                    abs(Decimal(r["settled"])) != round_money(Decimal(r["value"])):
                continue  # settled net of its fee before fees had a row of their own
            self._settle_fee(self._known_bucket(buckets, r["bucket_id"], r["trade_key"]),
                             fee, r["currency"], r["trade_key"])
            counts["fees"] += 1
        if any(counts.values()):
            self.log.warning("unsettled_records_settled", **counts)
        return counts

    def _cash_flow(self, kind: str, key: str, build: Callable[[_State, Facts],
                                                              tuple[LedgerEntry, ...]]) -> None:
        try:
            state, facts = self._state(), self._facts()
            entries = build(state, facts)
            shifted = self._shifted(state.buckets, entries, facts, self.ctx.clock.now())
            applied = self._apply(repo.Operation(entries, shifted, source=("cash_flow", key)))
            self.log.info("cash_flow_settled", kind=kind, key=key, replay=applied is None,
                          rows=[(e.bucket_id, str(e.amount), e.currency) for e in entries])
        except Exception as exc:
            self.log.error("cash_flow_settlement_failed", kind=kind, key=key, error=repr(exc))

    @handles(DepositReceived)
    def _on_deposit(self, msg: DepositReceived) -> None:
        def build(state: _State, facts: Facts) -> tuple[LedgerEntry, ...]:
            given = msg.allocations
            if given:
                now = self.ctx.clock.now()
                return tuple(LedgerEntry(bucket_id=b, currency=msg.currency, type="deposit",
                                         amount=a, source_kind="cash_flow", source_id=msg.key,
                                         created_at=now, description="deposit allocation")
                             for b, a in given if a)
            return self._deposit_entries(abs(msg.amount), msg.currency, msg.key, state, facts)
        self._cash_flow("deposit", msg.key, build)

    @handles(DividendReceived)
    def _on_dividend(self, msg: DividendReceived) -> None:
        def build(state: _State, facts: Facts) -> tuple[LedgerEntry, ...]:
            held = facts.holdings()
            owners = [(symbol, b) for b, per in sorted(held.items()) if b != CORE_ID
                      for symbol in per]
            owner = dividend_router.owning_bucket(owners, msg.symbol)
            route = dividend_router.route_dividend(
                owner, abs(msg.amount), msg.currency, msg.symbol, msg.key,
                self.ctx.clock.now(), buckets=state.buckets,
                settings=bucket_repo.load_settings(self._db()))
            return route.entries
        self._cash_flow("dividend", msg.key, build)

    @handles(WithdrawalRecorded)
    def _on_withdrawal(self, msg: WithdrawalRecorded) -> None:
        self._cash_flow("withdrawal", msg.key, lambda state, facts: balances.withdrawal(
            abs(msg.amount), msg.currency, msg.key, self.ctx.clock.now()))

    # --------------------------------------------------------------------- jobs
    @handles(RunJob)
    def _on_job(self, msg: RunJob) -> JobOutcome:
        jobs: dict[str, Callable[[], JobOutcome]] = {
            "satellite_maintenance": self._maintenance,
            "satellite_reconciliation": self._reconciliation,
            "satellite_evaluation": self._evaluation,
        }
        job = jobs.get(msg.job)
        if job is None:
            return JobOutcome(False, f"satellites does not run job {msg.job!r}")
        return job()

    def _maintenance(self) -> JobOutcome:
        now = self.ctx.clock.now()
        state, facts = self._state(), self._facts()
        valuation = facts.valuation(state.buckets, state.book)
        results, errors = drawdown.maintain_all(state.buckets, valuation.values, now)
        changed: list[Bucket] = []
        events: dict[str, list[str]] = {}
        for bucket_id, result in results.items():
            bucket = result.bucket
            value = valuation.values[bucket_id]
            if not bucket.is_core and value is not None:
                series = bucket_trades_repo.value_series(self._db(), bucket_id)
                cool = reawakening.evaluate_cooldown(bucket.cooldown, now,
                                                     trailing_return(series, now, value))
                if cool.state != bucket.cooldown:
                    bucket = bucket.touched(now, cooldown=cool.state)
                    events.setdefault(bucket_id, []).append(
                        "cooldown_started" if cool.started else "cooldown_cleared")
            if bucket != state.buckets[bucket_id]:
                changed.append(bucket)
            events.setdefault(bucket_id, []).extend(result.events)
            level = self.log.warning if {"hibernated", "warning", "breaker_paused"} & set(
                result.events) else self.log.info
            level("bucket_maintained", bucket_id=bucket_id, value_eur=str(value),
                  drawdown=str(result.drawdown), events=list(result.events))
        for bucket_id, reason in errors.items():
            self.log.error("bucket_maintenance_failed", bucket_id=bucket_id, reason=reason)
        out = targets.with_core_target({**state.buckets, **{b.id: b for b in changed}}, now)
        bucket_repo.save_buckets(self._db(), [b for k, b in out.items()
                                                if b != state.buckets.get(k)])
        known = {b: v for b, v in valuation.values.items() if v is not None}
        today = [e for e in state.book.entries if e.created_at.date() == now.date()]
        flows = {}
        for bucket_id, per in balances.external_flows(today).items():
            try:
                flows[bucket_id] = sum((a * facts.eur_per(c) for c, a in per.items()), ZERO)
            except MissingRate:
                continue
        bucket_trades_repo.record_values(self._db(), now.date(), known, flows)
        ok = not errors
        summary = (f"{len(results)} buckets maintained"
                   + (f", {len(errors)} without value" if errors else ""))
        return JobOutcome(ok, summary, {"events": events, "errors": errors})

    def _reconciliation(self) -> JobOutcome:
        self._settle_missing_safely()  # a gap a lost event left is settled, not corrected
        facts = self._facts()
        try:
            cash = self._broker_cash_all(facts)
        except balances.BalanceError as exc:
            return JobOutcome(False, str(exc))
        book = repo.load_book(self._db())
        results = {ccy: self._reconcile(facts, ccy, cash.get(ccy, ZERO), None)
                   for ccy in reconciliation.currencies_to_check(cash, book)}
        gaps = sorted(c for c, r in results.items() if r["status"] == "gap_reported")
        self._report_ledger()
        summary = (f"{len(results)} currencies: "
                   + ", ".join(f"{c} {r['status']}" for c, r in sorted(results.items())))
        return JobOutcome(not gaps, summary, {"currencies": results, "gaps": gaps})

    @handles(InitializeFromBroker)
    def _initialize(self, msg: InitializeFromBroker) -> dict[str, Any] | SatelliteRefused:
        """Manual: currencies without any ledger row take the broker's cash into core
        ("initial balance from brokerage"); refused while anything is pending."""
        def work() -> dict[str, Any]:
            now = self.ctx.clock.now()
            blocked = repo.blockers(self._db())
            if blocked is not None:
                raise balances.BalanceError(f"not now: {blocked}")
            cash = self._broker_cash_all(self._facts())
            book = repo.load_book(self._db())
            done: dict[str, Decimal] = {}
            for entry in reconciliation.initialize_from_brokerage(book, cash, now):
                audit = {"currency": entry.currency, "status": "initialised",
                         "virtual_total": "0", "actual_total": decimal_to_str(entry.amount),
                         "difference": decimal_to_str(-entry.amount),
                         "adjustment": decimal_to_str(entry.amount),
                         "message": "initial balance from brokerage"}
                if self._apply(repo.Operation((entry,), audit=audit)) is not None:
                    done[entry.currency] = entry.amount
                    self.log.info("bucket_ledger_initialised", currency=entry.currency,
                                  amount=str(entry.amount))
            return {"initialised": done}
        return self._guard(work)

    def _broker_cash_all(self, facts: Facts) -> dict[str, Decimal]:
        try:
            account = facts.account()
        except Exception as exc:
            raise balances.BalanceError(f"broker cash unavailable: {exc}") from exc
        cash: dict[str, Decimal] = {}
        for row in account.cash:
            cash[row.currency] = cash.get(row.currency, ZERO) + row.amount
        return cash

    def _evaluation(self) -> JobOutcome:
        now = self.ctx.clock.now()
        try:
            buckets, plan = self._plan()
        except SatelliteError as exc:
            return JobOutcome(False, f"allocation not possible: {exc}")
        alloc = bucket_repo.load_allocation(self._db())
        due = meta_allocator.reallocation_due(buckets, now, alloc.evaluation_months)
        if due and plan.recommendations:
            try:
                self._apply_plan(buckets, plan)
            except SatelliteError as exc:
                return JobOutcome(False, f"allocation refused, nothing applied: {exc}")
        details = plan_json(plan, applied=due and bool(plan.recommendations))
        self.log.info("satellite_evaluation", applied=details["applied"],
                      evaluated=plan.satellites_evaluated)
        return JobOutcome(True, f"{plan.satellites_evaluated} satellites evaluated; "
                          + ("targets applied" if details["applied"] else "preview only"),
                          details)
