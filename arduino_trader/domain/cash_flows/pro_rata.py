"""Split one amount over buckets in proportion to their weights (shares held), exactly.

Used for income and maturities of a position held by more than one bucket: each bucket
gets its own share of a dividend, coupon, withholding tax or redemption, never the whole
to whichever bucket happens to be listed first.
"""

from __future__ import annotations

from collections.abc import Sequence
from decimal import Decimal

from arduino_trader.domain.cash_flows.deposit_split import CORE_ID
from arduino_trader.protocols.money import ZERO, round_money

Shares = tuple[tuple[str, Decimal], ...]
"""(bucket, weight) pairs; a weight is typically the quantity of the security held."""


def split_pro_rata(amount: Decimal, weights: Sequence[tuple[str, Decimal]]) -> Shares:
    """``amount`` split over ``weights`` in cents; the parts sum to ``amount`` exactly.

    Buckets with a non-positive weight get nothing, a bucket listed twice the sum of its
    weights; no positive weight at all sends the whole amount to core. Every part but
    one is rounded to the cent; the bucket with the largest weight (the first listed
    among equals) takes the remainder, so rounding never moves money to a bucket that
    holds none. Parts that round to zero are left out.
    Works for negative amounts (a withholding tax) the same way.
    """
    merged: dict[str, Decimal] = {}
    for bucket, weight in weights:
        if weight > 0:
            merged[bucket] = merged.get(bucket, ZERO) + weight
    if not merged:
        return ((CORE_ID, amount),)
    held = list(merged.items())
    total = sum(merged.values(), ZERO)
    largest = max(range(len(held)), key=lambda i: (held[i][1], -i))
    parts = [round_money(amount * weight / total) for _, weight in held]
    parts[largest] = amount - sum((p for i, p in enumerate(parts) if i != largest), ZERO)
    return tuple((held[i][0], parts[i]) for i in range(len(held))
                 if parts[i] or i == largest)
