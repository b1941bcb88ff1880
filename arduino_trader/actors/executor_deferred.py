"""Buys deferred behind their funding exchange, resumed by the order follow-up.

A buy that needs a funding exchange is recorded as deferred before the exchange is
journaled (adapters/store/deferred_buys.py) and answers ``funding_pending`` at once: no
handler waits for a fill. After each follow-up of the journal, every waiting buy of the
current mode whose funding is final is resubmitted under its own intent key (the
journal's intent-key dedup places it at most once, whoever resubmits it); one whose
funding ended with nothing filled, whose mode is no longer the trading mode, or that a
later buy of the same security (another intent key: a new plan, a new request)
superseded, ends with a note (logged, recorded as a refusal, published as
``OrderRejected``) — never a second buy where the caller already bought again.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from arduino_trader.adapters.store import deferred_buys
from arduino_trader.adapters.store.deferred_buys import DeferredBuy
from arduino_trader.domain.execution.facts import LedgerMode
from arduino_trader.domain.fx_funding import funding_status
from arduino_trader.protocols.broker_errors import BrokerError
from arduino_trader.protocols.execution import OrderResult, SubmitOrder
from arduino_trader.protocols.store import Database

from .base import ActorContext
from .executor_orders import OrderSender

Submit = Callable[[SubmitOrder, LedgerMode], OrderResult]
"""The executor's submission path (preflight, layers, funding, placement)."""


class DeferredBuys:
    """Keeps the deferred buys' records in step with their submissions; resumes them."""

    def __init__(self, ctx: ActorContext, log: Any, orders: OrderSender,
                 submit: Submit) -> None:
        self._ctx = ctx
        self._log = log
        self._orders = orders
        self._submit = submit

    def _store(self) -> Database:
        return self._ctx.deps.store

    def settle(self, msg: SubmitOrder, mode: LedgerMode, result: OrderResult) -> None:
        """After a submission of ``msg``: still pending → it keeps waiting; placed,
        journaled or refused → its deferred record (if any) is closed with the answer.
        A failure before anything was journaled (journal not reconciled) keeps it
        waiting for the next follow-up."""
        store = self._store()
        if result.code == "funding_pending":
            deferred_buys.defer(store, msg, mode, self._ctx.clock.now())
            return
        if result.status == "failed" and result.client_order_id is None:
            return
        found = deferred_buys.find(store, msg.intent_key)
        if found is None or found.state != "waiting":
            return
        done = result.status in ("placed", "duplicate", "failed")
        note = f"{result.status}: {result.message}"
        if deferred_buys.finish(store, msg.intent_key, "done" if done else "ended", note,
                                self._ctx.clock.now()):
            emit = self._log.info if done else self._log.warning
            emit("deferred_buy_done" if done else "deferred_buy_ended",
                 intent_key=msg.intent_key, status=result.status, code=result.code,
                 client_order_id=result.client_order_id, note=note, mode=mode)

    def resume(self, mode: LedgerMode) -> dict[str, int]:
        """Resubmit each waiting buy whose funding is final and filled; end those whose
        funding ended unfilled or whose mode is no longer ``mode``. Counts of resumed,
        ended and still waiting buys."""
        counts = {"resumed": 0, "ended": 0, "waiting": 0}
        store = self._store()
        for buy in deferred_buys.waiting(store):
            if self._ctx.stopping.is_set():
                break
            key = buy.order.intent_key
            if buy.mode != mode:
                self._end(buy, "mode_changed", f"the trading mode is now {mode}: the "
                          f"deferred {buy.mode} buy is not placed")
                counts["ended"] += 1
                continue
            status = funding_status(deferred_buys.funding_entries(store, key),
                                    self._ctx.clock.now())
            if status == "pending":
                counts["waiting"] += 1
            elif status == "unfilled":
                self._end(buy, "funding_unfilled", "the funding exchange ended with "
                          "nothing filled: the deferred buy is not placed")
                counts["ended"] += 1
            elif (later := deferred_buys.later_buy(store, buy)) is not None:
                self._end(buy, "superseded", f"a later buy of {buy.order.intent.symbol} "
                          f"({later}) was journaled meanwhile: the deferred buy is not "
                          "placed")
                counts["ended"] += 1
            else:
                self._log.info("deferred_buy_resumed", intent_key=key, funding=status,
                               mode=mode)
                counts["resumed"] += 1
                try:
                    self.settle(buy.order, mode, self._submit(buy.order, mode))
                except (BrokerError, TimeoutError) as exc:  # the next follow-up retries
                    self._log.warning("deferred_buy_not_resumed", intent_key=key,
                                      error=str(exc))
        return counts

    def _end(self, buy: DeferredBuy, code: str, note: str) -> None:
        """Close a waiting buy that will not be placed: recorded, logged, published."""
        now = self._ctx.clock.now()
        if deferred_buys.finish(self._store(), buy.order.intent_key, "ended", note, now):
            self._log.warning("deferred_buy_ended", intent_key=buy.order.intent_key,
                              code=code, note=note, mode=buy.mode)
            self._orders.blocked(buy.order.intent, buy.mode, "cash", code, note, "conflict")
