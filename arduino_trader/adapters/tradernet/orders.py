"""Tradernet order parameters, and reading order lists and trade history into records.

Order rows (``getNotifyOrderJson``: ``result.orders.order``; ``getOrdersHistory``:
``orders.order``) spell the broker's order id ``order_id`` or ``id`` and our client id
``user_order_id`` or ``userOrderId``; the client id of an order we did not place is a
string (``"apiv2:…"``, ``"cps_…"``) and reads as None. Each order lists its fills in
``trade`` with Tradernet's trade ids.

``getTradesHistory`` rows name an *exchange* order number in ``order_id`` and carry no
commission: the Tradernet order of a trade is found through the fills of the order
lists (``trade_orders``), and its fee through the broker's cash-flow ledger
(``trade_fees``); both are passed in by the client.
"""

from __future__ import annotations

from collections.abc import Mapping
from decimal import Decimal
from typing import Any

from arduino_trader.protocols.broker import Fill, Order, OrderRequest, Trade
from arduino_trader.protocols.broker_errors import BrokerProtocolError

from .fields import (
    as_list,
    client_order_id,
    dec,
    dec_or_none,
    first,
    integer,
    parse_time,
    require,
    side_from_oper,
    text,
)

EXPIRATION_IDS = {"day": 1, "ext": 2, "gtc": 3}


def order_params(request: OrderRequest) -> dict[str, Any]:
    """The ``putTradeOrder`` parameters: cash orders only (action 1 buy / 3 sell)."""
    params: dict[str, Any] = {
        "instr_name": request.symbol,
        "action_id": 1 if request.side == "BUY" else 3,
        "order_type_id": 2 if request.limit_price is not None else 1,
        "qty": request.quantity,
    }
    if request.limit_price is not None:
        params["limit_price"] = request.limit_price
    params["expiration_id"] = EXPIRATION_IDS[request.expiration]
    params["user_order_id"] = request.user_order_id
    return params


def parse_order(row: Mapping[str, Any]) -> Order:
    """One order object (both ``id`` and ``order_id`` spellings)."""
    order_id = integer(first(row, "order_id", "id"), "order id")
    what = f"order {order_id}"
    fills = tuple(
        Fill(trade_id=integer(require(t, "id", what), f"{what}.trade.id"),
             price=dec(require(t, "p", what), f"{what}.trade.p"),
             quantity=dec(require(t, "q", what), f"{what}.trade.q"),
             at=parse_time(t.get("date"), f"{what}.trade.date"))
        for t in as_list(row.get("trade"), f"{what}.trade")
    )
    quantity = dec(require(row, "q", what), f"{what}.q")
    leaves = row.get("leaves_qty")
    limit = dec_or_none(row.get("p"), f"{what}.p")
    return Order(
        order_id=order_id,
        symbol=text(first(row, "instr", "instr_name")),
        side=side_from_oper(first(row, "oper", "buy_sell"), f"{what}.oper"),
        quantity=quantity,
        leaves_quantity=dec(leaves, f"{what}.leaves_qty") if leaves is not None else quantity,
        status=integer(require(row, "stat", what), f"{what}.stat"),
        currency=text(first(row, "cur", "curr")).upper(),
        limit_price=limit if limit else None,
        user_order_id=client_order_id(first(row, "user_order_id", "userOrderId")),
        placed_at=parse_time(row.get("date"), f"{what}.date"),
        fills=fills,
    )


def parse_orders(data: Mapping[str, Any], command: str) -> tuple[Order, ...]:
    """``getNotifyOrderJson`` (``result.orders``, or a bare array of rows as the
    documentation's sample shows) / ``getOrdersHistory`` (``orders``)."""
    container: Any = data.get("result", data) if command == "getNotifyOrderJson" else data
    if isinstance(container, list):  # the documentation's sample: a bare array of rows
        return tuple(parse_order(row) for row in as_list(container, f"{command}.order"))
    if not isinstance(container, Mapping):
        raise BrokerProtocolError(f"{command}: 'result' is not an object")
    orders = require(container, "orders", command)
    if orders in (None, "", []):
        return ()
    if not isinstance(orders, Mapping):
        raise BrokerProtocolError(f"{command}: 'orders' is not an object")
    return tuple(parse_order(row) for row in as_list(orders.get("order"), f"{command}.order"))


def trade_orders(orders: tuple[Order, ...]) -> dict[int, int]:
    """Tradernet trade id → Tradernet order id, from the fills of order lists."""
    return {fill.trade_id: order.order_id for order in orders for fill in order.fills}


def parse_trades(data: Mapping[str, Any], *, orders: Mapping[int, int] | None = None,
                 fees: Mapping[int, Decimal] | None = None) -> tuple[Trade, ...]:
    """``getTradesHistory`` → trades keyed by trade id (``type`` 1 buy, 2 sell).

    ``orders`` maps trade ids to Tradernet order ids (:func:`trade_orders`); a trade
    missing from it has no known order (None: the row's own ``order_id`` is the
    exchange's number). ``fees`` maps trade ids to their commission in the trade's
    currency, from the cash-flow ledger; a trade missing from it has no fee yet.
    """
    trades = require(data, "trades", "getTradesHistory")
    if trades in (None, "", []):
        return ()
    if not isinstance(trades, Mapping):
        raise BrokerProtocolError("getTradesHistory: 'trades' is not an object")
    orders = orders or {}
    fees = fees or {}
    out = []
    for row in as_list(trades.get("trade"), "getTradesHistory.trade"):
        trade_id = integer(require(row, "id", "trade"), "trade.id")
        what = f"trade {trade_id}"
        kind = integer(require(row, "type", what), f"{what}.type")
        if kind not in (1, 2):
            raise BrokerProtocolError(f"{what}: unknown type {kind}")
        quantity = dec(require(row, "q", what), f"{what}.q")
        price = dec(require(row, "p", what), f"{what}.p")
        value = dec_or_none(row.get("v"), f"{what}.v")
        out.append(Trade(
            trade_id=trade_id,
            order_id=orders.get(trade_id),
            symbol=text(first(row, "instr_nm", "instr")),
            side="BUY" if kind == 1 else "SELL",
            quantity=quantity, price=price,
            value=value if value is not None else quantity * price,
            currency=text(first(row, "curr_c", "cur")).upper(),
            executed_at=parse_time(row.get("date"), f"{what}.date"),
            fee=fees.get(trade_id),
        ))
    return tuple(out)
