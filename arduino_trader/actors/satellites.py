"""The satellite manager: owns the buckets, their lifecycle, the per-bucket ledger and the
three satellite jobs.

Every decision is the pure domain's (``domain/satellites``); this actor gathers the facts
(store, broker snapshot, FX), applies the result, and writes each money-moving change in
one transaction (the bucket-ledger port's ``apply_operation``). Events it settles:

- ``TradeExecuted`` (executor): the fill's net settlement against its ``bucket_id``, and
  for a satellite's sell its realised P&L (loss streak, circuit breaker, re-awakening);
- ``CurrencyExchanged`` (executor): the exchange's two legs against its ``bucket_id``;
- the cash-flow events of ``protocols/cash_flows.py`` (``DepositReceived``,
  ``DividendReceived``, ``WithdrawalRecorded``): deposits split deficit-first,
  dividends through the router, withdrawals debit core. Rows are keyed by the cash-flow
  key: whichever of the cash-flow actor and this actor writes a record's rows first, the
  other is a no-op.

This module is the message handling; the work is in its siblings: ``satellite_commands``
(API commands), ``satellite_queries`` (answers), ``satellite_settlement`` (fills and cash
flows), ``satellite_reconciliation``, ``satellite_maintenance`` and
``satellite_allocation`` (the jobs), on ``satellite_state`` (store, facts, writes).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, TypeVar

from arduino_trader.domain.cash_flows import effects as cash_flow_effects
from arduino_trader.domain.satellites import balances, planning, presets
from arduino_trader.domain.satellites.balances import UnknownBucket
from arduino_trader.protocols.cash_flows import (
    DepositReceived,
    DividendReceived,
    WithdrawalRecorded,
)
from arduino_trader.protocols.execution import CurrencyExchanged, TradeExecuted
from arduino_trader.protocols.jobs import JobSpec
from arduino_trader.protocols.messages import JobOutcome, RunJob
from arduino_trader.protocols.portfolio import PortfolioSynced, TradeFeeRecorded
from arduino_trader.protocols.satellite_records import InvalidBucket, SatelliteError
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

from . import satellite_commands as commands
from . import satellite_queries as queries
from . import satellite_reconciliation as reconcile
from . import satellite_settlement as settlement
from .base import ActorContext, BaseActor, handles
from .satellite_allocation import allocation_plan, apply_plan, run_evaluation
from .satellite_book import BookReader
from .satellite_facts import MissingRate
from .satellite_maintenance import run_maintenance
from .satellite_reports import plan_json

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


SUBSCRIPTIONS: tuple[type, ...] = (TradeExecuted, CurrencyExchanged, TradeFeeRecorded,
                                   PortfolioSynced, DepositReceived, DividendReceived,
                                   WithdrawalRecorded)


class SatelliteActor(BaseActor):
    """Owns the buckets: commands from the API, fills and cash flows, the three jobs."""

    name = SATELLITES_ACTOR
    needs = ("store", "broker")
    ctx: ActorContext

    def __init__(self, ctx: ActorContext) -> None:
        super().__init__(ctx)
        self._books = BookReader()  # the committed ledger, read incrementally
        # The ledger level last told to health: a cash flow settled after a sync found a
        # gap (the sync's PortfolioSynced came first) is checked again at once.
        self._ledger_level: str | None = None

    def on_start(self) -> None:
        """Refresh the balance cache from the ledger (rows other writers added), then
        settle what a crash left unsettled."""
        slots = self.ctx.deps.bucket_ledger.rebuild_balance_cache(self.ctx.clock.now())
        self.log.info("satellites_started", balance_slots=slots)
        settlement.settle_missing_safely(self.ctx, self.log)

    def _guard(self, work: Callable[[], T]) -> T | SatelliteRefused:
        try:
            return work()
        except (SatelliteError, MissingRate) as exc:
            refusal = _refusal(exc)
            self.log.info("satellite_command_refused", code=refusal.code,
                          message=refusal.message)
            return refusal

    # ----------------------------------------------------------------- commands
    @handles(CreateSatellite)
    def _create(self, msg: CreateSatellite) -> dict[str, Any] | SatelliteRefused:
        return self._guard(lambda: commands.create_satellite(self.ctx, self.log, msg))

    @handles(UpdateBucket)
    def _update(self, msg: UpdateBucket) -> dict[str, Any] | SatelliteRefused:
        return self._guard(lambda: commands.update_bucket(self.ctx, msg))

    @handles(BucketEvent)
    def _event(self, msg: BucketEvent) -> dict[str, Any] | SatelliteRefused:
        return self._guard(lambda: commands.bucket_event(self.ctx, self.log, self._books,
                                                         msg))

    @handles(PutSettings)
    def _put_settings(self, msg: PutSettings) -> dict[str, Any] | SatelliteRefused:
        return self._guard(lambda: commands.put_settings(self.ctx, msg))

    @handles(ApplyPreset)
    def _apply_preset(self, msg: ApplyPreset) -> dict[str, Any] | SatelliteRefused:
        return self._guard(lambda: commands.apply_preset(self.ctx, msg))

    @handles(TransferCash)
    def _transfer(self, msg: TransferCash) -> dict[str, Any] | SatelliteRefused:
        return self._guard(lambda: commands.transfer_cash(self.ctx, self.log, self._books,
                                                          msg))

    @handles(AllocateDeposit)
    def _allocate(self, msg: AllocateDeposit) -> dict[str, Any] | SatelliteRefused:
        return self._guard(lambda: commands.allocate_deposit(self.ctx, self.log,
                                                             self._books, msg))

    @handles(CheckReconciliation)
    def _check(self, msg: CheckReconciliation) -> dict[str, Any] | SatelliteRefused:
        return self._guard(lambda: reconcile.check_currency(self.ctx, msg.currency,
                                                            msg.actual_balance))

    @handles(ReconcileCurrency)
    def _reconcile_one(self, msg: ReconcileCurrency) -> dict[str, Any] | SatelliteRefused:
        return self._guard(lambda: reconcile.reconcile_currency(
            self.ctx, self.log, msg.currency, msg.actual_balance,
            msg.auto_correct_threshold_eur))

    @handles(SetSatelliteBudget)
    def _set_budget(self, msg: SetSatelliteBudget) -> dict[str, Any] | SatelliteRefused:
        return self._guard(lambda: commands.set_budget(self.ctx, msg))

    @handles(PreviewAllocation)
    def _preview(self, msg: PreviewAllocation) -> dict[str, Any] | SatelliteRefused:
        return self._guard(lambda: plan_json(allocation_plan(self.ctx)[1], applied=False))

    @handles(ApplyAllocation)
    def _apply_allocation(self, msg: ApplyAllocation) -> dict[str, Any] | SatelliteRefused:
        def work() -> dict[str, Any]:
            buckets, plan = allocation_plan(self.ctx)
            apply_plan(self.ctx, self.log, buckets, plan)
            return plan_json(plan, applied=True)
        return self._guard(work)

    @handles(AssignSecurity)
    def _assign(self, msg: AssignSecurity) -> dict[str, Any] | SatelliteRefused:
        return self._guard(lambda: commands.assign_security(self.ctx, msg))

    @handles(InitializeFromBroker)
    def _initialize(self, msg: InitializeFromBroker) -> dict[str, Any] | SatelliteRefused:
        """Manual: currencies without any ledger row take the broker's cash into core
        ("initial balance from brokerage"); refused while anything is pending."""
        return self._guard(lambda: reconcile.initialize_from_broker(self.ctx, self.log))

    # ------------------------------------------------------------------ queries
    @handles(GetBucketValues)
    def _values(self, msg: GetBucketValues) -> dict[str, Any] | SatelliteRefused:
        return self._guard(lambda: queries.bucket_report(self.ctx, self._books))

    @handles(GetPlanningScopes)
    def _scopes(self, msg: GetPlanningScopes
                ) -> tuple[list[planning.PlanScope], list[planning.Skipped]]:
        """What a planner needs per bucket; see ``GetPlanningScopes``."""
        return queries.planning_scopes(self.ctx, self._books)

    @handles(GetCashFlowContext)
    def _cash_flow_context(self, msg: GetCashFlowContext) -> cash_flow_effects.EffectContext:
        """The deposit split's bucket shares and the buckets income and maturities are
        split over."""
        return queries.cash_flow_context(self.ctx, self.log, self._books, msg)

    # ------------------------------------------------------------------- events
    @handles(TradeExecuted)
    def _on_trade(self, msg: TradeExecuted) -> None:
        try:
            settlement.settle_trade(self.ctx, self.log, msg)
        except settlement.SETTLEMENT_REFUSALS as exc:  # never dropped silently: logged,
            # and reconciliation reports the gap it leaves (other failures restart).
            self.log.error("trade_settlement_failed", trade_key=msg.trade_key, error=repr(exc))

    @handles(TradeFeeRecorded)
    def _on_trade_fee(self, msg: TradeFeeRecorded) -> None:
        try:
            settlement.settle_recorded_fee(self.ctx, self.log, msg)
        except settlement.SETTLEMENT_REFUSALS as exc:  # logged; reconciliation reports the gap
            self.log.error("trade_fee_settlement_failed", trade_key=msg.trade_key,
                           error=repr(exc))

    @handles(CurrencyExchanged)
    def _on_exchange(self, msg: CurrencyExchanged) -> None:
        try:
            settlement.settle_exchange(self.ctx, self.log, msg)
        except settlement.SETTLEMENT_REFUSALS as exc:  # logged; reconciliation reports the gap
            self.log.error("exchange_settlement_failed", trade_key=msg.trade_key,
                           error=repr(exc))

    @handles(PortfolioSynced)
    def _on_synced(self, msg: PortfolioSynced) -> None:
        settlement.settle_missing_safely(self.ctx, self.log)
        self._ledger_level = reconcile.report_ledger(self.ctx, self.log, self._books)

    def _recheck_ledger(self) -> None:
        """After a settlement: tell health again when the last check found a gap."""
        if self._ledger_level not in (None, "ok"):
            self._ledger_level = reconcile.report_ledger(self.ctx, self.log, self._books)

    @handles(DepositReceived)
    def _on_deposit(self, msg: DepositReceived) -> None:
        settlement.settle_cash_flow(
            self.ctx, self.log, self._books, "deposit", msg.key,
            lambda state, facts: settlement.deposit_rows(self.ctx, self.log, msg, state,
                                                         facts))
        self._recheck_ledger()

    @handles(DividendReceived)
    def _on_dividend(self, msg: DividendReceived) -> None:
        settlement.settle_cash_flow(
            self.ctx, self.log, self._books, "dividend", msg.key,
            lambda state, facts: settlement.dividend_rows(self.ctx, msg))
        self._recheck_ledger()

    @handles(WithdrawalRecorded)
    def _on_withdrawal(self, msg: WithdrawalRecorded) -> None:
        settlement.settle_cash_flow(
            self.ctx, self.log, self._books, "withdrawal", msg.key,
            lambda state, facts: balances.withdrawal(abs(msg.amount), msg.currency, msg.key,
                                                     self.ctx.clock.now()))
        self._recheck_ledger()

    # --------------------------------------------------------------------- jobs
    @handles(RunJob)
    def _on_job(self, msg: RunJob) -> JobOutcome:
        jobs: dict[str, Callable[[], JobOutcome]] = {
            "satellite_maintenance": lambda: run_maintenance(self.ctx, self.log, self._books),
            "satellite_reconciliation": lambda: reconcile.run_reconciliation(
                self.ctx, self.log, self._books),
            "satellite_evaluation": lambda: run_evaluation(self.ctx, self.log),
        }
        job = jobs.get(msg.job)
        if job is None:
            return JobOutcome(False, f"satellites does not run job {msg.job!r}")
        return job()
