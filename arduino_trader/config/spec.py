"""The declaration of one setting: type, default, unit, valid range, secrecy."""

from __future__ import annotations

import json
import math
from dataclasses import dataclass
from decimal import Decimal, InvalidOperation
from typing import Any, Literal

SettingType = Literal["int", "float", "bool", "str", "decimal"]


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
            return value
        # decimal
        if isinstance(raw, float):
            raw = Decimal(repr(raw))
        if not isinstance(raw, int | Decimal):
            raise SettingError(self.key, f"expected a number, got {_show(raw)}")
        dec = Decimal(raw)
        if not dec.is_finite():
            raise SettingError(self.key, "must be a finite number")
        return dec

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
            number = float(value)
            too_low = self.minimum is not None and number < self.minimum
            too_high = self.maximum is not None and number > self.maximum
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


def _fmt(number: float) -> str:
    return str(int(number)) if float(number).is_integer() else str(number)


def _show(value: Any) -> str:
    if isinstance(value, Decimal):
        return format(value, "f")
    try:
        return json.dumps(value)
    except (TypeError, ValueError):
        return repr(value)
