"""Yahoo's units, made explicit once at the adapter (pure).

* Minor-unit currencies: London listings quote in pence (``GBp``/``GBX``), Johannesburg
  in cents (``ZAc``), Tel Aviv in agorot (``ILA``). Every price the adapter hands out is
  in the major unit (``GBP``, ``ZAR``, ``ILS``): price / 100. Bars under such a label
  that are in the major unit already (Yahoo does send those: its market price, in the
  minor unit, is then 100 × the close, within 10 %) are not divided again.
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
# How far from 100 × the close a minor-unit market price may be for bars in the major unit.
UNIT_SWITCH_TOLERANCE = 0.1
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


def bar_divisor(per: int, market_price: float | None, close: float | None) -> int:
    """The divisor bringing bars to the major unit: ``per``, or 1 when the label is a
    minor unit but ``market_price`` (in it) is ``per`` × the bars' ``close`` within 10 %."""
    if per == 1 or market_price is None or close is None or market_price <= 0 or close <= 0:
        return per
    return 1 if abs(market_price / close / per - 1) < UNIT_SWITCH_TOLERANCE else per


def number(value: Any) -> float | None:
    """A finite number, or None (Yahoo's NaN, strings, booleans)."""
    if isinstance(value, bool) or not isinstance(value, int | float):
        return None
    result = float(value)
    return result if math.isfinite(result) else None


def dividend_yield(info: Mapping[str, Any]) -> float | None:
    """The dividend yield as a fraction (0.004 for 0.4 %), or None when Yahoo's figures
    are missing, negative or disagree beyond a unit mix-up."""
    trailing = number(info.get("trailingAnnualDividendYield"))
    percent = number(info.get("dividendYield"))
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
