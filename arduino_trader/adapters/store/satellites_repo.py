"""The satellites store: buckets, settings, the signed ledger and its balance cache
(migrations 0600 and 0610).

Every money-moving change is ONE transaction (:func:`apply_operation`): the ledger rows of
the operation (both legs of a transfer), the recomputed balance cache of every touched
(bucket, currency), any bucket state it changes and its audit row. Ledger rows are keyed
(source_kind, source_id, bucket_id, type): an operation whose rows are already there is a
no-op, so replaying a broker record or retrying a request changes nothing.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime
from decimal import Decimal
from typing import Any

from arduino_trader.domain.satellites.balances import BalanceBook, BalanceError, InsufficientFunds
from arduino_trader.domain.satellites.performance import ClosedTrade, ValuePoint
from arduino_trader.domain.satellites.records import (
    INTERNAL_TYPES,
    AllocationSettings,
    Bucket,
    CooldownState,
    LedgerEntry,
    ReawakeningState,
    SatelliteSettings,
)
from arduino_trader.protocols.money import ZERO, decimal_to_str
from arduino_trader.protocols.store import Database, Transaction


def _ts(moment: datetime | None) -> int | None:
    return None if moment is None else int(moment.timestamp())


def _dt(stamp: int | None) -> datetime | None:
    return None if stamp is None else datetime.fromtimestamp(int(stamp), UTC)


def _req_dt(stamp: int) -> datetime:
    return datetime.fromtimestamp(int(stamp), UTC)


# ----------------------------------------------------------------------- buckets
_BUCKET_COLUMNS = ("id", "name", "type", "notes", "target_pct", "min_pct", "max_pct",
                   "consecutive_losses", "max_consecutive_losses", "high_water_mark",
                   "high_water_mark_date", "loss_streak_paused_at", "status",
                   "reawaken_stage", "reawaken_wins", "reawaken_trades",
                   "cooldown_started_at", "cooldown_trigger_gain", "last_reallocated_at",
                   "created_at", "updated_at")


def bucket_from_row(row: sqlite3.Row) -> Bucket:
    """A :class:`Bucket` from a ``buckets`` row."""
    gain = row["cooldown_trigger_gain"]
    return Bucket(
        id=row["id"], name=row["name"], type=row["type"], status=row["status"],
        created_at=_req_dt(row["created_at"]), updated_at=_req_dt(row["updated_at"]),
        notes=row["notes"], target_pct=Decimal(row["target_pct"]),
        min_pct=Decimal(row["min_pct"]), max_pct=Decimal(row["max_pct"]),
        consecutive_losses=int(row["consecutive_losses"]),
        max_consecutive_losses=int(row["max_consecutive_losses"]),
        high_water_mark=Decimal(row["high_water_mark"]),
        high_water_mark_date=_dt(row["high_water_mark_date"]),
        loss_streak_paused_at=_dt(row["loss_streak_paused_at"]),
        reawakening=ReawakeningState(stage=int(row["reawaken_stage"]),
                                     wins=int(row["reawaken_wins"]),
                                     trades=int(row["reawaken_trades"])),
        cooldown=CooldownState(started_at=_dt(row["cooldown_started_at"]),
                               trigger_gain=None if gain is None else Decimal(gain)),
        last_reallocated_at=_dt(row["last_reallocated_at"]))


def _bucket_params(b: Bucket) -> tuple[Any, ...]:
    gain = b.cooldown.trigger_gain
    return (b.id, b.name, b.type, b.notes, decimal_to_str(b.target_pct),
            decimal_to_str(b.min_pct), decimal_to_str(b.max_pct), b.consecutive_losses,
            b.max_consecutive_losses, decimal_to_str(b.high_water_mark),
            _ts(b.high_water_mark_date), _ts(b.loss_streak_paused_at), b.status,
            b.reawakening.stage, b.reawakening.wins, b.reawakening.trades,
            _ts(b.cooldown.started_at), None if gain is None else decimal_to_str(gain),
            _ts(b.last_reallocated_at), _ts(b.created_at), _ts(b.updated_at))


_UPSERT_BUCKET = (
    f"INSERT INTO buckets ({', '.join(_BUCKET_COLUMNS)}) "  # noqa: S608
    f"VALUES ({', '.join('?' for _ in _BUCKET_COLUMNS)}) "
    "ON CONFLICT (id) DO UPDATE SET "
    + ", ".join(f"{c} = excluded.{c}" for c in _BUCKET_COLUMNS if c not in ("id", "created_at"))
)


_SELECT_BUCKETS = f"SELECT {', '.join(_BUCKET_COLUMNS)} FROM buckets ORDER BY id"  # noqa: S608


def load_buckets(db: Database | Transaction) -> dict[str, Bucket]:
    """Every bucket by id."""
    rows = db.fetch_all(_SELECT_BUCKETS)
    return {row["id"]: bucket_from_row(row) for row in rows}


def _save_buckets(tx: Transaction, buckets: Iterable[Bucket]) -> None:
    rows = [_bucket_params(b) for b in buckets]
    if rows:
        tx.executemany(_UPSERT_BUCKET, rows)


def save_buckets(db: Database, buckets: Iterable[Bucket]) -> None:
    """Insert or update ``buckets`` together (one transaction)."""
    with db.transaction() as tx:
        _save_buckets(tx, buckets)


# ---------------------------------------------------------------------- settings
_SETTINGS_COLUMNS = ("satellite_id", "preset", "risk_appetite", "hold_duration", "entry_style",
                     "position_spread", "profit_taking", "trailing_stops", "follow_regime",
                     "auto_harvest", "pause_high_volatility", "dividend_handling",
                     "risk_free_rate", "sortino_mar", "evaluation_period_days",
                     "volatility_window")
_DECIMAL_SETTINGS = frozenset({"risk_appetite", "hold_duration", "entry_style",
                               "position_spread", "profit_taking", "risk_free_rate",
                               "sortino_mar"})
_BOOL_SETTINGS = frozenset({"trailing_stops", "follow_regime", "auto_harvest",
                            "pause_high_volatility"})


def _settings_from_row(row: sqlite3.Row) -> SatelliteSettings:
    values: dict[str, Any] = {}
    for col in _SETTINGS_COLUMNS[1:]:
        raw = row[col]
        if col in _DECIMAL_SETTINGS:
            values[col] = Decimal(raw)
        elif col in _BOOL_SETTINGS:
            values[col] = bool(raw)
        else:
            values[col] = raw
    return SatelliteSettings(satellite_id=row["satellite_id"], **values)


_SELECT_SETTINGS = f"SELECT {', '.join(_SETTINGS_COLUMNS)} FROM satellite_settings"  # noqa: S608


def load_settings(db: Database | Transaction) -> dict[str, SatelliteSettings]:
    """Every satellite's settings by satellite id."""
    rows = db.fetch_all(_SELECT_SETTINGS)
    return {row["satellite_id"]: _settings_from_row(row) for row in rows}


