"""The planner actor: plans on price, portfolio and deposit updates (debounced), on
demand and on schedule, stores the recommendations under the portfolio hash, publishes
``PlanReady``, and runs step 1 of the stored plan through the executor
(``autonomous_execution``). ``plan()`` runs on a worker thread while this actor tells
health it is busy (cancelled past ``planner_plan_budget_s``); a plan whose holdings have
no price or no imported trade history yet waits for them (``planner_wait``). Kernels warm
in the background at start.
No exception escapes a handler: a failure is an explicit failed summary with the reason.
"""
from __future__ import annotations

import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import replace
from datetime import date, datetime
from typing import Any, TypeVar

from arduino_trader.adapters.kernel_cache import fill_cache as fill_kernel_cache
from arduino_trader.adapters.store import plan_repo, planner_config_repo
from arduino_trader.domain.planner.buckets import plan_bucket
from arduino_trader.domain.planner.models import (
    MarketIndicators,
    PlanInput,
    PlanResult,
)
from arduino_trader.domain.planner.plan import plan
from arduino_trader.domain.planner.plan import warm_up as warm_kernels
from arduino_trader.protocols.broker import AccountSnapshot, Broker
from arduino_trader.protocols.broker_errors import BROKER_CALL_FAILURES
from arduino_trader.protocols.cash_flows import DepositReceived
from arduino_trader.protocols.jobs import JobSpec
from arduino_trader.protocols.market_data import MarketDataError, PricesUpdated
from arduino_trader.protocols.messages import ComponentStatus, HealthLevel, JobOutcome, RunJob
from arduino_trader.protocols.planning import (
    PLANNER_ACTOR,
    GetPlan,
    PlannedStep,
    PlannerStatus,
    PlanReady,
    PlanSummary,
    RequestPlan,
)
from arduino_trader.protocols.portfolio import PortfolioSynced
from arduino_trader.protocols.runtime import ASK_FAILURES, ActorUnavailable
from arduino_trader.protocols.satellite_records import SatelliteError
from arduino_trader.protocols.satellites import SATELLITES_ACTOR, GetPlanningScopes
from arduino_trader.protocols.store import Database

from .base import HEALTH_ACTOR, ActorContext, BaseActor, handles
from .busy import BudgetExceeded, BusyRunner
from .history_cache import HistoryCache
from .planner_bucket_config import Configs, configured_input, versions
from .planner_execution import submit_step
from .planner_inputs import BROKER_TIMEOUT_S, InputGatherer
from .planner_scores import score_universe, store_scores
from .planner_wait import InputWait

T = TypeVar("T")
SCOPES_TIMEOUT_S = 10.0
CORE = "core"
WARM_POLL_S = 0.2  # how often a plan waiting for the kernels looks at its cancel event
# A plan reported as failed, the actor carrying on: no answer from the broker, the source
# or another actor, or the budget overrun. Any other failure restarts the planner clean.
_PLAN_FAILURES: tuple[type[Exception], ...] = (*BROKER_CALL_FAILURES, *ASK_FAILURES,
                                               MarketDataError, BudgetExceeded)
# No satellite scopes this time (core-only plan): the actor gave no answer or refused
# (a bucket rule, a missing rate).
_NO_SCOPES: tuple[type[Exception], ...] = (*ASK_FAILURES, SatelliteError, LookupError)
_TRIGGERS: dict[type, str] = {PricesUpdated: "prices_updated",
                              PortfolioSynced: "portfolio_synced",
                              DepositReceived: "deposit_received"}

JOBS: tuple[JobSpec, ...] = (
    JobSpec("planner", PLANNER_ACTOR, "Plan: score, optimise, search sequences; store the "
            "recommendations", every_minutes_key="job_planner_minutes", timeout_s=600),
    JobSpec("autonomous_execution", PLANNER_ACTOR, "Send step 1 of the stored plan to the "
            "executor (research mode: the paper broker)",
            every_minutes_key="job_autonomous_execution_minutes",
            enabled_key="job_autonomous_execution_enabled", timeout_s=900,
            places_orders=True),
    JobSpec("score_universe", PLANNER_ACTOR, "Score every active security (total, group "
            "and component scores) into the scores table", every_minutes=60, timeout_s=600),
)


