"""The executor's placement path: an order or exchange that passed its layers is
journaled with its deterministic client id (committed), sent as a marketable limit order
and followed up once; a refused one is recorded and published as ``OrderRejected``.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from decimal import Decimal
from typing import Any

from arduino_trader.domain.execution.facts import LedgerMode, SafetyLimits
from arduino_trader.domain.execution.fx_safety import evaluate_exchange
from arduino_trader.domain.execution.orders import (
    OrderConstructionError,
    client_order_id,
    limit_price,
)
from arduino_trader.domain.execution.placement import OUTCOME_UNKNOWN, after_failure
from arduino_trader.domain.execution.safety_types import Verdict
from arduino_trader.domain.fx_exchange import FxError, FxOrder, FxPair, capped_order
from arduino_trader.protocols.broker import Broker, OrderRequest
from arduino_trader.protocols.broker_errors import BrokerError
from arduino_trader.protocols.execution import (
    OrderIntent,
    OrderRejected,
    OrderResult,
    SubmitExchange,
    SubmitOrder,
)
from arduino_trader.protocols.order_journal import NewOrder, OrderJournal

from .base import ActorContext
from .executor_facts import BROKER_TIMEOUT_S, Gathered, facts_gatherer, fx_fee, fx_limits
from .executor_follow_up import JournalFollowUp
from .executor_placement import placed_event, refused_event, report_in_doubt


class OrderSender:
    """Journals, sends and follows up orders and exchanges; records refusals."""

    def __init__(self, ctx: ActorContext, log: Any, publish: Callable[[object], None],
                 follow: JournalFollowUp) -> None:
        self._ctx = ctx
        self._log = log
        self._publish = publish
        self._follow = follow

    def _journal(self) -> OrderJournal:
        return self._ctx.deps.order_journal

    def blocked(self, intent: OrderIntent, mode: LedgerMode, layer: str, code: str,
                message: str, kind: str = "blocked", warnings: tuple[str, ...] = (),
                funding: dict[str, Any] | None = None) -> OrderResult:
        """Record and publish a refused order; its answer."""
        now = self._ctx.clock.now()
        try:
            self._journal().record_rejection(intent, mode, layer, code, message, now)
        except Exception as exc:
            self._log.error("rejection_not_recorded", error=str(exc))
        self._log.info("order_blocked", isin=intent.isin, side=intent.side, layer=layer,
                       code=code, reason=message, source=intent.source, mode=mode)
        self._publish(OrderRejected(intent.isin, intent.side, intent.quantity, intent.source,
                                    layer, code, message))
        return OrderResult("blocked", message, layer=layer, code=code, kind=kind,
                           warnings=warnings, details={"funding": funding} if funding else {})

    def place(self, msg: SubmitOrder, mode: LedgerMode, broker: Broker, gathered: Gathered,
              limits: SafetyLimits, verdict: Verdict, funding: dict[str, Any],
              now: datetime) -> OrderResult:
        """Journal and send a security order every layer passed; its answer."""
        quote, security = gathered.quote, gathered.security
        assert quote is not None and security is not None  # the pipeline checked both
        try:
            price = limit_price(msg.intent.side, quote.bid, quote.ask, limits.limit_buffer,
                                quote.min_step)
        except OrderConstructionError as exc:
            return self.blocked(msg.intent, mode, "order", "order_construction", str(exc))
        new = NewOrder(msg.intent, msg.intent_key, int(msg.intent.quantity), price,
                       str(security["currency"]), mode, msg.bucket_id, msg.reason)
        journaled = self._journal().journal_order(new, now, client_order_id)
        cid = journaled.record.client_order_id
        if not journaled.created:
            return OrderResult("duplicate", "this intent was already journaled",
                               client_order_id=cid, state=journaled.record.state)
        self._log.info("order_journaled", client_order_id=cid, isin=msg.intent.isin,
                       side=msg.intent.side, quantity=int(msg.intent.quantity),
                       limit=str(price), mode=mode, source=msg.intent.source)
        state = self._send(broker, new, cid)
        if state in ("sent", "unresolved"):
            state = self._follow.check(broker, mode, cid) or state
        return OrderResult("placed" if state not in ("not_placed", "rejected") else "failed",
                           OUTCOME_UNKNOWN if state == "unresolved" else f"order {state}",
                           client_order_id=cid, state=state,
                           warnings=verdict.warnings,
                           details={"limit_price": str(price), "mode": mode,
                                    **({"funding": funding} if funding else {})})

    def size_exchange(self, pair: FxPair, source: str, target: str, amount: Decimal,
                      spend_cap: Decimal | None, mode: LedgerMode, broker: Broker,
                      skip: frozenset[str] = frozenset()) -> tuple[Verdict, FxOrder | None]:
        """The exchange layers on fresh facts, and the order they size (nothing sent)."""
        now, settings = self._ctx.clock.now(), self._ctx.settings()
        facts = facts_gatherer(self._ctx, mode, broker).gather_fx(pair, now, settings)
        quote_rate = facts.eur_per_unit.get(pair.quote)
        buffer = settings.typed.fx_limit_buffer

        def build(bid: Decimal | None, ask: Decimal | None) -> FxOrder:
            if quote_rate is None:
                raise FxError(f"no EUR rate for {pair.quote}: the fee cannot be converted")
            step = facts.min_step if facts.min_step and facts.min_step > 0 else None
            return capped_order(source, target, amount, spend_cap, bid, ask,
                                buffer=buffer, fee=fx_fee(settings, Decimal(1) / quote_rate),
                                min_step=step)

        return evaluate_exchange(facts, fx_limits(settings), build,
                                 simulate=mode == "research", skip=skip)

    def send_exchange(self, msg: SubmitExchange, mode: LedgerMode, broker: Broker,
                      pair: FxPair, order: FxOrder) -> OrderResult:
        """Journal and send a sized exchange; its answer."""
        intent = OrderIntent(pair.journal_isin, pair.symbol, order.side,
                             Decimal(order.quantity), msg.source)
        new = NewOrder(intent, msg.intent_key, order.quantity, order.limit_price, pair.quote,
                       mode, msg.bucket_id, msg.reason)
        journaled = self._journal().journal_order(new, self._ctx.clock.now(), client_order_id)
        cid = journaled.record.client_order_id
        if not journaled.created:
            return OrderResult("duplicate", "this intent was already journaled",
                               client_order_id=cid, state=journaled.record.state)
        self._log.info("exchange_journaled", client_order_id=cid, symbol=pair.symbol,
                       side=order.side, quantity=order.quantity, limit=str(order.limit_price),
                       source_currency=order.source, target_currency=order.target,
                       max_spend=str(order.max_spend), min_receive=str(order.min_receive),
                       mode=mode, source=msg.source)
        state = self._send(broker, new, cid)
        if state in ("sent", "unresolved"):
            state = self._follow.check(broker, mode, cid) or state
        return OrderResult(
            "placed" if state not in ("not_placed", "rejected") else "failed",
            OUTCOME_UNKNOWN if state == "unresolved" else f"exchange order {state}",
            client_order_id=cid, state=state,
            details={"mode": mode, "symbol": pair.symbol, "side": order.side,
                     "quantity": order.quantity, "limit_price": str(order.limit_price),
                     "source_currency": order.source, "target_currency": order.target,
                     "max_spend": str(order.max_spend),
                     "min_receive": str(order.min_receive)})

    def _send(self, broker: Broker, new: NewOrder, cid: int) -> str:
        """Place the journaled order; the journal says what is known afterwards."""
        journal, now = self._journal(), self._ctx.clock.now
        request = OrderRequest(symbol=new.intent.symbol.upper(), side=new.intent.side,
                               quantity=new.quantity, user_order_id=cid,
                               limit_price=new.limit_price)
        try:
            ack = self._ctx.io.run(broker.place_order(request), BROKER_TIMEOUT_S * 2)
        except (BrokerError, TimeoutError) as exc:
            failure = after_failure(exc)
            journal.mark_state(cid, failure.state, failure.note, now())
            emit = self._log.error if failure.state == "unresolved" else self._log.warning
            emit(failure.event, client_order_id=cid, error=str(exc))
            report_in_doubt(self._ctx, journal, self._log)
            if (refused := refused_event(new, failure.state, failure.note)) is not None:
                self._publish(refused)
            return failure.state
        journal.mark_sent(cid, ack.order_id, now())
        self._log.info("order_sent", client_order_id=cid, broker_order_id=ack.order_id,
                       recovered=ack.recovered)
        self._publish(placed_event(new, cid, ack.order_id))
        return "sent"
