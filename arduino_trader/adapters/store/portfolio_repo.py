"""Store access for the portfolio tables (migration 0700): positions, cash, daily
snapshots and their per-holding values; plus the broker trade-history import into the
``trades`` ledger (keyed ``<mode>:<broker trade id>`` as the executor keys its fills, and
attributed to our own orders: one row per fill whichever path stores it first). Money is
exact TEXT; a read that meets an unreadable row skips it and says so."""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from decimal import Decimal, InvalidOperation
from typing import Any

from arduino_trader.domain.fx_exchange import is_fx_symbol
from arduino_trader.domain.valuation import Valuation
from arduino_trader.protocols.broker import Trade
from arduino_trader.protocols.money import decimal_to_str
from arduino_trader.protocols.portfolio import TradeFeeRecorded
from arduino_trader.protocols.store import Database

from . import market_repo
from .fill_attribution import journal_entry_for_trade

EXTERNAL_FLOW_KINDS = ("deposit", "withdrawal")


def _ts(moment: datetime) -> int:
    return int(moment.timestamp())


def _iso(seconds: int | None) -> str | None:
    return None if seconds is None else datetime.fromtimestamp(int(seconds), UTC).isoformat()


def _text(amount: Decimal | None) -> str | None:
    return None if amount is None else decimal_to_str(amount)


def to_decimal(text: Any) -> Decimal | None:
    """A stored money text as Decimal, None when absent or unreadable."""
    if text is None:
        return None
    try:
        value = Decimal(str(text))
    except (InvalidOperation, ValueError):
        return None
    return value if value.is_finite() else None


# -------------------------------------------------------------------- reference data
def securities_by_symbol(db: Database) -> dict[str, dict[str, Any]]:
    """Universe facts keyed by broker symbol."""
    rows = db.fetch_all("SELECT isin, symbol, name, country, industry, exchange "
                        "FROM securities")
    return {str(r["symbol"]): {k: r[k] for k in r.keys()} for r in rows}


def stored_eur_rates(db: Database, currencies: Iterable[str], on: date | None = None,
                     max_age_days: int | None = None) -> dict[str, Decimal]:
    """The newest stored EUR rate of each currency on or before ``on``, at most
    ``max_age_days`` older than it (absent and stale currencies are left out)."""
    out: dict[str, Decimal] = {}
    for code in sorted(set(currencies)):
        rate = None if code == "EUR" else market_repo.read_fx(db, code, on)
        if rate is not None and rate.eur_per > 0 and (max_age_days is None or on is None or (
                on - rate.day).days <= max_age_days):
            out[code] = rate.eur_per
    return out


def net_external_flow(db: Database, day: date) -> Decimal:
    """Completed deposits minus withdrawals of ``day`` (EUR, signed), from the cash-flow
    ledger (a pending deposit is not in the broker's cash yet)."""
    rows = db.fetch_all(
        "SELECT amount_eur FROM cash_flows WHERE date = ? AND kind IN (?, ?) "
        "AND status = 'completed'", (day.isoformat(), *EXTERNAL_FLOW_KINDS))
    return sum((to_decimal(r["amount_eur"]) or Decimal(0) for r in rows), Decimal(0))