class PlannerActor(BaseActor):
    """Owns the plans and recommendations tables."""

    name = PLANNER_ACTOR
    needs = ("store", "broker", "paper_broker")
    ctx: ActorContext

    def __init__(self, ctx: ActorContext, warm: bool = True,
                 plan_fn: Callable[[PlanInput], PlanResult] | None = None) -> None:
        super().__init__(ctx)
        self._warm = warm
        self._plan_fn = plan_fn
        self._busy = BusyRunner(ctx, self.name)
        self._input_wait = InputWait()
        self._warmed = threading.Event()
        self._timer: threading.Timer | None = None
        self._last: PlanSummary | None = None
        self._last_at: datetime | None = None
        self._regime_cache: dict[date, float] = {}  # per day, like the indicators
        self._indicators_cache: dict[date, MarketIndicators] = {}
        # stored closes, refreshed from the change log
        self._history = HistoryCache(ctx.deps.price_history)

    # ----------------------------------------------------------------- wiring
    def _store(self) -> Database:
        return self.ctx.deps.store

    def _mode(self) -> str:
        return "live" if self.ctx.settings().typed.trading_mode == "live" else "research"

    def _broker(self, mode: str) -> Broker:
        """Research reads the paper account; live the configured broker."""
        return self.ctx.deps.paper_broker if mode == "research" else self.ctx.deps.broker

    def on_start(self) -> None:
        """Warm the kernels in the background; a plan waits for it (within its budget).
        Kernels the Numba cache does not hold yet are compiled by a child process first
        (``adapters/kernel_cache.py``), so this process never keeps the compiler's memory."""
        if not self._warm:
            self._warmed.set()
            return

        def run() -> None:
            started = time.perf_counter()
            try:
                fill = fill_kernel_cache()
                if fill.compiled and fill.ok:
                    self.log.info("kernels_compiled_in_child", s=round(fill.seconds, 1),
                                  peak_rss_mb=fill.peak_rss_mb, note=fill.error or None)
                elif fill.compiled:  # the loading below compiles them in this process
                    self.log.warning("kernel_child_failed", s=round(fill.seconds, 1),
                                     error=fill.error)
                warm_kernels()
                self.log.info("planner_warmed",
                              ms=round((time.perf_counter() - started) * 1000, 1))
            except Exception as exc:  # an optimisation on a thread of its own (no actor
                # state to go stale): whatever Numba raised, the first plan compiles
                self.log.warning("planner_warm_failed", error=repr(exc))
            finally:
                self._warmed.set()

        threading.Thread(target=run, name="planner-warmup", daemon=True).start()

    def on_stop(self) -> None:
        """Drop a pending debounced plan."""
        self._timer.cancel() if self._timer is not None else None

    # --------------------------------------------------------------- handlers
    @handles(PricesUpdated, PortfolioSynced, DepositReceived)
    def _on_change(self, msg: object) -> None:
        """Plan once the updates stop arriving for ``planner_debounce_seconds``."""
        self._schedule(_TRIGGERS.get(type(msg), "update"),
                       float(self.ctx.settings().typed.planner_debounce_seconds))

    def _schedule(self, trigger: str, delay: float) -> None:
        if self._timer is not None:
            self._timer.cancel()

        def fire() -> None:
            if self.ctx.stopping.is_set():
                return
            try:
                self.ctx.bus.tell(self.name, RequestPlan(trigger))
            except ActorUnavailable as exc:  # stopped or restarting: the next update plans
                self.log.debug("plan_trigger_dropped", trigger=trigger, error=str(exc))

        self._timer = threading.Timer(delay, fire)
        self._timer.daemon = True
        self._timer.start()

    @handles(RequestPlan)
    def _on_request(self, msg: RequestPlan) -> PlanSummary:
        return self._plan_once(msg.trigger)

    @handles(GetPlan)
    def _on_get(self, msg: GetPlan) -> PlannerStatus:
        return PlannerStatus(False, self._warmed.is_set(), self._last_at, self._last,
                             {"mode": self._mode()})

    @handles(RunJob)
    def _on_job(self, msg: RunJob) -> JobOutcome:
        if msg.job == "planner":
            s = self._plan_once(f"job:{msg.trigger}")
            return JobOutcome(s.ok, f"{s.status}: {s.reason}",
                              {"portfolio_hash": s.portfolio_hash, "plan_id": s.plan_id,
                               "steps": s.steps, "duration_ms": s.duration_ms,
                               "warnings": list(s.warnings)})
        if msg.job == "autonomous_execution":
            return self._execute_first_step()
        if msg.job == "score_universe":
            return score_universe(self.ctx, self._history, self._mode, self.log)
        return JobOutcome(False, f"unknown job {msg.job}")

    # --------------------------------------------------------------- planning
    def _account(self, mode: str) -> AccountSnapshot:
        account: AccountSnapshot = self.ctx.io.run(self._broker(mode).account(),
                                                   BROKER_TIMEOUT_S)
        return account

    def _plan_once(self, trigger: str) -> PlanSummary:
        """Gather, plan, store, publish; a broker, source or actor failure or an overrun
        budget is answered as a failed summary, anything else raises (a restart)."""
        started = time.perf_counter()
        try:
            summary = self._plan_unsafe(trigger, started)
        except _PLAN_FAILURES as exc:
            # no answer from the broker, the source or an actor, or over budget: reported
            # (any other failure restarts the planner clean)
            self.log.error("plan_failed", trigger=trigger, error=repr(exc))
            summary = PlanSummary(False, "failed", f"planning failed: {type(exc).__name__}: "
                                  f"{exc}", duration_ms=(time.perf_counter() - started) * 1000)
        self._last, self._last_at = summary, self.ctx.clock.now()
        return summary

    def _plan_unsafe(self, trigger: str, started: float) -> PlanSummary:
        mode = self._mode()
        now = self.ctx.clock.now()
        budget = float(self.ctx.settings().typed.planner_plan_budget_s)
        if self._busy.abandoned_running:
            raise BudgetExceeded("plan", 0, "the previous plan overran its budget and is "
                                 "still computing; no new plan until it ends")
        if not self._warmed.is_set():  # the inputs are read once the kernels are ready, so
            # a plan is never made on what the store held minutes before (a slow board)
            self._run_busy(trigger, "kernels", budget, self._wait_for_kernels)
        gatherer = InputGatherer(self.ctx.io, self._store(),
                                 self.ctx.deps.market_data, self._regime_cache,
                                 self._history, self._indicators_cache)
        gathered = gatherer.gather(self._account(mode), mode, self.ctx.settings(), now)
        inp = gathered.plan_input
        settings = self.ctx.settings()
        waiting = self._input_wait.waiting_for(inp, self.ctx.clock.monotonic(),
                                               settings.typed.planner_price_wait_s,
                                               gathered.unseen)
        if waiting:  # no plan stored: a plan now would leave out or misjudge these holdings
            self._schedule(trigger, max(1.0, settings.typed.planner_debounce_seconds))
            self.log.info("plan_waiting", trigger=trigger, waiting_for=waiting.symbols())
            return PlanSummary(True, "waiting", waiting.reason(),
                               gathered.portfolio_hash, warnings=gathered.warnings)
        configs = planner_config_repo.current_all(self._store())

        def work(cancel: threading.Event) -> tuple[PlanResult, list[tuple[str, PlanResult]],
                                                    tuple[str, ...]]:
            return self._plan_buckets(inp, mode, configs)

        result, satellites, scope_warnings = self._run_busy(trigger, "plan", budget, work)
        self._report_component("planner", "ok", "last plan within its budget", now)
        warnings = gathered.warnings + scope_warnings + tuple(result.warnings) + tuple(
            f"[{b}] {w}" for b, r in satellites for w in r.warnings)
        duration = (time.perf_counter() - started) * 1000
        plan_id = plan_repo.store_plan(
            self._store(), result, gathered.portfolio_hash, trigger, gathered.isins, duration,
            now, gathered.details | {"buckets": [CORE] + [b for b, _ in satellites],
                                     "planner_configs": versions(configs)},
            satellites)
        store_scores(self.ctx, [*result.security_scores,
                                *(x for _, r in satellites for x in r.security_scores)],
                     gathered.isins, "plan", self.log)
        steps = tuple(PlannedStep(s.step, gathered.isins.get(s.symbol, s.symbol), s.symbol,
                                  s.side, int(s.quantity), s.estimated_price, s.currency,
                                  s.estimated_value_eur, s.reason, bucket)
                      for bucket, r in [(CORE, result), *satellites] for s in r.steps)
        if satellites and result.status != "plan" and any(
                r.status == "plan" for _, r in satellites):
            result = replace(result, status="plan", reason=f"core: {result.reason}; "
                             + "; ".join(f"{b}: {r.reason}" for b, r in satellites))
        self.log.info("plan_stored", trigger=trigger, plan_id=plan_id, status=result.status,
                      reason=result.reason, steps=len(steps), ms=round(duration, 1),
                      portfolio_hash=gathered.portfolio_hash, warnings=list(warnings),
                      **{k: v for k, v in gathered.details.items() if k != "current_weights"})
        self.ctx.bus.publish(PlanReady(gathered.portfolio_hash, result.status, result.reason,
                                       steps, plan_id, now))
        self._report_optimizer([result, *(r for _, r in satellites)], now)
        return PlanSummary(True, result.status, result.reason, gathered.portfolio_hash,
                           plan_id, len(steps), duration, warnings)

    def _wait_for_kernels(self, cancel: threading.Event) -> None:
        """Until the warm-up has loaded the kernels (no second compile by a plan), or
        until cancelled (the busy runner has then raised the overrun itself)."""
        while not self._warmed.wait(WARM_POLL_S):
            if cancel.is_set():
                return

    def _run_busy(self, trigger: str, stage: str, budget: float,
                  work: Callable[[threading.Event], T]) -> T:
        """``work`` on the busy runner within ``budget``; an overrun is logged and health's
        ``planner`` component degraded (unless the daemon is stopping), then re-raised."""
        try:
            return self._busy.run("plan", budget, work)
        except BudgetExceeded as exc:
            if not self.ctx.stopping.is_set():  # shutting down cancels without a fault
                self.log.error("plan_over_budget", trigger=trigger, stage=stage,
                               budget_s=budget, error=str(exc))
                self._report_component("planner", "degraded", str(exc),
                                       self.ctx.clock.now())
            raise

    def _report_optimizer(self, results: Sequence[PlanResult], now: datetime) -> None:
        """Health's ``optimizer`` component: degraded while a plan's optimiser fails."""
        errors = [r.optimizer_error for r in results if r.optimizer_error]
        message = f"optimiser failed: {errors[0]}" if errors else "optimiser ok"
        self._report_component("optimizer", "degraded" if errors else "ok", message, now)

    def _report_component(self, name: str, level: HealthLevel, message: str, now: datetime) -> None:
        try:
            self.ctx.bus.tell(HEALTH_ACTOR, ComponentStatus(name, level, message[:500], now))
        except ActorUnavailable:  # health stopped or restarting: the next plan reports
            pass

    def _scopes(self) -> tuple[list[Any], list[Any]] | None:
        """The satellites actor's planning scopes; None when it does not answer."""
        try:
            answer = self.ctx.bus.ask(SATELLITES_ACTOR, GetPlanningScopes(), SCOPES_TIMEOUT_S)
        except _NO_SCOPES as exc:  # not running, or
            # refused (a rate missing): plan core-only
            self.log.debug("planning_scopes_unavailable", error=repr(exc))
            return None
        if not (isinstance(answer, tuple) and len(answer) == 2):
            return None
        return list(answer[0]), list(answer[1])

    def _plan_buckets(self, inp: PlanInput, mode: str, configs: Configs
                      ) -> tuple[PlanResult, list[tuple[str, PlanResult]], tuple[str, ...]]:
        """Core's result, the planning satellites' (bucket, result), scope warnings.

        Without satellites (or when the satellites actor does not answer) core plans the
        whole account, as one portfolio. Otherwise every bucket plans its own securities
        with its ledger cash (core adds research mode's virtual cash) and parameters, and
        its stored planner configuration (``configs``)."""
        scopes = self._scopes()
        notes: list[str] = []
        settings = self.ctx.settings()

        def own(bucket: str) -> PlanInput:
            return configured_input(inp, bucket, configs, settings, notes)

        buckets = set() if scopes is None else \
            {x.bucket_id for x in scopes[0]} | {x.bucket_id for x in scopes[1]}
        if scopes is None or buckets <= {CORE}:
            return self._plan_scope(own(CORE)), [], tuple(notes)
        planning, skipped = scopes
        warnings = tuple(f"bucket {x.bucket_id} does not plan: {x.reason}" for x in skipped)
        virtual = float(self.ctx.settings().typed.virtual_test_cash) \
            if mode == "research" else 0.0
        core = next((x for x in planning if x.bucket_id == CORE), None)
        if core is None:
            reason = next((x.reason for x in skipped if x.bucket_id == CORE), "no scope")
            result = PlanResult("nothing_to_do", f"core does not plan: {reason}")
        else:
            result = plan_bucket(own(CORE), core, self._plan_scope, virtual)
        satellites: list[tuple[str, PlanResult]] = [
            (x.bucket_id, plan_bucket(own(x.bucket_id), x, self._plan_scope))
            for x in planning if x.bucket_id != CORE]
        return result, satellites, warnings + tuple(notes)

    def _plan_scope(self, inp: PlanInput) -> PlanResult:
        if not inp.securities:
            return PlanResult("nothing_to_do", "empty universe: no active security with "
                              "a usable FX rate to plan for")
        return (self._plan_fn or plan)(inp)  # looked up per call (tests replace it)

    # -------------------------------------------------------------- execution
    def _execute_first_step(self) -> JobOutcome:
        """Step 1 of the stored plan → executor; re-plan first if the portfolio moved."""
        try:
            return self._execute_unsafe()
        except (*BROKER_CALL_FAILURES, *ASK_FAILURES) as exc:
            self.log.error("autonomous_execution_failed", error=repr(exc))
            return JobOutcome(False, f"autonomous execution failed: {type(exc).__name__}: "
                              f"{exc}")

    def _current_hash(self) -> str:
        mode = self._mode()
        gatherer = InputGatherer(self.ctx.io, self._store(), None)
        return gatherer.portfolio_hash(self._account(mode), mode)

    def _execute_unsafe(self) -> JobOutcome:
        pending = plan_repo.pending_recommendations(self._store(), 1)
        replanned = False
        if pending and pending[0]["portfolio_hash"] != self._current_hash():
            summary = self._plan_once("autonomous_execution")
            replanned = True
            pending = plan_repo.pending_recommendations(self._store(),
                                                        1) if summary.ok and summary.plan_id else []
        if not pending:
            return JobOutcome(True, "nothing to execute: no pending recommendation",
                              {"replanned": replanned})
        return submit_step(self.ctx, pending[0], replanned, self.log)


__all__ = ["JOBS", "PlannerActor"]
