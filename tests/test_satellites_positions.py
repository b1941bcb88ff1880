"""Bucket positions from attributed fills (domain/satellites/positions.py): a satellite
holds what its own fills bought, core the rest; per symbol the buckets add up to the
broker quantity exactly, and two satellites never both claim a whole position."""

from __future__ import annotations

from decimal import Decimal

from hypothesis import given, settings
from hypothesis import strategies as st

from arduino_trader.domain.satellites.positions import average_costs, bucket_positions

D = Decimal


def test_satellites_hold_their_fills_and_core_the_pre_existing_rest() -> None:
    out = bucket_positions({"AAA": D(100), "BBB": D(5)},
                           {"s1": {"AAA": D(30)}, "s2": {"AAA": D(20), "BBB": D(-3)},
                            "core": {"AAA": D(7)}})
    assert out == {"s1": {"AAA": D(30)}, "s2": {"AAA": D(20)},
                   "core": {"AAA": D(50), "BBB": D(5)}}


def test_two_satellites_on_one_symbol_share_a_smaller_position_pro_rata() -> None:
    # the broker holds 10 but the fills say 8 + 8: no bucket claims the whole position
    out = bucket_positions({"AAA": D(10)}, {"s1": {"AAA": D(8)}, "s2": {"AAA": D(8)}})
    assert out == {"s1": {"AAA": D(5)}, "s2": {"AAA": D(5)}}
    uneven = bucket_positions({"AAA": D(10)}, {"s1": {"AAA": D(9)}, "s2": {"AAA": D(6)}})
    assert uneven == {"s1": {"AAA": D(6)}, "s2": {"AAA": D(4)}}
    fractional = bucket_positions({"AAA": D("1.5")}, {"s1": {"AAA": D(1)},
                                                      "s2": {"AAA": D(1)}})
    assert fractional == {"s1": {"AAA": D("0.8")}, "s2": {"AAA": D("0.7")}}


def test_unknown_buckets_shorts_and_unheld_fills() -> None:
    out = bucket_positions({"AAA": D(10), "SHRT": D(-2)},
                           {"gone": {"AAA": D(4)}, "s1": {"ZZZ": D(3), "SHRT": D(1)}},
                           buckets={"core", "s1"})
    assert out == {"core": {"AAA": D(10), "SHRT": D(-2)}}  # ZZZ: the broker holds none
    assert bucket_positions({}, {"s1": {"AAA": D(1)}}) == {}


QTY = st.decimals(min_value=0, max_value=10_000, places=2, allow_nan=False,
                  allow_infinity=False)


@settings(max_examples=300, deadline=None)
@given(st.dictionaries(st.sampled_from(["A", "B", "C"]),
                       st.decimals(min_value=-50, max_value=10_000, places=2,
                                   allow_nan=False, allow_infinity=False), max_size=3),
       st.dictionaries(st.sampled_from(["core", "s1", "s2", "s3"]),
                       st.dictionaries(st.sampled_from(["A", "B", "C", "D"]),
                                       st.decimals(min_value=-100, max_value=20_000, places=2,
                                                   allow_nan=False, allow_infinity=False),
                                       max_size=4), max_size=4))
def test_per_symbol_the_buckets_sum_to_the_account(account: dict[str, Decimal],
                                                   fills: dict[str, dict[str, Decimal]]
                                                   ) -> None:
    out = bucket_positions(account, fills)
    for symbol, quantity in account.items():
        parts = [per[symbol] for per in out.values() if symbol in per]
        assert sum(parts, D(0)) == quantity
        if quantity > 0:
            assert all(p > 0 for p in parts)
        for bucket, per in out.items():
            if bucket != "core" and symbol in per:
                assert per[symbol] <= fills[bucket][symbol]  # never more than its fills
    for per in out.values():
        assert set(per) <= set(account)


def test_average_costs_follow_each_buckets_own_fills() -> None:
    fills = [("s1", "AAA", "BUY", D(10), D(100)), ("s2", "AAA", "BUY", D(5), D(50)),
             ("s1", "AAA", "BUY", D(10), D(80)), ("s1", "AAA", "SELL", D(5), D(120)),
             ("s2", "AAA", "SELL", D(9), D(60)), ("s1", "BBB", "SELL", D(1), D(10))]
    assert average_costs(fills) == {"s1": {"AAA": D(90)}}  # s2 closed; BBB never bought
