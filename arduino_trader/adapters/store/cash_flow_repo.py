"""Cash flows in the store (migration 0500): the cash-flow port
(:class:`SqliteCashFlowStore`: each broker record with its effects, the bucket ledger)
and the admin API's flow listings.

:meth:`SqliteCashFlowStore.store_record` is the heart of the cash-flow sync: in ONE
transaction it reads what the store holds for the record's key, asks the rules
(``decide``, the domain's ``apply_record``) what to write, and writes it: the row under
its UNIQUE key, the bucket ledger rows, the dividend row and ``processed_at``. A failure
(e.g. a missing FX rate) rolls the whole record back; it is retried next sync. Re-running
a sync changes nothing. Dividends live in ``dividend_repo``, emergency runs in
``emergency_runs_repo``.
"""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Collection, Sequence
from dataclasses import replace
from datetime import datetime
from decimal import Decimal
from typing import Any

from arduino_trader.domain.cash_flows.summary import FlowRow, ListQuery
from arduino_trader.protocols.cash_flow_store import (
    CashFlowRecord,
    Decide,
    Effects,
    LedgerEntry,
    SeenFlow,
)
from arduino_trader.protocols.money import ZERO, decimal_to_str
from arduino_trader.protocols.store import Database, Transaction

from . import cash_flow_aliases, dividend_repo


def _ts(moment: datetime) -> int:
    return int(moment.timestamp())


def _s(value: Decimal) -> str:
    return decimal_to_str(value)


# ----------------------------------------------------------------------- one record
def _seen_flow(row: sqlite3.Row) -> SeenFlow:
    return SeenFlow(row["status"], row["processed_at"] is not None, Decimal(row["amount"]),
                    row["currency"])


def _seen(tx: Transaction, key: str) -> SeenFlow | None:
    row = tx.fetch_one(
        "SELECT status, processed_at, amount, currency FROM cash_flows "
        "WHERE transaction_id = ?", (key,))
    return None if row is None else _seen_flow(row)


def _insert_row(tx: Transaction, effects: Effects, now: datetime) -> None:
    assert effects.row is not None
    rec, eur = effects.row.record, effects.row.amount_eur
    tx.execute(
        "INSERT INTO cash_flows (transaction_id, source, type_doc_id, transaction_type, "
        "kind, date, amount, currency, amount_eur, status, status_c, description, symbol, "
        "isin, related_id, stable_id, params_json, created_at) "
        "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?) "
        "ON CONFLICT (transaction_id) DO NOTHING",
        (rec.key, rec.source, rec.type_doc_id, rec.transaction_type, rec.kind,
         rec.on.isoformat(), _s(rec.amount), rec.currency, _s(eur), rec.status,
         rec.status_c, rec.description, rec.symbol, rec.isin, rec.related_id,
         int(rec.stable_id), json.dumps(dict(rec.params), default=str, sort_keys=True),
         _ts(now)))


def _ledger(tx: Transaction, entry: LedgerEntry, now: datetime) -> None:
    cur = tx.execute(
        "INSERT INTO bucket_transactions (bucket_id, type, amount, currency, description, "
        "source_kind, source_id, created_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?) "
        "ON CONFLICT (source_kind, source_id, bucket_id, type) DO NOTHING",
        (entry.bucket_id, entry.type, _s(entry.amount), entry.currency, entry.description,
         entry.source_kind, entry.source_id, _ts(now)))
    if not cur.rowcount:
        return  # already booked: the balance already holds it
    row = tx.fetch_one(
        "SELECT balance FROM bucket_balances WHERE bucket_id = ? AND currency = ?",
        (entry.bucket_id, entry.currency))
    balance = (Decimal(row["balance"]) if row else ZERO) + entry.amount
    tx.execute(
        "INSERT INTO bucket_balances (bucket_id, currency, balance, last_updated) "
        "VALUES (?, ?, ?, ?) ON CONFLICT (bucket_id, currency) DO UPDATE SET "
        "balance = excluded.balance, last_updated = excluded.last_updated",
        (entry.bucket_id, entry.currency, _s(balance), _ts(now)))


