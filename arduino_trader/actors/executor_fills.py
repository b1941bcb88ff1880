"""The executor's fills as its ledgers store them: a security order's in ``trades``, an
exchange's in ``fx_trades``; built from one follow-up's new broker fills and the
order's journal record (its source, bucket and currency); and the publication of stored
fills (the ledger's outbox: ``adapters/store/fill_attribution.py``)."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from decimal import Decimal

from arduino_trader.domain.execution.facts import LedgerMode
from arduino_trader.domain.fx_exchange import FxPair
from arduino_trader.protocols.execution import TradeExecuted
from arduino_trader.protocols.order_journal import (
    FollowUp,
    FxFill,
    JournalEntry,
    JournalRecord,
    OrderJournal,
    RecordedFill,
)


def order_fills(record: JournalRecord, entry: JournalEntry, follow: FollowUp,
                mode: LedgerMode, now: datetime, rate: Decimal | None) -> list[RecordedFill]:
    """The new fills of a security order (``rate``: units of its currency per EUR)."""
    return [RecordedFill(
        trade_key=f"{mode}:{fill.trade_id}", broker_order_id=follow.broker_order_id,
        isin=entry.isin, symbol=entry.symbol, side=entry.side, quantity=fill.quantity,
        price=fill.price, currency=record.currency, currency_rate=rate, fee=None,
        executed_at=fill.at or now, source=record.source,
        bucket_id=record.bucket_id, mode=mode) for fill in follow.new_fills]


def exchange_fills(pair: FxPair, record: JournalRecord, entry: JournalEntry,
                   follow: FollowUp, mode: LedgerMode, now: datetime) -> list[FxFill]:
    """The new fills of an exchange order, both currencies' amounts signed."""
    fills = []
    for fill in follow.new_fills:
        base = fill.quantity if pair.receives_base(entry.side) else -fill.quantity
        fills.append(FxFill(
            trade_key=f"{mode}:{fill.trade_id}", broker_order_id=follow.broker_order_id,
            symbol=pair.symbol, side=entry.side, quantity=fill.quantity, price=fill.price,
            base_currency=pair.base, base_amount=base, quote_currency=pair.quote,
            quote_amount=-base * fill.price, executed_at=fill.at or now,
            source=record.source, bucket_id=record.bucket_id, mode=mode))
    return fills


def publish_pending(journal: OrderJournal, mode: LedgerMode,
                    publish: Callable[[TradeExecuted], None],
                    now: datetime) -> list[TradeExecuted]:
    """Publish every pending fill of ``mode`` (event first, then the mark); returns them."""
    sent: list[TradeExecuted] = []
    for event in journal.pending_fills(mode):
        publish(event)
        journal.mark_published(event.trade_key, now)
        sent.append(event)
    return sent
