"""Market hours checked against exchange_calendars for many timestamps on every exchange."""

from __future__ import annotations

import random
import warnings
from collections.abc import Iterator
from datetime import UTC, date, datetime, timedelta
from typing import Any

import pandas as pd
import pytest

from arduino_trader.adapters.market_data.calendars import EXCHANGES, MarketCalendars

pytestmark = pytest.mark.filterwarnings("ignore:.*returning an ndarray")

TODAY = date(2026, 11, 24)
START = datetime(2026, 10, 1, tzinfo=UTC)  # inside the loaded window (history_days=90)
SPAN_DAYS = 120


@pytest.fixture(scope="module")
def cals() -> MarketCalendars:
    return MarketCalendars(history_days=90, today=TODAY)


def _library(name: str) -> Any:
    import exchange_calendars as xc

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return xc.get_calendar(name, start=pd.Timestamp(TODAY - timedelta(days=90)))


def _moments(seed: str, n: int, end: date | None = None) -> Iterator[datetime]:
    rng = random.Random(seed)
    span = SPAN_DAYS * 24 * 60
    if end is not None:
        span = min(span, int((datetime.combine(end, datetime.min.time(), UTC) - START)
                             .total_seconds() // 60) - 1)
    for _ in range(n):
        yield START + timedelta(minutes=rng.randrange(span))


def _usable(cals: MarketCalendars) -> list[str]:
    return [m for m in EXCHANGES if cals.error(m) is None]


def _require(cals: MarketCalendars, mic: str) -> None:
    error = cals.error(mic)
    if error is not None:
        # Only a library failure may skip (tested as "closed" below), never an unknown MIC.
        assert "unavailable" in error
        pytest.skip(f"{mic}: {error}")


def test_every_exchange_of_the_spec_is_listed(cals: MarketCalendars) -> None:
    assert set(EXCHANGES) == {
        "XNYS", "XNAS", "XLON", "XETR", "XPAR", "XAMS", "XMIL", "XCSE", "XSWX", "XATH",
        "XHKG", "XSHE", "XSHG", "XTKS", "XTSE", "XASX", "XSES", "XKRX", "XTAI", "XNSE"}
    # Tokyo is Tokyo, Toronto is Toronto (a reference bug mixed them up).
    assert EXCHANGES["XTKS"].tz == "Asia/Tokyo" and EXCHANGES["XTSE"].tz == "America/Toronto"
    assert len(_usable(cals)) == len(EXCHANGES)  # every calendar builds (pandas pin)


@pytest.mark.parametrize("mic", sorted(EXCHANGES))
def test_is_open_matches_the_library(cals: MarketCalendars, mic: str) -> None:
    _require(cals, mic)
    lib = _library(EXCHANGES[mic].calendar)
    end = cals.calendar_end(mic)
    assert end is not None
    checked = 0
    for moment in _moments(mic, 400, end):
        ts = pd.Timestamp(moment).floor("min")
        expected = bool(lib.is_open_on_minute(ts, ignore_breaks=False))
        assert cals.is_open(mic, ts.to_pydatetime()) == expected, (mic, ts)
        checked += 1
    assert checked == 400


@pytest.mark.parametrize("mic", sorted(EXCHANGES))
def test_next_open_and_close_match_the_library(cals: MarketCalendars, mic: str) -> None:
    _require(cals, mic)
    lib = _library(EXCHANGES[mic].calendar)
    end = cals.calendar_end(mic)
    assert end is not None
    for moment in _moments(mic + "-next", 60, end - timedelta(days=10)):
        ts = pd.Timestamp(moment).floor("min")
        assert cals.next_open(mic, ts.to_pydatetime()) == lib.next_open(ts).to_pydatetime()
        assert cals.next_close(mic, ts.to_pydatetime()) == lib.next_close(ts).to_pydatetime()
        ours = cals.previous_close(mic, ts.to_pydatetime())
        if ours != ts.to_pydatetime():  # at a close minute ours is that close (inclusive)
            assert ours == lib.previous_close(ts).to_pydatetime()


def test_lunch_breaks_and_status(cals: MarketCalendars) -> None:
    # Hong Kong: 09:30-12:00, 13:00-16:00 local (UTC+8), a Tuesday.
    lunch = datetime(2026, 11, 24, 4, 30, tzinfo=UTC)
    assert not cals.is_open("XHKG", lunch)
    status = cals.status("XHKG", lunch)
    assert status.in_break and status.opens_at == datetime(2026, 11, 24, 5, 0, tzinfo=UTC)
    morning = cals.status("XHKG", datetime(2026, 11, 24, 2, 0, tzinfo=UTC))
    assert morning.open and morning.closes_at == datetime(2026, 11, 24, 4, 0, tzinfo=UTC)
    # Tokyo lunch 11:30-12:30 JST.
    assert not cals.is_open("XTKS", datetime(2026, 11, 24, 2, 45, tzinfo=UTC))
    assert cals.is_open("XTKS", datetime(2026, 11, 24, 3, 45, tzinfo=UTC))


def test_holidays_weekends_and_early_close(cals: MarketCalendars) -> None:
    thanksgiving = datetime(2026, 11, 26, 16, 0, tzinfo=UTC)
    assert not cals.is_open("XNYS", thanksgiving)
    # The day after Thanksgiving closes at 13:00 New York (18:00 UTC).
    assert cals.is_open("XNYS", datetime(2026, 11, 27, 17, 59, tzinfo=UTC))
    assert not cals.is_open("XNYS", datetime(2026, 11, 27, 18, 0, tzinfo=UTC))
    saturday = datetime(2026, 11, 28, 12, 0, tzinfo=UTC)
    assert not any(cals.is_open(m, saturday) for m in EXCHANGES)
    status = cals.status("XNYS", thanksgiving)
    assert status.opens_at == datetime(2026, 11, 27, 14, 30, tzinfo=UTC)
    assert status.to_json()["opens_date"] == "2026-11-27"


def test_unknown_or_failed_calendars_are_closed(cals: MarketCalendars) -> None:
    monday_noon = datetime(2026, 11, 23, 12, 0, tzinfo=UTC)
    assert not cals.is_open("XXXX", monday_noon)
    assert cals.status("XXXX", monday_noon).error
    for mic in set(EXCHANGES) - set(_usable(cals)):
        status = cals.status(mic, monday_noon)
        assert not status.open and status.error and "unavailable" in status.error


def test_calendar_end_is_reported(cals: MarketCalendars) -> None:
    at = datetime(2026, 11, 24, 12, 0, tzinfo=UTC)
    ending = cals.ending_within(list(EXCHANGES), at, days=60)
    assert "XNYS" not in ending
    beyond = cals.calendar_end("XNYS")
    assert beyond is not None
    late = datetime.combine(beyond + timedelta(days=3), datetime.min.time(), UTC)
    assert not cals.is_open("XNYS", late)
    assert cals.next_open("XNYS", late) is None
    assert cals.status("XNYS", late).error == f"calendar ends {beyond.isoformat()}"
    assert "XNYS" in cals.ending_within(["XNYS"], at, days=800)


def test_tradable_keeps_30_minute_buffers(cals: MarketCalendars) -> None:
    day = datetime(2026, 11, 24, tzinfo=UTC)
    assert not cals.is_tradable("XNYS", day.replace(hour=14, minute=45))  # 09:45 NY
    assert cals.is_tradable("XNYS", day.replace(hour=15, minute=1))
    assert not cals.is_tradable("XNYS", day.replace(hour=20, minute=40))  # 15:40 NY
    assert not cals.is_tradable("XHKG", day.replace(hour=3, minute=45))  # 11:45 HK, lunch
    assert cals.is_tradable("XHKG", day.replace(hour=6, minute=0))


def test_naive_time_is_refused(cals: MarketCalendars) -> None:
    with pytest.raises(ValueError, match="tz-aware"):
        cals.is_open("XNYS", datetime(2026, 11, 24, 15, 0))
