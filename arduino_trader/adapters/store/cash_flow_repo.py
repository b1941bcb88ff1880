"""Cash flows, dividends and emergency runs in the store (migration 0500).

:func:`store_record` is the heart of the cash-flow sync: in ONE transaction it reads what
the store holds for the record's key, asks the pure rules (``apply_record``) what to
write, and writes it — the row under its UNIQUE key, the bucket ledger rows, the
dividend row and ``processed_at``. A failure (e.g. a missing FX rate) rolls the whole
record back; it is retried next sync. Re-running a sync changes nothing.
"""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Collection, Sequence
from dataclasses import replace
from datetime import date, datetime
from decimal import Decimal
from typing import Any

from arduino_trader.domain.cash_flows.effects import (
    EffectContext,
    Effects,
    LedgerEntry,
    SeenFlow,
    apply_record,
)
from arduino_trader.domain.cash_flows.records import CashFlowRecord
from arduino_trader.domain.cash_flows.summary import FlowRow, ListQuery
from arduino_trader.domain.dividends import Consumption, Dividend
from arduino_trader.protocols.money import ZERO, decimal_to_str
from arduino_trader.protocols.store import Database, StoreError, Transaction

from . import cash_flow_aliases, dividend_net
from .fx_tables import load_latest_rates as load_latest_rates  # re-exported
from .fx_tables import load_rates as load_rates  # re-exported


def _ts(moment: datetime) -> int:
    return int(moment.timestamp())


def _s(value: Decimal) -> str:
    return decimal_to_str(value)


# ----------------------------------------------------------------------------- FX
# ----------------------------------------------------------------------- one record
def _seen_flow(row: sqlite3.Row) -> SeenFlow:
    return SeenFlow(row["status"], row["processed_at"] is not None, Decimal(row["amount"]),
                    row["currency"])


def _seen(tx: Transaction, key: str) -> SeenFlow | None:
    row = tx.fetch_one(
        "SELECT status, processed_at, amount, currency FROM cash_flows "
        "WHERE transaction_id = ?", (key,))
    return None if row is None else _seen_flow(row)


def seen_flows(db: Database, keys: Sequence[str]) -> dict[str, SeenFlow]:
    """What the store holds for each of ``keys`` that it has (one query per 500 keys)."""
    out: dict[str, SeenFlow] = {}
    for start in range(0, len(keys), 500):
        chunk = tuple(keys[start:start + 500])
        marks = ", ".join("?" for _ in chunk)
        rows = db.fetch_all(
            "SELECT transaction_id, status, processed_at, amount, currency "  # noqa: S608
            f"FROM cash_flows WHERE transaction_id IN ({marks})", chunk)  # placeholders
        out.update((r["transaction_id"], _seen_flow(r)) for r in rows)
    aliases = cash_flow_aliases.aliased(db, [k for k in keys if k not in out])
    stored = seen_flows(db, sorted(set(aliases.values()))) if aliases else {}
    return out | {a: stored[k] for a, k in aliases.items() if k in stored}


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


def store_record(db: Database, record: CashFlowRecord, context: EffectContext,
                 now: datetime, present: Collection[str] = ()) -> Effects:
    """Store ``record`` and apply its effects exactly once, in one transaction.

    ``context`` (rates, buckets) is built by the caller beforehand: nothing blocking
    may run inside the transaction on the I/O loop. Raises whatever the rules raise
    (``MissingRate``) or the store raises; then nothing of this record was written. A
    record already stored under another key (``cash_flow_aliases``; ``present``: the keys
    of the same answer) is that row.
    """
    with db.transaction() as tx:
        seen = _seen(tx, record.key)
        stored = None if seen else cash_flow_aliases.resolve(tx, record, present, now)
        if stored is not None:
            record = replace(record, key=stored)
            seen = _seen(tx, stored)
        effects = apply_record(seen, record, context)
        if effects.action == "insert":
            _insert_row(tx, effects, now)
        elif effects.action == "update_status":
            tx.execute(
                "UPDATE cash_flows SET status = ?, status_c = ?, updated_at = ? "
                "WHERE transaction_id = ?",
                (effects.status, record.status_c, _ts(now), record.key))
        for entry in effects.ledger:
            _ledger(tx, entry, now)
        if effects.dividend is not None:
            d = effects.dividend
            tx.execute(
                "INSERT INTO dividend_history (symbol, isin, cash_flow_id, bucket_id, amount, "
                "currency, amount_eur, payment_date, created_at) "
                "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?) ON CONFLICT (cash_flow_id) DO NOTHING",
                (d.symbol, d.isin, d.cash_flow_key, d.bucket_id, _s(d.amount), d.currency,
                 _s(d.amount_eur), d.payment_date.isoformat(), _ts(now)))
        if effects.mark_processed:
            tx.execute(
                "UPDATE cash_flows SET processed_at = ? "
                "WHERE transaction_id = ? AND processed_at IS NULL", (_ts(now), record.key))
    return effects


