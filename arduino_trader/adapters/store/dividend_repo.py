"""Dividends in the store (migration 0500): the dividend rows the cash-flow sync books
(and the owner's manual entries), their DRIP view, the euros a confirmed fill consumed
(one transaction per fill, a replayed fill consumes nothing), and the pending bonuses."""

from __future__ import annotations

import sqlite3
from collections.abc import Sequence
from datetime import date, datetime, timedelta
from decimal import Decimal
from typing import Any

from arduino_trader.domain.dividends import Consumption, Dividend
from arduino_trader.protocols.cash_flow_store import DividendRow
from arduino_trader.protocols.execution import TradeExecuted
from arduino_trader.protocols.money import ZERO, decimal_to_str
from arduino_trader.protocols.store import Database, Transaction

from . import dividend_net
from .epoch import from_epoch


def _ts(moment: datetime) -> int:
    return int(moment.timestamp())


def _s(value: Decimal) -> str:
    return decimal_to_str(value)


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


# A fill is funded only by dividends paid before it: paid on its day at the latest, with a
# day's slack for the broker's payment date being a local one.
FUNDING_SLACK = timedelta(days=1)

_UNCONSUMED_DRIP_FILLS = (
    "SELECT t.trade_key, t.isin, t.symbol, t.side, t.quantity, t.price, t.currency, "
    "t.executed_at, t.source, COALESCE(o.bucket_id, t.bucket_id) AS bucket_id, t.mode "
    "FROM trades t LEFT JOIN orders o ON o.id = t.order_row "
    "WHERE t.source = 'drip' AND t.side = 'BUY' "
    "AND NOT EXISTS (SELECT 1 FROM dividend_allocations a WHERE a.fill_key = t.trade_key) "
    "AND EXISTS (SELECT 1 FROM dividend_history d WHERE d.reinvested = 0 "
    "AND d.symbol = t.symbol AND d.bucket_id = COALESCE(o.bucket_id, t.bucket_id) "
    "AND d.payment_date <= date(t.executed_at, 'unixepoch', ?)) "
    "ORDER BY t.executed_at, t.id")


def funds_fill(dividend: Dividend, executed_at: datetime) -> bool:
    """Whether ``dividend`` was paid early enough to fund a fill executed at ``executed_at``."""
    return dividend.payment_date <= executed_at.date() + FUNDING_SLACK


def unconsumed_drip_fills(db: Database) -> list[TradeExecuted]:
    """Stored DRIP buy fills that consumed no dividend euros yet although an unreinvested
    dividend paid before them could fund them (their event was lost, or booking it
    lacked a rate), oldest first, as the executor published them."""
    return [TradeExecuted(r["trade_key"], r["isin"], r["symbol"], r["side"],
                          Decimal(r["quantity"]), Decimal(r["price"]), r["currency"],
                          from_epoch(r["executed_at"]), r["source"], r["bucket_id"],
                          r["mode"])
            for r in db.fetch_all(_UNCONSUMED_DRIP_FILLS, (f"+{FUNDING_SLACK.days} days",))]


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


def record_payment(tx: Transaction, rows: Sequence[DividendRow], now: datetime) -> None:
    """Store the dividend rows one broker payment was split into, in ``tx``.

    A payment the owner recorded by hand first (a row with no cash flow, of the same
    instrument, day, currency and amount) is that row: it is linked to the cash flow
    and nothing is added, so the payment is reinvested once. A replay adds nothing.
    """
    if not rows:
        return
    first = rows[0]
    total = sum((r.amount for r in rows), ZERO)
    for manual in tx.fetch_all(
            "SELECT id, amount FROM dividend_history WHERE cash_flow_id IS NULL "
            "AND payment_date = ? AND currency = ? AND (symbol = ? OR (isin <> '' "
            "AND isin = ?)) ORDER BY id",
            (first.payment_date.isoformat(), first.currency, first.symbol, first.isin)):
        if Decimal(manual["amount"]) == total:
            tx.execute("UPDATE dividend_history SET cash_flow_id = ? WHERE id = ?",
                       (first.cash_flow_key, manual["id"]))
            return
    for d in rows:
        tx.execute(
            "INSERT INTO dividend_history (symbol, isin, cash_flow_id, bucket_id, amount, "
            "currency, amount_eur, payment_date, created_at) "
            "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?) ON CONFLICT (cash_flow_id, bucket_id) DO NOTHING",
            (d.symbol, d.isin, d.cash_flow_key, d.bucket_id, _s(d.amount), d.currency,
             _s(d.amount_eur), d.payment_date.isoformat(), _ts(now)))


class DuplicateDividend(Exception):
    """The dividend is recorded already (by hand or by the broker sync): ``existing_id``."""

    def __init__(self, existing_id: int) -> None:
        super().__init__(f"the same dividend is recorded already as {existing_id}")
        self.existing_id = existing_id


def create_dividend(db: Database, fields: dict[str, Any], now: datetime) -> int:
    """A manual dividend entry (no cash flow); returns its id.

    Raises :class:`DuplicateDividend` when a dividend of the same instrument (symbol or
    ISIN), payment date, currency and amount is stored already — a manual entry, or the
    rows one broker payment was split into (their sum) — so a retried request or a copy
    of a synced payment is never reinvested twice. Checked and written in one
    transaction."""
    with db.transaction() as tx:
        rows = tx.fetch_all(
            "SELECT id, cash_flow_id, amount FROM dividend_history WHERE payment_date = ? "
            "AND currency = ? AND (symbol = ? OR (isin <> '' AND isin = ?)) ORDER BY id",
            (fields["payment_date"], fields["currency"], fields["symbol"],
             fields.get("isin", "")))
        paid: dict[str, tuple[int, Decimal]] = {}
        for r in rows:
            key = str(r["cash_flow_id"]) if r["cash_flow_id"] else f"manual:{r['id']}"
            first, total = paid.get(key, (int(r["id"]), ZERO))
            paid[key] = (first, total + Decimal(r["amount"]))
        same = [first for first, total in paid.values() if total == fields["amount"]]
        if same:
            raise DuplicateDividend(same[0])
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