def save_settings(db: Database, settings: SatelliteSettings, now: datetime) -> None:
    """Replace one satellite's settings."""
    values = [getattr(settings, c) for c in _SETTINGS_COLUMNS]
    params = [decimal_to_str(v) if isinstance(v, Decimal) else int(v) if isinstance(v, bool)
              else v for v in values]
    cols = (*_SETTINGS_COLUMNS, "updated_at")
    with db.transaction() as tx:
        tx.execute(
            f"INSERT INTO satellite_settings ({', '.join(cols)}) "  # noqa: S608
            f"VALUES ({', '.join('?' for _ in cols)}) ON CONFLICT (satellite_id) DO UPDATE SET "
            + ", ".join(f"{c} = excluded.{c}" for c in cols[1:]),
            (*params, _ts(now)))


def load_allocation(db: Database | Transaction) -> AllocationSettings:
    """The ``allocation_settings`` table as a record."""
    rows = db.fetch_all("SELECT key, value FROM allocation_settings")
    return AllocationSettings.from_rows({r["key"]: Decimal(r["value"]) for r in rows})


def save_allocation_value(db: Database, key: str, value: Decimal, now: datetime,
                          buckets: Iterable[Bucket] = ()) -> None:
    """Set one allocation setting, with the bucket changes it implies (core's target), in
    one transaction."""
    with db.transaction() as tx:
        tx.execute(
            "INSERT INTO allocation_settings (key, value, updated_at) VALUES (?, ?, ?) "
            "ON CONFLICT (key) DO UPDATE SET value = excluded.value, "
            "updated_at = excluded.updated_at", (key, decimal_to_str(value), _ts(now)))
        _save_buckets(tx, buckets)


