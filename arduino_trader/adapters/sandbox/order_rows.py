"""Order lists and trade history in the broker's documented row shapes.

``getNotifyOrderJson`` rows carry ``order_id`` and a numeric ``user_order_id``;
``getOrdersHistory`` rows ``id`` and a string ``userOrderId``; ``getTradesHistory`` rows
the exchange's order number and no commission (the fee is a cash-flow row). Prices are
JSON numbers; a one-element collection is sent bare (a quirk the client must survive).
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

from .account import SandboxAccount, SandboxReject
from .times import BROKER_TZ, from_broker_time


def collection(rows: list[dict[str, Any]]) -> list[dict[str, Any]] | dict[str, Any]:
    """The object-vs-list quirk: a single element is sent bare."""
    return rows[0] if len(rows) == 1 else rows


def number(value: Any) -> Any:
    """A price or amount as the documented JSON number (state keeps exact strings)."""
    return float(Decimal(str(value))) if isinstance(value, str) else value


def _order_rows(acc: SandboxAccount, keep: Callable[[dict[str, Any]], bool], *,
                history: bool) -> list[Any]:
    """Orders in the documented row shape: ``order_id`` and a numeric ``user_order_id``
    in ``getNotifyOrderJson``; ``id`` and a string ``userOrderId`` in
    ``getOrdersHistory``."""
    with acc.lock:
        rows = []
        for order in acc.state["orders"]:
            if not keep(order):
                continue
            row = {k: v for k, v in order.items()
                   if k not in ("reject_reason", "order_id", "user_order_id")}
            row["p"] = number(row["p"])
            uid = order.get("user_order_id")
            if history:
                row["id"] = order["order_id"]
                row["userOrderId"] = "" if uid is None else str(uid)
            else:
                row["order_id"] = order["order_id"]
                row["user_order_id"] = uid
            fills = [{**t, "p": number(t["p"]), "v": number(t["v"])} for t in row["trade"]]
            row["trade"] = collection(fills) if fills else []
            if not row["trade"]:
                del row["trade"]
            rows.append(row)
        return rows


def notify_orders(acc: SandboxAccount, params: dict[str, Any], now: datetime) -> Any:
    """``getNotifyOrderJson``: today's orders (or only active ones); absent when none."""
    active_only = params.get("active_only") in (1, "1", True)
    today = now.date()

    def keep(order: dict[str, Any]) -> bool:
        if active_only:
            return bool(order["stat"] in (1, 2, 10, 11, 12, 20))
        placed = from_broker_time(order["date"]).astimezone(UTC).date()
        return placed == today or order["stat"] in (1, 2, 10, 11, 12, 20)

    rows = _order_rows(acc, keep, history=False)
    orders: dict[str, Any] = {"key": "sandbox"}
    if rows:
        orders["order"] = collection(rows)
    return {"result": {"orders": orders}}


def _parse_iso(value: Any, name: str) -> datetime:
    try:
        parsed = datetime.fromisoformat(str(value))
    except ValueError:
        raise SandboxReject(f"{name}: expected YYYY-MM-DDThh:mm:ss, got {value!r}", 2) from None
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=BROKER_TZ)


def orders_history(acc: SandboxAccount, params: dict[str, Any], now: datetime) -> Any:
    """``getOrdersHistory``."""
    start = _parse_iso(params.get("from"), "from")
    end = _parse_iso(params.get("till"), "till")
    rows = _order_rows(acc, lambda o: start <= _parse_iso(o["date"], "date") <= end,
                       history=True)
    return {"orders": {"key": "sandbox", "order": rows}}


def trades_history(acc: SandboxAccount, params: dict[str, Any], now: datetime) -> Any:
    """``getTradesHistory``."""
    try:
        begin = datetime.strptime(str(params.get("beginDate")), "%Y-%m-%d").date()
        end = datetime.strptime(str(params.get("endDate")), "%Y-%m-%d").date()
    except ValueError:
        raise SandboxReject("beginDate/endDate: expected YYYY-MM-DD", 2) from None
    limit = int(params.get("max") or 0)
    with acc.lock:
        rows = [_trade_row(t) for t in acc.state["trades"]
                if begin <= datetime.fromisoformat(t["date"]).date() <= end
                and int(t["id"]) > int(params.get("tradeId") or 0)
                and (not params.get("nt_ticker") or t["instr_nm"] == params["nt_ticker"])]
    if limit:
        rows = rows[:limit]
    max_id = max((int(r["id"]) for r in rows), default=0)
    return {"trades": {"trade": collection(rows) if rows else [],
                       "max_trade_id": [{"@text": str(max_id)}]}}


def _trade_row(trade: dict[str, Any]) -> dict[str, Any]:
    """A trade in the documented row shape: numbers as numbers, no commission (the fee is
    a cash-flow row), ``order_id`` the exchange's order number."""
    row = {k: v for k, v in trade.items() if not k.startswith("_") and k != "commission"}
    row["p"], row["v"] = number(row["p"]), number(row["v"])
    return row


