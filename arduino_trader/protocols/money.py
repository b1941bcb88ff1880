"""Exact money: parsing and rounding of ``Decimal`` amounts.

Ledgers never hold binary floats. Broker and API inputs arrive as strings, ints or
JSON numbers; :func:`parse_decimal` turns each into a ``Decimal`` or raises
:class:`InvalidAmount` with a message naming the bad value.
"""

from __future__ import annotations

import re
from decimal import ROUND_HALF_EVEN, Decimal, InvalidOperation

CENT = Decimal("0.01")
ZERO = Decimal("0")
_CURRENCY_RE = re.compile(r"^[A-Z]{3}$")


class InvalidAmount(ValueError):
    """A value that cannot be read as an exact amount."""


def parse_decimal(value: object, *, field: str = "amount", allow_comma: bool = False) -> Decimal:
    """Read ``value`` as an exact, finite ``Decimal``.

    Accepts ``Decimal``, ``int``, ``str`` (``"12.5"``, ``".00000000"``; ``"1,5"`` only with
    ``allow_comma``) and ``float`` (converted through its shortest repr, so ``0.1`` gives
    ``Decimal("0.1")``). Booleans, ``None``, NaN and infinities are refused.
    """
    if isinstance(value, bool) or value is None:
        raise InvalidAmount(f"{field}: expected a number, got {value!r}")
    if isinstance(value, Decimal):
        result = value
    elif isinstance(value, int):
        result = Decimal(value)
    elif isinstance(value, float):
        result = Decimal(repr(value))
    elif isinstance(value, str):
        text = value.strip().replace(" ", "")
        if allow_comma and "," in text and "." not in text:
            text = text.replace(",", ".")
        if not text:
            raise InvalidAmount(f"{field}: empty string is not a number")
        try:
            result = Decimal(text)
        except InvalidOperation as exc:
            raise InvalidAmount(f"{field}: {value!r} is not a number") from exc
    else:
        raise InvalidAmount(f"{field}: expected a number, got {type(value).__name__}")
    if not result.is_finite():
        raise InvalidAmount(f"{field}: {value!r} is not a finite number")
    return result.copy_abs() if result.is_zero() else result  # -0 is 0


def round_money(amount: Decimal, quantum: Decimal = CENT) -> Decimal:
    """Round to ``quantum`` (cents by default) with banker's rounding."""
    return amount.quantize(quantum, rounding=ROUND_HALF_EVEN)


def parse_currency(value: object, *, field: str = "currency") -> str:
    """Validate an ISO-4217-shaped currency code (three upper-case letters)."""
    if not isinstance(value, str):
        raise InvalidAmount(f"{field}: expected a currency code, got {value!r}")
    code = value.strip().upper()
    if not _CURRENCY_RE.match(code):
        raise InvalidAmount(f"{field}: {value!r} is not a currency code")
    return code


def decimal_to_str(amount: Decimal) -> str:
    """Canonical text form for storage (no exponent, no trailing noise; any zero is "0")."""
    if amount.is_zero():
        return "0"
    text = format(amount, "f")
    if "." in text:
        text = text.rstrip("0").rstrip(".")
    return text or "0"
