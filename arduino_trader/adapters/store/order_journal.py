"""The order journal and trade ledger in SQLite (migration 0400).

:class:`SqliteOrderJournal` implements the
:class:`~arduino_trader.protocols.order_journal.OrderJournal` port. Every write that moves
money is one transaction: a journal entry before the order is sent; a follow-up's state
change together with its fills; fills keyed by the broker's trade id so a repeated
follow-up records nothing twice; an exchange order's fills go to the FX ledger
(``fx_trades``, migration 0410). The admin API's listings (``list_orders``,
``list_trades``, ``list_rejections``; the FX ledger's in ``fx_journal``) stay functions
returning JSON-ready rows.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Callable, Sequence
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any, TypeVar

from arduino_trader.domain.execution.placement import RECHECK_WINDOW, recheck_due
from arduino_trader.domain.fx_exchange import is_fx_symbol
from arduino_trader.protocols.execution import OrderIntent, TradeExecuted
from arduino_trader.protocols.money import decimal_to_str
from arduino_trader.protocols.order_journal import (
    ClientId,
    FollowUp,
    FxFill,
    JournalConflict,
    Journaled,
    JournalEntry,
    JournalRecord,
    JournalState,
    LedgerMode,
    NewOrder,
    OpenBuy,
    OpenEntry,
    OrderJournal,
    RecordedFill,
    TradeFact,
)
from arduino_trader.protocols.store import Database, Transaction

__all__ = ["NEVER_SENT", "JournalConflict", "NewOrder", "RecordedFill", "SqliteOrderJournal",
           "entry_row", "list_orders", "list_rejections", "list_trades", "record_follow_up"]

MAX_ID_ATTEMPTS = 8
NEVER_SENT = "never sent"
"""How the note of an entry the adapter never sent begins (no late look is due)."""
F = TypeVar("F")
"""A fill record of one ledger: a trade's (``RecordedFill``) or an exchange's (``FxFill``)."""


def _ts(moment: datetime) -> int:
    return int(moment.timestamp())


def _dt(seconds: int) -> datetime:
    return datetime.fromtimestamp(seconds, UTC)


def _opt_dt(seconds: int | None) -> datetime | None:
    return None if seconds is None else _dt(int(seconds))


def _opt_int(value: Any) -> int | None:
    return None if value is None else int(value)


def record_from_row(row: sqlite3.Row) -> JournalRecord:
    """A :class:`JournalRecord` from an ``orders`` row."""
    return JournalRecord(
        client_order_id=int(row["client_order_id"]), intent_key=str(row["intent_key"]),
        isin=str(row["isin"]), symbol=str(row["symbol"]), side=row["side"],
        quantity=int(row["quantity"]), limit_price=Decimal(str(row["limit_price"])),
        currency=str(row["currency"]), source=row["source"], bucket_id=str(row["bucket_id"]),
        mode=row["mode"], state=row["state"],
        filled_quantity=Decimal(str(row["filled_quantity"])),
        created_at=_dt(int(row["created_at"])), updated_at=_dt(int(row["updated_at"])),
        broker_order_id=_opt_int(row["broker_order_id"]),
        broker_status=_opt_int(row["broker_status"]), reason=str(row["reason"]),
        note=str(row["note"]), sent_at=_opt_dt(row["sent_at"]),
        finished_at=_opt_dt(row["finished_at"]), checks=int(row["checks"]))


def entry_of(record: JournalRecord, trade_ids: frozenset[int]) -> JournalEntry:
    """The state machine's view of a stored entry whose ledger holds ``trade_ids``."""
    return JournalEntry(
        client_order_id=record.client_order_id, isin=record.isin, symbol=record.symbol,
        side=record.side, quantity=record.quantity, state=record.state,
        created_at=record.created_at, broker_order_id=record.broker_order_id,
        filled=record.filled_quantity, known_trade_ids=trade_ids)



