"""The executor's journal follow-up and reconciliation.

Each open journal entry of a mode is asked about at the broker and the answer stored: the
new state, and each new fill once (a security order's in ``trades``, an exchange's in
``fx_trades``, published as ``CurrencyExchanged``). The same follow-up reconciles the
journal with the broker at start-up and before the first new order of a mode, and runs
on the ``order_follow_up`` job.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from typing import Any

from arduino_trader.domain.execution.facts import LedgerMode
from arduino_trader.domain.execution.journal import FINAL_STATES, follow_up
from arduino_trader.domain.fx_exchange import FxPair, pair_from_journal_isin
from arduino_trader.protocols.broker import Broker, Order
from arduino_trader.protocols.broker_errors import BrokerError
from arduino_trader.protocols.execution import CurrencyExchanged
from arduino_trader.protocols.order_journal import (
    FollowUp,
    JournalEntry,
    JournalRecord,
    OpenEntry,
    OrderJournal,
    RecordedFill,
)
from arduino_trader.protocols.store import Database

from .base import ActorContext
from .executor_facts import BROKER_TIMEOUT_S, FactsGatherer
from .executor_fills import exchange_fills, order_fills
from .executor_placement import recheck_not_placed, report_in_doubt


def broker_for_facts(ctx: ActorContext, mode: LedgerMode) -> Broker:
    """The broker the journal of ``mode`` was sent to: the paper broker for research."""
    return ctx.deps.paper_broker if mode == "research" else ctx.deps.broker


class JournalFollowUp:
    """Follows the journal's open entries up with the broker; knows which modes'
    journals are reconciled."""

    def __init__(self, ctx: ActorContext, log: Any, publish: Callable[[object], None],
                 publish_fills: Callable[[LedgerMode], None]) -> None:
        self._ctx = ctx
        self._log = log
        self._publish = publish
        self._publish_fills = publish_fills
        self.reconciled: set[str] = set()

    def _store(self) -> Database:
        return self._ctx.deps.store

    def _journal(self) -> OrderJournal:
        return self._ctx.deps.order_journal

    def check(self, broker: Broker, mode: LedgerMode, cid: int) -> str | None:
        """One follow-up of one entry; returns its new state (None when unknown)."""
        for open_entry in self._journal().open_entries(mode):
            if open_entry.entry.client_order_id == cid:
                return self._apply(broker, mode, open_entry)[0]
        return None

    def _apply(self, broker: Broker, mode: LedgerMode,
               open_entry: OpenEntry) -> tuple[str | None, int]:
        """Ask the broker about one entry and store the answer; (new state, fills recorded)."""
        record, entry = open_entry.record, open_entry.entry
        try:
            order: Order | None = self._ctx.io.run(broker.find_order(entry.client_order_id),
                                                   BROKER_TIMEOUT_S)
        except (BrokerError, TimeoutError) as exc:
            self._log.warning("order_check_failed", client_order_id=entry.client_order_id,
                              error=str(exc))
            return None, 0
        now = self._ctx.clock.now()
        follow = follow_up(entry, order, now)
        pair = pair_from_journal_isin(entry.isin)
        if pair is not None:
            return self._apply_fx(pair, mode, record, entry, follow, now)
        fills = self._fills(record, entry, follow, mode, now)
        recorded = self._journal().apply_follow_up(entry.client_order_id, follow, fills, now)
        for fill in recorded:
            self._log.info("trade_recorded", trade_key=fill.trade_key, isin=fill.isin,
                           side=fill.side, quantity=str(fill.quantity), price=str(fill.price),
                           mode=mode)
        self._publish_fills(mode)  # these, or any the broker sync stored first
        if follow.state != entry.state:
            self._log.info("order_state", client_order_id=entry.client_order_id,
                           state=follow.state, previous=entry.state, note=follow.note)
        return follow.state, len(recorded)

    def _apply_fx(self, pair: FxPair, mode: LedgerMode, record: JournalRecord,
                  entry: JournalEntry, follow: FollowUp, now: datetime
                  ) -> tuple[str | None, int]:
        """An exchange entry: the state change and its fills go to the FX ledger."""
        fills = exchange_fills(pair, record, entry, follow, mode, now)
        recorded = self._journal().apply_exchange_follow_up(
            entry.client_order_id, follow, fills, now)
        for f in recorded:
            self._log.info("exchange_recorded", trade_key=f.trade_key, symbol=f.symbol,
                           side=f.side, base=f"{f.base_amount} {f.base_currency}",
                           quote=f"{f.quote_amount} {f.quote_currency}", price=str(f.price),
                           mode=mode)
            self._publish(CurrencyExchanged(f.trade_key, f.symbol, f.side, f.base_currency,
                                            f.base_amount, f.quote_currency, f.quote_amount,
                                            f.price, f.executed_at, f.source, f.bucket_id,
                                            mode))
        if follow.state != entry.state:
            self._log.info("order_state", client_order_id=entry.client_order_id,
                           state=follow.state, previous=entry.state, note=follow.note)
        return follow.state, len(recorded)

    def _fills(self, record: JournalRecord, entry: JournalEntry, follow: FollowUp,
               mode: LedgerMode, now: datetime) -> list[RecordedFill]:
        facts = FactsGatherer(self._ctx.io, self._ctx.deps, broker_for_facts(self._ctx, mode),
                              None, mode)
        return order_fills(record, entry, follow, mode, now, facts.eur_rate(record.currency))

    def follow_up_all(self, mode: LedgerMode) -> dict[str, int]:
        """Follow every open entry of ``mode`` up once; counts of checked entries, final
        states, fills recorded and errors."""
        counts = {"checked": 0, "final": 0, "fills": 0, "errors": 0}
        try:
            broker = broker_for_facts(self._ctx, mode)
            entries = self._journal().open_entries(mode)
        except Exception as exc:
            self._log.error("follow_up_failed", error=str(exc))
            counts["errors"] += 1
            return counts
        if recheck_not_placed(self._ctx, self._journal(), broker, mode, self._log):
            entries = self._journal().open_entries(mode)
        for open_entry in entries:
            if self._ctx.stopping.is_set():
                break
            counts["checked"] += 1
            state, fills = self._apply(broker, mode, open_entry)
            counts["fills"] += fills
            if state is None:
                counts["errors"] += 1
            elif state in FINAL_STATES:
                counts["final"] += 1
        self._publish_fills(mode)
        report_in_doubt(self._ctx, self._journal(), self._log)
        return counts

    def reconcile(self, mode: LedgerMode) -> None:
        """Before any new order: settle what the journal left open with the broker."""
        counts = self.follow_up_all(mode)
        if counts["errors"] == 0:
            self.reconciled.add(mode)
            self._log.info("journal_reconciled", mode=mode, **counts)
        else:
            self._log.warning("journal_not_reconciled", mode=mode, **counts)
