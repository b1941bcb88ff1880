"""Yahoo's units, made explicit once at the adapter (pure).

* Minor-unit currencies: London listings quote in pence (``GBp``/``GBX``), Johannesburg
  in cents (``ZAc``), Tel Aviv in agorot (``ILA``). Every price the adapter hands out is
  in the major unit (``GBP``, ``ZAR``, ``ILS``): price / 100.
* Dividend yield: Yahoo's ``trailingAnnualDividendYield`` is a fraction (0.0044), while
  ``dividendYield`` as yfinance serves it today is a percent (0.44). The adapter reports
  ``dividendYield`` as a fraction: the trailing fraction when the other figure agrees
  with it (read as a percent, or as the fraction Yahoo used to serve) within ×3, none
  when neither reading agrees; the percent figure / 100 when it is the only one.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any

# Yahoo's minor-unit currency codes (case matters: ``GBP`` is pounds, ``GBp`` pence).
MINOR_UNITS: dict[str, str] = {"GBp": "GBP", "GBX": "GBP", "GBx": "GBP", "ZAc": "ZAR",
                               "ZAC": "ZAR", "ILA": "ILS", "ILa": "ILS"}
MINOR_PER_MAJOR = 100
# The trailing fraction and the percent figure are different yields (trailing vs
# forward) but the same order of magnitude; a factor beyond this means a unit mix-up.
YIELD_AGREEMENT = 3.0


def major_currency(code: str) -> tuple[str, int]:
    """``(major ISO code, minor units per major unit)`` of a Yahoo currency code."""
    raw = code.strip()
    if raw in MINOR_UNITS:
        return MINOR_UNITS[raw], MINOR_PER_MAJOR
    return raw.upper(), 1


def to_major(value: float | None, divisor: int) -> float | None:
    """A price in the major unit (``None`` stays ``None``)."""
    return None if value is None else value / divisor


def _number(value: Any) -> float | None:
    if isinstance(value, bool) or not isinstance(value, int | float):
        return None
    number = float(value)
    return number if math.isfinite(number) else None


def dividend_yield(info: Mapping[str, Any]) -> float | None:
    """The dividend yield as a fraction (0.004 for 0.4 %), or None when Yahoo's figures
    are missing, negative or disagree beyond a unit mix-up."""
    trailing = _number(info.get("trailingAnnualDividendYield"))
    percent = _number(info.get("dividendYield"))
    if (trailing is not None and trailing < 0) or (percent is not None and percent < 0):
        return None
    if trailing is None:
        return None if percent is None else percent / 100
    if percent is None or trailing == 0 or percent == 0:
        return trailing
    for per in (100, 1):  # today's percent, or a fraction as Yahoo used to serve it
        ratio = trailing / (percent / per)
        if 1 / YIELD_AGREEMENT <= ratio <= YIELD_AGREEMENT:
            return trailing
    return None