# ------------------------------------------------------------------------ ledger
_LEDGER_COLUMNS = ("bucket_id", "currency", "type", "amount", "source_kind", "source_id",
                   "created_at", "description")


def _entry_from_row(row: sqlite3.Row) -> LedgerEntry:
    return LedgerEntry(bucket_id=row["bucket_id"], currency=row["currency"], type=row["type"],
                       amount=Decimal(row["amount"]), source_kind=row["source_kind"],
                       source_id=row["source_id"], created_at=_req_dt(row["created_at"]),
                       description=row["description"])


_SELECT_LEDGER = (f"SELECT {', '.join(_LEDGER_COLUMNS)} "  # noqa: S608
                  "FROM bucket_transactions ORDER BY id")


def load_book(db: Database | Transaction) -> BalanceBook:
    """Every ledger row as a :class:`BalanceBook` (balances are their exact sums)."""
    rows = db.fetch_all(_SELECT_LEDGER)
    return BalanceBook.from_entries(_entry_from_row(r) for r in rows)


class BookReader:
    """:func:`load_book` without re-reading the whole ledger each time: the ledger is
    append-only (ids from AUTOINCREMENT, never updated or deleted), so the book read last
    time plus the rows added since is the book. When the rows it already holds are no
    longer all there, it reads everything again. Only for committed state: not inside a
    transaction that may still roll back."""

    def __init__(self) -> None:
        self._book = BalanceBook()
        self._last_id = 0

    def load(self, db: Database) -> BalanceBook:
        """The current book (one count and one read of the new rows)."""
        kept = db.fetch_one("SELECT COUNT(*) AS n FROM bucket_transactions "
                            "WHERE id <= ?", (self._last_id,))
        if kept is None or int(kept["n"]) != len(self._book.entries):
            self._book, self._last_id = BalanceBook(), 0
        rows = db.fetch_all(
            f"SELECT id, {', '.join(_LEDGER_COLUMNS)} FROM bucket_transactions "  # noqa: S608
            "WHERE id > ? ORDER BY id", (self._last_id,))
        if rows:
            self._book, _ = self._book.apply(tuple(_entry_from_row(r) for r in rows),
                                             check_negative=False)
            self._last_id = int(rows[-1]["id"])
        return self._book


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
             "created_at": _req_dt(r["created_at"]).isoformat()} for r in rows]


def balance_rows(db: Database, bucket_id: str | None = None) -> list[dict[str, Any]]:
    """The balance cache: [{bucket_id, currency, balance, last_updated}]."""
    sql = "SELECT bucket_id, currency, balance, last_updated FROM bucket_balances"
    params: tuple[Any, ...] = ()
    if bucket_id is not None:
        sql += " WHERE bucket_id = ?"
        params = (bucket_id,)
    rows = db.fetch_all(sql + " ORDER BY bucket_id, currency", params)
    return [{"bucket_id": r["bucket_id"], "currency": r["currency"], "balance": r["balance"],
             "last_updated": _req_dt(r["last_updated"]).isoformat()} for r in rows]


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
            (bucket_id, currency, decimal_to_str(total), _ts(now)))
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


@dataclass(frozen=True)
class Operation:
    """One money-moving change: its ledger rows, the bucket states it changes, and an
    optional audit row (a reconciliation outcome).

    ``source`` (source_kind, source_id) marks an external record: when any row of that
    record already exists (written by this actor or by the cash-flow actor, whichever
    bucket it credited), no row is written; ``buckets`` (its high-water-mark shifts) are
    still applied once per record when another writer booked the rows.
    """

    entries: tuple[LedgerEntry, ...]
    buckets: tuple[Bucket, ...] = ()
    audit: Mapping[str, Any] | None = None
    source: tuple[str, str] | None = None
    trade_result: Mapping[str, Any] | None = None


