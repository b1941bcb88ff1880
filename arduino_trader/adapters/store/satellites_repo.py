"""The bucket-ledger port on SQLite (:class:`SqliteBucketLedger`): the signed per-bucket
ledger, its balance cache and the reconciliation audit (migrations 0600 and 0610), and
the admin API's listings of them; the buckets themselves are in ``bucket_repo``, the
fills and value history settlement reads in ``bucket_trades_repo``.

Every money-moving change is ONE transaction (:func:`apply_operation`): the ledger rows of
the operation (both legs of a transfer), the recomputed balance cache of every touched
(bucket, currency), any bucket state it changes and its audit row. Ledger rows are keyed
(source_kind, source_id, bucket_id, type): an operation whose rows are already there is a
no-op, so replaying a broker record or retrying a request changes nothing.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Iterable, Mapping, Sequence
from datetime import datetime
from decimal import Decimal
from typing import Any

from arduino_trader.domain.satellites.balances import BalanceError, InsufficientFunds
from arduino_trader.protocols.bucket_ledger import BucketLedger, Operation
from arduino_trader.protocols.money import ZERO, decimal_to_str
from arduino_trader.protocols.satellite_records import INTERNAL_TYPES, LedgerEntry
from arduino_trader.protocols.store import Database, Transaction

from .bucket_repo import write_buckets
from .epoch import from_epoch, to_epoch

_LEDGER_COLUMNS = ("bucket_id", "currency", "type", "amount", "source_kind", "source_id",
                   "created_at", "description")


def _entry_from_row(row: sqlite3.Row) -> LedgerEntry:
    return LedgerEntry(bucket_id=row["bucket_id"], currency=row["currency"], type=row["type"],
                       amount=Decimal(row["amount"]), source_kind=row["source_kind"],
                       source_id=row["source_id"], created_at=from_epoch(row["created_at"]),
                       description=row["description"])


_SELECT_LEDGER = (f"SELECT {', '.join(_LEDGER_COLUMNS)} "  # noqa: S608
                  "FROM bucket_transactions ORDER BY id")


def transactions(db: Database, bucket_id: str, *, limit: int = 100,
                 entry_type: str | None = None) -> list[dict[str, Any]]:
    """The newest ledger rows of one bucket (optionally one type), newest first."""
    sql = ("SELECT id, bucket_id, type, amount, currency, description, source_kind, "
           "source_id, created_at FROM bucket_transactions WHERE bucket_id = ?")
    params: list[Any] = [bucket_id]
    if entry_type:
        sql += " AND type = ?"
        params.append(entry_type)
    sql += " ORDER BY id DESC LIMIT ?"
    params.append(limit)
    rows = db.fetch_all(sql, params)
    return [{"id": r["id"], "bucket_id": r["bucket_id"], "type": r["type"],
             "amount": r["amount"], "currency": r["currency"],
             "description": r["description"], "source_kind": r["source_kind"],
             "source_id": r["source_id"],
             "created_at": from_epoch(r["created_at"]).isoformat()} for r in rows]


def balance_rows(db: Database, bucket_id: str | None = None) -> list[dict[str, Any]]:
    """The balance cache: [{bucket_id, currency, balance, last_updated}]."""
    sql = "SELECT bucket_id, currency, balance, last_updated FROM bucket_balances"
    params: tuple[Any, ...] = ()
    if bucket_id is not None:
        sql += " WHERE bucket_id = ?"
        params = (bucket_id,)
    rows = db.fetch_all(sql + " ORDER BY bucket_id, currency", params)
    return [{"bucket_id": r["bucket_id"], "currency": r["currency"], "balance": r["balance"],
             "last_updated": from_epoch(r["last_updated"]).isoformat()} for r in rows]


def _ledger_sum(tx: Transaction, bucket_id: str, currency: str) -> Decimal:
    rows = tx.fetch_all("SELECT amount FROM bucket_transactions WHERE bucket_id = ? "
                        "AND currency = ?", (bucket_id, currency))
    return sum((Decimal(r["amount"]) for r in rows), ZERO)


def _refresh_cache(tx: Transaction, slots: Iterable[tuple[str, str]],
                   now: datetime) -> dict[tuple[str, str], Decimal]:
    out: dict[tuple[str, str], Decimal] = {}
    for bucket_id, currency in sorted(set(slots)):
        total = _ledger_sum(tx, bucket_id, currency)
        tx.execute(
            "INSERT INTO bucket_balances (bucket_id, currency, balance, last_updated) "
            "VALUES (?, ?, ?, ?) ON CONFLICT (bucket_id, currency) DO UPDATE SET "
            "balance = excluded.balance, last_updated = excluded.last_updated",
            (bucket_id, currency, decimal_to_str(total), to_epoch(now)))
        out[(bucket_id, currency)] = total
    return out


def rebuild_balance_cache(db: Database, now: datetime) -> int:
    """Recompute the whole balance cache from the ledger (rows written by other writers,
    e.g. the cash-flow actor, are included); returns the number of slots."""
    with db.transaction() as tx:
        rows = tx.fetch_all("SELECT DISTINCT bucket_id, currency FROM bucket_transactions")
        refreshed = _refresh_cache(tx, [(r["bucket_id"], r["currency"]) for r in rows],
                                   now)
    return len(refreshed)


def has_source(db: Database, source_kind: str, source_id: str) -> bool:
    """True when the ledger holds any row of that source (an operation already applied)."""
    row = db.fetch_one("SELECT 1 FROM bucket_transactions WHERE source_kind = ? AND "
                       "source_id = ? LIMIT 1", (source_kind, source_id))
    return row is not None


def _mark(tx: Transaction, source: tuple[str, str], now: datetime) -> bool:
    """Record that ``source``'s bucket changes are applied; False when they already were."""
    cur = tx.execute("INSERT INTO bucket_flow_marks (source_kind, source_id, created_at) "
                     "VALUES (?, ?, ?) ON CONFLICT DO NOTHING", (*source, to_epoch(now)))
    return bool(cur.rowcount)


