"""The FX ledger (migration 0410): fills of currency-exchange orders.

Exchange orders are journal entries in ``orders`` like any order (written before the
send by the order journal, :class:`~.order_journal.SqliteOrderJournal`); a follow-up's
state change and its fills are one transaction here, fills keyed by the broker's trade id
so a repeated follow-up records nothing twice.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

from arduino_trader.domain.execution.facts import LedgerMode
from arduino_trader.domain.execution.journal import FollowUp
from arduino_trader.protocols.broker import Side
from arduino_trader.protocols.money import decimal_to_str
from arduino_trader.protocols.store import Database

from .order_journal import entry_row, record_follow_up


@dataclass(frozen=True)
class FxFill:
    """One fill of an exchange order as the FX ledger stores it."""

    trade_key: str
    broker_order_id: int | None
    symbol: str
    side: Side
    quantity: Decimal
    price: Decimal
    base_currency: str
    base_amount: Decimal
    quote_currency: str
    quote_amount: Decimal
    executed_at: datetime
    source: str
    bucket_id: str
    mode: LedgerMode


def _ts(moment: datetime) -> int:
    return int(moment.timestamp())


def apply_fx_follow_up(db: Database, client_order_id: int, follow: FollowUp,
                       fills: Sequence[FxFill], now: datetime) -> list[FxFill]:
    """Store the entry's new state and its fills in one transaction; returns the fills
    that were new (a known trade key is skipped)."""
    recorded: list[FxFill] = []
    with db.transaction() as tx:
        row_id = entry_row(tx, client_order_id)
        for fill in fills:
            cur = tx.execute(
                "INSERT OR IGNORE INTO fx_trades (trade_key, order_row, broker_order_id,"
                " symbol, side, quantity, price, base_currency, base_amount, quote_currency,"
                " quote_amount, fee, executed_at, source, bucket_id, mode, created_at)"
                " VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, NULL, ?, ?, ?, ?, ?)",
                (fill.trade_key, row_id, fill.broker_order_id, fill.symbol, fill.side,
                 decimal_to_str(fill.quantity), decimal_to_str(fill.price), fill.base_currency,
                 decimal_to_str(fill.base_amount), fill.quote_currency,
                 decimal_to_str(fill.quote_amount), _ts(fill.executed_at), fill.source,
                 fill.bucket_id, fill.mode, _ts(now)))
            if cur.rowcount:
                recorded.append(fill)
        record_follow_up(tx, client_order_id, follow, now)
    return recorded


def list_fx_trades(db: Database, limit: int = 50) -> list[dict[str, Any]]:
    """FX fills, newest first, JSON-ready."""
    rows = db.fetch_all("SELECT * FROM fx_trades ORDER BY executed_at DESC, id DESC "
                        "LIMIT ?", (limit,))
    out = []
    for r in rows:
        item = {k: r[k] for k in r.keys()}
        for key in ("executed_at", "created_at"):
            item[key] = datetime.fromtimestamp(int(item[key]), UTC).isoformat()
        out.append(item)
    return out