def has_source(db: Database, source_kind: str, source_id: str) -> bool:
    """True when the ledger holds any row of that source (an operation already applied)."""
    row = db.fetch_one("SELECT 1 FROM bucket_transactions WHERE source_kind = ? AND "
                       "source_id = ? LIMIT 1", (source_kind, source_id))
    return row is not None


def _mark(tx: Transaction, source: tuple[str, str], now: datetime) -> bool:
    """Record that ``source``'s bucket changes are applied; False when they already were."""
    cur = tx.execute("INSERT INTO bucket_flow_marks (source_kind, source_id, created_at) "
                     "VALUES (?, ?, ?) ON CONFLICT DO NOTHING", (*source, _ts(now)))
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
                    _save_buckets(tx, op.buckets)
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
              e.source_id, _ts(e.created_at), e.description) for e in op.entries])
        balances = _refresh_cache(tx, [(e.bucket_id, e.currency) for e in op.entries],
                                  now)
        for e in op.entries:
            if e.type in INTERNAL_TYPES and e.amount < 0 and balances[(e.bucket_id,
                                                                       e.currency)] < 0:
                raise InsufficientFunds(f"{e.bucket_id} would hold "
                                        f"{balances[(e.bucket_id, e.currency)]} {e.currency}")
        _save_buckets(tx, op.buckets)
        if op.audit is not None:
            _insert_audit(tx, op.audit, now)
        if op.trade_result is not None:
            r = op.trade_result
            tx.execute(
                "INSERT INTO bucket_trade_results (trade_key, bucket_id, symbol, realized_pnl, "
                "currency, closed_at) VALUES (?, ?, ?, ?, ?, ?)",
                (r["trade_key"], r["bucket_id"], r["symbol"], decimal_to_str(r["realized_pnl"]),
                 r["currency"], _ts(r["closed_at"])))
    return balances


# ------------------------------------------------------------ reconciliation audit
def _insert_audit(tx: Transaction, audit: Mapping[str, Any], now: datetime) -> None:
    tx.execute(
        "INSERT INTO satellite_reconciliations (currency, status, virtual_total, "
        "actual_total, difference, adjustment, message, created_at) "
        "VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
        (audit["currency"], audit["status"], str(audit["virtual_total"]),
         str(audit["actual_total"]), str(audit["difference"]),
         str(audit.get("adjustment", "0")), str(audit.get("message", "")), _ts(now)))


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
             "created_at": _req_dt(r["created_at"]).isoformat()} for r in rows]


# ------------------------------------------------------------ trades and history
@dataclass(frozen=True)
class TradeRow:
    """The executor's stored fill, as settlement needs it."""

    trade_key: str
    symbol: str
    side: str
    quantity: Decimal
    price: Decimal
    value: Decimal
    fee: Decimal | None
    currency: str
    bucket_id: str
    mode: str
    executed_at: datetime


def _trade_from_row(r: sqlite3.Row) -> TradeRow:
    return TradeRow(trade_key=r["trade_key"], symbol=r["symbol"], side=r["side"],
                    quantity=Decimal(r["quantity"]), price=Decimal(r["price"]),
                    value=Decimal(r["value"]),
                    fee=None if r["fee"] is None else Decimal(r["fee"]),
                    currency=r["currency"], bucket_id=r["bucket_id"], mode=r["mode"],
                    executed_at=_req_dt(r["executed_at"]))


_TRADE_SQL = ("SELECT trade_key, symbol, side, quantity, price, value, fee, currency, "
              "bucket_id, mode, executed_at FROM trades")


def trade(db: Database, trade_key: str) -> TradeRow | None:
    """The stored fill with ``trade_key`` (None when unknown)."""
    row = db.fetch_one(_TRADE_SQL + " WHERE trade_key = ?", (trade_key,))
    return None if row is None else _trade_from_row(row)