# ------------------------------------------------------------------------ writes
def save_account(db: Database, valuation: Valuation, now: datetime,
                 mode: str = "live") -> dict[str, int]:
    """Upsert positions and cash in one transaction; delete what the broker no longer has.

    ``bucket_id`` of a kept position survives; ``first_bought_at``/``last_sold_at`` are
    refreshed from the trade ledger's ``mode`` trades (the broker's own records).
    """
    ts = _ts(now)
    symbols = [p.symbol for p in valuation.positions]
    with db.transaction() as tx:
        tx.executemany(
            "INSERT INTO portfolio_positions (symbol, isin, quantity, avg_price, currency,"
            " eur_per, current_price, market_value, market_value_eur, cost_basis_eur,"
            " unrealized_pnl_eur, unrealized_pnl_pct, price_updated_at, last_updated)"
            " VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?) ON CONFLICT (symbol) DO"
            " UPDATE SET isin = excluded.isin, quantity = excluded.quantity,"
            " avg_price = excluded.avg_price, currency = excluded.currency,"
            " eur_per = excluded.eur_per, current_price = excluded.current_price,"
            " market_value = excluded.market_value,"
            " market_value_eur = excluded.market_value_eur,"
            " cost_basis_eur = excluded.cost_basis_eur,"
            " unrealized_pnl_eur = excluded.unrealized_pnl_eur,"
            " unrealized_pnl_pct = excluded.unrealized_pnl_pct,"
            " price_updated_at = excluded.price_updated_at,"
            " last_updated = excluded.last_updated",
            [(p.symbol, p.isin, decimal_to_str(p.quantity), decimal_to_str(p.avg_price),
              p.currency, _text(p.eur_per), decimal_to_str(p.current_price),
              decimal_to_str(p.market_value), _text(p.market_value_eur),
              _text(p.cost_basis_eur), _text(p.unrealized_pnl_eur), p.unrealized_pnl_pct,
              ts, ts) for p in valuation.positions])
        cur = tx.execute("DELETE FROM portfolio_positions WHERE symbol NOT IN "
                         "(SELECT value FROM json_each(?))", (json.dumps(symbols),))
        removed = int(cur.rowcount or 0)
        tx.execute(
            "UPDATE portfolio_positions SET "
            "first_bought_at = (SELECT MIN(executed_at) FROM trades t WHERE t.side = 'BUY' AND"
            " t.mode = ? AND t.isin = portfolio_positions.isin), "
            "last_sold_at = (SELECT MAX(executed_at) FROM trades t WHERE t.side = 'SELL' AND"
            " t.mode = ? AND t.isin = portfolio_positions.isin)", (mode, mode))
        currencies = [c.currency for c in valuation.cash]
        tx.executemany(
            "INSERT INTO portfolio_cash (currency, amount, eur_per, amount_eur, "
            "last_updated) VALUES (?, ?, ?, ?, ?) ON CONFLICT (currency) DO UPDATE SET "
            "amount = excluded.amount, eur_per = excluded.eur_per, "
            "amount_eur = excluded.amount_eur, last_updated = excluded.last_updated",
            [(c.currency, decimal_to_str(c.amount), _text(c.eur_per), _text(c.amount_eur),
              ts) for c in valuation.cash])
        tx.execute("DELETE FROM portfolio_cash WHERE currency NOT IN "
                   "(SELECT value FROM json_each(?))", (json.dumps(currencies),))
    return {"positions": len(symbols), "removed": removed, "currencies": len(currencies)}


@dataclass(frozen=True)
class SnapshotRow:
    """One daily snapshot as written (EUR)."""

    day: date
    total_value: Decimal
    cash_balance: Decimal
    invested_value: Decimal
    unrealized_pnl: Decimal
    geo: Mapping[str, float]
    position_count: int
    net_external_flow_eur: Decimal
    holdings: Mapping[str, tuple[str | None, Decimal]] = field(default_factory=dict)
    annual_turnover: float | None = None


def upsert_snapshot(db: Database, snap: SnapshotRow, now: datetime) -> None:
    """Insert or replace the snapshot of ``snap.day`` and its holdings (one transaction)."""
    day = snap.day.isoformat()
    with db.transaction() as tx:
        tx.execute(
            "INSERT INTO portfolio_snapshots (date, total_value, cash_balance, invested_value,"
            " unrealized_pnl, geo_eu_pct, geo_asia_pct, geo_us_pct, position_count,"
            " annual_turnover, net_external_flow_eur, updated_at) VALUES"
            " (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?) ON CONFLICT (date) DO UPDATE SET"
            " total_value = excluded.total_value, cash_balance = excluded.cash_balance,"
            " invested_value = excluded.invested_value,"
            " unrealized_pnl = excluded.unrealized_pnl, geo_eu_pct = excluded.geo_eu_pct,"
            " geo_asia_pct = excluded.geo_asia_pct, geo_us_pct = excluded.geo_us_pct,"
            " position_count = excluded.position_count,"
            " annual_turnover = excluded.annual_turnover,"
            " net_external_flow_eur = excluded.net_external_flow_eur,"
            " updated_at = excluded.updated_at",
            (day, decimal_to_str(snap.total_value), decimal_to_str(snap.cash_balance),
             decimal_to_str(snap.invested_value), decimal_to_str(snap.unrealized_pnl),
             snap.geo.get("EU", 0.0), snap.geo.get("ASIA", 0.0), snap.geo.get("US", 0.0),
             snap.position_count, snap.annual_turnover,
             decimal_to_str(snap.net_external_flow_eur), _ts(now)))
        tx.execute("DELETE FROM portfolio_snapshot_positions WHERE date = ?", (day,))
        tx.executemany(
            "INSERT INTO portfolio_snapshot_positions (date, symbol, isin, value_eur) "
            "VALUES (?, ?, ?, ?)",
            [(day, symbol, isin, decimal_to_str(value))
             for symbol, (isin, value) in sorted(snap.holdings.items())])


