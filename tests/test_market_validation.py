"""Price validation: non-positive, jumps, splits, anomalies, OHLC repair, gaps."""

from __future__ import annotations

import math
from datetime import date, timedelta

import pytest
from hypothesis import given
from hypothesis import strategies as st

from arduino_trader.domain.price_validation import (
    check_price,
    split_ratio,
    split_rescale,
    validate_series,
)
from arduino_trader.protocols.market_data import PriceBar

D0 = date(2024, 1, 1)


def bars(*closes: float) -> list[PriceBar]:
    return [PriceBar(D0 + timedelta(days=i), c) for i, c in enumerate(closes)]


def test_clean_series_is_accepted_whole() -> None:
    report = validate_series(bars(100, 101, 99.5, 102, 103))
    assert len(report.accepted) == 5 and not report.quarantined and not report.gaps


def test_non_positive_and_nan_are_quarantined() -> None:
    report = validate_series(bars(100, 0, -3, math.nan, 101))
    assert [q.reason for q in report.quarantined] == ["non_positive"] * 3
    assert [b.close for b in report.accepted] == [100, 101]
    assert report.quarantined[2].close is None  # NaN is not stored as a number


def test_jumps_beyond_limits_are_quarantined() -> None:
    report = validate_series(bars(100, 1200, 101, 9, 100))
    assert [(q.day, q.reason) for q in report.quarantined] == [
        (D0 + timedelta(days=1), "jump"), (D0 + timedelta(days=3), "jump")]


def test_split_like_moves_are_quarantined_with_ratio() -> None:
    report = validate_series(bars(300, 301, 100.4, 100.2))
    assert report.quarantined[0].reason == "split"
    assert "3" in report.quarantined[0].detail
    assert split_ratio(100, 50) == 2.0 and split_ratio(100, 1000) == 0.1
    assert split_ratio(100, 70) is None


def test_anomaly_vs_mean_of_recent_closes() -> None:
    # Each step is within the jump limit, but the level drifts > 10x the mean.
    high = check_price(1000.0, None, [50.0] * 30)
    low = check_price(4.0, None, [50.0] * 30)
    assert high is not None and high[0] == "anomaly"
    assert low is not None and low[0] == "anomaly"
    assert check_price(60.0, 50.0, [50.0] * 30) is None


def test_top_up_is_judged_against_stored_history() -> None:
    report = validate_series(bars(40, 41), previous=[500.0] * 30)
    assert [q.reason for q in report.quarantined] == ["jump", "jump"]
    assert not report.accepted
    # Without the stored context the same bars are fine.
    assert len(validate_series(bars(40, 41)).accepted) == 2


def test_inconsistent_ohlc_drops_only_high_low() -> None:
    bad = PriceBar(D0, 100.0, open=99.0, high=98.0, low=97.0)
    good = PriceBar(D0 + timedelta(days=1), 101.0, open=100.0, high=102.0, low=99.0)
    report = validate_series([bad, good])
    assert report.repaired == (D0,)
    assert report.accepted[0].high is None and report.accepted[0].low is None
    assert report.accepted[0].close == 100.0 and report.accepted[1].high == 102.0


def test_gaps_duplicates_and_order() -> None:
    series = [PriceBar(D0 + timedelta(days=20), 103.0), PriceBar(D0, 100.0),
              PriceBar(D0, 999.0), PriceBar(D0 + timedelta(days=1), 101.0)]
    report = validate_series(series, max_gap_days=10)
    assert [b.close for b in report.accepted] == [100.0, 101.0, 103.0]
    assert len(report.gaps) == 1 and report.gaps[0].days == 19


def test_mostly_bad_flag() -> None:
    assert validate_series(bars(100, 0, 0, 0)).mostly_bad
    assert not validate_series(bars(100, 101, 0)).mostly_bad


@given(st.lists(st.floats(min_value=1.0, max_value=1.2), min_size=2, max_size=60),
       st.floats(min_value=1.0, max_value=1000.0))
def test_smooth_positive_series_never_quarantined(steps: list[float], start: float) -> None:
    closes = [start]
    for s in steps:
        closes.append(closes[-1] * (s if len(closes) % 2 else 1 / s))
    report = validate_series(bars(*closes))
    assert not report.quarantined and len(report.accepted) == len(closes)


@given(st.lists(st.one_of(st.floats(allow_nan=True, allow_infinity=True),
                          st.floats(min_value=0.01, max_value=1e6)), max_size=80))
def test_accepted_bars_are_always_positive_and_increasing(closes: list[float]) -> None:
    report = validate_series(bars(*closes))
    assert all(b.close > 0 and math.isfinite(b.close) for b in report.accepted)
    days = [b.day for b in report.accepted]
    assert days == sorted(set(days))
    assert len(report.accepted) + len(report.quarantined) == len(closes)


def test_split_rescale_finds_the_factor_the_reported_splits_explain() -> None:
    d = [date(2024, 6, 3) + timedelta(days=i) for i in range(5)]
    re_read = [PriceBar(day, 100.0 + i) for i, day in enumerate(d)]
    stored = {d[0]: 400.0, d[1]: 404.0}
    split = (d[3], 4.0)
    assert split_rescale(stored, re_read, [split]) == (4.0, (split,))
    assert split_rescale(stored, re_read, []) is None  # no event: validation judges it
    assert split_rescale({d[0]: 100.0}, re_read, [split]) is None  # already adjusted
    assert split_rescale({d[0]: 300.0}, re_read, [split]) is None  # not what it explains
    # The store saw the older 2:1 split; only the newer 3:1 is due.
    older, newer = (date(2024, 1, 2), 2.0), (d[3], 3.0)
    assert split_rescale({d[0]: 300.0}, re_read, [older, newer]) == (3.0, (newer,))
    assert split_rescale({d[0]: 600.0}, re_read, [older, newer]) is None  # before d[0]


@given(st.sampled_from([2.0, 3.0, 4.0, 5.0, 10.0, 0.5, 0.1, 1.5, 20.0]),
       st.floats(min_value=0.5, max_value=5000.0), st.integers(min_value=1, max_value=4))
def test_split_rescale_recovers_any_reported_ratio(ratio: float, price: float,
                                                   at: int) -> None:
    days = [date(2024, 6, 3) + timedelta(days=i) for i in range(6)]
    re_read = [PriceBar(day, price) for day in days]
    stored = {day: price * ratio for day in days[:at]}
    found = split_rescale(stored, re_read, [(days[at], ratio)])
    assert found is not None and found[0] == pytest.approx(ratio)