def _store_fx_fill(tx: Transaction, row_id: int, fill: FxFill, now: datetime) -> bool:
    """Insert one exchange fill under its trade key; False when it was there already."""
    cur = tx.execute(
        "INSERT OR IGNORE INTO fx_trades (trade_key, order_row, broker_order_id, symbol,"
        " side, quantity, price, base_currency, base_amount, quote_currency, quote_amount,"
        " fee, executed_at, source, bucket_id, mode, created_at)"
        " VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, NULL, ?, ?, ?, ?, ?)",
        (fill.trade_key, row_id, fill.broker_order_id, fill.symbol, fill.side,
         decimal_to_str(fill.quantity), decimal_to_str(fill.price), fill.base_currency,
         decimal_to_str(fill.base_amount), fill.quote_currency,
         decimal_to_str(fill.quote_amount), int(fill.executed_at.timestamp()), fill.source,
         fill.bucket_id, fill.mode, int(now.timestamp())))
    return bool(cur.rowcount)


class SqliteOrderJournal:
    """The order journal on the SQLite store (see :class:`OrderJournal`)."""

    def __init__(self, db: Database) -> None:
        self._db = db

    def journal_order(self, order: NewOrder, now: datetime,
                      client_id: ClientId) -> Journaled:
        """Write the entry (state ``journaled``) and commit; an intent journaled before
        answers its existing entry with ``created=False``: the same intent never yields a
        second order. ``client_id(intent_key, attempt)`` gives the id; a collision with
        another intent's id tries the next attempt."""
        with self._db.transaction() as tx:
            existing = tx.fetch_one("SELECT * FROM orders WHERE intent_key = ?",
                                    (order.intent_key,))
            if existing is not None:
                return Journaled(record_from_row(existing), False)
            intent = order.intent
            for attempt in range(MAX_ID_ATTEMPTS):
                cid = client_id(order.intent_key, attempt)
                taken = tx.fetch_one("SELECT 1 FROM orders WHERE client_order_id = ?",
                                     (cid,))
                if taken is not None:
                    continue
                tx.execute(
                    "INSERT INTO orders (client_order_id, intent_key, isin, symbol, side,"
                    " quantity, limit_price, currency, source, bucket_id, mode, state, reason,"
                    " created_at, updated_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?,"
                    " 'journaled', ?, ?, ?)",
                    (cid, order.intent_key, intent.isin, intent.symbol.upper(), intent.side,
                     order.quantity, decimal_to_str(order.limit_price), order.currency,
                     intent.source, order.bucket_id, order.mode, order.reason[:500],
                     _ts(now), _ts(now)))
                row = tx.fetch_one("SELECT * FROM orders WHERE client_order_id = ?", (cid,))
                assert row is not None
                return Journaled(record_from_row(row), True)
        raise JournalConflict(f"no free client order id for {order.intent_key}")

    def find_by_intent(self, intent_key: str) -> JournalRecord | None:
        """The journal entry of an intent, if it was journaled before."""
        row = self._db.fetch_one("SELECT * FROM orders WHERE intent_key = ?", (intent_key,))
        return None if row is None else record_from_row(row)

    def state_of(self, client_order_id: int) -> JournalState | None:
        """The state of an entry (an order or an exchange) by client id; None if none."""
        row = self._db.fetch_one("SELECT state FROM orders WHERE client_order_id = ?",
                                 (client_order_id,))
        return None if row is None else row["state"]

    def mark_sent(self, client_order_id: int, broker_order_id: int, now: datetime) -> None:
        """The broker accepted the order."""
        self._db.execute(
            "UPDATE orders SET state = CASE WHEN state IN ('journaled', 'unresolved') THEN "
            "'sent' ELSE state END, broker_order_id = ?, sent_at = ?, updated_at = ? "
            "WHERE client_order_id = ?", (broker_order_id, _ts(now), _ts(now), client_order_id))

    def mark_state(self, client_order_id: int, state: JournalState, note: str,
                   now: datetime) -> None:
        """Set a state without fills (``unresolved``, ``not_placed``, ``rejected``...)."""
        final = state in ("filled", "cancelled", "rejected", "expired", "not_placed")
        self._db.execute(
            "UPDATE orders SET state = ?, note = ?, updated_at = ?, finished_at = "
            "CASE WHEN ? THEN ? ELSE finished_at END WHERE client_order_id = ?",
            (state, note[:500], _ts(now), int(final), _ts(now), client_order_id))

    def apply_follow_up(self, client_order_id: int, follow: FollowUp,
                        fills: Sequence[RecordedFill], now: datetime
                        ) -> tuple[RecordedFill, ...]:
        """Store the new state and the fills in one transaction; the fills that were new.

        A fill whose trade key is already in the ledger is skipped, so repeating a
        follow-up (after a crash, or twice by mistake) never records a trade twice; one the
        broker sync stored before it knew the order (no ``order_row``) is attributed to
        this entry now. Either way the fill waits for the executor to publish it
        (``fill_attribution``).
        """
        with self._db.transaction() as tx:
            return _follow_up_with(tx, client_order_id, follow, fills, _store_fill, now)

    def apply_exchange_follow_up(self, client_order_id: int, follow: FollowUp,
                                 fills: Sequence[FxFill], now: datetime
                                 ) -> tuple[FxFill, ...]:
        """Store an exchange entry's new state and its fills (``fx_trades``) in one
        transaction; the fills that were new (a known trade key is skipped)."""
        with self._db.transaction() as tx:
            return _follow_up_with(tx, client_order_id, follow, fills, _store_fx_fill, now)

    def open_entries(self, mode: LedgerMode) -> tuple[OpenEntry, ...]:
        """Every entry of ``mode`` still waiting for a final broker answer, oldest first."""
        rows = self._db.fetch_all(
            "SELECT * FROM orders WHERE mode = ? AND finished_at IS NULL ORDER BY id", (mode,))
        out: list[OpenEntry] = []
        for row in rows:
            keys = self._db.fetch_all("SELECT trade_key FROM trades WHERE order_row = ?",
                                      (int(row["id"]),))
            ids = frozenset(int(str(k["trade_key"]).rsplit(":", 1)[1]) for k in keys)
            record = record_from_row(row)
            out.append(OpenEntry(record, entry_of(record, ids)))
        return tuple(out)

    def in_doubt(self) -> tuple[JournalRecord, ...]:
        """Open entries whose placement was never confirmed (``journaled``/``unresolved``),
        oldest first, of both modes."""
        rows = self._db.fetch_all(
            "SELECT * FROM orders WHERE finished_at IS NULL "
            "AND state IN ('journaled', 'unresolved') ORDER BY id")
        return tuple(record_from_row(r) for r in rows)

    def recheck_candidates(self, mode: LedgerMode, now: datetime
                           ) -> tuple[JournalRecord, ...]:
        """``not_placed`` entries of ``mode`` due for a late look at the broker."""
        rows = self._db.fetch_all(
            "SELECT * FROM orders WHERE mode = ? AND state = 'not_placed' AND created_at >= ?"
            " AND note NOT LIKE ? ORDER BY id",
            (mode, _ts(now - RECHECK_WINDOW), f"{NEVER_SENT}%"))
        records = (record_from_row(r) for r in rows)
        return tuple(r for r in records
                     if recheck_due(r.state, r.created_at, r.updated_at, now))

    def mark_rechecked(self, client_order_id: int, now: datetime) -> None:
        """The broker still has no such order: only the time of the look changes."""
        self._db.execute("UPDATE orders SET updated_at = ?, checks = checks + 1 "
                         "WHERE client_order_id = ? AND state = 'not_placed'",
                         (_ts(now), client_order_id))

    def reopen(self, client_order_id: int, broker_order_id: int, now: datetime) -> bool:
        """The broker shows a ``not_placed`` order after all: the entry is open again
        (``unresolved`` until the follow-up applies the broker's answer)."""
        changed = self._db.execute(
            "UPDATE orders SET state = 'unresolved', finished_at = NULL, updated_at = ?, "
            "note = ? WHERE client_order_id = ? AND state = 'not_placed'",
            (_ts(now), f"reopened: the broker shows order {broker_order_id}",
             client_order_id))
        return bool(changed)

    def open_buys(self, mode: LedgerMode) -> tuple[OpenBuy, ...]:
        """The unfilled rest of every buy of ``mode`` that is not final (currency
        exchanges left out: they move a bucket's cash between currencies, they do not
        spend it)."""
        rows = self._db.fetch_all(
            "SELECT symbol, bucket_id, currency, quantity, filled_quantity, limit_price "
            "FROM orders WHERE mode = ? AND side = 'BUY' AND finished_at IS NULL", (mode,))
        return tuple(OpenBuy(str(r["bucket_id"]), str(r["currency"]),
                             Decimal(r["quantity"]) - Decimal(r["filled_quantity"]),
                             Decimal(r["limit_price"]))
                     for r in rows if not is_fx_symbol(str(r["symbol"])))

    def unresolved_isins(self, mode: LedgerMode) -> frozenset[str]:
        """Securities with an entry whose outcome is not final (blocks new orders)."""
        rows = self._db.fetch_all(
            "SELECT DISTINCT isin FROM orders WHERE mode = ? AND finished_at IS NULL", (mode,))
        return frozenset(str(r["isin"]) for r in rows)

    def ledger_trades(self, since: datetime) -> tuple[TradeFact, ...]:
        """Trades of both modes since ``since`` (the pipeline picks the mode that counts)."""
        rows = self._db.fetch_all(
            "SELECT isin, side, executed_at, mode, trade_key FROM trades "
            "WHERE executed_at >= ?", (_ts(since),))
        return tuple(TradeFact(str(r["isin"]), r["side"], _dt(int(r["executed_at"])),
                               r["mode"], str(r["trade_key"])) for r in rows)

    def pending_fills(self, mode: LedgerMode) -> tuple[TradeExecuted, ...]:
        """Fills of our own orders in ``mode`` not yet published, oldest first."""
        rows = self._db.fetch_all(
            "SELECT trade_key, isin, symbol, side, quantity, price, currency, executed_at, "
            "source, bucket_id, mode FROM trades WHERE mode = ? AND published_at IS NULL "
            "AND order_row IS NOT NULL ORDER BY id", (mode,))
        return tuple(TradeExecuted(
            str(r["trade_key"]), str(r["isin"]), str(r["symbol"]), r["side"],
            Decimal(str(r["quantity"])), Decimal(str(r["price"])), str(r["currency"]),
            _dt(int(r["executed_at"])), str(r["source"]), str(r["bucket_id"]),
            str(r["mode"])) for r in rows)

    def mark_published(self, trade_key: str, now: datetime) -> None:
        """The fill's event went out."""
        self._db.execute("UPDATE trades SET published_at = ? WHERE trade_key = ? AND "
                         "published_at IS NULL", (_ts(now), trade_key))

    def record_rejection(self, intent: OrderIntent, mode: LedgerMode, layer: str,
                         code: str, message: str, now: datetime) -> None:
        """Keep a refused order for the operator."""
        self._db.execute(
            "INSERT INTO order_rejections (at, isin, symbol, side, quantity, source, mode,"
            " layer, code, message) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
            (_ts(now), intent.isin, intent.symbol, intent.side,
             decimal_to_str(intent.quantity), intent.source, mode, layer, code,
             message[:500]))