# A fill of our own orders (journal row) is settled when the ledger holds a row keyed by
# its trade key; its commission when it holds one keyed '<trade key>:fee'.
_UNSETTLED_FILLS = (
    "SELECT t.trade_key, t.isin, t.symbol, t.side, t.quantity, t.price, t.currency, "
    "t.executed_at, t.source, COALESCE(o.bucket_id, t.bucket_id) AS bucket_id, t.mode "
    "FROM trades t JOIN orders o ON o.id = t.order_row WHERE t.mode IN ({marks}) AND NOT "
    "EXISTS (SELECT 1 FROM bucket_transactions b WHERE b.source_kind = 'trade' AND "
    "b.source_id = t.trade_key) ORDER BY t.id")
_UNSETTLED_EXCHANGES = (
    "SELECT * FROM fx_trades f WHERE f.mode IN ({marks}) AND NOT EXISTS (SELECT 1 FROM "
    "bucket_transactions b WHERE b.source_kind = 'trade' AND b.source_id = f.trade_key) "
    "ORDER BY f.id")
_UNBOOKED_FEES = (
    "SELECT t.trade_key, COALESCE(o.bucket_id, t.bucket_id) AS bucket_id, t.fee, "
    "t.currency, t.value, (SELECT b.amount FROM bucket_transactions b WHERE "
    "b.source_kind = 'trade' AND b.source_id = t.trade_key LIMIT 1) AS settled "
    "FROM trades t JOIN orders o ON o.id = t.order_row WHERE t.mode IN ({marks}) "
    "AND t.fee IS NOT NULL AND NOT EXISTS (SELECT 1 FROM bucket_transactions b WHERE "
    "b.source_kind = 'trade' AND b.source_id = t.trade_key || ':fee') "
    "UNION ALL SELECT f.trade_key, f.bucket_id, f.fee, f.quote_currency, NULL, "
    "(SELECT b.amount FROM bucket_transactions b WHERE b.source_kind = 'trade' AND "
    "b.source_id = f.trade_key LIMIT 1) FROM fx_trades f WHERE f.mode IN ({marks}) AND "
    "f.fee IS NOT NULL AND NOT EXISTS (SELECT 1 FROM bucket_transactions b WHERE "
    "b.source_kind = 'trade' AND b.source_id = f.trade_key || ':fee')")


def unsettled_fills(db: Database, modes: Sequence[str]) -> list[sqlite3.Row]:
    """Fills of our own orders (``modes``) that no ledger row settles yet, oldest first:
    their in-memory ``TradeExecuted`` was lost (a crash after the fill's commit) or never
    sent (the broker sync stored the fill first)."""
    marks = ", ".join("?" for _ in modes)
    return list(db.fetch_all(_UNSETTLED_FILLS.format(marks=marks), tuple(modes)))


def unsettled_exchanges(db: Database, modes: Sequence[str]) -> list[sqlite3.Row]:
    """``fx_trades`` rows (``modes``) that no ledger row settles yet, oldest first."""
    marks = ", ".join("?" for _ in modes)
    return list(db.fetch_all(_UNSETTLED_EXCHANGES.format(marks=marks), tuple(modes)))


def unbooked_fees(db: Database, modes: Sequence[str]) -> list[sqlite3.Row]:
    """Known commissions of our fills and exchanges with no fee row yet: trade key,
    bucket, fee, its currency, the fill's value (None for an exchange) and the amount
    of its settlement row (None while the fill itself is unsettled)."""
    marks = ", ".join("?" for _ in modes)
    return list(db.fetch_all(_UNBOOKED_FEES.format(marks=marks),
                             tuple(modes) + tuple(modes)))


def bucket_trades(db: Database, bucket_id: str, symbol: str,
                  modes: Sequence[str]) -> list[TradeRow]:
    """Fills of one bucket in one symbol (the given ledger modes), oldest first."""
    marks = ", ".join("?" for _ in modes)
    rows = db.fetch_all(_TRADE_SQL + f" WHERE bucket_id = ? AND symbol = ? AND mode IN "
                        f"({marks}) ORDER BY executed_at, id", (bucket_id, symbol, *modes))
    return [_trade_from_row(r) for r in rows]