# -------------------------------------------------------------------------- queries
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


def bucket_ledger(db: Database, source_id: str) -> list[tuple[str, str, Decimal, str]]:
    """(bucket, type, amount, currency) rows booked for one cash flow."""
    rows = db.fetch_all(
        "SELECT bucket_id, type, amount, currency FROM bucket_transactions "
        "WHERE source_kind = 'cash_flow' AND source_id = ? ORDER BY id", (source_id,))
    return [(r["bucket_id"], r["type"], Decimal(r["amount"]), r["currency"]) for r in rows]


# ------------------------------------------------------------------------ dividends
DIVIDEND_COLUMNS = (
    "id", "symbol", "isin", "cash_flow_id", "bucket_id", "amount", "currency", "amount_eur",
    "payment_date", "allocated_eur", "reinvested", "reinvested_at", "reinvested_quantity",
    "pending_cash_eur", "bonus_cleared", "cleared_at", "created_at")


def dividend_row(row: sqlite3.Row) -> dict[str, Any]:
    """The API view of a dividend row."""
    out = {k: row[k] for k in DIVIDEND_COLUMNS}
    out["reinvested"] = bool(out["reinvested"])
    out["bonus_cleared"] = bool(out["bonus_cleared"])
    return out


def list_dividends(db: Database, limit: int = 100) -> list[dict[str, Any]]:
    """Newest payment first."""
    rows = db.fetch_all("SELECT * FROM dividend_history "
                        "ORDER BY payment_date DESC, id DESC LIMIT ?", (limit,))
    return [dividend_row(r) for r in rows]


def get_dividend(db: Database, dividend_id: int) -> dict[str, Any] | None:
    """One dividend, or None."""
    row = db.fetch_one("SELECT * FROM dividend_history WHERE id = ?", (dividend_id,))
    return dividend_row(row) if row else None


def dividends_by_symbol(db: Database, symbol: str) -> list[dict[str, Any]]:
    """Dividends of a symbol (or ISIN), newest first."""
    rows = db.fetch_all(
        "SELECT * FROM dividend_history WHERE symbol = ? OR isin = ? "
        "ORDER BY payment_date DESC, id DESC", (symbol, symbol))
    return [dividend_row(r) for r in rows]


def unreinvested(db: Database, min_amount_eur: Decimal = ZERO) -> list[dict[str, Any]]:
    """Dividends not yet reinvested, oldest first, with at least ``min_amount_eur``."""
    rows = db.fetch_all("SELECT * FROM dividend_history WHERE reinvested = 0 "
                        "ORDER BY payment_date, id")
    return [dividend_row(r) for r in rows if Decimal(r["amount_eur"]) >= min_amount_eur]


def fill_consumed(db: Database, fill_key: str) -> bool:
    """Whether a fill already consumed dividend euros."""
    return db.fetch_one("SELECT 1 FROM dividend_allocations WHERE fill_key = ?",
                        (fill_key,)) is not None


