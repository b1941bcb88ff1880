"""The executor's fills as its ledgers store them: a security order's in ``trades``, an
exchange's in ``fx_trades``; built from one follow-up's new broker fills and the
order's journal row (its source, bucket and currency)."""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal
from typing import Any

from arduino_trader.adapters.store.fx_journal import FxFill
from arduino_trader.adapters.store.order_journal import RecordedFill
from arduino_trader.domain.execution.facts import LedgerMode
from arduino_trader.domain.execution.journal import FollowUp, JournalEntry
from arduino_trader.domain.fx_exchange import FxPair


def order_fills(row: Any, entry: JournalEntry, follow: FollowUp, mode: LedgerMode,
                now: datetime, rate: Decimal | None) -> list[RecordedFill]:
    """The new fills of a security order (``rate``: units of its currency per EUR)."""
    return [RecordedFill(
        trade_key=f"{mode}:{fill.trade_id}", broker_order_id=follow.broker_order_id,
        isin=entry.isin, symbol=entry.symbol, side=entry.side, quantity=fill.quantity,
        price=fill.price, currency=str(row["currency"]), currency_rate=rate, fee=None,
        executed_at=fill.at or now, source=str(row["source"]),
        bucket_id=str(row["bucket_id"]), mode=mode) for fill in follow.new_fills]


def exchange_fills(pair: FxPair, row: Any, entry: JournalEntry, follow: FollowUp,
                   mode: LedgerMode, now: datetime) -> list[FxFill]:
    """The new fills of an exchange order, both currencies' amounts signed."""
    fills = []
    for fill in follow.new_fills:
        base = fill.quantity if pair.receives_base(entry.side) else -fill.quantity
        fills.append(FxFill(
            trade_key=f"{mode}:{fill.trade_id}", broker_order_id=follow.broker_order_id,
            symbol=pair.symbol, side=entry.side, quantity=fill.quantity, price=fill.price,
            base_currency=pair.base, base_amount=base, quote_currency=pair.quote,
            quote_amount=-base * fill.price, executed_at=fill.at or now,
            source=str(row["source"]), bucket_id=str(row["bucket_id"]), mode=mode))
    return fills