_: type[OrderJournal] = SqliteOrderJournal  # mypy checks the implementation


def _follow_up_with(tx: Transaction, client_order_id: int, follow: FollowUp,
                    fills: Sequence[F], store: Callable[[Transaction, int, F, datetime], bool],
                    now: datetime) -> tuple[F, ...]:
    """A follow-up inside the caller's transaction: each fill stored by ``store`` (False:
    known already), then the entry's new state; the fills that were new, in order."""
    row_id = entry_row(tx, client_order_id)
    recorded = tuple(fill for fill in fills if store(tx, row_id, fill, now))
    record_follow_up(tx, client_order_id, follow, now)
    return recorded


def _store_fill(tx: Transaction, row_id: int, fill: RecordedFill, now: datetime) -> bool:
    """Insert one fill of entry ``row_id`` (or attribute the broker sync's copy of it to
    the entry); True when the ledger did not know it from this entry yet."""
    value = fill.quantity * fill.price
    value_eur = (value / fill.currency_rate) if fill.currency_rate else None
    cur = tx.execute(
        "INSERT INTO trades (trade_key, order_row, broker_order_id, isin,"
        " symbol, side, quantity, price, value, currency, currency_rate, value_eur,"
        " fee, executed_at, source, bucket_id, mode, created_at) VALUES "
        "(?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?) ON CONFLICT "
        "(trade_key) DO UPDATE SET order_row = excluded.order_row, broker_order_id ="
        " COALESCE(trades.broker_order_id, excluded.broker_order_id), source ="
        " excluded.source, bucket_id = excluded.bucket_id, published_at = NULL"
        " WHERE trades.order_row IS NULL",
        (fill.trade_key, row_id, fill.broker_order_id, fill.isin, fill.symbol,
         fill.side, decimal_to_str(fill.quantity), decimal_to_str(fill.price),
         decimal_to_str(value), fill.currency,
         None if fill.currency_rate is None else decimal_to_str(fill.currency_rate),
         None if value_eur is None else decimal_to_str(round(value_eur, 6)),
         None if fill.fee is None else decimal_to_str(fill.fee),
         _ts(fill.executed_at), fill.source, fill.bucket_id, fill.mode, _ts(now)))
    return bool(cur.rowcount)