def drip_dividends(db: Database, *, symbol: str | None = None,
                   bucket_id: str | None = None) -> list[Dividend]:
    """Unreinvested dividends as the DRIP rules see them: consumed fills, and the owning
    satellite's ``dividend_handling`` (``accumulate_cash`` buckets are skipped)."""
    sql = "SELECT * FROM dividend_history WHERE reinvested = 0"
    params: list[Any] = []
    if symbol is not None:
        sql += " AND symbol = ?"
        params.append(symbol)
    if bucket_id is not None:
        sql += " AND bucket_id = ?"
        params.append(bucket_id)
    rows = db.fetch_all(sql + " ORDER BY payment_date, id", params)
    handling = {r["satellite_id"]: r["dividend_handling"] for r in db.fetch_all(
        "SELECT satellite_id, dividend_handling FROM satellite_settings")}
    fills = db.fetch_all("SELECT dividend_id, fill_key FROM dividend_allocations")
    consumed: dict[int, set[str]] = {}
    for f in fills:
        consumed.setdefault(int(f["dividend_id"]), set()).add(f["fill_key"])
    withheld = dividend_net.withheld_eur(db, rows)  # DRIP reinvests the net
    return [Dividend(int(r["id"]), r["symbol"],
                     Decimal(r["amount_eur"]) - withheld.get(int(r["id"]), ZERO),
                     date.fromisoformat(r["payment_date"]), r["bucket_id"],
                     handling=handling.get(r["bucket_id"], "reinvest_same"),
                     allocated_eur=Decimal(r["allocated_eur"]),
                     consumed_fills=frozenset(consumed.get(int(r["id"]), set())))
            for r in rows]


def record_consumption(db: Database, changed: dict[int, Dividend],
                       rows: Sequence[Consumption], symbol: str,
                       client_order_id: str | None, now: datetime) -> int:
    """Store the euros a confirmed fill consumed and the dividends' new state, in one
    transaction. A fill already recorded (for any dividend) changes nothing: a replayed
    fill never consumes a later dividend. Returns the number of rows written."""
    written = 0
    with db.transaction() as tx:
        fill_keys = {c.fill_key for c in rows}
        for key in fill_keys:
            if tx.fetch_one("SELECT 1 FROM dividend_allocations WHERE fill_key = ?",
                            (key,)):
                return 0
        for c in rows:
            cur = tx.execute(
                "INSERT INTO dividend_allocations (dividend_id, fill_key, client_order_id, "
                "symbol, quantity, amount_eur, created_at) VALUES (?, ?, ?, ?, ?, ?, ?) "
                "ON CONFLICT (dividend_id, fill_key) DO NOTHING",
                (c.dividend_id, c.fill_key, client_order_id, symbol, _s(c.quantity),
                 _s(c.amount_eur), _ts(now)))
            if not cur.rowcount:
                continue
            written += 1
            d = changed[c.dividend_id]
            tx.execute(
                "UPDATE dividend_history SET allocated_eur = ?, reinvested = ?, "
                "reinvested_at = CASE WHEN ? = 1 THEN ? ELSE reinvested_at END, "
                "reinvested_quantity = ?, pending_cash_eur = CASE WHEN ? = 1 THEN '0' "
                "ELSE pending_cash_eur END WHERE id = ?",
                (_s(d.allocated_eur), int(d.reinvested), int(d.reinvested), _ts(now),
                 _s(c.quantity), int(d.reinvested), c.dividend_id))
    return written


def bucket_cash(db: Database) -> dict[str, dict[str, Decimal]]:
    """Ledger cash per bucket and currency (``bucket_balances``)."""
    out: dict[str, dict[str, Decimal]] = {}
    for r in db.fetch_all("SELECT bucket_id, currency, balance FROM bucket_balances"):
        out.setdefault(r["bucket_id"], {})[r["currency"]] = Decimal(r["balance"])
    return out


def set_pending_bonus(db: Database, dividend_id: int, amount_eur: Decimal) -> bool:
    """Set a dividend's pending cash (too little to reinvest yet); False if it does not exist."""
    n = db.execute("UPDATE dividend_history SET pending_cash_eur = ? WHERE id = ?",
                   (_s(amount_eur), dividend_id))
    return n > 0


def set_pending_bonuses(db: Database, pending: Sequence[tuple[int, Decimal]]) -> None:
    """Set many pending cash amounts in one transaction."""
    with db.transaction() as tx:
        for dividend_id, amount in pending:
            tx.execute("UPDATE dividend_history SET pending_cash_eur = ? "
                       "WHERE id = ? AND reinvested = 0", (_s(amount), dividend_id))


def mark_reinvested(db: Database, dividend_id: int, quantity: Decimal,
                    now: datetime) -> bool:
    """Manual mark: reinvested with ``quantity``, bonus zeroed; False if unknown."""
    n = db.execute(
        "UPDATE dividend_history SET reinvested = 1, reinvested_at = ?, "
        "reinvested_quantity = ?, pending_cash_eur = '0' WHERE id = ?",
        (_ts(now), _s(quantity), dividend_id))
    return n > 0


