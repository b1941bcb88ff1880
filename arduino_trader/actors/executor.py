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
funded first: one exchange of exactly the shortfall (costs included, buffered; see
domain/fx_funding.py) under a key derived from the buy's, followed to its fill within
``fx_fund_wait_s``; then the buy's layers run again and it is placed. Without a direct
pair that can pay, a first exchange into EUR comes before it (two legs, each journaled).
An exchange still open answers ``funding_pending`` (deferred) and a retry of the same
intent resumes it.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from datetime import datetime
from decimal import ROUND_CEILING, Decimal
from typing import Any

from arduino_trader.adapters.store import (
    fill_attribution,
    fx_journal,
    order_journal,
    securities_repo,
)
from arduino_trader.adapters.store.order_journal import NewOrder, RecordedFill
from arduino_trader.config.settings import Settings
from arduino_trader.domain.emergency import MIN_CURRENCY_RESERVE
from arduino_trader.domain.execution.facts import LedgerMode, SafetyLimits
from arduino_trader.domain.execution.fx_safety import evaluate_exchange
from arduino_trader.domain.execution.journal import (
    FINAL_STATES,
    FollowUp,
    JournalEntry,
    follow_up,
)
from arduino_trader.domain.execution.orders import (
    OrderConstructionError,
    client_order_id,
    limit_price,
)
from arduino_trader.domain.execution.placement import OUTCOME_UNKNOWN, after_failure
from arduino_trader.domain.execution.safety import (
    Verdict,
    cash_shortfall,
    evaluate,
    reserved_by_open_buys,
)
from arduino_trader.domain.fx_exchange import (
    ROUTE_CURRENCY,
    FxError,
    FxOrder,
    FxPair,
    capped_order,
    conversion_path,
    direct_pair,
    pair_from_journal_isin,
)
from arduino_trader.domain.fx_funding import (
    MAX_FUNDING_ATTEMPTS,
    Funding,
    funding_amount,
    funding_key,
    plan_funding,
    surplus,
)
from arduino_trader.protocols.broker import Broker, BrokerError, Order, OrderRequest
from arduino_trader.protocols.execution import (
    CancelOpenOrders,
    CurrencyExchanged,
    FollowUpOrders,
    OrderIntent,
    OrderRejected,
    OrderResult,
    PublishFills,
    SubmitExchange,
    SubmitOrder,
    ValidateOrder,
)
from arduino_trader.protocols.jobs import JobSpec
from arduino_trader.protocols.messages import JobOutcome, Ping, RunJob
from arduino_trader.protocols.money import ZERO
from arduino_trader.protocols.store import Database

from .base import ActorContext, BaseActor, handles
from .executor_cancel import CancelReport, cancel_open, cancel_targets, verify_closed
from .executor_facts import (
    BROKER_TIMEOUT_S,
    FactsGatherer,
    Gathered,
    fx_fee,
    fx_limits,
    safety_limits,
)
from .executor_fills import exchange_fills, order_fills
from .executor_placement import (
    placed_event,
    recheck_not_placed,
    refused_event,
    report_in_doubt,
)

JOBS: tuple[JobSpec, ...] = (
    JobSpec("order_follow_up", "executor", "Check open orders with the broker; record fills",
            every_minutes=1, timeout_s=300, run_at_startup=True),
)


