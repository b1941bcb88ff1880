"""The declaration of one setting: type, default, unit, valid range, secrecy."""

from __future__ import annotations

import json
import math
from dataclasses import dataclass
from decimal import Decimal, InvalidOperation
from typing import Any, Literal

SettingType = Literal["int", "float", "bool", "str", "decimal"]
Number = int | float | Decimal

# The size rule of every number read from outside (settings, API bodies): at most
# MAX_DIGITS significant digits, a magnitude below 10**MAX_MAGNITUDE and, unless zero, at
# least 10**MIN_MAGNITUDE. Anything beyond is a typo or an attack ("1e-99999999" is 11
# bytes, 100 MB written out).
MAX_DIGITS = 30
MAX_MAGNITUDE = 15
MIN_MAGNITUDE = -12
_INT_LIMIT = 10**MAX_MAGNITUDE
_TOO_LARGE = f"must be less than 1e{MAX_MAGNITUDE} in magnitude"


def number_problem(value: Number) -> str | None:
    """Why ``value`` breaks the size rule (or is not finite), or None.

    Reads only the exponent and the digit count, so it never writes a value out: a huge
    exponent costs nothing to refuse.
    """
    if isinstance(value, int):
        return None if -_INT_LIMIT < value < _INT_LIMIT else _TOO_LARGE
    if isinstance(value, float):
        if not math.isfinite(value):
            return "must be a finite number"
        value = Decimal(repr(value))
    if not value.is_finite():
        return "must be a finite number"
    _, digits, exponent = value.as_tuple()
    assert isinstance(exponent, int)
    if len(digits) > MAX_DIGITS:
        return f"must have at most {MAX_DIGITS} significant digits"
    if value.is_zero():
        return None if -MAX_DIGITS <= exponent < MAX_MAGNITUDE else "has an exponent out of range"
    if value.adjusted() >= MAX_MAGNITUDE:
        return _TOO_LARGE
    if value.adjusted() < MIN_MAGNITUDE:
        return f"must be 0 or at least 1e{MIN_MAGNITUDE} in magnitude"
    return None


class SettingError(ValueError):
    """A setting value or key that cannot be accepted; the message names the key."""

    def __init__(self, key: str, message: str) -> None:
        super().__init__(f"{key}: {message}")
        self.key = key
        self.reason = message


class SettingErrors(SettingError):
    """Several bad settings found in one pass; ``errors`` lists each of them."""

    def __init__(self, errors: list[SettingError]) -> None:
        lines = "\n".join(f"  {error}" for error in errors)
        super().__init__("config", f"{len(errors)} bad setting(s):\n{lines}")
        self.errors = errors


def raise_all(errors: list[SettingError]) -> None:
    """Raise the one error as itself, several as :class:`SettingErrors`, none: return."""
    if len(errors) == 1:
        raise errors[0]
    if errors:
        raise SettingErrors(errors)


