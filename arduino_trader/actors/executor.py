"""The executor: the only way an order reaches a broker.

Per order: safety pipeline → journal entry with a deterministic client id, committed →
marketable limit order → follow-up until the broker reports a final status → each fill
recorded once, whichever of the follow-up and the broker sync sees it first → one
``TradeExecuted``. Research mode runs the same path against the paper broker (records
``research``); live mode needs the explicit mode switch and a real broker. On start-up the
journal is reconciled with the broker before any new order.

A currency exchange (:class:`SubmitExchange`) is one order on an FX pair through the same
journal, with its own layers (domain/execution/fx_safety.py); its fills go to the FX
ledger and are published as ``CurrencyExchanged``.

A buy that only its own currency's cash blocks, while another currency could pay, is
funded first (actors/executor_funding.py): an exchange filled at once lets the buy's
layers run again and the buy be placed; otherwise the buy answers ``funding_pending``
(deferred) and the order follow-up resubmits it once the exchange is final
(actors/executor_deferred.py). No handler waits for a fill. This actor keeps the message
handling; the placement path is in actors/executor_orders.py, the journal follow-up and
reconciliation in actors/executor_follow_up.py.
"""

from __future__ import annotations

from typing import Any

from arduino_trader.domain.execution.facts import LedgerMode
from arduino_trader.domain.execution.safety import evaluate
from arduino_trader.domain.fx_exchange import FxError, conversion_path
from arduino_trader.protocols.broker import Broker
from arduino_trader.protocols.broker_errors import BrokerError
from arduino_trader.protocols.execution import (
    CancelOpenOrders,
    FollowUpOrders,
    OrderIntent,
    OrderResult,
    PublishFills,
    SubmitExchange,
    SubmitOrder,
    ValidateOrder,
)
from arduino_trader.protocols.jobs import JobSpec
from arduino_trader.protocols.messages import JobOutcome, RunJob
from arduino_trader.protocols.store import Database

from .base import ActorContext, BaseActor, handles
from .executor_cancel import CancelReport, cancel_open, cancel_targets, verify_closed
from .executor_deferred import DeferredBuys
from .executor_facts import facts_gatherer, limits_in_force
from .executor_fills import publish_pending
from .executor_follow_up import JournalFollowUp
from .executor_funding import BuyFunding
from .executor_orders import OrderSender

JOBS: tuple[JobSpec, ...] = (
    JobSpec("order_follow_up", "executor", "Check open orders with the broker; record fills",
            every_minutes=1, timeout_s=300, run_at_startup=True),
)