def _existing_keys(tx: Transaction, entries: Sequence[LedgerEntry]) -> list[bool]:
    present = []
    for e in entries:
        row = tx.fetch_one(
            "SELECT 1 FROM bucket_transactions WHERE source_kind = ? AND source_id = ? "
            "AND bucket_id = ? AND type = ?", e.key)
        present.append(row is not None)
    return present


def apply_operation(db: Database, op: Operation, now: datetime
                    ) -> dict[tuple[str, str], Decimal] | None:
    """Write one operation in one transaction; returns the new balances of the touched
    (bucket, currency) slots, or None when it was already applied (a replay).

    A set of rows only partly present is refused (:class:`BalanceError`); an internal
    move (transfer, reallocation) that would leave its source negative is refused
    (:class:`InsufficientFunds`), checked against the ledger inside the transaction.
    Nothing is written when anything is refused.
    """
    with db.transaction() as tx:
        if op.source is not None:
            seen = tx.fetch_one("SELECT 1 FROM bucket_transactions WHERE source_kind = ? "
                                "AND source_id = ? LIMIT 1", op.source)
            if seen is not None:
                # Booked by another writer (the cash-flow actor): the bucket changes
                # (high-water-mark shifts) still apply, once per record.
                if op.buckets and _mark(tx, op.source, now):
                    write_buckets(tx, op.buckets)
                return None
            _mark(tx, op.source, now)
        present = _existing_keys(tx, op.entries)
        if op.entries and all(present):
            return None
        if any(present):
            raise BalanceError("ledger rows of this operation are partly present already")
        tx.executemany(
            f"INSERT INTO bucket_transactions ({', '.join(_LEDGER_COLUMNS)}) "  # noqa: S608
            f"VALUES ({', '.join('?' for _ in _LEDGER_COLUMNS)})",
            [(e.bucket_id, e.currency, e.type, decimal_to_str(e.amount), e.source_kind,
              e.source_id, to_epoch(e.created_at), e.description) for e in op.entries])
        balances = _refresh_cache(tx, [(e.bucket_id, e.currency) for e in op.entries],
                                  now)
        for e in op.entries:
            if e.type in INTERNAL_TYPES and e.amount < 0 and balances[(e.bucket_id,
                                                                       e.currency)] < 0:
                raise InsufficientFunds(f"{e.bucket_id} would hold "
                                        f"{balances[(e.bucket_id, e.currency)]} {e.currency}")
        write_buckets(tx, op.buckets)
        if op.audit is not None:
            _insert_audit(tx, op.audit, now)
        if op.trade_result is not None:
            r = op.trade_result
            tx.execute(
                "INSERT INTO bucket_trade_results (trade_key, bucket_id, symbol, realized_pnl, "
                "currency, closed_at) VALUES (?, ?, ?, ?, ?, ?)",
                (r["trade_key"], r["bucket_id"], r["symbol"], decimal_to_str(r["realized_pnl"]),
                 r["currency"], to_epoch(r["closed_at"])))
    return balances