# (read, write) per ledger: a fill stored without its fee, and storing it. An exchange's
# fee is in its quote currency.
_FEE_SQL: dict[bool, tuple[str, str]] = {
    False: ("SELECT bucket_id, currency FROM trades WHERE trade_key = ? AND fee IS NULL",
            "UPDATE trades SET fee = ? WHERE trade_key = ?"),
    True: ("SELECT bucket_id, quote_currency AS currency FROM fx_trades "
           "WHERE trade_key = ? AND fee IS NULL",
           "UPDATE fx_trades SET fee = ? WHERE trade_key = ?"),
}


def _stored_fills(tx: Any, keys: Sequence[str]) -> dict[bool, dict[str, bool]]:
    """Which of ``keys`` each ledger (True: the FX ledger) holds: {key: stored without a
    fee}, in one read."""
    rows = tx.fetch_all(
        "SELECT 0 AS fx, trade_key, fee IS NULL AS no_fee FROM trades WHERE trade_key IN "
        "(SELECT value FROM json_each(?)) UNION ALL "
        "SELECT 1, trade_key, fee IS NULL FROM fx_trades WHERE trade_key IN "
        "(SELECT value FROM json_each(?))", (json.dumps(keys),) * 2)
    out: dict[bool, dict[str, bool]] = {False: {}, True: {}}
    for r in rows:
        out[bool(r["fx"])][str(r["trade_key"])] = bool(r["no_fee"])
    return out


def _learn_fee(tx: Any, exchange: bool, key: str,
               fee: Decimal) -> tuple[str, str] | None:
    """Store ``fee`` on the fill ``key`` (FX ledger when ``exchange``) if it has none yet;
    returns the fill's (bucket, fee currency) when it did."""
    read, write = _FEE_SQL[exchange]
    row = tx.fetch_one(read, (key,))
    if row is None:
        return None
    tx.execute(write, (_text(fee), key))
    return str(row["bucket_id"]), str(row["currency"])


def import_broker_trades(db: Database, trades: Sequence[Trade], mode: str,
                         isins: Mapping[str, str], eur_per: Mapping[str, Decimal],
                         now: datetime) -> dict[str, Any]:
    """Store broker trades not yet in the ledger (``INSERT OR IGNORE`` on the trade key).

    A fill of our own order is stored as its order's (``fill_attribution``; ``ours``
    counts them) for the executor to publish; other trades are ``broker_sync`` in core. A
    trade of a symbol outside the universe is skipped and named (the ledger needs the
    ISIN); a currency exchange (an FX-pair trade: no position, its fills belong to the FX
    ledger) is skipped and counted; a trade without a stored FX rate is kept with its EUR
    value unknown (NULL). A known trade stored without its commission (an executor fill)
    gets the broker's, once: ``fees_learned`` lists them as events to publish.
    """
    inserted = ours = exchanges = 0
    unknown: list[str] = []
    fees: list[TradeFeeRecorded] = []
    with db.transaction() as tx:
        # Each sync re-reads a window of trades the ledger mostly holds already: one read
        # tells which are stored (and which still lack their fee).
        stored = _stored_fills(tx, [f"{mode}:{t.trade_id}" for t in trades])
        for t in trades:
            key = f"{mode}:{t.trade_id}"
            fx = is_fx_symbol(t.symbol)
            exchanges += fx
            if t.fee is not None and stored[fx].get(key):  # stored by the executor, no fee
                learned = _learn_fee(tx, fx, key, t.fee)
                if learned is not None and t.fee > 0:
                    fees.append(TradeFeeRecorded(key, learned[0], t.fee, learned[1], mode))
                if learned is not None:
                    continue
            if fx:
                continue
            isin = isins.get(t.symbol)
            if isin is None:
                unknown.append(t.symbol)
                continue
            if key in stored[False]:
                continue  # INSERT OR IGNORE would change nothing
            rate = Decimal(1) if t.currency == "EUR" else eur_per.get(t.currency)
            order = journal_entry_for_trade(tx, mode, t)  # ours: its order's facts
            cur = tx.execute(
                "INSERT OR IGNORE INTO trades (trade_key, order_row, broker_order_id, isin,"
                " symbol, side, quantity, price, value, currency, currency_rate, value_eur,"
                " fee, executed_at, source, bucket_id, mode, created_at, published_at)"
                " VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                (key, None if order is None else int(order["id"]), t.order_id, isin, t.symbol,
                 t.side, decimal_to_str(t.quantity), decimal_to_str(t.price),
                 decimal_to_str(t.value), t.currency,
                 None if not rate else decimal_to_str(Decimal(1) / rate),
                 None if not rate else decimal_to_str(round(t.value * rate, 6)),
                 _text(t.fee), _ts(t.executed_at or now),
                 "broker_sync" if order is None else str(order["source"]),
                 "core" if order is None else str(order["bucket_id"]), mode, _ts(now),
                 _ts(now) if order is None else None))  # ours: the executor announces it
            inserted += int(cur.rowcount or 0)
            ours += int(cur.rowcount or 0) * (order is not None)
            stored[False][key] = t.fee is None
    return {"received": len(trades), "inserted": inserted, "ours": ours,
            "currency_exchanges": exchanges, "unknown_symbols": sorted(set(unknown)),
            "fees_learned": fees}


