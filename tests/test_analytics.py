"""Portfolio analytics against plain-Python formulas."""

from __future__ import annotations

import math
import statistics
from datetime import date, timedelta

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from arduino_trader.domain import analytics as an

returns_st = st.lists(st.floats(min_value=-0.2, max_value=0.2, allow_nan=False), min_size=2,
                      max_size=60)
values_st = st.lists(st.floats(min_value=1.0, max_value=1e7, allow_nan=False), min_size=2,
                     max_size=60)


def _close(a: float, b: float, tol: float = 1e-9) -> bool:
    return math.isclose(a, b, rel_tol=tol, abs_tol=tol)


@given(values_st)
def test_daily_returns_without_flows_are_simple_ratios(values: list[float]) -> None:
    r = an.daily_returns(values)
    assert len(r) == len(values) - 1
    for t in range(1, len(values)):
        assert _close(float(r[t - 1]), values[t] / values[t - 1] - 1)


@given(values_st, st.data())
def test_a_deposit_is_not_performance(values: list[float], data: st.DataObject) -> None:
    """Adding a flow F to V_t (and every later value) leaves every return of day t as is."""
    day = data.draw(st.integers(min_value=1, max_value=len(values) - 1))
    deposit = data.draw(st.floats(min_value=1.0, max_value=1e6))
    flows = [0.0] * len(values)
    flows[day] = deposit
    with_deposit = [v + deposit if i == day else v for i, v in enumerate(values)]
    base = an.daily_returns(values)
    adjusted = an.daily_returns(with_deposit, flows)
    assert _close(float(adjusted[day - 1]), float(base[day - 1]), 1e-7)


def test_non_positive_previous_value_gives_zero_not_inf() -> None:
    assert list(an.daily_returns([0.0, 100.0, 110.0])) == pytest.approx([0.0, 0.1])
    with pytest.raises(ValueError, match="same length"):
        an.daily_returns([1.0, 2.0], [0.0])


@given(returns_st)
def test_annualised_return_matches_the_product(returns: list[float]) -> None:
    growth = math.prod(1 + r for r in returns)
    assert _close(an.annualised_return(returns), growth ** (252 / len(returns)) - 1, 1e-7)
    assert _close(an.total_return(returns), growth - 1, 1e-9)


@given(returns_st)
def test_volatility_and_sharpe_match_statistics(returns: list[float]) -> None:
    std = statistics.stdev(returns)
    assert _close(an.volatility(returns), std * math.sqrt(252), 1e-7)
    expected = 0.0 if std < an.MIN_DEVIATION else statistics.fmean(returns) / std * math.sqrt(252)
    assert _close(an.sharpe_ratio(returns), expected, 1e-6)


@given(returns_st)
def test_sortino_matches_a_loop(returns: list[float]) -> None:
    dd = math.sqrt(sum(min(r, 0.0) ** 2 for r in returns) / len(returns))
    expected = 0.0 if dd < an.MIN_DEVIATION else statistics.fmean(returns) / dd * math.sqrt(252)
    assert _close(an.sortino_ratio(returns), expected, 1e-6)


@given(returns_st)
def test_max_drawdown_matches_a_loop(returns: list[float]) -> None:
    wealth, peak, worst = 1.0, 1.0, 0.0
    for r in returns:
        wealth *= 1 + r
        peak = max(peak, wealth)
        worst = min(worst, wealth / peak - 1)
    mdd = an.max_drawdown(returns)
    assert _close(mdd, worst, 1e-9)
    assert -1.0 <= mdd <= 0.0


def test_calmar_and_risk_free() -> None:
    assert an.calmar_ratio(0.1, 0.0) == 0.0
    assert an.calmar_ratio(0.1, -0.2) == pytest.approx(0.5)
    r = [0.01, -0.02, 0.015, 0.0]
    std = statistics.stdev(r)
    assert an.sharpe_ratio(r, 0.0252) == pytest.approx(
        (statistics.fmean(r) - 0.0001) / std * math.sqrt(252))


@given(st.lists(st.floats(min_value=-0.1, max_value=0.1), min_size=1, max_size=120))
@settings(max_examples=50)
def test_monthly_returns_compound_to_the_total(returns: list[float]) -> None:
    days = [date(2025, 1, 1) + timedelta(days=i) for i in range(len(returns))]
    monthly = an.monthly_returns(days, returns)
    assert [m for m, _ in monthly] == sorted({f"{d:%Y-%m}" for d in days})
    assert _close(math.prod(1 + r for _, r in monthly) - 1, an.total_return(returns), 1e-9)


def test_performance_report_and_insufficient_data() -> None:
    days = [date(2026, 1, 1) + timedelta(days=i) for i in range(4)]
    perf = an.performance(days, [100.0, 110.0, 99.0, 1099.0], [0, 0, 0, 1000.0])
    assert [round(r, 10) for _, r in perf.daily] == [0.1, -0.1, 0.0]
    assert perf.days == 3 and perf.start == days[0] and perf.end == days[-1]
    assert perf.max_drawdown == pytest.approx(-0.1)
    assert perf.calmar == pytest.approx(perf.annual / 0.1)
    with pytest.raises(an.InsufficientData):
        an.performance(days[:1], [100.0])


