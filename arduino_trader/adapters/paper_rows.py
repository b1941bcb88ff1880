"""The paper account's rows in the store: opening the account, its ledger read and
saved, day orders expired, and orders, trades and cash flows read back (times as epoch
seconds)."""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

from arduino_trader.protocols.broker import Fill, Order, Trade
from arduino_trader.protocols.clock import Clock
from arduino_trader.protocols.money import decimal_to_str
from arduino_trader.protocols.store import Transaction

from .paper_ledger import ZERO, PaperLedger


def to_stamp(at: datetime) -> int:
    """Whole epoch seconds of ``at`` (the paper tables' times)."""
    return int(at.timestamp())


def from_stamp(stamp: int | None) -> datetime | None:
    """The UTC moment of epoch seconds (None stays None)."""
    return datetime.fromtimestamp(stamp, UTC) if stamp is not None else None


def ensure_account(tx: Transaction, clock: Clock, initial_cash_eur: Decimal) -> None:
    """Open the account (with its opening EUR cash, booked as a deposit) unless it is
    open already."""
    row = tx.fetch_one("SELECT id FROM paper_account WHERE id = 1")
    if row is not None:
        return
    now = to_stamp(clock.now())
    tx.execute("INSERT INTO paper_account (id, created_at, initial_cash, currency) "
               "VALUES (1, ?, ?, 'EUR')", (now, decimal_to_str(initial_cash_eur)))
    if initial_cash_eur:
        tx.execute("INSERT INTO paper_cash (currency, amount) VALUES ('EUR', ?)",
                   (decimal_to_str(initial_cash_eur),))
        tx.execute("INSERT INTO paper_cash_flows (type_code, amount, currency, at, "
                   "comment) VALUES ('deposit', ?, 'EUR', ?, 'paper opening cash')",
                   (decimal_to_str(initial_cash_eur), now))


def expire_day_orders(tx: Transaction, now: datetime) -> list[Any]:
    """Expire the open orders placed before ``now``'s UTC day (every order is a day
    order, so an unfilled limit does not hold its cash for ever); the orders still open."""
    start = datetime.combine(now.astimezone(UTC).date(), datetime.min.time(), UTC)
    tx.execute("UPDATE paper_orders SET status = 71, updated_at = ? "
               "WHERE status = 10 AND placed_at < ?", (to_stamp(now), to_stamp(start)))
    return tx.fetch_all("SELECT * FROM paper_orders WHERE status = 10")


def cash_flow_rows(tx: Transaction, take: int, skip: int) -> list[Any]:
    """A page of the account's cash flows, newest first."""
    return tx.fetch_all("SELECT flow_id, type_code, amount, currency, at, comment FROM "
                        "paper_cash_flows ORDER BY at DESC, flow_id DESC LIMIT ? OFFSET ?",
                        (take, skip))


def read_ledger(tx: Transaction) -> PaperLedger:
    """The account's cash and positions."""
    cash = {r["currency"]: Decimal(r["amount"])
            for r in tx.fetch_all("SELECT currency, amount FROM paper_cash")}
    positions = {r["symbol"]: (Decimal(r["quantity"]), Decimal(r["avg_price"]),
                               str(r["currency"]))
                 for r in tx.fetch_all("SELECT * FROM paper_positions")}
    return PaperLedger(cash, positions)


def save_ledger(tx: Transaction, ledger: PaperLedger) -> None:
    """Store ``ledger`` as the account's cash and positions."""
    for currency, amount in ledger.cash.items():
        tx.execute("INSERT INTO paper_cash (currency, amount) VALUES (?, ?) "
                   "ON CONFLICT (currency) DO UPDATE SET amount = excluded.amount",
                   (currency, decimal_to_str(amount)))
    tx.execute("DELETE FROM paper_positions")
    for symbol, (qty, avg, currency) in ledger.positions.items():
        tx.execute("INSERT INTO paper_positions (symbol, quantity, avg_price, "
                   "currency) VALUES (?, ?, ?, ?)",
                   (symbol, decimal_to_str(qty), decimal_to_str(avg), currency))


def fill_of_row(row: Any) -> Fill:
    """The fill of a ``paper_orders`` row joined with its trade."""
    return Fill(trade_id=int(row["trade_id"]), price=Decimal(row["fill_price"]),
                quantity=Decimal(row["quantity"]), at=from_stamp(row["executed_at"]))


def order_of_row(r: Any) -> Order:
    """A ``paper_orders`` row (left-joined with its trade) as the broker reports it."""
    filled = r["trade_id"] is not None
    fills = ((fill_of_row(r),) if filled else ())
    return Order(
        order_id=int(r["order_id"]), symbol=r["symbol"], side=r["side"],
        quantity=Decimal(r["quantity"]),
        leaves_quantity=ZERO if filled or r["status"] != 10 else Decimal(r["quantity"]),
        status=int(r["status"]), currency=r["currency"],
        limit_price=Decimal(r["limit_price"]) if r["limit_price"] else None,
        user_order_id=int(r["user_order_id"]), placed_at=from_stamp(r["placed_at"]),
        fills=fills, simulated=True)


def trade_of_row(r: Any) -> Trade:
    """A ``paper_trades`` row as an executed trade."""
    return Trade(trade_id=int(r["trade_id"]), order_id=int(r["order_id"]),
                 symbol=r["symbol"], side=r["side"], quantity=Decimal(r["quantity"]),
                 price=Decimal(r["price"]), value=Decimal(r["value"]),
                 currency=r["currency"], executed_at=from_stamp(r["executed_at"]),
                 fee=Decimal(r["fee"]), simulated=True)