class SqliteCashFlowStore:
    """The cash-flow port on the SQLite store (see :class:`CashFlowStore`)."""

    def __init__(self, db: Database) -> None:
        self._db = db

    def seen_flows(self, keys: Sequence[str]) -> dict[str, SeenFlow]:
        """What the store holds for each of ``keys`` that it has (one query per 500
        keys); a key recorded as an alias answers the row it names."""
        db = self._db
        out: dict[str, SeenFlow] = {}
        for start in range(0, len(keys), 500):
            chunk = tuple(keys[start:start + 500])
            marks = ", ".join("?" for _ in chunk)
            rows = db.fetch_all(
                "SELECT transaction_id, status, processed_at, amount, currency "  # noqa: S608
                f"FROM cash_flows WHERE transaction_id IN ({marks})", chunk)  # placeholders
            out.update((r["transaction_id"], _seen_flow(r)) for r in rows)
        aliases = cash_flow_aliases.aliased(db, [k for k in keys if k not in out])
        stored = self.seen_flows(sorted(set(aliases.values()))) if aliases else {}
        return out | {a: stored[k] for a, k in aliases.items() if k in stored}

    def store_record(self, record: CashFlowRecord, decide: Decide, now: datetime,
                     present: Collection[str] = ()) -> Effects:
        """Store ``record`` and apply the effects ``decide`` returns exactly once, in one
        transaction.

        ``decide`` runs inside the transaction, so it must only compute (its inputs,
        rates and buckets, are read by the caller beforehand). Raises whatever ``decide``
        (``MissingRate``) or the store raises; then nothing of this record was written.
        A record already stored under another key (``cash_flow_aliases``; ``present``:
        the keys of the same answer) is that row.
        """
        with self._db.transaction() as tx:
            seen = _seen(tx, record.key)
            stored = None if seen else cash_flow_aliases.resolve(tx, record, present, now)
            if stored is not None:
                record = replace(record, key=stored)
                seen = _seen(tx, stored)
            effects = decide(seen, record)
            if effects.action == "insert":
                _insert_row(tx, effects, now)
            elif effects.action == "update_status":
                tx.execute(
                    "UPDATE cash_flows SET status = ?, status_c = ?, updated_at = ? "
                    "WHERE transaction_id = ?",
                    (effects.status, record.status_c, _ts(now), record.key))
            for entry in effects.ledger:
                _ledger(tx, entry, now)
            dividend_repo.record_payment(tx, effects.dividends, now)
            if effects.mark_processed:
                tx.execute(
                    "UPDATE cash_flows SET processed_at = ? "
                    "WHERE transaction_id = ? AND processed_at IS NULL", (_ts(now), record.key))
        return effects

    def bucket_cash(self) -> dict[str, dict[str, Decimal]]:
        """Ledger cash per bucket and currency (``bucket_balances``)."""
        out: dict[str, dict[str, Decimal]] = {}
        for r in self._db.fetch_all(
                "SELECT bucket_id, currency, balance FROM bucket_balances"):
            out.setdefault(r["bucket_id"], {})[r["currency"]] = Decimal(r["balance"])
        return out

    def bucket_ledger(self, source_id: str) -> tuple[LedgerEntry, ...]:
        """The ledger rows booked for one cash flow, in booking order."""
        rows = self._db.fetch_all(
            "SELECT bucket_id, type, amount, currency, description, source_kind "
            "FROM bucket_transactions WHERE source_kind = 'cash_flow' AND source_id = ? "
            "ORDER BY id", (source_id,))
        return tuple(LedgerEntry(r["bucket_id"], r["type"], Decimal(r["amount"]),
                                 r["currency"], source_id, r["description"] or "",
                                 r["source_kind"]) for r in rows)


# ------------------------------------------------------------- the API's queries
def flow_row(row: sqlite3.Row) -> dict[str, Any]:
    """The API view of a stored cash flow (``params_json`` is never exposed)."""
    return {k: row[k] for k in (
        "id", "transaction_id", "source", "type_doc_id", "transaction_type", "kind", "date",
        "amount", "currency", "amount_eur", "status", "status_c", "description", "symbol",
        "isin", "created_at", "processed_at")}


def list_flows(db: Database, query: ListQuery) -> list[dict[str, Any]]:
    """Newest first: the date window wins, else the type, else the newest ``limit``."""
    if query.start is not None and query.end is not None:
        rows = db.fetch_all(
            "SELECT * FROM cash_flows WHERE date BETWEEN ? AND ? "
            "ORDER BY date DESC, id DESC LIMIT ?",
            (query.start.isoformat(), query.end.isoformat(), query.limit))
    elif query.transaction_type:
        rows = db.fetch_all(
            "SELECT * FROM cash_flows WHERE transaction_type = ? "
            "ORDER BY date DESC, id DESC LIMIT ?", (query.transaction_type, query.limit))
    else:
        rows = db.fetch_all(
            "SELECT * FROM cash_flows ORDER BY date DESC, id DESC LIMIT ?",
            (query.limit,))
    return [flow_row(r) for r in rows]


def summary_rows(db: Database) -> list[FlowRow]:
    """Every stored flow as the summary needs it (the rules keep completed ones)."""
    rows = db.fetch_all(
        "SELECT transaction_type, kind, status, amount_eur FROM cash_flows")
    return [FlowRow(r["transaction_type"], r["kind"], r["status"], Decimal(r["amount_eur"]))
            for r in rows]


