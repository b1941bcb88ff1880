"""The sandbox account: cash per currency, positions, orders, trades, cash flows.

State is a JSON-serialisable dict with money as strings; it is saved atomically after
every change when a state file is given, so a restarted sandbox finds the same account.
FX-pair orders (``EUR/USD``...) fill like any order but move cash in the pair's
two currencies instead of a position. Orders move one status per
:meth:`SandboxAccount.advance` step:
received (1) → active (10) → partially executed (20) → executed (21); or cancelled
(31 / 30), rejected (70: not enough cash or shares at execution), expired (71 / 72:
a day order still open on a later UTC day).
"""

from __future__ import annotations

import json
import os
import threading
from datetime import UTC, datetime
from decimal import ROUND_HALF_UP, Decimal
from pathlib import Path
from typing import Any

from arduino_trader.domain.fx_exchange import FxPair, cash_moves

from .fx import fx_bid_ask, fx_pair_of, instrument
from .market import Instrument, Market, find
from .times import broker_time, from_broker_time

STATE_VERSION = 1
FEE_RATE = Decimal("0.001")
FEE_MIN = Decimal("1.00")
CENT = Decimal("0.01")
EXCHANGE_ORDER_OFFSET = 5_000_000_000  # trade rows name the exchange's order number
ACTIVE = (1, 10, 20)


class SandboxReject(Exception):
    """A refused command: rendered as the broker's ``{"error", "code"}`` answer."""

    def __init__(self, message: str, code: int = 18) -> None:
        super().__init__(message)
        self.message = message
        self.code = code


def default_state(seed: int, now: datetime) -> dict[str, Any]:
    """A demo account: some cash (one currency negative), two positions, a deposit."""
    stamp = broker_time(now)
    return {
        "version": STATE_VERSION,
        "seed": seed,
        "next_order_id": 300000001,
        "next_trade_id": 700000001,
        "next_flow_id": 900000001,
        "cash": {"EUR": "10000.00", "USD": "2500.00", "HKD": "-12.50"},
        "positions": {"AAPL.US": {"q": "10", "cost": "150.00"},
                      "VWCE.EU": {"q": "25", "cost": "101.30"}},
        "orders": [],
        "trades": [],
        "cash_flows": [{"id": "900000000", "type_code": "card", "date": stamp,
                        "sum": "10000.00", "currency": "EUR",
                        "comment": "Sandbox opening deposit"}],
        "cps": [],
        "closed_markets": [],
    }


def fee_for(value: Decimal) -> Decimal:
    """The sandbox commission: 0.1 % of the value, at least 1.00 in the trade currency."""
    return max(FEE_MIN, (value * FEE_RATE).quantize(CENT, rounding=ROUND_HALF_UP))


def _d(text: str) -> Decimal:
    return Decimal(text)


def _s(value: Decimal) -> str:
    text = format(value, "f")
    return text.rstrip("0").rstrip(".") if "." in text else text