@dataclass(frozen=True)
class SettingSpec:
    """One setting, declared once.

    ``runtime`` settings may be changed through the admin API and take effect without a
    restart; the others are read at start-up from defaults, the TOML file and the
    environment only. ``secret`` settings are write-only: never returned or logged.
    """

    key: str
    type: SettingType
    default: Any
    description: str
    unit: str = ""
    minimum: float | None = None
    maximum: float | None = None
    choices: tuple[str, ...] | None = None
    secret: bool = False
    runtime: bool = True
    group: str = "general"

    def range_text(self) -> str:
        """Human text of the valid range, e.g. ``0..365`` or ``one of a|b``."""
        if self.choices is not None:
            return "one of " + "|".join(self.choices)
        if self.minimum is not None and self.maximum is not None:
            return f"{_fmt(self.minimum)}..{_fmt(self.maximum)}"
        if self.minimum is not None:
            return f">= {_fmt(self.minimum)}"
        if self.maximum is not None:
            return f"<= {_fmt(self.maximum)}"
        return "any " + self.type

    def coerce(self, raw: Any, *, from_text: bool = False) -> Any:
        """Validate ``raw`` and return the typed value, or raise :class:`SettingError`.

        ``from_text`` is for environment variables: everything arrives as a string.
        """
        value = self._convert(raw, from_text)
        self._check_range(value)
        return value

    def _convert(self, raw: Any, from_text: bool) -> Any:
        kind = self.type
        if kind == "str":
            if not isinstance(raw, str):
                raise SettingError(self.key, f"expected a string, got {_show(raw)}")
            return raw
        if kind == "bool":
            return self._to_bool(raw)
        if isinstance(raw, bool):
            raise SettingError(self.key, f"expected a number ({kind}), got {_show(raw)}")
        if isinstance(raw, str):
            if not from_text and kind != "decimal":
                raise SettingError(self.key, f"expected a number ({kind}), got {_show(raw)}")
            raw = self._parse_text_number(raw)
        if isinstance(raw, int | float | Decimal):
            problem = number_problem(raw)
            if problem is not None:
                raise SettingError(self.key, problem)
        if kind == "int":
            if isinstance(raw, float) and raw.is_integer():
                raw = int(raw)
            if isinstance(raw, Decimal) and raw == raw.to_integral_value():
                raw = int(raw)
            if not isinstance(raw, int):
                raise SettingError(self.key, f"expected a whole number, got {_show(raw)}")
            return raw
        if kind == "float":
            if not isinstance(raw, int | float | Decimal):
                raise SettingError(self.key, f"expected a number, got {_show(raw)}")
            value = float(raw)
            if not math.isfinite(value):
                raise SettingError(self.key, "must be a finite number")
            return 0.0 if value == 0 else value  # -0.0 is 0.0
        # decimal
        if isinstance(raw, float):
            raw = Decimal(repr(raw))
        if not isinstance(raw, int | Decimal):
            raise SettingError(self.key, f"expected a number, got {_show(raw)}")
        dec = Decimal(raw)
        if not dec.is_finite():
            raise SettingError(self.key, "must be a finite number")
        return dec.copy_abs() if dec.is_zero() else dec

    def _parse_text_number(self, text: str) -> int | float | Decimal:
        stripped = text.strip()
        try:
            if self.type == "int":
                return int(stripped)
            if self.type == "decimal":
                return Decimal(stripped)
            return float(stripped)
        except (ValueError, InvalidOperation) as exc:
            raise SettingError(self.key, f"{text!r} is not a valid {self.type}") from exc

    def _to_bool(self, raw: Any) -> bool:
        if isinstance(raw, bool):
            return raw
        if isinstance(raw, int | float) and raw in (0, 1):
            return bool(raw)
        if isinstance(raw, str) and raw.strip().lower() in _BOOL_TEXT:
            return _BOOL_TEXT[raw.strip().lower()]
        raise SettingError(self.key, f"expected true/false, got {_show(raw)}")

    def _check_range(self, value: Any) -> None:
        if self.choices is not None and value not in self.choices:
            raise SettingError(self.key, f"{_show(value)} is not {self.range_text()}")
        if self.type in ("int", "float", "decimal"):
            too_low = self.minimum is not None and value < _bound(self.minimum, value)
            too_high = self.maximum is not None and value > _bound(self.maximum, value)
            if too_low or too_high:
                raise SettingError(
                    self.key, f"{_show(value)} is out of range {self.range_text()}"
                )

    def holds(self, value: Any) -> bool:
        """Whether ``value`` has this setting's Python type (a coerced value does)."""
        if self.type == "int":
            return isinstance(value, int) and not isinstance(value, bool)
        return isinstance(value, _PYTHON_TYPES[self.type])

    def to_json(self, value: Any) -> Any:
        """JSON form of a value of this setting (decimals as strings)."""
        if isinstance(value, Decimal):
            return format(value, "f")
        return value


_PYTHON_TYPES: dict[str, type] = {"float": float, "bool": bool, "str": str,
                                  "decimal": Decimal}
_BOOL_TEXT = {"1": True, "true": True, "yes": True, "on": True,
              "0": False, "false": False, "no": False, "off": False}


def _bound(limit: float, value: Number) -> Number:
    """``limit`` in ``value``'s kind: ints and decimals compare exactly, never as floats."""
    return limit if isinstance(value, float) else Decimal(repr(limit))


def _fmt(number: float) -> str:
    return str(int(number)) if float(number).is_integer() else str(number)


def _show(value: Any) -> str:
    if isinstance(value, Decimal):
        return format(value, "f")
    try:
        return json.dumps(value)
    except (TypeError, ValueError):
        return repr(value)
