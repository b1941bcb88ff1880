"""Reading single Tradernet fields: numbers, integers, ids, texts and times.

Numbers may arrive as JSON numbers or strings (``".00000000"``, decimal commas); a
one-element collection may arrive as a bare object. Times without a zone are the
broker's own clock: Moscow time (:data:`BROKER_TZ`); the published documentation gives
market hours in MSK and no zone on any other time field. Anything unreadable is
:class:`BrokerProtocolError`, never a default.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any
from zoneinfo import ZoneInfo

from arduino_trader.protocols.broker import Side
from arduino_trader.protocols.broker_errors import BrokerProtocolError
from arduino_trader.protocols.money import InvalidAmount, parse_decimal

BROKER_TZ = ZoneInfo("Europe/Moscow")


def as_list(value: Any, what: str) -> list[dict[str, Any]]:
    """A collection that may be a list, a single object, or absent (→ empty)."""
    if value is None:
        return []
    if isinstance(value, dict):
        return [value]
    if isinstance(value, list) and all(isinstance(v, dict) for v in value):
        return value
    raise BrokerProtocolError(f"{what}: expected a list of objects, got {brief(value)}")


def require(data: Mapping[str, Any], key: str, what: str) -> Any:
    """``data[key]``; a missing key is a protocol error, never a default."""
    if not isinstance(data, Mapping) or key not in data:
        raise BrokerProtocolError(f"{what}: missing {key!r} in {brief(data)}")
    return data[key]


def dec(value: Any, what: str) -> Decimal:
    """A broker number (string or JSON number, comma decimals tolerated) as Decimal."""
    try:
        return parse_decimal(value, field=what, allow_comma=True)
    except InvalidAmount as exc:
        raise BrokerProtocolError(str(exc)) from None


def dec_or_none(value: Any, what: str) -> Decimal | None:
    """Like :func:`dec` but None / empty string → None."""
    if value is None or (isinstance(value, str) and not value.strip()):
        return None
    return dec(value, what)


def integer(value: Any, what: str) -> int:
    """An integer that may arrive as a string or an integral float."""
    number = dec(value, what)
    if number != number.to_integral_value():
        raise BrokerProtocolError(f"{what}: {value!r} is not an integer")
    return int(number)


def int_or_none(value: Any, what: str) -> int | None:
    """Like :func:`integer` but None / empty → None."""
    if value is None or (isinstance(value, str) and not value.strip()):
        return None
    return integer(value, what)


def client_order_id(value: Any) -> int | None:
    """Our client order id from a ``user_order_id`` / ``userOrderId`` field.

    The broker fills the field for every order, including those not placed by this
    daemon: web-terminal and stop orders carry strings such as ``"apiv2:160810000002"``
    or ``"cps_21112"``. Only a plain positive integer (JSON number or digit string) can
    be one of ours; anything else is another client's reference → None.
    """
    if value is None or isinstance(value, bool):
        return None
    if isinstance(value, int):
        return value if value > 0 else None
    if isinstance(value, float):
        return int(value) if value.is_integer() and value > 0 else None
    raw = str(value).strip()
    return int(raw) if raw.isdigit() and int(raw) > 0 else None


def text(value: Any) -> str:
    """A string field (None → empty)."""
    return "" if value is None else str(value)


def parse_time(value: Any, what: str) -> datetime | None:
    """Broker timestamps: ISO strings, ``YYYY-MM-DD hh:mm:ss``, dates, or unix seconds.

    A string without a zone is Moscow time (:data:`BROKER_TZ`); unix seconds are UTC.
    """
    if value is None or value == "":
        return None
    if isinstance(value, int | float) and not isinstance(value, bool):
        return datetime.fromtimestamp(float(value), UTC)
    if isinstance(value, str):
        raw = value.strip().replace("Z", "+00:00")
        for candidate in (raw, raw.replace(" ", "T")):
            try:
                parsed = datetime.fromisoformat(candidate)
            except ValueError:
                continue
            return parsed if parsed.tzinfo else parsed.replace(tzinfo=BROKER_TZ)
        try:
            return datetime.strptime(raw, "%d.%m.%Y %H:%M").replace(tzinfo=BROKER_TZ)
        except ValueError:
            pass
    raise BrokerProtocolError(f"{what}: unreadable time {value!r}")


def side_from_oper(value: Any, what: str) -> Side:
    """``oper`` codes of orders: 1, 2 buy; 3, 4 sell."""
    code = integer(value, what)
    if code in (1, 2):
        return "BUY"
    if code in (3, 4):
        return "SELL"
    raise BrokerProtocolError(f"{what}: unknown side code {value!r}")


def first(row: Mapping[str, Any], *keys: str) -> Any:
    """The first of ``keys`` present in ``row`` with a non-None value."""
    for key in keys:
        if key in row and row[key] is not None:
            return row[key]
    return None


def brief(value: Any) -> str:
    """``repr`` shortened for error messages."""
    shown = repr(value)
    return shown if len(shown) <= 120 else shown[:117] + "..."
