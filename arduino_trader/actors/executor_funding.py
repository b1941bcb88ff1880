"""The funding exchange before a buy short of its own currency.

A buy that only its own currency's cash blocks, while another currency could pay, is
funded first: one exchange of exactly the shortfall (costs included, buffered; see
domain/fx_funding.py) under a key derived from the buy's. Nothing waits for a fill: an
exchange the one check after its placement does not find filled answers
``funding_pending`` (deferred), and the buy, recorded as deferred before the exchange is
journaled (adapters/store/deferred_buys.py), is resubmitted by the order follow-up once
the exchange is final (actors/executor_deferred.py); a retry of the same intent resumes
it too. Without a direct pair that can pay, a first exchange into EUR comes before it
(two legs, each journaled, each deferring the buy until it filled).
"""

from __future__ import annotations

from collections.abc import Callable
from decimal import ROUND_CEILING, Decimal
from typing import Any

from arduino_trader.adapters.store import deferred_buys
from arduino_trader.domain.emergency import MIN_CURRENCY_RESERVE
from arduino_trader.domain.execution.facts import LedgerMode, SafetyLimits
from arduino_trader.domain.execution.journal import FINAL_STATES
from arduino_trader.domain.execution.safety import evaluate
from arduino_trader.domain.execution.safety_cash import cash_shortfall, reserved_by_open_buys
from arduino_trader.domain.execution.safety_types import Verdict
from arduino_trader.domain.fx_exchange import ROUTE_CURRENCY, FxOrder, FxPair, direct_pair
from arduino_trader.domain.fx_funding import (
    MAX_FUNDING_ATTEMPTS,
    Funding,
    funding_amount,
    funding_key,
    plan_funding,
    surplus,
)
from arduino_trader.protocols.broker import Broker
from arduino_trader.protocols.execution import (
    OrderIntent,
    OrderResult,
    SubmitExchange,
    SubmitOrder,
)
from arduino_trader.protocols.money import ZERO
from arduino_trader.protocols.store import Database

from .base import ActorContext
from .executor_facts import Gathered, facts_gatherer, limits_in_force
from .executor_follow_up import JournalFollowUp
from .executor_orders import OrderSender

Short = Callable[[str, dict[str, Any] | None], OrderResult]
"""The buy's answer when its funding falls short: the cash refusal with a note."""