def holdings(db: Database, modes: Sequence[str]) -> dict[str, dict[str, Decimal]]:
    """{bucket_id: {symbol: net quantity}} from the fills of the given ledger modes."""
    marks = ", ".join("?" for _ in modes)
    rows = db.fetch_all(f"SELECT bucket_id, symbol, side, quantity FROM trades "  # noqa: S608
                        f"WHERE mode IN ({marks})", tuple(modes))
    out: dict[str, dict[str, Decimal]] = {}
    for r in rows:
        qty = Decimal(r["quantity"]) * (1 if r["side"] == "BUY" else -1)
        per = out.setdefault(r["bucket_id"], {})
        per[r["symbol"]] = per.get(r["symbol"], ZERO) + qty
    return {b: {s: q for s, q in per.items() if q != 0} for b, per in out.items()}


def all_trades(db: Database, modes: Sequence[str]) -> list[TradeRow]:
    """Every fill of the given ledger modes, oldest first (average costs per bucket)."""
    marks = ", ".join("?" for _ in modes)
    rows = db.fetch_all(_TRADE_SQL + f" WHERE mode IN ({marks}) "
                        "ORDER BY executed_at, id", tuple(modes))
    return [_trade_from_row(r) for r in rows]


def closed_trades(db: Database, bucket_id: str) -> list[ClosedTrade]:
    """Realised P&L of the bucket's closed sells, oldest first."""
    rows = db.fetch_all("SELECT closed_at, realized_pnl FROM bucket_trade_results "
                        "WHERE bucket_id = ? ORDER BY closed_at", (bucket_id,))
    return [ClosedTrade(closed_at=_req_dt(r["closed_at"]),
                        realized_pnl=Decimal(r["realized_pnl"])) for r in rows]


def record_values(db: Database, day: date, values_eur: Mapping[str, Decimal],
                  flows_eur: Mapping[str, Decimal]) -> None:
    """Store (replace) the day's value and net external flow of each bucket."""
    with db.transaction() as tx:
        tx.executemany(
            "INSERT INTO bucket_value_history (bucket_id, day, value_eur, net_flow_eur) "
            "VALUES (?, ?, ?, ?) ON CONFLICT (bucket_id, day) DO UPDATE SET "
            "value_eur = excluded.value_eur, net_flow_eur = excluded.net_flow_eur",
            [(b, day.isoformat(), decimal_to_str(v), decimal_to_str(flows_eur.get(b, ZERO)))
             for b, v in sorted(values_eur.items())])


def value_series(db: Database, bucket_id: str) -> list[ValuePoint]:
    """The bucket's daily value points, oldest first."""
    rows = db.fetch_all("SELECT day, value_eur, net_flow_eur FROM bucket_value_history "
                        "WHERE bucket_id = ? ORDER BY day", (bucket_id,))
    return [ValuePoint(day=date.fromisoformat(r["day"]), value_eur=Decimal(r["value_eur"]),
                       net_flow_eur=Decimal(r["net_flow_eur"])) for r in rows]


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


def security_buckets(db: Database) -> dict[str, str]:
    """{symbol: bucket_id} of every security (core when it has no assignment)."""
    rows = db.fetch_all("SELECT s.symbol AS symbol, COALESCE(b.bucket_id, 'core') AS "
                        "bucket_id FROM securities s LEFT JOIN security_buckets b "
                        "ON b.isin = s.isin")
    return {r["symbol"]: r["bucket_id"] for r in rows}


def assign_security(db: Database, isin: str, bucket_id: str, now: datetime) -> bool:
    """Put a security in a bucket's universe (core removes the assignment); False when
    the security is unknown."""
    with db.transaction() as tx:
        known = tx.fetch_one("SELECT 1 FROM securities WHERE isin = ?", (isin,))
        if known is None:
            return False
        if bucket_id == "core":
            tx.execute("DELETE FROM security_buckets WHERE isin = ?", (isin,))
        else:
            tx.execute(
                "INSERT INTO security_buckets (isin, bucket_id, updated_at) VALUES (?, ?, ?) "
                "ON CONFLICT (isin) DO UPDATE SET bucket_id = excluded.bucket_id, "
                "updated_at = excluded.updated_at", (isin, bucket_id, _ts(now)))
    return True