class SandboxAccount:
    """The account and its order book; thread-safe, optionally persisted."""

    def __init__(self, state: dict[str, Any], market: Market, path: Path | None) -> None:
        self.state = state
        self.market = market
        self.path = path
        self.lock = threading.RLock()

    @classmethod
    def open(cls, path: Path | None, seed: int, now: datetime) -> SandboxAccount:
        """Load ``path`` if it exists, else start the demo account (saved at once)."""
        if path is not None and path.exists():
            state = json.loads(path.read_text(encoding="utf-8"))
            if state.get("version") != STATE_VERSION:
                raise ValueError(f"{path}: unsupported sandbox state version "
                                 f"{state.get('version')!r}")
        else:
            state = default_state(seed, now)
        account = cls(state, Market(int(state.get("seed", seed))), path)
        account.save()
        return account

    def save(self) -> None:
        """Write the state atomically (temp file + rename)."""
        if self.path is None:
            return
        with self.lock:
            text = json.dumps(self.state, indent=1, sort_keys=True)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        tmp = self.path.with_suffix(self.path.suffix + ".tmp")
        tmp.write_text(text, encoding="utf-8")
        os.replace(tmp, self.path)

    # ----------------------------------------------------------------- helpers
    def _next(self, key: str) -> int:
        value = int(self.state[key])
        self.state[key] = value + 1
        return value

    def cash(self, currency: str) -> Decimal:
        """Cash in one currency (0 if none)."""
        return _d(self.state["cash"].get(currency, "0"))

    def _add_cash(self, currency: str, amount: Decimal) -> None:
        self.state["cash"][currency] = _s(self.cash(currency) + amount)

    def position(self, ticker: str) -> Decimal:
        """Shares held."""
        row = self.state["positions"].get(ticker)
        return _d(row["q"]) if row else Decimal(0)

    def is_open(self, inst: Instrument) -> bool:
        """Markets are open unless closed by the control API."""
        return inst.market not in self.state.get("closed_markets", [])

    # ------------------------------------------------------------------ orders
    def place(self, params: dict[str, Any], now: datetime) -> dict[str, Any]:
        """``putTradeOrder``: validate and book as received (1)."""
        inst = instrument(str(params.get("instr_name", "")))
        if inst is None:
            raise SandboxReject(f"Instrument {params.get('instr_name')!r} not found", 18)
        action = params.get("action_id")
        if action in (2, 4):
            raise SandboxReject("Margin trading is not available on this account", 12)
        if action not in (1, 3):
            raise SandboxReject(f"Invalid action_id {action!r}", 2)
        qty = params.get("qty")
        if isinstance(qty, bool) or not isinstance(qty, int) or qty <= 0:
            raise SandboxReject(f"Invalid qty {qty!r}: a positive integer is required", 2)
        if qty % inst.lot:
            raise SandboxReject(f"qty must be a multiple of the lot ({inst.lot})", 18)
        order_type = params.get("order_type_id")
        limit: Decimal | None = None
        if order_type == 2:
            raw = params.get("limit_price")
            if isinstance(raw, bool) or not isinstance(raw, int | float | str) or \
                    Decimal(str(raw)) <= 0:
                raise SandboxReject("limit_price must be positive for a limit order", 2)
            limit = Decimal(str(raw))
        elif order_type != 1:
            raise SandboxReject(f"Unsupported order_type_id {order_type!r}", 2)
        expiration = params.get("expiration_id", 1)
        if expiration not in (1, 2, 3):
            raise SandboxReject(f"Invalid expiration_id {expiration!r}", 2)
        user_order_id = params.get("user_order_id")
        with self.lock:
            if user_order_id is not None and any(
                    o.get("user_order_id") == user_order_id for o in self.state["orders"]):
                raise SandboxReject(f"Duplicate user_order_id {user_order_id}", 18)
            order_id = self._next("next_order_id")
            self.state["orders"].append({
                "order_id": order_id, "user_order_id": user_order_id, "instr": inst.ticker,
                "oper": action, "type": order_type, "q": qty, "leaves_qty": qty,
                "p": _s(limit) if limit is not None else "0", "cur": inst.currency,
                "stat": 1, "stat_prev": 0, "date": broker_time(now),
                "stat_d": broker_time(now), "exp": expiration, "trade": [],
            })
            self.save()
        return {"order_id": order_id}

    def cancel(self, order_id: Any, now: datetime) -> dict[str, Any]:
        """``delTradeOrder``: active orders become cancelled (31, or 30 after a fill)."""
        with self.lock:
            order = self._order(order_id)
            if order["stat"] not in ACTIVE:
                raise SandboxReject(f"Order {order_id} is not active (status {order['stat']})",
                                    18)
            self._set_status(order, 30 if order["trade"] else 31, now)
            self.save()
        return {"order_id": order["order_id"]}

    def _order(self, order_id: Any) -> dict[str, Any]:
        for order in self.state["orders"]:
            if order["order_id"] == order_id:
                return order
        raise SandboxReject(f"Order {order_id!r} not found", 18)

    @staticmethod
    def _set_status(order: dict[str, Any], status: int, now: datetime) -> None:
        order["stat_prev"] = order["stat"]
        order["stat"] = status
        order["stat_d"] = broker_time(now)

    def advance(self, now: datetime) -> bool:
        """Move every open order one step; True if anything changed (then saved)."""
        changed = False
        with self.lock:
            for order in self.state["orders"]:
                if order["stat"] in ACTIVE:
                    changed = self._step(order, now) or changed
            if changed:
                self.save()
        return changed

    def _step(self, order: dict[str, Any], now: datetime) -> bool:
        placed = from_broker_time(order["date"]).astimezone(UTC)
        if order["exp"] in (1, 2) and placed.date() < now.date():
            self._set_status(order, 72 if order["trade"] else 71, now)
            return True
        if order["stat"] == 1:
            self._set_status(order, 10, now)
            return True
        inst = instrument(order["instr"])
        if inst is None or not self.is_open(inst):
            return False
        pair = fx_pair_of(inst)
        bid, ask = fx_bid_ask(pair) if pair is not None else self.market.bid_ask(inst, now)
        buy = order["oper"] in (1, 2)
        # who pays the ask: the buyer of a security, the receiver of a pair's base
        lifts = pair.receives_base("BUY" if buy else "SELL") if pair is not None else buy
        price = ask if lifts else bid
        limit = _d(order["p"])
        if order["type"] == 2 and ((lifts and limit < ask) or (not lifts and limit > bid)):
            return False  # not marketable: stays active
        leaves = int(order["leaves_qty"])
        part = leaves // 2 if order["stat"] == 10 and leaves >= 2 * inst.lot else leaves
        part -= part % inst.lot
        part = part or leaves
        value = price * part
        fee = fee_for(value)
        refusal = self._refusal(inst, pair, buy, part, price, fee)
        if refusal:
            self._set_status(order, 70, now)
            order["reject_reason"] = refusal
            return True
        self._fill(order, inst, part, price, fee, buy, now)
        order["leaves_qty"] = leaves - part
        self._set_status(order, 21 if leaves == part else 20, now)
        return True

    def _refusal(self, inst: Instrument, pair: FxPair | None, buy: bool, qty: int,
                 price: Decimal, fee: Decimal) -> str:
        """Why a fill cannot happen (empty when it can): the account never borrows."""
        value = price * qty
        if pair is not None:
            moves = cash_moves(pair, "BUY" if buy else "SELL", Decimal(qty), price, fee)
            short = sorted(c for c, delta in moves.items()
                           if delta < 0 and self.cash(c) + delta < 0)
            return f"insufficient {short[0]} cash" if short else ""
        if buy and self.cash(inst.currency) < value + fee:
            return "insufficient cash"
        if not buy and self.position(inst.ticker) < qty:
            return "insufficient position"
        return ""

    def _fill(self, order: dict[str, Any], inst: Instrument, qty: int, price: Decimal,
              fee: Decimal, buy: bool, now: datetime) -> None:
        stamp = broker_time(now)
        trade_id = self._next("next_trade_id")
        value = price * qty
        order["trade"].append({"id": trade_id, "p": _s(price), "q": qty, "v": _s(value),
                               "date": stamp})
        exchange_order = EXCHANGE_ORDER_OFFSET + int(order["order_id"])
        self.state["trades"].append({
            "id": trade_id, "order_id": exchange_order, "trade_nb": exchange_order,
            "instr_nm": inst.ticker, "type": 1 if buy else 2, "q": qty, "p": _s(price),
            "v": _s(value), "curr_c": inst.currency, "date": stamp, "_fee": _s(fee),
            "pay_d": stamp[:10] + "T00:00:00",
        })
        positions = self.state["positions"]
        held = self.position(inst.ticker)
        pair = fx_pair_of(inst)
        if pair is not None:  # an exchange: cash in both currencies, no position
            for currency, delta in cash_moves(pair, "BUY" if buy else "SELL", Decimal(qty),
                                              price, fee).items():
                self._add_cash(currency, delta)
        elif buy:
            cost = _d(positions[inst.ticker]["cost"]) if inst.ticker in positions else Decimal(0)
            total = held + qty
            avg = ((cost * held + value) / total).quantize(Decimal("0.0001"))
            positions[inst.ticker] = {"q": _s(total), "cost": _s(avg)}
            self._add_cash(inst.currency, -(value + fee))
        else:
            left = held - qty
            if left:
                positions[inst.ticker]["q"] = _s(left)
            else:
                del positions[inst.ticker]
            self._add_cash(inst.currency, value - fee)
        self.state["cash_flows"].append({
            "id": str(self._next("next_flow_id")), "type_code": "commission_for_trades",
            "date": stamp[:10], "sum": _s(-fee), "currency": inst.currency,
            "comment": f"(Trade {trade_id} {stamp.replace('T', ' ')})"})

    def book_dividend(self, ticker: str, amount: Decimal, currency: str | None,
                      now: datetime) -> dict[str, Any]:
        """Pay a cash dividend on a held position: cash in, and a ``dividend`` cash-flow
        row in the broker's shape (the instrument only in the comment, as the real
        ledger does). Refused for an unknown or unheld ticker or a non-positive amount."""
        inst = find(ticker)
        if inst is None:
            raise SandboxReject(f"Instrument {ticker!r} not found", 18)
        if amount <= 0:
            raise SandboxReject("A dividend amount must be positive", 18)
        ccy = (currency or inst.currency).upper()
        with self.lock:
            held = self.position(inst.ticker)
            if held <= 0:
                raise SandboxReject(f"No position in {inst.ticker}", 18)
            self._add_cash(ccy, amount)
            row = {"id": str(self._next("next_flow_id")), "type_code": "dividend",
                   "date": broker_time(now), "sum": _s(amount),
                   "currency": ccy,
                   "comment": f"Dividends {inst.ticker} ({inst.isin}), {_s(held)} shares"}
            self.state["cash_flows"].append(row)
            self.save()
        return dict(row)

    def deposit(self, currency: str, amount: Decimal, now: datetime,
                type_code: str = "card", comment: str = "Sandbox deposit") -> None:
        """Book a cash movement (deposit if positive, withdrawal if negative)."""
        with self.lock:
            self._add_cash(currency, amount)
            self.state["cash_flows"].append({
                "id": str(self._next("next_flow_id")), "type_code": type_code,
                "date": broker_time(now), "sum": _s(amount),
                "currency": currency, "comment": comment})
            self.save()