def entry_row(tx: Transaction, client_order_id: int) -> int:
    """The ``orders`` row id of a journal entry (inside a transaction); KeyError if none."""
    row = tx.fetch_one("SELECT id FROM orders WHERE client_order_id = ?",
                       (client_order_id,))
    if row is None:
        raise KeyError(f"no journal entry with client id {client_order_id}")
    return int(row["id"])


def record_follow_up(tx: Transaction, client_order_id: int, follow: FollowUp,
                     now: datetime) -> None:
    """Store a follow-up's state, broker ids, filled quantity and note on its entry."""
    tx.execute(
        "UPDATE orders SET state = ?, broker_order_id = COALESCE(?, broker_order_id), "
        "broker_status = COALESCE(?, broker_status), filled_quantity = ?, note = ?, "
        "updated_at = ?, checks = checks + 1, finished_at = CASE WHEN ? THEN ? ELSE "
        "finished_at END WHERE client_order_id = ?",
        (follow.state, follow.broker_order_id, follow.broker_status,
         decimal_to_str(follow.filled), follow.note[:500], _ts(now), int(follow.final),
         _ts(now), client_order_id))


def _row_json(row: sqlite3.Row, times: Sequence[str]) -> dict[str, Any]:
    out = {k: row[k] for k in row.keys()}
    for key in times:
        if out.get(key) is not None:
            out[key] = _dt(int(out[key])).isoformat()
    return out


def list_orders(db: Database, limit: int = 100) -> list[dict[str, Any]]:
    """Journal entries, newest first, JSON-ready."""
    rows = db.fetch_all("SELECT * FROM orders ORDER BY id DESC LIMIT ?", (limit,))
    return [_row_json(r, ("created_at", "updated_at", "sent_at", "finished_at")) for r in rows]


def list_trades(db: Database, limit: int = 50) -> list[dict[str, Any]]:
    """Ledger trades, newest first, JSON-ready."""
    rows = db.fetch_all(
        "SELECT t.*, s.name AS name FROM trades t LEFT JOIN securities s ON s.isin = t.isin "
        "ORDER BY t.executed_at DESC, t.id DESC LIMIT ?", (limit,))
    return [_row_json(r, ("executed_at", "created_at")) for r in rows]


def list_rejections(db: Database, limit: int = 50) -> list[dict[str, Any]]:
    """Refused orders, newest first."""
    rows = db.fetch_all("SELECT * FROM order_rejections ORDER BY id DESC LIMIT ?",
                        (limit,))
    return [_row_json(r, ("at",)) for r in rows]
