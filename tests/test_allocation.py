"""Allocation: groups, current vs target with the ±2 % band, concentration alerts."""

from __future__ import annotations

from decimal import Decimal

import pytest
from hypothesis import given
from hypothesis import strategies as st

from arduino_trader.domain.allocation import (
    AllocationError,
    GroupKind,
    Holding,
    clean_members,
    concentration_alerts,
    current_vs_target,
    exposure,
    status_for,
    validate_targets,
)

D = Decimal
GROUPS = {"EU": ["Germany", "France"], "US": ["United States"], "EMPTY": ["__EMPTY__"]}


def _holdings() -> list[Holding]:
    return [Holding("SAP", D("300"), "Germany", "Technology"),
            Holding("AI", D("100"), "France", "Chemicals, Industrials"),
            Holding("KO", D("500"), "United States", "Consumer Staples"),
            Holding("X", D("100"), "Japan", "")]


def test_group_rows_with_band_and_unmapped_other() -> None:
    rows = {r.name: r for r in current_vs_target(_holdings(), "country", GROUPS,
                                                 {"EU": D("0.5"), "US": D("0.4")},
                                                 active_members=["Germany", "Canada"])}
    assert set(rows) == {"EU", "US", "OTHER"}
    eu, us, other = rows["EU"], rows["US"], rows["OTHER"]
    assert (eu.current_pct, eu.current_value, eu.status) == (D("0.4"), D("400.00"),
                                                             "underweight")
    assert eu.need == D("0.1") and us.status == "overweight" and us.need == 0
    assert other.target_pct == 0 and other.current_pct == D("0.1")


def test_multi_industry_value_is_split_equally() -> None:
    values = exposure(_holdings(), "industry")
    assert values["Chemicals"] == values["Industrials"] == D(50)
    assert values["OTHER"] == D(100)


def test_band_edges() -> None:
    assert status_for(D("0.02")) == "balanced" and status_for(D("-0.02")) == "balanced"
    assert status_for(D("0.0201")) == "overweight"
    assert status_for(D("-0.0201")) == "underweight"


def test_concentration_alerts_thresholds_and_severity() -> None:
    alerts = {(a.type, a.name): a for a in concentration_alerts(_holdings())}
    us = alerts[("country", "United States")]
    assert us.current_pct == D("0.5") and us.severity == "critical"
    assert alerts[("position", "KO")].severity == "critical"
    assert alerts[("country", "Germany")].severity == "warning"  # 0.30/0.35 = 0.857
    assert ("country", "France") not in alerts  # 0.10 < 0.28
    assert alerts[("sector", "Technology")].current_pct == D("0.3")
    assert concentration_alerts([]) == []


def test_group_member_cleaning() -> None:
    assert clean_members(" EU ", [" Germany", "Germany", "", "France"]) == (
        "EU", ["Germany", "France"])
    assert clean_members("Empty", []) == ("Empty", [])
    with pytest.raises(AllocationError):
        clean_members("  ", ["x"])
    with pytest.raises(AllocationError):
        clean_members("OTHER", ["x"])


def test_target_validation() -> None:
    assert validate_targets({"EU": 0.5, "US": "0.5"}, GROUPS) == {"EU": D("0.5"),
                                                                  "US": D("0.5")}
    assert validate_targets({"EU": 0.5, "US": "0", "EMPTY": D("0.1")}, GROUPS) == {
        "EU": D("0.5"), "EMPTY": D("0.1")}
    bads: list[dict[str, object]] = [{"EU": -0.1}, {"EU": 1.5}, {"NOPE": 0.1}, {"EU": "x"},
                                     {"EU": True}, {"EU": None}, {"EU": float("nan")},
                                     {"EU": 0.5, "US": "0.5", "EMPTY": D("0.01")}]
    for bad in bads:
        with pytest.raises(AllocationError):
            validate_targets(bad, GROUPS)


@given(st.lists(st.tuples(st.decimals(D("0"), D("1e6"), places=2),
                          st.sampled_from(["Germany", "France", "United States", "Japan", ""]),
                          st.sampled_from(["A", "B, C", "", "A,B,C"])), max_size=12))
def test_current_shares_sum_to_one_and_alerts_match_thresholds(
        rows: list[tuple[Decimal, str, str]]) -> None:
    holdings = [Holding(f"S{i}", v, c, ind) for i, (v, c, ind) in enumerate(rows)]
    total = sum((h.value_eur for h in holdings), D(0))
    kinds: tuple[GroupKind, ...] = ("country", "industry")
    for kind in kinds:
        result = current_vs_target(holdings, kind, GROUPS, {})
        if total > 0:
            assert abs(sum((r.current_pct for r in result), D(0)) - 1) <= D("0.0001") * len(result)
            assert sum(r.current_value for r in result) - total <= D("0.01") * len(result)
    for alert in concentration_alerts(holdings):
        assert alert.current_pct >= alert.alert_threshold_pct
        assert (alert.severity == "critical") == (alert.current_pct / alert.limit_pct >= D("0.9"))


def test_position_value_fallback_uses_fx_never_one_to_one() -> None:
    from arduino_trader.domain.allocation import position_value_eur

    assert position_value_eur(D("10"), D(1), D(5), None) == D("10")
    assert position_value_eur(None, D(2), D(50), D("0.9")) == D("90.0")
    with pytest.raises(AllocationError):
        position_value_eur(None, D(2), D(50), None)