def create_dividend(db: Database, fields: dict[str, Any], now: datetime) -> int:
    """A manual dividend entry (no cash flow); returns its id."""
    with db.transaction() as tx:
        cur = tx.execute(
            "INSERT INTO dividend_history (symbol, isin, bucket_id, amount, currency, "
            "amount_eur, payment_date, created_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
            (fields["symbol"], fields.get("isin", ""), fields.get("bucket_id", "core"),
             _s(fields["amount"]), fields["currency"], _s(fields["amount_eur"]),
             fields["payment_date"], _ts(now)))
        return int(cur.lastrowid or 0)


def clear_bonus(db: Database, symbol: str, now: datetime) -> int:
    """Clear every uncleared bonus of ``symbol``; returns the rows affected."""
    return db.execute(
        "UPDATE dividend_history SET bonus_cleared = 1, cleared_at = ?, "
        "pending_cash_eur = '0' WHERE symbol = ? AND bonus_cleared = 0 "
        "AND pending_cash_eur <> '0'", (_ts(now), symbol))


def pending_bonuses(db: Database) -> dict[str, Decimal]:
    """Σ uncleared pending cash per symbol (positive only)."""
    rows = db.fetch_all(
        "SELECT symbol, pending_cash_eur FROM dividend_history "
        "WHERE bonus_cleared = 0 AND reinvested = 0 AND pending_cash_eur <> '0'")
    out: dict[str, Decimal] = {}
    for r in rows:
        value = Decimal(r["pending_cash_eur"])
        if value > 0:
            out[r["symbol"]] = out.get(r["symbol"], ZERO) + value
    return out


# -------------------------------------------------------------------- emergency runs
class RunLocked(StoreError):
    """Another emergency run is still running (the partial unique index refused)."""

    code = "emergency_running"


def start_emergency_run(db: Database, run_id: str, mode: str, trigger: str,
                        now: datetime) -> None:
    """Insert a ``running`` run; :class:`RunLocked` if one is already running."""
    try:
        db.execute(
            "INSERT INTO emergency_runs (run_id, started_at, mode, trigger) "
            "VALUES (?, ?, ?, ?)", (run_id, _ts(now), mode, trigger))
    except StoreError as exc:
        if "unique" in str(exc).lower():
            raise RunLocked("an emergency rebalancing run is already running") from exc
        raise


def close_interrupted_emergency_runs(db: Database, now: datetime) -> int:
    """Close the ``running`` run a stopped process left (the lock would otherwise hold
    for good): outcome ``failed``, noted as interrupted. Only at start-up, before any
    actor runs, while the pid file guarantees no other process; returns how many."""
    return db.execute(
        "UPDATE emergency_runs SET outcome = 'failed', finished_at = ?, notes = "
        "'interrupted: the daemon stopped during this run; its orders are followed by "
        "the order journal and the next run repairs what is still short' "
        "WHERE outcome = 'running'", (_ts(now),))


def finish_emergency_run(db: Database, run_id: str, outcome: str,
                         initial: dict[str, Decimal], final: dict[str, Decimal],
                         actions: list[dict[str, Any]], notes: str,
                         now: datetime) -> None:
    """Close a run with what it found, planned and did."""
    def enc(value: Any) -> str:
        return json.dumps(value, default=lambda v: decimal_to_str(v)
                          if isinstance(v, Decimal) else str(v), sort_keys=True)
    db.execute(
        "UPDATE emergency_runs SET finished_at = ?, outcome = ?, initial_shortfalls_json = ?, "
        "final_shortfalls_json = ?, actions_json = ?, notes = ? WHERE run_id = ?",
        (_ts(now), outcome, enc(initial), enc(final), enc(actions), notes, run_id))


def list_emergency_runs(db: Database, limit: int = 20) -> list[dict[str, Any]]:
    """The newest runs with their decoded JSON columns."""
    rows = db.fetch_all(
        "SELECT * FROM emergency_runs ORDER BY started_at DESC, rowid DESC LIMIT ?", (limit,))
    return [{"run_id": r["run_id"], "started_at": r["started_at"],
             "finished_at": r["finished_at"], "mode": r["mode"], "trigger": r["trigger"],
             "outcome": r["outcome"],
             "initial_shortfalls": json.loads(r["initial_shortfalls_json"]),
             "final_shortfalls": json.loads(r["final_shortfalls_json"]),
             "actions": json.loads(r["actions_json"]), "notes": r["notes"]} for r in rows]