def apply_latest_prices(db: Database, now: datetime) -> int:
    """Revalue positions whose stored latest quote (same currency) is newer than theirs."""
    rows = db.fetch_all(
        "SELECT p.symbol, p.quantity, p.avg_price, p.eur_per, lp.price, lp.as_of "
        "FROM portfolio_positions p JOIN latest_prices lp ON lp.isin = p.isin "
        "AND lp.currency = p.currency WHERE lp.as_of > p.price_updated_at")
    updates = []
    for r in rows:
        qty, avg = to_decimal(r["quantity"]), to_decimal(r["avg_price"])
        if qty is None or avg is None:
            continue
        price = Decimal(repr(float(r["price"])))
        rate = to_decimal(r["eur_per"])
        value = qty * price
        value_eur = None if rate is None else round(value * rate, 2)
        cost_eur = None if rate is None else round(qty * avg * rate, 2)
        pnl = None if value_eur is None or cost_eur is None else value_eur - cost_eur
        cost = qty * avg
        pct = float((value - cost) / cost * 100) if cost > 0 else None
        updates.append((decimal_to_str(price), decimal_to_str(value), _text(value_eur),
                        _text(pnl), pct, int(r["as_of"]), _ts(now), r["symbol"]))
    if updates:
        with db.transaction() as tx:
            tx.executemany(
                "UPDATE portfolio_positions SET current_price = ?, market_value = ?, "
                "market_value_eur = ?, unrealized_pnl_eur = ?, unrealized_pnl_pct = ?, "
                "price_updated_at = ?, last_updated = ? WHERE symbol = ?", updates)
    return len(updates)


# ------------------------------------------------------------------------- reads
def _row(row: sqlite3.Row, times: Sequence[str] = ()) -> dict[str, Any]:
    out = {k: row[k] for k in row.keys()}
    for key in times:
        out[key] = _iso(out.get(key))
    return out


def list_positions(db: Database) -> list[dict[str, Any]]:
    """Positions with universe facts, by EUR value descending (unknown values last)."""
    rows = db.fetch_all(
        "SELECT p.*, s.name AS name, s.industry AS industry, s.country AS country, "
        "s.exchange AS exchange FROM portfolio_positions p "
        "LEFT JOIN securities s ON s.isin = p.isin")
    out = [_row(r, ("first_bought_at", "last_sold_at", "price_updated_at", "last_updated"))
           for r in rows]
    out.sort(key=lambda p: (to_decimal(p["market_value_eur"]) is None,
                            -(to_decimal(p["market_value_eur"]) or Decimal(0)), p["symbol"]))
    return out


