"""The satellites store's trade side: the executor's fills and exchanges as settlement
reads them (those the ledger lacks, per-bucket holdings and costs), the realised results
of closed sells and each bucket's daily value history (migrations 0600 and 0610)."""

from __future__ import annotations

import sqlite3
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import date, datetime
from decimal import Decimal

from arduino_trader.domain.satellites.performance import ClosedTrade, ValuePoint
from arduino_trader.protocols.execution import CurrencyExchanged, TradeExecuted
from arduino_trader.protocols.money import ZERO, decimal_to_str
from arduino_trader.protocols.store import Database

from .epoch import from_epoch


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
                    executed_at=from_epoch(r["executed_at"]))


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


@dataclass(frozen=True)
class UnbookedFee:
    """A known commission of a fill or an exchange that has no fee row in the ledger."""

    trade_key: str
    bucket_id: str
    fee: Decimal
    currency: str
    value: Decimal | None
    """The fill's value (None for an exchange)."""
    settled: Decimal | None
    """The amount of the trade's settlement row (None while it is unsettled)."""


def _decimal(value: str | None) -> Decimal | None:
    return None if value is None else Decimal(value)


def unsettled_fills(db: Database, modes: Sequence[str]) -> tuple[TradeExecuted, ...]:
    """Fills of our own orders (``modes``) that no ledger row settles yet, oldest first,
    as the executor published them: their in-memory ``TradeExecuted`` was lost (a crash
    after the fill's commit) or never sent (the broker sync stored the fill first)."""
    marks = ", ".join("?" for _ in modes)
    rows = db.fetch_all(_UNSETTLED_FILLS.format(marks=marks), tuple(modes))
    return tuple(TradeExecuted(
        r["trade_key"], r["isin"], r["symbol"], r["side"], Decimal(r["quantity"]),
        Decimal(r["price"]), r["currency"], from_epoch(r["executed_at"]), r["source"],
        r["bucket_id"], r["mode"]) for r in rows)


def unsettled_exchanges(db: Database, modes: Sequence[str]
                        ) -> tuple[CurrencyExchanged, ...]:
    """Exchange fills (``modes``) that no ledger row settles yet, oldest first, as the
    executor published them."""
    marks = ", ".join("?" for _ in modes)
    rows = db.fetch_all(_UNSETTLED_EXCHANGES.format(marks=marks), tuple(modes))
    return tuple(CurrencyExchanged(
        r["trade_key"], r["symbol"], r["side"], r["base_currency"], Decimal(r["base_amount"]),
        r["quote_currency"], Decimal(r["quote_amount"]), Decimal(r["price"]),
        from_epoch(r["executed_at"]), r["source"], r["bucket_id"], r["mode"]) for r in rows)


def unbooked_fees(db: Database, modes: Sequence[str]) -> tuple[UnbookedFee, ...]:
    """Known commissions of our fills and exchanges with no fee row yet."""
    marks = ", ".join("?" for _ in modes)
    rows = db.fetch_all(_UNBOOKED_FEES.format(marks=marks), tuple(modes) + tuple(modes))
    return tuple(UnbookedFee(r["trade_key"], r["bucket_id"], Decimal(r["fee"]), r["currency"],
                             _decimal(r["value"]), _decimal(r["settled"])) for r in rows)


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
    return [ClosedTrade(closed_at=from_epoch(r["closed_at"]),
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