class ExecutorActor(BaseActor):
    """Owns the order journal; one order at a time (its mailbox serializes them)."""

    name = "executor"

    def __init__(self, ctx: ActorContext) -> None:
        super().__init__(ctx)
        self._reconciled: set[str] = set()
        self._started = False  # fills are published once on_start has finished
    # ----------------------------------------------------------------- wiring
    def _store(self) -> Database:
        store: Database = self.ctx.resource("store")
        return store

    def _mode(self) -> LedgerMode:
        return "live" if self.ctx.settings().get_str("trading_mode") == "live" else "research"

    def _broker(self, mode: LedgerMode) -> Broker:
        """Research always goes to the paper broker; live needs a real broker."""
        if mode == "research":
            paper: Broker = self.ctx.resource("paper_broker")
            return paper
        broker: Broker = self.ctx.resource("broker")
        if broker.simulated:
            raise BrokerError("live mode needs broker.kind = \"tradernet\"; the configured "
                              "broker is the paper broker")
        return broker

    def _gatherer(self, mode: LedgerMode, broker: Broker) -> FactsGatherer:
        calendars = self.ctx.resources.get("calendars")
        market_open = None if calendars is None else calendars.is_tradable
        return FactsGatherer(self.ctx.io, self._store(), broker, market_open, mode)

    def on_start(self) -> None:
        """Reconcile the journal before any new order; its fills are published from the
        first follow-up job on (the subscribers start after this actor)."""
        self._reconcile(self._mode())
        self._started = True

    @handles(PublishFills)
    def _publish_fills(self, msg: PublishFills | LedgerMode) -> None:
        """Publish each stored, unpublished fill of our orders once, whichever path stored
        it (``fill_attribution``); an error leaves the rest for the next round."""
        mode = self._mode() if isinstance(msg, PublishFills) else msg
        try:
            if self._started:
                fill_attribution.publish_pending(
                    self._store(), mode, self._publish, self.ctx.clock.now())
        except Exception as exc:
            self.log.error("fills_not_published", mode=mode, error=repr(exc))

    # --------------------------------------------------------------- handlers
    def _limits(self, settings: Settings, simulate: bool) -> SafetyLimits:
        """The safety limits in force, the position cap scaled by the active universe."""
        rows = securities_repo.list_securities(self._store(), active_only=True)
        return safety_limits(settings, simulate=simulate, universe_size=len(rows))

    @handles(ValidateOrder)
    def _on_validate(self, msg: ValidateOrder) -> OrderResult:
        mode = self._mode()
        try:
            broker = self._broker(mode)
        except BrokerError as exc:
            return OrderResult("blocked", str(exc), layer="mode", code="broker_not_live",
                               kind="forbidden")
        gathered = self._gatherer(mode, broker).gather(msg.intent, self.ctx.clock.now(),
                                                       self.ctx.settings())
        simulate = mode == "research"
        limits = self._limits(self.ctx.settings(), simulate)
        verdict = evaluate(msg.intent, gathered.facts, limits, simulate=simulate)
        if self._wants_funding(msg.intent, verdict) and evaluate(
                msg.intent, gathered.facts, limits, simulate=simulate,
                skip=frozenset({"cash"})).allowed:
            planned = self._plan_funding(msg.intent, mode, broker, gathered, limits)
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
        if mode not in self._reconciled:
            self._reconcile(mode)
            if mode not in self._reconciled:
                return OrderResult("failed", "the journal is not yet reconciled with the "
                                   "broker; retry later", code="not_reconciled")
        existing = order_journal.find_by_intent(self._store(), intent_key)
        if existing is not None:
            return OrderResult("duplicate", "this intent was already journaled",
                               client_order_id=int(existing["client_order_id"]),
                               state=str(existing["state"]))
        return None

    @handles(SubmitOrder)
    def _on_submit(self, msg: SubmitOrder) -> OrderResult:
        mode = self._mode()
        refused = self._preflight(mode, msg.intent_key)
        if refused is not None:
            return refused
        now = self.ctx.clock.now()
        settings = self.ctx.settings()
        try:
            broker = self._broker(mode)
        except BrokerError as exc:
            return self._blocked(msg.intent, mode, "mode", "broker_not_live", str(exc),
                                 "forbidden")
        gathered = self._gatherer(mode, broker).gather(msg.intent, now, settings,
                                                       msg.bucket_id)
        simulate = mode == "research"
        limits = self._limits(settings, simulate)
        verdict = evaluate(msg.intent, gathered.facts, limits, simulate=simulate)
        funding: dict[str, Any] = {}
        if self._wants_funding(msg.intent, verdict):
            funded = self._fund(msg, mode, broker, gathered, verdict)
            if isinstance(funded, OrderResult):
                return funded
            funding = funded
            now = self.ctx.clock.now()
            gathered = self._gatherer(mode, broker).gather(msg.intent, now, settings,
                                                           msg.bucket_id)
            verdict = evaluate(msg.intent, gathered.facts, limits, simulate=simulate)
        if verdict.rejection is not None:
            r = verdict.rejection
            message = f"after the funding exchange: {r.message}" if funding else r.message
            return self._blocked(msg.intent, mode, r.layer, r.code, message, r.kind,
                                 verdict.warnings, funding)
        quote, security = gathered.quote, gathered.security
        assert quote is not None and security is not None  # the pipeline checked both
        try:
            price = limit_price(msg.intent.side, quote.bid, quote.ask, limits.limit_buffer,
                                quote.min_step)
        except OrderConstructionError as exc:
            return self._blocked(msg.intent, mode, "order", "order_construction", str(exc))
        new = NewOrder(msg.intent, msg.intent_key, int(msg.intent.quantity), price,
                       str(security["currency"]), mode, msg.bucket_id, msg.reason)
        row, created = order_journal.journal_order(
            self._store(), new, now, client_order_id)
        cid = int(row["client_order_id"])
        if not created:
            return OrderResult("duplicate", "this intent was already journaled",
                               client_order_id=cid, state=str(row["state"]))
        self.log.info("order_journaled", client_order_id=cid, isin=msg.intent.isin,
                      side=msg.intent.side, quantity=int(msg.intent.quantity),
                      limit=str(price), mode=mode, source=msg.intent.source)
        state = self._send(broker, new, cid)
        if state in ("sent", "unresolved"):
            state = self._check(broker, mode, cid) or state
        return OrderResult("placed" if state not in ("not_placed", "rejected") else "failed",
                           OUTCOME_UNKNOWN if state == "unresolved" else f"order {state}",
                           client_order_id=cid, state=state,
                           warnings=verdict.warnings,
                           details={"limit_price": str(price), "mode": mode,
                                    **({"funding": funding} if funding else {})})

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
            return self._blocked(draft, mode, "mode", "broker_not_live", str(exc), "forbidden")
        verdict, order = self._size_exchange(pair, source, target, msg.amount, msg.spend_cap,
                                             mode, broker)
        if verdict.rejection is not None or order is None:
            r = verdict.rejection
            assert r is not None
            return self._blocked(draft, mode, r.layer, r.code, r.message, r.kind)
        return self._send_exchange(msg, mode, broker, pair, order)

    def _size_exchange(self, pair: FxPair, source: str, target: str, amount: Decimal,
                       spend_cap: Decimal | None, mode: LedgerMode, broker: Broker,
                       skip: frozenset[str] = frozenset()) -> tuple[Verdict, FxOrder | None]:
        """The exchange layers on fresh facts, and the order they size (nothing sent)."""
        now, settings = self.ctx.clock.now(), self.ctx.settings()
        facts = self._gatherer(mode, broker).gather_fx(pair, now, settings)
        quote_rate = facts.eur_per_unit.get(pair.quote)
        buffer = settings.get_decimal("fx_limit_buffer")

        def build(bid: Decimal | None, ask: Decimal | None) -> FxOrder:
            if quote_rate is None:
                raise FxError(f"no EUR rate for {pair.quote}: the fee cannot be converted")
            step = facts.min_step if facts.min_step and facts.min_step > 0 else None
            return capped_order(source, target, amount, spend_cap, bid, ask,
                                buffer=buffer, fee=fx_fee(settings, Decimal(1) / quote_rate),
                                min_step=step)

        return evaluate_exchange(facts, fx_limits(settings), build,
                                 simulate=mode == "research", skip=skip)

    def _send_exchange(self, msg: SubmitExchange, mode: LedgerMode, broker: Broker,
                       pair: FxPair, order: FxOrder) -> OrderResult:
        intent = OrderIntent(pair.journal_isin, pair.symbol, order.side,
                             Decimal(order.quantity), msg.source)
        new = NewOrder(intent, msg.intent_key, order.quantity, order.limit_price, pair.quote,
                       mode, msg.bucket_id, msg.reason)
        row, created = order_journal.journal_order(
            self._store(), new, self.ctx.clock.now(), client_order_id)
        cid = int(row["client_order_id"])
        if not created:
            return OrderResult("duplicate", "this intent was already journaled",
                               client_order_id=cid, state=str(row["state"]))
        self.log.info("exchange_journaled", client_order_id=cid, symbol=pair.symbol,
                      side=order.side, quantity=order.quantity, limit=str(order.limit_price),
                      source_currency=order.source, target_currency=order.target,
                      max_spend=str(order.max_spend), min_receive=str(order.min_receive),
                      mode=mode, source=msg.source)
        state = self._send(broker, new, cid)
        if state in ("sent", "unresolved"):
            state = self._check(broker, mode, cid) or state
        return OrderResult(
            "placed" if state not in ("not_placed", "rejected") else "failed",
            OUTCOME_UNKNOWN if state == "unresolved" else f"exchange order {state}",
            client_order_id=cid, state=state,
            details={"mode": mode, "symbol": pair.symbol, "side": order.side,
                     "quantity": order.quantity, "limit_price": str(order.limit_price),
                     "source_currency": order.source, "target_currency": order.target,
                     "max_spend": str(order.max_spend),
                     "min_receive": str(order.min_receive)})

    # ---------------------------------------------------------------- funding
    def _wants_funding(self, intent: OrderIntent, verdict: Verdict) -> bool:
        """A buy the cash layer refused for want of its own currency, auto-funding on."""
        r = verdict.rejection
        return (intent.side == "BUY" and r is not None and r.code == "insufficient_cash"
                and self.ctx.settings().get_bool("fx_auto_fund_buys"))

    def _fund(self, msg: SubmitOrder, mode: LedgerMode, broker: Broker, gathered: Gathered,
              verdict: Verdict) -> OrderResult | dict[str, Any]:
        """Fund a buy short of its currency with one exchange (domain/fx_funding.py).

        Every other layer must pass first. The exchange's key derives from the buy's, so
        a retry finds it: still open → wait again (or answer deferred), filled → the buy
        goes on, final and unfilled → the next attempt's key. Returns the exchange's
        details once it filled, otherwise the buy's answer."""
        intent, r = msg.intent, verdict.rejection
        assert r is not None
        simulate = mode == "research"
        limits = self._limits(self.ctx.settings(), simulate)

        def short(note: str, details: dict[str, Any] | None = None) -> OrderResult:
            return self._blocked(intent, mode, r.layer, r.code, f"{r.message}; {note}",
                                 r.kind, verdict.warnings, details)

        others = evaluate(intent, gathered.facts, limits, simulate=simulate,
                          skip=frozenset({"cash"}))
        if others.rejection is not None:  # funding would not make it pass: as before
            return self._blocked(intent, mode, r.layer, r.code, r.message, r.kind,
                                 verdict.warnings)
        for attempt in range(1, MAX_FUNDING_ATTEMPTS + 1):
            key = funding_key(msg.intent_key, attempt)
            row = order_journal.find_by_intent(self._store(), key)
            if row is None:
                return self._new_funding(msg, key, mode, broker, gathered, limits, short)
            cid = int(row["client_order_id"])
            state = self._await_final(broker, mode, cid)
            details = self._funding_details(key, cid)
            if state not in FINAL_STATES:
                return self._deferred(intent, details)
            if Decimal(details["filled_quantity"]) > 0:
                self.log.info("buy_funded_earlier", buy_intent_key=msg.intent_key, **details)
                return details
        return short(f"{MAX_FUNDING_ATTEMPTS} funding exchanges ended unfilled")

    def _plan_funding(self, intent: OrderIntent, mode: LedgerMode, broker: Broker,
                      gathered: Gathered, limits: SafetyLimits, target: str | None = None,
                      shortfall: Decimal | None = None
                      ) -> tuple[Funding, FxPair, FxOrder] | str:
        """The exchange that would fund this buy (or deliver ``shortfall`` of ``target``),
        sized on fresh quotes (nothing sent), or why none can."""
        facts = gathered.facts
        assert facts.cash is not None and facts.open_orders is not None
        assert facts.security is not None
        gatherer = self._gatherer(mode, broker)
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
            checked, order = self._size_exchange(pair, source, to, amount, None, mode, broker)
            if checked.rejection is not None or order is None:
                notes.append(f"{source}: {checked.rejection.code if checked.rejection else ''}")
                return None
            sized[source] = (pair, order)
            return order.max_spend

        plan = plan_funding(target or facts.security.currency,
                            cash_shortfall(intent, facts, limits) if shortfall is None
                            else shortfall, facts.cash,
                            reserved_by_open_buys(facts.open_orders), eur_per, spend_of,
                            buffer=self.ctx.settings().get_decimal("fx_fund_buffer"),
                            batch_eur=self.ctx.settings().get_decimal("fx_funding_batch_eur"))
        if plan is None:
            return "no other currency can fund it" + (f" ({', '.join(notes)})" if notes
                                                      else "")
        return (plan, *sized[plan.source])

    def _new_funding(self, msg: SubmitOrder, key: str, mode: LedgerMode, broker: Broker,
                     gathered: Gathered, limits: SafetyLimits,
                     short: Callable[[str, dict[str, Any] | None], OrderResult]
                     ) -> OrderResult | dict[str, Any]:
        """Plan, send and follow the exchange that funds this buy."""
        intent = msg.intent
        planned = self._plan_funding(intent, mode, broker, gathered, limits)
        first_leg: dict[str, Any] = {}
        if isinstance(planned, str):  # no direct pair can pay: through EUR, two legs
            first = self._first_leg(msg, key, mode, broker, gathered, limits, short)
            if first is None:
                return short(planned, None)
            if isinstance(first, OrderResult):
                return first
            first_leg = {"first_leg": first}
            gathered = self._gatherer(mode, broker).gather(
                intent, self.ctx.clock.now(), self.ctx.settings(), msg.bucket_id)
            planned = self._plan_funding(intent, mode, broker, gathered, limits)
            if isinstance(planned, str):
                return short(f"after the exchange into {ROUTE_CURRENCY}: {planned}",
                             first_leg)
        plan, pair, order = planned
        target = plan.target
        shortfall = str(plan.shortfall.quantize(Decimal("1e-8"), rounding=ROUND_CEILING))
        self.log.info("buy_funding", buy_intent_key=msg.intent_key, source=plan.source,
                      target=target, shortfall=shortfall, receive=str(plan.receive),
                      max_spend=str(plan.max_spend), mode=mode)
        result = self._send_exchange(SubmitExchange(
            plan.source, target, plan.receive, key, intent.source, spend_cap=plan.surplus,
            reason=f"funds {intent.side} {intent.quantity} {intent.symbol} "
                   f"({msg.intent_key})", bucket_id=msg.bucket_id), mode, broker, pair, order)
        if result.client_order_id is None:
            return short(f"funding exchange {result.status}: {result.message}", None)
        state = self._await_final(broker, mode, result.client_order_id)
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
                   gathered: Gathered, limits: SafetyLimits,
                   short: Callable[[str, dict[str, Any] | None], OrderResult]
                   ) -> dict[str, Any] | OrderResult | None:
        """The first leg of a funding through EUR (key ``<funding key>|leg:1``): another
        currency → EUR, exactly what the second leg (EUR → the buy's currency, sized on
        fresh quotes with its fees) needs beyond EUR's own surplus, buffered. Sent once
        and followed to its fill: its details, the buy's answer while it is open or
        ended unfilled, or None when no route exists."""
        intent, facts, leg_key = msg.intent, gathered.facts, f"{key}|leg:1"
        row = order_journal.find_by_intent(self._store(), leg_key)
        if row is not None:
            cid = int(row["client_order_id"])
        else:
            assert facts.security is not None and facts.cash is not None
            assert facts.open_orders is not None
            target = facts.security.currency
            second = direct_pair(ROUTE_CURRENCY, target)
            if second is None:
                return None
            buffer = self.ctx.settings().get_decimal("fx_fund_buffer")
            receive = funding_amount(cash_shortfall(intent, facts, limits), buffer)
            checked, order = self._size_exchange(second, ROUTE_CURRENCY, target, receive,
                                                 None, mode, broker, frozenset({"cash"}))
            if checked.rejection is not None or order is None:
                return None
            own = surplus(facts.cash.get(ROUTE_CURRENCY, ZERO), reserved_by_open_buys(
                facts.open_orders).get(ROUTE_CURRENCY, ZERO), MIN_CURRENCY_RESERVE)
            if order.max_spend <= own:
                return None  # EUR could pay directly: not a routing problem
            planned = self._plan_funding(intent, mode, broker, gathered, limits,
                                         ROUTE_CURRENCY, order.max_spend - own)
            if isinstance(planned, str):
                return None
            plan, pair, leg = planned
            self.log.info("buy_funding_first_leg", buy_intent_key=msg.intent_key,
                          source=plan.source, receive=str(plan.receive),
                          max_spend=str(plan.max_spend), target=target, mode=mode)
            result = self._send_exchange(SubmitExchange(
                plan.source, ROUTE_CURRENCY, plan.receive, leg_key, intent.source,
                spend_cap=plan.surplus, reason=f"first leg (via {ROUTE_CURRENCY}) funding "
                f"{intent.side} {intent.quantity} {intent.symbol} ({msg.intent_key})",
                bucket_id=msg.bucket_id), mode, broker, pair, leg)
            if result.client_order_id is None:
                return short(f"first funding exchange {result.status}: {result.message}",
                             None)
            cid = result.client_order_id
        state = self._await_final(broker, mode, cid)
        details = self._funding_details(leg_key, cid)
        if state not in FINAL_STATES:
            return self._deferred(intent, details)
        if Decimal(details["filled_quantity"]) <= 0:
            return short(f"the first funding exchange (via {ROUTE_CURRENCY}) ended {state}",
                         {"first_leg": details})
        return details

    def _await_final(self, broker: Broker, mode: LedgerMode, cid: int) -> str:
        """Follow one journal entry until it is final or ``fx_fund_wait_s`` has passed
        (wall time: the broker moves at its own pace whatever the daemon's clock). The
        mailbox waits meanwhile, so the wait sends the heartbeats a ping would."""
        settings = self.ctx.settings()
        deadline = time.monotonic() + settings.get_int("fx_fund_wait_s")
        pause = settings.get_float("fx_fund_poll_s")
        state = str(fx_journal.journal_state(self._store(), cid))
        while state not in FINAL_STATES and time.monotonic() < deadline \
                and not self.ctx.stopping.is_set():
            self._on_ping(Ping(self.ctx.clock.now()))  # busy, not silent: tell health
            state = self._check(broker, mode, cid) or state
            if state not in FINAL_STATES and pause:
                self.ctx.stopping.wait(pause)
        return state

    def _funding_details(self, key: str, cid: int) -> dict[str, Any]:
        row = order_journal.find_by_intent(self._store(), key)
        assert row is not None
        return {"intent_key": key, "client_order_id": cid, "symbol": str(row["symbol"]),
                "side": str(row["side"]), "quantity": int(row["quantity"]),
                "state": str(row["state"]), "filled_quantity": str(row["filled_quantity"])}

    def _deferred(self, intent: OrderIntent, details: dict[str, Any]) -> OrderResult:
        self.log.info("buy_deferred", isin=intent.isin, source=intent.source, **details)
        return OrderResult("blocked", "deferred: funding exchange pending; a retry of this "
                           f"intent continues once it filled ({details['symbol']} "
                           f"{details['state']})", layer="cash", code="funding_pending",
                           kind="conflict", details={"funding": details})

    @handles(FollowUpOrders)
    def _on_follow_up(self, msg: FollowUpOrders) -> dict[str, int]:
        return self._follow_up_all(self._mode())

    @handles(CancelOpenOrders)
    def _on_cancel_all(self, msg: CancelOpenOrders) -> dict[str, Any]:
        """Cancel at every broker orders were sent to, whatever the mode is now."""
        report = CancelReport()
        targets = cancel_targets(self.ctx)
        for mode, broker in targets:
            cancel_open(self.ctx, mode, broker, report)
        for journal in ("live", "research"):
            self._follow_up_all(journal)
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
        if mode not in self._reconciled:
            self._reconcile(mode)
        counts = self._follow_up_all(mode)
        ok = counts["errors"] == 0
        return JobOutcome(ok, f"{counts['checked']} open orders checked, {counts['final']} "
                              f"final, {counts['fills']} fills, {counts['errors']} errors",
                          dict(counts))

    # -------------------------------------------------------------- the steps
    def _blocked(self, intent: OrderIntent, mode: LedgerMode, layer: str, code: str,
                 message: str, kind: str = "blocked", warnings: tuple[str, ...] = (),
                 funding: dict[str, Any] | None = None) -> OrderResult:
        now = self.ctx.clock.now()
        try:
            order_journal.record_rejection(
                self._store(), intent, mode, layer, code, message, now)
        except Exception as exc:
            self.log.error("rejection_not_recorded", error=str(exc))
        self.log.info("order_blocked", isin=intent.isin, side=intent.side, layer=layer,
                      code=code, reason=message, source=intent.source, mode=mode)
        self._publish(OrderRejected(intent.isin, intent.side, intent.quantity, intent.source,
                                    layer, code, message))
        return OrderResult("blocked", message, layer=layer, code=code, kind=kind,
                           warnings=warnings, details={"funding": funding} if funding else {})

    def _send(self, broker: Broker, new: NewOrder, cid: int) -> str:
        """Place the journaled order; the journal says what is known afterwards."""
        store, now = self._store(), self.ctx.clock.now
        request = OrderRequest(symbol=new.intent.symbol.upper(), side=new.intent.side,
                               quantity=new.quantity, user_order_id=cid,
                               limit_price=new.limit_price)
        try:
            ack = self.ctx.io.run(broker.place_order(request), BROKER_TIMEOUT_S * 2)
        except (BrokerError, TimeoutError) as exc:
            failure = after_failure(exc)
            order_journal.mark_state(store, cid, failure.state, failure.note, now())
            emit = self.log.error if failure.state == "unresolved" else self.log.warning
            emit(failure.event, client_order_id=cid, error=str(exc))
            report_in_doubt(self.ctx, store, self.log)
            if (refused := refused_event(new, failure.state, failure.note)) is not None:
                self._publish(refused)
            return failure.state
        order_journal.mark_sent(store, cid, ack.order_id, now())
        self.log.info("order_sent", client_order_id=cid, broker_order_id=ack.order_id,
                      recovered=ack.recovered)
        self._publish(placed_event(new, cid, ack.order_id))
        return "sent"

    def _check(self, broker: Broker, mode: LedgerMode, cid: int) -> str | None:
        """One follow-up of one entry; returns its new state (None when unknown)."""
        entries = order_journal.open_entries(self._store(), mode)
        for row, entry in entries:
            if entry.client_order_id == cid:
                return self._apply(broker, mode, row, entry)[0]
        return None

    def _apply(self, broker: Broker, mode: LedgerMode, row: Any,
               entry: JournalEntry) -> tuple[str | None, int]:
        """Ask the broker about one entry and store the answer; (new state, fills recorded)."""
        try:
            order: Order | None = self.ctx.io.run(broker.find_order(entry.client_order_id),
                                                  BROKER_TIMEOUT_S)
        except (BrokerError, TimeoutError) as exc:
            self.log.warning("order_check_failed", client_order_id=entry.client_order_id,
                             error=str(exc))
            return None, 0
        now = self.ctx.clock.now()
        follow = follow_up(entry, order, now)
        pair = pair_from_journal_isin(entry.isin)
        if pair is not None:
            return self._apply_fx(pair, mode, row, entry, follow, now)
        fills = self._fills(row, entry, follow, mode, now)
        recorded = order_journal.apply_follow_up(
            self._store(), entry.client_order_id, follow, fills, now)
        for fill in recorded:
            self.log.info("trade_recorded", trade_key=fill.trade_key, isin=fill.isin,
                          side=fill.side, quantity=str(fill.quantity), price=str(fill.price),
                          mode=mode)
        self._publish_fills(mode)  # these, or any the broker sync stored first
        if follow.state != entry.state:
            self.log.info("order_state", client_order_id=entry.client_order_id,
                          state=follow.state, previous=entry.state, note=follow.note)
        return follow.state, len(recorded)

    def _apply_fx(self, pair: FxPair, mode: LedgerMode, row: Any, entry: JournalEntry,
                  follow: FollowUp, now: datetime) -> tuple[str | None, int]:
        """An exchange entry: the state change and its fills go to the FX ledger."""
        fills = exchange_fills(pair, row, entry, follow, mode, now)
        recorded = fx_journal.apply_fx_follow_up(
            self._store(), entry.client_order_id, follow, fills, now)
        for f in recorded:
            self.log.info("exchange_recorded", trade_key=f.trade_key, symbol=f.symbol,
                          side=f.side, base=f"{f.base_amount} {f.base_currency}",
                          quote=f"{f.quote_amount} {f.quote_currency}", price=str(f.price),
                          mode=mode)
            self._publish(CurrencyExchanged(f.trade_key, f.symbol, f.side, f.base_currency,
                                            f.base_amount, f.quote_currency, f.quote_amount,
                                            f.price, f.executed_at, f.source, f.bucket_id,
                                            mode))
        if follow.state != entry.state:
            self.log.info("order_state", client_order_id=entry.client_order_id,
                          state=follow.state, previous=entry.state, note=follow.note)
        return follow.state, len(recorded)

    def _fills(self, row: Any, entry: JournalEntry, follow: FollowUp, mode: LedgerMode,
               now: datetime) -> list[RecordedFill]:
        return order_fills(row, entry, follow, mode, now, FactsGatherer(
            self.ctx.io, self._store(), self._broker_for_facts(mode), None, mode).eur_rate(
            str(row["currency"])))

    def _broker_for_facts(self, mode: LedgerMode) -> Broker:
        key = "paper_broker" if mode == "research" else "broker"
        broker: Broker = self.ctx.resource(key)
        return broker

    def _follow_up_all(self, mode: LedgerMode) -> dict[str, int]:
        counts = {"checked": 0, "final": 0, "fills": 0, "errors": 0}
        try:
            broker = self._broker_for_facts(mode)
            entries = order_journal.open_entries(self._store(), mode)
        except Exception as exc:
            self.log.error("follow_up_failed", error=str(exc))
            counts["errors"] += 1
            return counts
        if recheck_not_placed(self.ctx, self._store(), broker, mode, self.log):
            entries = order_journal.open_entries(self._store(), mode)
        for row, entry in entries:
            if self.ctx.stopping.is_set():
                break
            counts["checked"] += 1
            state, fills = self._apply(broker, mode, row, entry)
            counts["fills"] += fills
            if state is None:
                counts["errors"] += 1
            elif state in FINAL_STATES:
                counts["final"] += 1
        self._publish_fills(mode)
        report_in_doubt(self.ctx, self._store(), self.log)
        return counts

    def _reconcile(self, mode: LedgerMode) -> None:
        """Before any new order: settle what the journal left open with the broker."""
        counts = self._follow_up_all(mode)
        if counts["errors"] == 0:
            self._reconciled.add(mode)
            self.log.info("journal_reconciled", mode=mode, **counts)
        else:
            self.log.warning("journal_not_reconciled", mode=mode, **counts)

    def _publish(self, event: object) -> None:
        try:
            self.ctx.bus.publish(event)
        except Exception as exc:
            self.log.warning("publish_failed", event=type(event).__name__, error=str(exc))


def intent_key(*parts: object) -> str:
    """A stable key for an order intent from its identifying parts."""
    return "|".join(str(p) for p in parts)
