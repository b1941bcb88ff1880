"""Splitting one amount over the buckets that hold a security: exact, in cents,
proportional, and never to a bucket that holds none."""

from __future__ import annotations

from decimal import Decimal

from hypothesis import given
from hypothesis import strategies as st

from arduino_trader.domain.cash_flows.pro_rata import split_pro_rata

D = Decimal
CENT = D("0.01")

_amounts = st.decimals(min_value=D("-100000"), max_value=D("100000"), places=2,
                       allow_nan=False, allow_infinity=False)
_weights = st.lists(st.tuples(st.sampled_from(["core", "s1", "s2", "s3"]),
                              st.decimals(min_value=D("-5"), max_value=D("1000"), places=3,
                                          allow_nan=False, allow_infinity=False)),
                    max_size=6)


@given(amount=_amounts, weights=_weights)
def test_the_parts_sum_to_the_amount_and_follow_the_weights(
        amount: Decimal, weights: list[tuple[str, Decimal]]) -> None:
    parts = split_pro_rata(amount, weights)
    assert sum((p for _, p in parts), D(0)) == amount  # nothing created or lost
    assert len({b for b, _ in parts}) == len(parts)  # one part per bucket
    held: dict[str, Decimal] = {}
    for bucket, weight in weights:
        if weight > 0:
            held[bucket] = held.get(bucket, D(0)) + weight
    if not held:
        assert parts == (("core", amount),)
        return
    assert {b for b, _ in parts} <= set(held)  # no money to a bucket holding none
    total = sum(held.values(), D(0))
    for bucket, part in parts:
        assert part == part.quantize(CENT)
        assert part == 0 or (part > 0) == (amount > 0)
        exact = amount * held[bucket] / total
        assert abs(part - exact) <= CENT * len(held)  # the remainder's taker: a few cents


def test_rounding_remainder_goes_to_the_largest_holder_and_zero_parts_are_left_out() -> None:
    assert split_pro_rata(D("100"), [("core", D("99")), ("s1", D("1"))]) == (
        ("core", D("99.00")), ("s1", D("1.00")))
    assert split_pro_rata(D("10"), [("core", D("1")), ("s1", D("1")), ("s2", D("1"))]) == (
        ("core", D("3.34")), ("s1", D("3.33")), ("s2", D("3.33")))
    assert split_pro_rata(D("0.01"), [("s1", D("1")), ("s2", D("1000"))]) == (
        ("s2", D("0.01")),)
    assert split_pro_rata(D("-1.50"), [("s1", D("1")), ("s1", D("1")), ("s2", D("0"))]) == (
        ("s1", D("-1.50")),)
