"""The money-weighted return (XIRR) of the owner's dated deposits and withdrawals against
today's value.

From the owner's side, a deposit is money out (negative), a withdrawal money in
(positive), and today's value what they would receive (positive). The annual rate ``r``
solves ``Σ cf_i · (1 + r)^(−t_i) = 0`` with ``t_i`` the years (actual days / 365) from the
first flow; the return since inception is ``(1 + r)^T − 1`` over the whole span ``T``.
Solved by bisection on [−99.9999 %, 10^11 %] (the net present value changes sign there
when the first flow is a deposit and the last the value) down to one float's width, and
given as a ``Decimal`` to 10 places; the money amounts themselves stay exact upstream.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date
from decimal import Decimal

DAYS_PER_YEAR = 365.0
PRECISION = Decimal("1e-10")
_LOW, _HIGH = -0.999999, 1e9
_STEPS = 200


class NoRate(ValueError):
    """No money-weighted return exists for these flows (the reason says why)."""


@dataclass(frozen=True)
class MoneyWeighted:
    """The annual rate, the return over the whole span, and the span."""

    annual: Decimal
    since_inception: Decimal
    start: date
    end: date


def _npv(rate: float, flows: Sequence[tuple[float, float]]) -> float:
    log_base = math.log1p(rate)
    return math.fsum(cf * math.exp(-years * log_base) for years, cf in flows)


def xirr(flows: Sequence[tuple[date, Decimal]]) -> MoneyWeighted:
    """The money-weighted return of ``flows`` ((day, amount), signed from the owner's
    side; the last one is today's value). :class:`NoRate` when there is nothing paid in
    or nothing to set against it, or the flows span no time."""
    if not flows:
        raise NoRate("no deposits")
    ordered = sorted(flows, key=lambda f: f[0])
    start, end = ordered[0][0], ordered[-1][0]
    if end <= start:
        raise NoRate("the deposits and today's value are on the same day")
    if not any(cf < 0 for _, cf in ordered) or not any(cf > 0 for _, cf in ordered):
        raise NoRate("needs money paid in and a value or withdrawal to set against it")
    timed = [((d - start).days / DAYS_PER_YEAR, float(cf)) for d, cf in ordered]
    low, high = _LOW, _HIGH
    npv_low, npv_high = _npv(low, timed), _npv(high, timed)
    if (npv_low > 0) == (npv_high > 0):
        raise NoRate("the value of these flows has no root between -100% and 10^11%")
    for _ in range(_STEPS):
        mid = (low + high) / 2
        if mid in (low, high):
            break  # the bracket is one float wide
        value = _npv(mid, timed)
        if value == 0:
            low = high = mid
            break
        if (value > 0) == (npv_low > 0):
            low = mid
        else:
            high = mid
    rate = (low + high) / 2
    total = math.expm1(timed[-1][0] * math.log1p(rate))
    return MoneyWeighted(_exact(rate), _exact(total), start, end)


def _exact(value: float) -> Decimal:
    """``value`` to 10 places; a result that rounds to zero is 0, never −0."""
    rounded = Decimal(repr(value)).quantize(PRECISION)
    return rounded if rounded != 0 else Decimal(0).quantize(PRECISION)


def owner_flows(external: Sequence[tuple[date, Decimal]], today: date,
                value_eur: Decimal) -> list[tuple[date, Decimal]]:
    """The XIRR flows of the ledger's external flows (deposits > 0, withdrawals < 0, as
    booked) and today's value: deposits become money out of the owner's pocket."""
    return [(d, -amount) for d, amount in external if amount != 0] + [(today, value_eur)]


__all__ = ["MoneyWeighted", "NoRate", "owner_flows", "xirr"]