def test_non_finite_figures_become_zero() -> None:
    assert an.finite(float("nan")) == 0.0 and an.finite(float("inf")) == 0.0
    assert an.volatility([0.01]) == 0.0 and an.sharpe_ratio([0.01, 0.01]) == 0.0
    assert an.annualised_return([-1.0, 0.5]) == -1.0


# ------------------------------------------------------------------- attribution
def test_attribution_sums_to_the_portfolio_return_over_252_days() -> None:
    """With n = 252 the annualisation is the identity, so contributions add up exactly."""
    returns = [0.001 * ((i % 7) - 3) for i in range(252)]
    weights = [{"A": 0.5, "B": 0.3, "C": 0.2}] * 252
    by_security = an.attribution(returns, weights)
    assert sum(by_security.values()) == pytest.approx(sum(returns))
    attrs = an.attribute(returns, weights, {"A": "Germany", "B": "Germany", "C": None},
                         {"A": "Software, Hardware", "B": "Banks", "C": ""})
    assert attrs["country"] == pytest.approx({"Germany": 0.8 * sum(returns),
                                              "Unknown": 0.2 * sum(returns)})
    assert attrs["industry"] == pytest.approx({"Software": 0.25 * sum(returns),
                                               "Hardware": 0.25 * sum(returns),
                                               "Banks": 0.3 * sum(returns),
                                               "Unknown": 0.2 * sum(returns)})
    assert set(attrs["security"]) == {"A", "B", "C"}


@given(st.lists(st.floats(min_value=-0.003, max_value=0.003), min_size=1, max_size=12),
       st.lists(st.dictionaries(st.sampled_from("ABCDE"), st.floats(min_value=0.01,
                                                                   max_value=10.0),
                                min_size=1), min_size=1, max_size=12))
@settings(max_examples=50, deadline=None)
def test_attribution_is_additive(pattern: list[float],
                                 holdings_pattern: list[dict[str, float]]) -> None:
    """Over 252 days (short patterns repeated) the per-security contributions add up to
    Σ r_t (weights sum to 1; |Σ| < 1 so nothing clamps), and grouping preserves it."""
    returns = [pattern[i % len(pattern)] for i in range(252)]
    day_weights = [an.weights(holdings_pattern[i % len(holdings_pattern)])
                   for i in range(252)]
    by_security = an.attribution(returns, day_weights)
    assert math.isclose(sum(by_security.values()), sum(returns), abs_tol=1e-9)
    countries = {"A": ["X"], "B": ["X"], "C": ["Y"], "D": [], "E": ["Y", "Z"]}
    by_country = an.attribution(returns, day_weights, countries)
    assert math.isclose(sum(by_country.values()), sum(returns), abs_tol=1e-9)


def test_attribution_clamps_and_checks_lengths() -> None:
    assert an.attribution([-0.9, -0.9], [{"A": 1.0}, {"A": 1.0}]) == {"A": -1.0}
    with pytest.raises(ValueError):
        an.attribution([0.1], [])


@given(st.dictionaries(st.text(min_size=1, max_size=3), st.floats(min_value=-10,
                                                                   max_value=1e6)))
def test_weights_sum_to_one_or_are_empty(values: dict[str, float]) -> None:
    w = an.weights(values)
    assert not w or math.isclose(sum(w.values()), 1.0, rel_tol=1e-9)
    assert set(w) == {k for k, v in values.items() if v > 0}
    assert all(v >= 0 for v in w.values())


# --------------------------------------------------------------- turnover, regions
@pytest.mark.parametrize(("buys", "sells", "mean", "count", "status", "value"), [
    (0, 0, 1000, 0, "unknown", None),
    (100, 100, 0, 2, "unknown", None),
    (100, 100, None, 2, "unknown", None),
    (100, 100, 1000, 2, "normal", 0.1),
    (500, 500, 1000, 2, "warning", 0.5),
    (1000, 1000, 1000, 2, "critical", 1.0),
])
def test_turnover_thresholds(buys: float, sells: float, mean: float | None, count: int,
                             status: str, value: float | None) -> None:
    t = an.turnover(buys, sells, mean, count)
    assert t.status == status
    assert t.annual_turnover == (None if value is None else pytest.approx(value))
    assert t.display == ("N/A" if value is None else f"{value * 100:.2f}%")


def test_regions_from_countries() -> None:
    assert [an.region_of(c) for c in ("Germany", "de", "United States", "Japan", "Brazil",
                                      None)] == ["EU", "EU", "US", "ASIA", "OTHER", "OTHER"]
    shares = an.region_shares({"A": 300.0, "B": 100.0, "C": 0.0},
                              {"A": "France", "B": "US", "C": "Japan"})
    assert shares == {"EU": 75.0, "ASIA": 0.0, "US": 25.0, "OTHER": 0.0}
