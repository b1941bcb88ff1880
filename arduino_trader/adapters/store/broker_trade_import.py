"""The broker trade-history import into the ``trades`` ledger (migration 0700), keyed
``<mode>:<broker trade id>`` as the executor keys its fills and attributed to our own
orders: one row per fill whichever path stores it first; a fill stored without its
commission learns the broker's, once."""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from datetime import datetime
from decimal import Decimal
from typing import Any

from arduino_trader.domain.fx_exchange import is_fx_symbol
from arduino_trader.protocols.broker import Trade
from arduino_trader.protocols.money import decimal_to_str
from arduino_trader.protocols.portfolio import TradeFeeRecorded
from arduino_trader.protocols.store import Database

from . import trade_history_coverage
from .fill_attribution import journal_entry_for_trade


def _ts(moment: datetime) -> int:
    return int(moment.timestamp())


def _text(amount: Decimal | None) -> str | None:
    return None if amount is None else decimal_to_str(amount)


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
                         now: datetime, cover: Sequence[str] = ()) -> dict[str, Any]:
    """Store broker trades not yet in the ledger (``INSERT OR IGNORE`` on the trade key).

    A fill of our own order is stored as its order's (``fill_attribution``; ``ours``
    counts them) for the executor to publish; other trades are ``broker_sync`` in core. A
    trade of a symbol outside the universe is skipped and named (the ledger needs the
    ISIN); a currency exchange (an FX-pair trade: no position, its fills belong to the FX
    ledger) is skipped and counted; a trade without a stored FX rate is kept with its EUR
    value unknown (NULL). A known trade stored without its commission (an executor fill)
    gets the broker's, once: ``fees_learned`` lists them as events to publish. ``cover``:
    the securities whose whole trade history this import holds (a full-window import),
    recorded as covered in the same transaction.
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
        trade_history_coverage.cover(tx, mode, cover, now)
    return {"received": len(trades), "inserted": inserted, "ours": ours,
            "currency_exchanges": exchanges, "unknown_symbols": sorted(set(unknown)),
            "fees_learned": fees}
