"""Store access for the portfolio tables (migration 0700): the account's positions and
cash as the broker reports them, their revaluation at stored quotes, and the reads of
positions, cash, trade volume, withdrawals and running jobs. Daily snapshots live in
``snapshot_repo``, the broker trade-history import in ``broker_trade_import``. Money is
exact TEXT; a read that meets an unreadable row skips it and says so."""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Iterable, Sequence
from datetime import UTC, date, datetime
from decimal import Decimal, InvalidOperation
from typing import Any

from arduino_trader.domain.valuation import Valuation
from arduino_trader.protocols.money import decimal_to_str
from arduino_trader.protocols.store import Database

from . import market_repo

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
def row_dict(row: sqlite3.Row, times: Sequence[str] = ()) -> dict[str, Any]:
    """A stored row as a dict, the UNIX times named in ``times`` as ISO text."""
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
    out = [row_dict(r, ("first_bought_at", "last_sold_at", "price_updated_at",
                        "last_updated")) for r in rows]
    out.sort(key=lambda p: (to_decimal(p["market_value_eur"]) is None,
                            -(to_decimal(p["market_value_eur"]) or Decimal(0)), p["symbol"]))
    return out


def list_cash(db: Database) -> list[dict[str, Any]]:
    """Cash per currency as last synced."""
    rows = db.fetch_all("SELECT * FROM portfolio_cash ORDER BY currency")
    return [row_dict(r, ("last_updated",)) for r in rows]


def last_sync(db: Database) -> str | None:
    """When the portfolio was last synced (ISO), or None."""
    row = db.fetch_one("SELECT MAX(last_updated) AS at FROM portfolio_cash")
    return None if row is None else _iso(row["at"])

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
    return [row_dict(r) for r in rows]


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
