"""The bucket-trades port on SQLite (:class:`SqliteBucketTrades`): the executor's fills
and exchanges as settlement reads them (those the ledger lacks, per-bucket holdings and
costs), the realised results of closed sells and each bucket's daily value history
(migrations 0600 and 0610)."""

from __future__ import annotations

import sqlite3
from collections.abc import Mapping, Sequence
from datetime import date
from decimal import Decimal

from arduino_trader.protocols.bucket_trades import (
    BucketTrades,
    ClosedTrade,
    StoredFill,
    UnbookedFee,
    ValuePoint,
)
from arduino_trader.protocols.execution import CurrencyExchanged, TradeExecuted
from arduino_trader.protocols.money import ZERO, decimal_to_str
from arduino_trader.protocols.store import Database

from .epoch import from_epoch


def _fill_from_row(r: sqlite3.Row) -> StoredFill:
    return StoredFill(trade_key=r["trade_key"], symbol=r["symbol"], side=r["side"],
                      quantity=Decimal(r["quantity"]), price=Decimal(r["price"]),
                      value=Decimal(r["value"]),
                      fee=None if r["fee"] is None else Decimal(r["fee"]),
                      currency=r["currency"], bucket_id=r["bucket_id"], mode=r["mode"],
                      executed_at=from_epoch(r["executed_at"]))


def _decimal(value: str | None) -> Decimal | None:
    return None if value is None else Decimal(value)


def _marks(modes: Sequence[str]) -> str:
    return ", ".join("?" for _ in modes)


_TRADE_SQL = ("SELECT trade_key, symbol, side, quantity, price, value, fee, currency, "
              "bucket_id, mode, executed_at FROM trades")


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



class SqliteBucketTrades:
    """The bucket-trades port on the SQLite store (see :class:`BucketTrades`)."""

    def __init__(self, db: Database) -> None:
        self._db = db

    def trade(self, trade_key: str) -> StoredFill | None:
        """The stored fill with ``trade_key`` (None when unknown)."""
        row = self._db.fetch_one(_TRADE_SQL + " WHERE trade_key = ?", (trade_key,))
        return None if row is None else _fill_from_row(row)

    def unsettled_fills(self, modes: Sequence[str]) -> tuple[TradeExecuted, ...]:
        """Fills of our own orders (``modes``) that no ledger row settles yet, oldest
        first, as the executor published them."""
        rows = self._db.fetch_all(_UNSETTLED_FILLS.format(marks=_marks(modes)), tuple(modes))
        return tuple(TradeExecuted(
            r["trade_key"], r["isin"], r["symbol"], r["side"], Decimal(r["quantity"]),
            Decimal(r["price"]), r["currency"], from_epoch(r["executed_at"]), r["source"],
            r["bucket_id"], r["mode"]) for r in rows)

    def unsettled_exchanges(self, modes: Sequence[str]) -> tuple[CurrencyExchanged, ...]:
        """Exchange fills (``modes``) that no ledger row settles yet, oldest first, as the
        executor published them."""
        rows = self._db.fetch_all(_UNSETTLED_EXCHANGES.format(marks=_marks(modes)),
                                  tuple(modes))
        return tuple(CurrencyExchanged(
            r["trade_key"], r["symbol"], r["side"], r["base_currency"],
            Decimal(r["base_amount"]), r["quote_currency"], Decimal(r["quote_amount"]),
            Decimal(r["price"]), from_epoch(r["executed_at"]), r["source"], r["bucket_id"],
            r["mode"]) for r in rows)

    def unbooked_fees(self, modes: Sequence[str]) -> tuple[UnbookedFee, ...]:
        """Known commissions of our fills and exchanges with no fee row yet."""
        rows = self._db.fetch_all(_UNBOOKED_FEES.format(marks=_marks(modes)),
                                  tuple(modes) + tuple(modes))
        return tuple(UnbookedFee(r["trade_key"], r["bucket_id"], Decimal(r["fee"]),
                                 r["currency"], _decimal(r["value"]), _decimal(r["settled"]))
                     for r in rows)

    def bucket_trades(self, bucket_id: str, symbol: str,
                      modes: Sequence[str]) -> tuple[StoredFill, ...]:
        """Fills of one bucket in one symbol (the given ledger modes), oldest first."""
        rows = self._db.fetch_all(
            _TRADE_SQL + f" WHERE bucket_id = ? AND symbol = ? AND mode IN ({_marks(modes)}) "
            "ORDER BY executed_at, id", (bucket_id, symbol, *modes))
        return tuple(_fill_from_row(r) for r in rows)

    def holdings(self, modes: Sequence[str]) -> dict[str, dict[str, Decimal]]:
        """{bucket_id: {symbol: net quantity}} from the fills of the given ledger modes."""
        rows = self._db.fetch_all(
            f"SELECT bucket_id, symbol, side, quantity FROM trades "  # noqa: S608
            f"WHERE mode IN ({_marks(modes)})", tuple(modes))
        out: dict[str, dict[str, Decimal]] = {}
        for r in rows:
            qty = Decimal(r["quantity"]) * (1 if r["side"] == "BUY" else -1)
            per = out.setdefault(r["bucket_id"], {})
            per[r["symbol"]] = per.get(r["symbol"], ZERO) + qty
        return {b: {s: q for s, q in per.items() if q != 0} for b, per in out.items()}

    def all_trades(self, modes: Sequence[str]) -> tuple[StoredFill, ...]:
        """Every fill of the given ledger modes, oldest first (average costs per bucket)."""
        rows = self._db.fetch_all(_TRADE_SQL + f" WHERE mode IN ({_marks(modes)}) "
                                  "ORDER BY executed_at, id", tuple(modes))
        return tuple(_fill_from_row(r) for r in rows)

    def closed_trades(self, bucket_id: str) -> tuple[ClosedTrade, ...]:
        """Realised P&L of the bucket's closed sells, oldest first."""
        rows = self._db.fetch_all(
            "SELECT closed_at, realized_pnl FROM bucket_trade_results "
            "WHERE bucket_id = ? ORDER BY closed_at", (bucket_id,))
        return tuple(ClosedTrade(closed_at=from_epoch(r["closed_at"]),
                                 realized_pnl=Decimal(r["realized_pnl"])) for r in rows)

    def record_values(self, day: date, values_eur: Mapping[str, Decimal],
                      flows_eur: Mapping[str, Decimal]) -> None:
        """Store (replace) the day's value and net external flow of each bucket."""
        with self._db.transaction() as tx:
            tx.executemany(
                "INSERT INTO bucket_value_history (bucket_id, day, value_eur, net_flow_eur) "
                "VALUES (?, ?, ?, ?) ON CONFLICT (bucket_id, day) DO UPDATE SET "
                "value_eur = excluded.value_eur, net_flow_eur = excluded.net_flow_eur",
                [(b, day.isoformat(), decimal_to_str(v),
                  decimal_to_str(flows_eur.get(b, ZERO))) for b, v in sorted(values_eur.items())])

    def value_series(self, bucket_id: str) -> tuple[ValuePoint, ...]:
        """The bucket's daily value points, oldest first."""
        rows = self._db.fetch_all(
            "SELECT day, value_eur, net_flow_eur FROM bucket_value_history "
            "WHERE bucket_id = ? ORDER BY day", (bucket_id,))
        return tuple(ValuePoint(day=date.fromisoformat(r["day"]),
                                value_eur=Decimal(r["value_eur"]),
                                net_flow_eur=Decimal(r["net_flow_eur"])) for r in rows)


_: type[BucketTrades] = SqliteBucketTrades  # mypy checks the implementation