def list_cash(db: Database) -> list[dict[str, Any]]:
    """Cash per currency as last synced."""
    rows = db.fetch_all("SELECT * FROM portfolio_cash ORDER BY currency")
    return [_row(r, ("last_updated",)) for r in rows]


def last_sync(db: Database) -> str | None:
    """When the portfolio was last synced (ISO), or None."""
    row = db.fetch_one("SELECT MAX(last_updated) AS at FROM portfolio_cash")
    return None if row is None else _iso(row["at"])


def read_snapshots(db: Database, since: date) -> tuple[list[dict[str, Any]], list[str]]:
    """Snapshots from ``since`` (oldest first) and the dates of unreadable rows."""
    rows = db.fetch_all("SELECT * FROM portfolio_snapshots WHERE date >= ? "
                        "ORDER BY date", (since.isoformat(),))
    good: list[dict[str, Any]] = []
    bad: list[str] = []
    for r in rows:
        row = _row(r, ("updated_at",))
        try:
            date.fromisoformat(str(row["date"]))
        except ValueError:
            bad.append(str(row["date"]))
            continue
        money = [to_decimal(row[k]) for k in ("total_value", "cash_balance", "invested_value",
                                               "net_external_flow_eur")]
        if any(m is None for m in money):
            bad.append(str(row["date"]))
            continue
        good.append(row)
    return good, bad


def snapshot_totals(db: Database, since: date) -> dict[str, float]:
    """``{ISO day: total EUR}`` of the snapshots from ``since``, oldest first; rows whose
    date or total is unreadable are left out (:func:`read_snapshots` without the rest
    of each row: the sync cycle's turnover needs only the totals)."""
    rows = db.fetch_all("SELECT date, total_value FROM portfolio_snapshots "
                        "WHERE date >= ? ORDER BY date", (since.isoformat(),))
    out: dict[str, float] = {}
    for day, total in rows:
        value = to_decimal(total)
        if value is None:
            continue
        try:
            date.fromisoformat(str(day))
        except ValueError:
            continue
        out[str(day)] = float(value)
    return out


def snapshot_holdings(db: Database, since: date) -> dict[str, dict[str, float]]:
    """Per snapshot day, the EUR value of each holding (keyed by ISIN, else symbol)."""
    rows = db.fetch_all("SELECT date, symbol, isin, value_eur FROM "
                        "portfolio_snapshot_positions WHERE date >= ?",
                        (since.isoformat(),))
    out: dict[str, dict[str, float]] = {}
    for r in rows:
        value = to_decimal(r["value_eur"])
        if value is not None:
            out.setdefault(str(r["date"]), {})[str(r["isin"] or r["symbol"])] = float(value)
    return out


def trade_volume_eur(db: Database, mode: str, since: datetime) -> dict[str, Any]:
    """EUR bought and sold since ``since`` in ``mode``; trades of unknown EUR value counted."""
    rows = db.fetch_all("SELECT side, value_eur FROM trades WHERE mode = ? AND "
                        "executed_at >= ?", (mode, _ts(since)))
    buys = sells = Decimal(0)
    unvalued = 0
    for r in rows:
        value = to_decimal(r["value_eur"])
        if value is None:
            unvalued += 1
        elif r["side"] == "BUY":
            buys += value
        else:
            sells += value
    return {"buys": buys, "sells": sells, "count": len(rows), "unvalued": unvalued}


def withdrawals(db: Database) -> list[dict[str, Any]]:
    """Withdrawals from the cash-flow ledger, newest first."""
    rows = db.fetch_all(
        "SELECT transaction_id, date, amount, currency, amount_eur, status, description "
        "FROM cash_flows WHERE kind = 'withdrawal' ORDER BY date DESC, id DESC")
    return [_row(r) for r in rows]


def running_job(db: Database, names: Sequence[str], since: datetime) -> str | None:
    """The newest of ``names`` with an unfinished run (the scheduler's ``job_runs``)
    started at or after ``since``; None when none is running."""
    if not names:
        return None
    marks = ", ".join("?" for _ in names)
    row = db.fetch_one(
        f"SELECT job FROM job_runs WHERE finished_at IS NULL AND started_at >= ? "  # noqa: S608
        f"AND job IN ({marks}) ORDER BY started_at DESC LIMIT 1",
        (_ts(since), *names))
    return None if row is None else str(row["job"])