# ------------------------------------------------------------ reconciliation audit
def _insert_audit(tx: Transaction, audit: Mapping[str, Any], now: datetime) -> None:
    tx.execute(
        "INSERT INTO satellite_reconciliations (currency, status, virtual_total, "
        "actual_total, difference, adjustment, message, created_at) "
        "VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
        (audit["currency"], audit["status"], str(audit["virtual_total"]),
         str(audit["actual_total"]), str(audit["difference"]),
         str(audit.get("adjustment", "0")), str(audit.get("message", "")), to_epoch(now)))


def record_audit(db: Database, audit: Mapping[str, Any], now: datetime) -> None:
    """Store a reconciliation outcome that moved no money (reconciled, reported, deferred)."""
    with db.transaction() as tx:
        _insert_audit(tx, audit, now)


def audits(db: Database, limit: int = 50) -> list[dict[str, Any]]:
    """The newest reconciliation outcomes, newest first."""
    rows = db.fetch_all(
        "SELECT currency, status, virtual_total, actual_total, difference, adjustment, "
        "message, created_at FROM satellite_reconciliations ORDER BY id DESC LIMIT ?", (limit,))
    return [{**{k: r[k] for k in r.keys() if k != "created_at"},
             "created_at": from_epoch(r["created_at"]).isoformat()} for r in rows]


def blockers(db: Database) -> str | None:
    """What could explain a reconciliation gap right now: orders still open or cash flows
    not yet processed (None when nothing is pending)."""
    reasons = []
    open_orders = db.fetch_one("SELECT COUNT(*) AS n FROM orders WHERE finished_at IS NULL")
    if open_orders is not None and int(open_orders["n"]):
        reasons.append(f"{int(open_orders['n'])} orders pending")
    flows = db.fetch_one("SELECT COUNT(*) AS n FROM cash_flows WHERE processed_at IS NULL "
                         "AND status NOT IN ('cancelled', 'rejected')")
    if flows is not None and int(flows["n"]):
        reasons.append(f"{int(flows['n'])} cash flows unprocessed")
    return "; ".join(reasons) or None


class SqliteBucketLedger:
    """The bucket-ledger port on the SQLite store (see :class:`BucketLedger`)."""

    def __init__(self, db: Database) -> None:
        self._db = db

    def rows_after(self, last_id: int) -> tuple[tuple[int, LedgerEntry], ...]:
        """The committed rows with an id above ``last_id``, with their ids, in id order."""
        rows = self._db.fetch_all(
            f"SELECT id, {', '.join(_LEDGER_COLUMNS)} FROM bucket_transactions "  # noqa: S608
            "WHERE id > ? ORDER BY id", (last_id,))
        return tuple((int(r["id"]), _entry_from_row(r)) for r in rows)

    def count_through(self, last_id: int) -> int:
        """How many committed rows have an id of at most ``last_id``."""
        row = self._db.fetch_one("SELECT COUNT(*) AS n FROM bucket_transactions "
                                 "WHERE id <= ?", (last_id,))
        return 0 if row is None else int(row["n"])

    def apply_operation(self, op: Operation, now: datetime
                        ) -> dict[tuple[str, str], Decimal] | None:
        """:func:`apply_operation` on this store."""
        return apply_operation(self._db, op, now)

    def has_source(self, source_kind: str, source_id: str) -> bool:
        """Whether the ledger holds any row of that source."""
        return has_source(self._db, source_kind, source_id)

    def rebuild_balance_cache(self, now: datetime) -> int:
        """:func:`rebuild_balance_cache` on this store."""
        return rebuild_balance_cache(self._db, now)

    def record_audit(self, audit: Mapping[str, Any], now: datetime) -> None:
        """Store a reconciliation outcome that moved no money."""
        record_audit(self._db, audit, now)

    def blockers(self) -> str | None:
        """:func:`blockers` on this store."""
        return blockers(self._db)


_: type[BucketLedger] = SqliteBucketLedger  # mypy checks the implementation