class BuyFunding:
    """Plans, sends and follows the exchanges that fund a buy."""

    def __init__(self, ctx: ActorContext, log: Any, orders: OrderSender,
                 follow: JournalFollowUp) -> None:
        self._ctx = ctx
        self._log = log
        self._orders = orders
        self._follow = follow

    def _store(self) -> Database:
        return self._ctx.deps.store

    def wanted(self, intent: OrderIntent, verdict: Verdict) -> bool:
        """A buy the cash layer refused for want of its own currency, auto-funding on."""
        r = verdict.rejection
        return (intent.side == "BUY" and r is not None and r.code == "insufficient_cash"
                and self._ctx.settings().typed.fx_auto_fund_buys)

    def fund(self, msg: SubmitOrder, mode: LedgerMode, broker: Broker, gathered: Gathered,
             verdict: Verdict) -> OrderResult | dict[str, Any]:
        """Fund a buy short of its currency with one exchange (domain/fx_funding.py).

        Every other layer must pass first. The exchange's key derives from the buy's, so
        a retry (or the order follow-up) finds it: still open → deferred, filled → the
        buy goes on, final and unfilled → the next attempt's key. Returns the exchange's
        details once it filled, otherwise the buy's answer."""
        intent, r = msg.intent, verdict.rejection
        assert r is not None
        simulate = mode == "research"
        limits = limits_in_force(self._store(), self._ctx.settings(), simulate)

        def short(note: str, details: dict[str, Any] | None = None) -> OrderResult:
            return self._orders.blocked(intent, mode, r.layer, r.code, f"{r.message}; {note}",
                                        r.kind, verdict.warnings, details)

        others = evaluate(intent, gathered.facts, limits, simulate=simulate,
                          skip=frozenset({"cash"}))
        if others.rejection is not None:  # funding would not make it pass: as before
            return self._orders.blocked(intent, mode, r.layer, r.code, r.message, r.kind,
                                        verdict.warnings)
        for attempt in range(1, MAX_FUNDING_ATTEMPTS + 1):
            key = funding_key(msg.intent_key, attempt)
            record = self._ctx.deps.order_journal.find_by_intent(key)
            if record is None:
                return self._new_funding(msg, key, mode, broker, gathered, limits, short)
            cid = record.client_order_id
            state = self._state_now(broker, mode, cid)
            details = self._funding_details(key, cid)
            if state not in FINAL_STATES:
                return self._deferred(intent, details)
            if Decimal(details["filled_quantity"]) > 0:
                self._log.info("buy_funded_earlier", buy_intent_key=msg.intent_key, **details)
                return details
        return short(f"{MAX_FUNDING_ATTEMPTS} funding exchanges ended unfilled")

    def plan(self, intent: OrderIntent, mode: LedgerMode, broker: Broker,
             gathered: Gathered, limits: SafetyLimits, target: str | None = None,
             shortfall: Decimal | None = None) -> tuple[Funding, FxPair, FxOrder] | str:
        """The exchange that would fund this buy (or deliver ``shortfall`` of ``target``),
        sized on fresh quotes (nothing sent), or why none can."""
        facts = gathered.facts
        assert facts.cash is not None and facts.open_orders is not None
        assert facts.security is not None
        gatherer = facts_gatherer(self._ctx, mode, broker)
        eur_per: dict[str, Decimal] = {}
        for currency in facts.cash:
            rate = gatherer.eur_rate(currency)
            if rate is not None and rate > 0:
                eur_per[currency] = Decimal(1) / rate
        sized: dict[str, tuple[FxPair, FxOrder]] = {}
        notes: list[str] = []

        def spend_of(source: str, to: str, amount: Decimal) -> Decimal | None:
            pair = direct_pair(source, to)
            assert pair is not None  # source_order keeps direct pairs only
            checked, order = self._orders.size_exchange(pair, source, to, amount, None, mode,
                                                        broker)
            if checked.rejection is not None or order is None:
                notes.append(f"{source}: {checked.rejection.code if checked.rejection else ''}")
                return None
            sized[source] = (pair, order)
            return order.max_spend

        plan = plan_funding(target or facts.security.currency,
                            cash_shortfall(intent, facts, limits) if shortfall is None
                            else shortfall, facts.cash,
                            reserved_by_open_buys(facts.open_orders), eur_per, spend_of,
                            buffer=self._ctx.settings().typed.fx_fund_buffer,
                            batch_eur=self._ctx.settings().typed.fx_funding_batch_eur)
        if plan is None:
            return "no other currency can fund it" + (f" ({', '.join(notes)})" if notes
                                                      else "")
        return (plan, *sized[plan.source])

    def _new_funding(self, msg: SubmitOrder, key: str, mode: LedgerMode, broker: Broker,
                     gathered: Gathered, limits: SafetyLimits, short: Short
                     ) -> OrderResult | dict[str, Any]:
        """Plan and send the exchange that funds this buy (the buy deferred first)."""
        intent = msg.intent
        planned = self.plan(intent, mode, broker, gathered, limits)
        first_leg: dict[str, Any] = {}
        if isinstance(planned, str):  # no direct pair can pay: through EUR, two legs
            first = self._first_leg(msg, key, mode, broker, gathered, limits, short)
            if first is None:
                return short(planned, None)
            if isinstance(first, OrderResult):
                return first
            first_leg = {"first_leg": first}
            gathered = facts_gatherer(self._ctx, mode, broker).gather(
                intent, self._ctx.clock.now(), self._ctx.settings(), msg.bucket_id)
            planned = self.plan(intent, mode, broker, gathered, limits)
            if isinstance(planned, str):
                return short(f"after the exchange into {ROUTE_CURRENCY}: {planned}",
                             first_leg)
        plan, pair, order = planned
        target = plan.target
        shortfall = str(plan.shortfall.quantize(Decimal("1e-8"), rounding=ROUND_CEILING))
        self._log.info("buy_funding", buy_intent_key=msg.intent_key, source=plan.source,
                       target=target, shortfall=shortfall, receive=str(plan.receive),
                       max_spend=str(plan.max_spend), mode=mode)
        deferred_buys.defer(self._store(), msg, mode, self._ctx.clock.now())
        result = self._orders.send_exchange(SubmitExchange(
            plan.source, target, plan.receive, key, intent.source, spend_cap=plan.surplus,
            reason=f"funds {intent.side} {intent.quantity} {intent.symbol} "
                   f"({msg.intent_key})", bucket_id=msg.bucket_id), mode, broker, pair, order)
        if result.client_order_id is None:
            return short(f"funding exchange {result.status}: {result.message}", None)
        state = str(result.state)  # after the one check that followed the placement
        details = self._funding_details(key, result.client_order_id) | {
            "source_currency": plan.source, "target_currency": target,
            "shortfall": shortfall, "receive": str(plan.receive),
            "max_spend": str(plan.max_spend)} | first_leg
        if state not in FINAL_STATES:
            return self._deferred(intent, details)
        if Decimal(details["filled_quantity"]) <= 0:
            return short(f"the funding exchange ended {state}", details)
        return details

    def _first_leg(self, msg: SubmitOrder, key: str, mode: LedgerMode, broker: Broker,
                   gathered: Gathered, limits: SafetyLimits, short: Short
                   ) -> dict[str, Any] | OrderResult | None:
        """The first leg of a funding through EUR (key ``<funding key>|leg:1``): another
        currency → EUR, exactly what the second leg (EUR → the buy's currency, sized on
        fresh quotes with its fees) needs beyond EUR's own surplus, buffered. Sent once
        (the buy deferred first): its details once it filled, the buy's answer while it
        is open or ended unfilled, or None when no route exists."""
        intent, facts, leg_key = msg.intent, gathered.facts, f"{key}|leg:1"
        record = self._ctx.deps.order_journal.find_by_intent(leg_key)
        if record is not None:
            cid = record.client_order_id
            state = self._state_now(broker, mode, cid)
        else:
            assert facts.security is not None and facts.cash is not None
            assert facts.open_orders is not None
            target = facts.security.currency
            second = direct_pair(ROUTE_CURRENCY, target)
            if second is None:
                return None
            buffer = self._ctx.settings().typed.fx_fund_buffer
            receive = funding_amount(cash_shortfall(intent, facts, limits), buffer)
            checked, order = self._orders.size_exchange(second, ROUTE_CURRENCY, target,
                                                        receive, None, mode, broker,
                                                        frozenset({"cash"}))
            if checked.rejection is not None or order is None:
                return None
            own = surplus(facts.cash.get(ROUTE_CURRENCY, ZERO), reserved_by_open_buys(
                facts.open_orders).get(ROUTE_CURRENCY, ZERO), MIN_CURRENCY_RESERVE)
            if order.max_spend <= own:
                return None  # EUR could pay directly: not a routing problem
            planned = self.plan(intent, mode, broker, gathered, limits,
                                ROUTE_CURRENCY, order.max_spend - own)
            if isinstance(planned, str):
                return None
            plan, pair, leg = planned
            self._log.info("buy_funding_first_leg", buy_intent_key=msg.intent_key,
                           source=plan.source, receive=str(plan.receive),
                           max_spend=str(plan.max_spend), target=target, mode=mode)
            deferred_buys.defer(self._store(), msg, mode, self._ctx.clock.now())
            result = self._orders.send_exchange(SubmitExchange(
                plan.source, ROUTE_CURRENCY, plan.receive, leg_key, intent.source,
                spend_cap=plan.surplus, reason=f"first leg (via {ROUTE_CURRENCY}) funding "
                f"{intent.side} {intent.quantity} {intent.symbol} ({msg.intent_key})",
                bucket_id=msg.bucket_id), mode, broker, pair, leg)
            if result.client_order_id is None:
                return short(f"first funding exchange {result.status}: {result.message}",
                             None)
            cid, state = result.client_order_id, str(result.state)
        details = self._funding_details(leg_key, cid)
        if state not in FINAL_STATES:
            return self._deferred(intent, details)
        if Decimal(details["filled_quantity"]) <= 0:
            return short(f"the first funding exchange (via {ROUTE_CURRENCY}) ended {state}",
                         {"first_leg": details})
        return details

    def _state_now(self, broker: Broker, mode: LedgerMode, cid: int) -> str:
        """The journal state of a funding exchange; one look at the broker when it is
        still open (never a wait: the order follow-up looks again)."""
        state = str(self._ctx.deps.order_journal.state_of(cid))
        if state not in FINAL_STATES:
            state = self._follow.check(broker, mode, cid) or state
        return state

    def _funding_details(self, key: str, cid: int) -> dict[str, Any]:
        record = self._ctx.deps.order_journal.find_by_intent(key)
        assert record is not None
        return {"intent_key": key, "client_order_id": cid, "symbol": record.symbol,
                "side": record.side, "quantity": record.quantity, "state": record.state,
                "filled_quantity": str(record.filled_quantity)}

    def _deferred(self, intent: OrderIntent, details: dict[str, Any]) -> OrderResult:
        self._log.info("buy_deferred", isin=intent.isin, source=intent.source, **details)
        return OrderResult("blocked", "deferred: funding exchange pending; the order "
                           "follow-up places the buy once it filled ("
                           f"{details['symbol']} {details['state']})", layer="cash",
                           code="funding_pending",
                           kind="conflict", details={"funding": details})