class ExecutorActor(BaseActor):
    """Owns the order journal; one order at a time (its mailbox serializes them)."""

    name = "executor"
    needs = ("store", "broker", "paper_broker", "order_journal")
    ctx: ActorContext

    def __init__(self, ctx: ActorContext) -> None:
        super().__init__(ctx)
        self._started = False  # fills are published once on_start has finished
        self._follow = JournalFollowUp(ctx, self.log, self._publish, self._publish_fills)
        self._orders = OrderSender(ctx, self.log, self._publish, self._follow)
        self._funding = BuyFunding(ctx, self.log, self._orders, self._follow)
        self._deferred = DeferredBuys(ctx, self.log, self._orders, self._submit)
    # ----------------------------------------------------------------- wiring
    def _store(self) -> Database:
        return self.ctx.deps.store

    def _mode(self) -> LedgerMode:
        return "live" if self.ctx.settings().typed.trading_mode == "live" else "research"

    def _broker(self, mode: LedgerMode) -> Broker:
        """Research always goes to the paper broker; live needs a real broker."""
        if mode == "research":
            return self.ctx.deps.paper_broker
        broker = self.ctx.deps.broker
        if broker.simulated:
            raise BrokerError("live mode needs broker.kind = \"tradernet\"; the configured "
                              "broker is the paper broker")
        return broker

    def on_start(self) -> None:
        """Reconcile the journal before any new order; its fills are published from the
        first follow-up job on (the subscribers start after this actor)."""
        self._follow.reconcile(self._mode())
        self._started = True

    @handles(PublishFills)
    def _publish_fills(self, msg: PublishFills | LedgerMode) -> None:
        """Publish each stored, unpublished fill of our orders once, whichever path stored
        it (the ledger's outbox); an error leaves the rest for the next round."""
        mode = self._mode() if isinstance(msg, PublishFills) else msg
        try:
            if self._started:
                publish_pending(self.ctx.deps.order_journal, mode, self._publish,
                                self.ctx.clock.now())
        except Exception as exc:
            self.log.error("fills_not_published", mode=mode, error=repr(exc))

    # --------------------------------------------------------------- handlers
    @handles(ValidateOrder)
    def _on_validate(self, msg: ValidateOrder) -> OrderResult:
        mode = self._mode()
        try:
            broker = self._broker(mode)
        except BrokerError as exc:
            return OrderResult("blocked", str(exc), layer="mode", code="broker_not_live",
                               kind="forbidden")
        gathered = facts_gatherer(self.ctx, mode, broker).gather(
            msg.intent, self.ctx.clock.now(), self.ctx.settings())
        simulate = mode == "research"
        limits = limits_in_force(self._store(), self.ctx.settings(), simulate)
        verdict = evaluate(msg.intent, gathered.facts, limits, simulate=simulate)
        if self._funding.wanted(msg.intent, verdict) and evaluate(
                msg.intent, gathered.facts, limits, simulate=simulate,
                skip=frozenset({"cash"})).allowed:
            planned = self._funding.plan(msg.intent, mode, broker, gathered, limits)
            if not isinstance(planned, str):
                plan = planned[0]
                note = (f"needs a funding exchange first: {plan.receive} {plan.target} for "
                        f"at most {plan.max_spend} {plan.source}")
                return OrderResult("valid", f"every layer passed ({mode} mode); {note}",
                                   warnings=(*verdict.warnings, note),
                                   details={"mode": mode, "funding": {
                                       "source_currency": plan.source,
                                       "target_currency": plan.target,
                                       "receive": str(plan.receive),
                                       "max_spend": str(plan.max_spend)}})
        if verdict.rejection is not None:
            r = verdict.rejection
            return OrderResult("blocked", r.message, layer=r.layer, code=r.code, kind=r.kind,
                               warnings=verdict.warnings)
        return OrderResult("valid", f"every layer passed ({mode} mode)",
                           warnings=verdict.warnings, details={"mode": mode})

    def _preflight(self, mode: LedgerMode, intent_key: str) -> OrderResult | None:
        """What every new order checks first: the journal of ``mode`` is reconciled with
        the broker, and ``intent_key`` was never journaled (else its entry is the answer)."""
        if mode not in self._follow.reconciled:
            self._follow.reconcile(mode)
            if mode not in self._follow.reconciled:
                return OrderResult("failed", "the journal is not yet reconciled with the "
                                   "broker; retry later", code="not_reconciled")
        existing = self.ctx.deps.order_journal.find_by_intent(intent_key)
        if existing is not None:
            return OrderResult("duplicate", "this intent was already journaled",
                               client_order_id=existing.client_order_id,
                               state=existing.state)
        return None

    @handles(SubmitOrder)
    def _on_submit(self, msg: SubmitOrder) -> OrderResult:
        mode = self._mode()
        result = self._submit(msg, mode)
        self._deferred.settle(msg, mode, result)
        return result

    def _submit(self, msg: SubmitOrder, mode: LedgerMode) -> OrderResult:
        """Preflight, layers, funding and placement of one order; its answer."""
        refused = self._preflight(mode, msg.intent_key)
        if refused is not None:
            return refused
        now = self.ctx.clock.now()
        settings = self.ctx.settings()
        try:
            broker = self._broker(mode)
        except BrokerError as exc:
            return self._orders.blocked(msg.intent, mode, "mode", "broker_not_live", str(exc),
                                        "forbidden")
        gathered = facts_gatherer(self.ctx, mode, broker).gather(msg.intent, now, settings,
                                                                 msg.bucket_id)
        simulate = mode == "research"
        limits = limits_in_force(self._store(), settings, simulate)
        verdict = evaluate(msg.intent, gathered.facts, limits, simulate=simulate)
        funding: dict[str, Any] = {}
        if self._funding.wanted(msg.intent, verdict):
            funded = self._funding.fund(msg, mode, broker, gathered, verdict)
            if isinstance(funded, OrderResult):
                return funded
            funding = funded
            now = self.ctx.clock.now()
            gathered = facts_gatherer(self.ctx, mode, broker).gather(msg.intent, now, settings,
                                                                     msg.bucket_id)
            verdict = evaluate(msg.intent, gathered.facts, limits, simulate=simulate)
        if verdict.rejection is not None:
            r = verdict.rejection
            message = f"after the funding exchange: {r.message}" if funding else r.message
            return self._orders.blocked(msg.intent, mode, r.layer, r.code, message, r.kind,
                                        verdict.warnings, funding)
        return self._orders.place(msg, mode, broker, gathered, limits, verdict, funding, now)

    @handles(SubmitExchange)
    def _on_exchange(self, msg: SubmitExchange) -> OrderResult:
        mode = self._mode()
        refused = self._preflight(mode, msg.intent_key)
        if refused is not None:
            return refused
        source, target = msg.source_currency.upper(), msg.target_currency.upper()
        try:
            path = conversion_path(source, target)
        except FxError as exc:
            path, error = (), str(exc)
        else:
            error = "" if len(path) == 1 else (
                f"{source} -> {target} needs {len(path)} legs: submit each leg on its own")
        if error:
            return OrderResult("blocked", error, layer="pair", code="fx_pair_unsupported",
                               kind="invalid")
        pair = path[0].pair
        draft = OrderIntent(pair.journal_isin, pair.symbol, path[0].side, msg.amount,
                            msg.source)
        try:
            broker = self._broker(mode)
        except BrokerError as exc:
            return self._orders.blocked(draft, mode, "mode", "broker_not_live", str(exc),
                                        "forbidden")
        verdict, order = self._orders.size_exchange(pair, source, target, msg.amount,
                                                    msg.spend_cap, mode, broker)
        if verdict.rejection is not None or order is None:
            r = verdict.rejection
            assert r is not None
            return self._orders.blocked(draft, mode, r.layer, r.code, r.message, r.kind)
        return self._orders.send_exchange(msg, mode, broker, pair, order)

    @handles(FollowUpOrders)
    def _on_follow_up(self, msg: FollowUpOrders) -> dict[str, int]:
        mode = self._mode()
        counts = self._follow.follow_up_all(mode)
        return counts | self._deferred.resume(mode)

    @handles(CancelOpenOrders)
    def _on_cancel_all(self, msg: CancelOpenOrders) -> dict[str, Any]:
        """Cancel at every broker orders were sent to, whatever the mode is now."""
        report = CancelReport()
        targets = cancel_targets(self.ctx)
        for mode, broker in targets:
            cancel_open(self.ctx, mode, broker, report)
        for journal in ("live", "research"):
            self._follow.follow_up_all(journal)
        for mode, broker in targets:
            verify_closed(self.ctx, mode, broker, report)
        self.log.warning("open_orders_cancelled", who=msg.who,
                         cancelled=[c["order_id"] for c in report.cancelled],
                         failed=[f["order_id"] for f in report.failed],
                         still_open=[o["order_id"] for o in report.still_open],
                         errors=report.errors)
        return report.as_dict()

    @handles(RunJob)
    def _on_job(self, msg: RunJob) -> JobOutcome:
        if msg.job != "order_follow_up":
            return JobOutcome(False, f"executor does not run job {msg.job!r}")
        mode = self._mode()
        if mode not in self._follow.reconciled:
            self._follow.reconcile(mode)
        counts = self._follow.follow_up_all(mode) | self._deferred.resume(mode)
        ok = counts["errors"] == 0
        return JobOutcome(ok, f"{counts['checked']} open orders checked, {counts['final']} "
                              f"final, {counts['fills']} fills, {counts['errors']} errors; "
                              f"deferred buys: {counts['resumed']} resumed, "
                              f"{counts['ended']} ended, {counts['waiting']} waiting",
                          dict(counts))

    def _publish(self, event: object) -> None:
        try:
            self.ctx.bus.publish(event)
        except Exception as exc:
            self.log.warning("publish_failed", event=type(event).__name__, error=str(exc))


def intent_key(*parts: object) -> str:
    """A stable key for an order intent from its identifying parts."""
    return "|".join(str(p) for p in parts)
