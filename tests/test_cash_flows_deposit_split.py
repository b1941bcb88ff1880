"""Deposit allocation: deficit-first, exact to the cent, remainder to core."""

from __future__ import annotations

from decimal import Decimal

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from arduino_trader.domain.cash_flows.deposit_split import (
    BucketShare,
    DepositSplitError,
    split_deposit,
)

D = Decimal


def _core(value: str = "0") -> BucketShare:
    return BucketShare("core", "core", D("0.8"), D(value))


def _sat(bid: str, target: str, value: str = "0", status: str = "active") -> BucketShare:
    return BucketShare(bid, "satellite", D(target), D(value), status)


def test_spec_example_800_100_100() -> None:
    split = split_deposit(D("1000"), "EUR", [_core(), _sat("a", "0.10"), _sat("b", "0.10")],
                          satellite_budget=D("0.2"), eur_per_unit=D(1))
    assert split.allocations == (("core", D("800.00")), ("a", D("100.00")),
                                 ("b", D("100.00")))


def test_no_satellites_everything_to_core_same_path() -> None:
    split = split_deposit(D("123.45"), "EUR", [], satellite_budget=D("0.2"),
                          eur_per_unit=D(1))
    assert split.allocations == (("core", D("123.45")),)


def test_remainder_goes_to_core_when_satellites_need_little() -> None:
    # satellites already near target: their deficit is small, the rest must not vanish
    # N = 11000: core is above its 80 % (needs 0), satellite a needs 1100 − 1000 = 100;
    # the other 900 must land in core (the seed's "core bucket fallback" bug lost it).
    split = split_deposit(D("1000"), "EUR",
                          [_core("9000"), _sat("a", "0.10", "1000")],
                          satellite_budget=D("0.2"), eur_per_unit=D(1))
    assert split.allocations == (("core", D("900.00")), ("a", D("100.00")))


def test_satellite_never_receives_more_than_its_deficit() -> None:
    split = split_deposit(D("1000"), "EUR", [_core("5000"), _sat("a", "0.10", "500")],
                          satellite_budget=D("0.10"), eur_per_unit=D(1))
    # N = 6500, core need = 5850 − 5000 = 850, deficit a = 650 − 500 = 150
    assert split.allocations == (("core", D("850.00")), ("a", D("150.00")))


def test_paused_retired_and_zero_target_satellites_get_nothing() -> None:
    split = split_deposit(D("1000"), "EUR",
                          [_sat("p", "0.1", status="paused"), _sat("r", "0.1", status="retired"),
                           _sat("z", "0"), _sat("acc", "0.1", status="accumulating")],
                          satellite_budget=D("0.3"), eur_per_unit=D(1))
    assert dict(split.allocations) == {"core": D("900.00"), "acc": D("100.00")}


def test_foreign_deposit_credits_native_currency_with_eur_proportions() -> None:
    # 1 USD = 0.9 EUR; buckets worth EUR 900 core, 0 satellite; deposit 1000 USD
    split = split_deposit(D("1000"), "USD", [_core("900"), _sat("a", "0.10")],
                          satellite_budget=D("0.10"), eur_per_unit=D("0.9"))
    assert split.currency == "USD"
    # N (USD) = 1000 + 1000 = 2000 → core need 1800 − 1000 = 800, a deficit 200
    assert split.allocations == (("core", D("800.00")), ("a", D("200.00")))


@pytest.mark.parametrize("amount", [D("0"), D("-1"), D("1.001"), D("NaN")])
def test_bad_amounts_are_refused(amount: Decimal) -> None:
    with pytest.raises(DepositSplitError):
        split_deposit(amount, "EUR", [], satellite_budget=D("0.1"), eur_per_unit=D(1))


def test_bad_inputs_are_refused() -> None:
    with pytest.raises(DepositSplitError):
        split_deposit(D("1"), "EUR", [], satellite_budget=D("0.5"), eur_per_unit=D(1))
    with pytest.raises(DepositSplitError):
        split_deposit(D("1"), "USD", [], satellite_budget=D("0.1"), eur_per_unit=D(0))
    with pytest.raises(DepositSplitError):
        split_deposit(D("1"), "EUR", [], satellite_budget=D("0.1"), eur_per_unit=D("0.9"))
    with pytest.raises(DepositSplitError):
        split_deposit(D("1"), "EUR", [_sat("a", "0.1"), _sat("a", "0.1")],
                      satellite_budget=D("0.1"), eur_per_unit=D(1))
    with pytest.raises(DepositSplitError):
        split_deposit(D("1"), "EUR", [BucketShare("main", "core", D(1), D(0))],
                      satellite_budget=D("0.1"), eur_per_unit=D(1))


_money = st.decimals(min_value=D("0"), max_value=D("100000"), places=2)


@settings(max_examples=300, deadline=None)
@given(
    amount=st.decimals(min_value=D("0.01"), max_value=D("1000000"), places=2),
    core_value=_money,
    sats=st.lists(st.tuples(st.decimals(min_value=D("0"), max_value=D("0.15"), places=3),
                            _money, st.sampled_from(["active", "accumulating", "paused"])),
                  max_size=6),
    budget=st.decimals(min_value=D("0"), max_value=D("0.30"), places=2),
    rate=st.sampled_from([D(1), D("0.9"), D("1.1734"), D("0.00613")]),
)
def test_split_sums_exactly_and_respects_deficits(amount: Decimal, core_value: Decimal,
                                                  sats: list[tuple[Decimal, Decimal, str]],
                                                  budget: Decimal, rate: Decimal) -> None:
    ccy = "EUR" if rate == 1 else "USD"
    buckets = [_core(str(core_value))] + [
        BucketShare(f"s{i}", "satellite", t, v, s) for i, (t, v, s) in enumerate(sats)]
    split = split_deposit(amount, ccy, buckets, satellite_budget=budget, eur_per_unit=rate)
    assert split.total == amount
    assert all(a > 0 and a == a.quantize(D("0.01")) for _, a in split.allocations)
    assert split.allocations[0][0] == "core" or all(b != "core" for b, _ in split.allocations)
    total_after = sum((b.value_eur / rate for b in buckets), D(0)) + amount
    for b in buckets[1:]:
        got = split.to(b.bucket_id)
        if b.status == "paused" or b.target_pct == 0:
            assert got == 0
        assert got <= max(D(0), total_after * b.target_pct - b.value_eur / rate)
