"""Yahoo's daily chart (as yfinance parses it) read into finished bars (pure).

* Finished bars only: while a session runs, Yahoo's daily chart carries that day's bar
  with the live price and partial volume. A bar counts once its session closed
  :data:`SETTLE` ago. The close of the session Yahoo calls current is
  ``currentTradingPeriod.regular.end`` of the same answer; a bar dated before that
  session's day is finished; for a bar without a known close (the field missing, or a
  later day) the close is the end of its day in the exchange's time zone, so it counts
  from 20 minutes past the next local midnight on.
* A bar's time is its session close (as above), never later than now.
* Units: a minor-unit label (``GBp``…) divides every price by 100 unless the answer shows
  the bars are in the major unit already (``yahoo_units.bar_divisor``), judged on the
  newest bar with a close and a volume, from the last :data:`UNIT_CHECK_DAYS` days.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import UTC, date, datetime, time, timedelta, tzinfo
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from arduino_trader.protocols.market_data import PriceBar

from .yahoo_units import bar_divisor, number, to_major

SETTLE = timedelta(minutes=20)  # after the close, before the day's bar is final
UNIT_CHECK_DAYS = timedelta(days=30)


def exchange_zone(frame: Any, meta: Mapping[str, Any]) -> tzinfo:
    """The exchange's time zone: the frame's index zone, else the metadata's, else UTC."""
    zone = getattr(getattr(frame, "index", None), "tz", None)
    for name in (getattr(zone, "key", None) or (str(zone) if zone else None),
                 meta.get("exchangeTimezoneName")):
        if name:
            try:
                return ZoneInfo(str(name))
            except (ZoneInfoNotFoundError, ValueError):
                continue
    return UTC


def session_end(meta: Mapping[str, Any], zone: tzinfo) -> datetime | None:
    """End of the regular session Yahoo calls current, in ``zone``; None when missing."""
    try:
        end = meta["currentTradingPeriod"]["regular"]["end"]
    except (KeyError, TypeError):
        return None
    if hasattr(end, "to_pydatetime"):  # yfinance turns the epoch into a pandas Timestamp
        end = end.to_pydatetime()
    elif number(end) is not None:
        end = datetime.fromtimestamp(int(end), UTC)
    if not isinstance(end, datetime) or end.tzinfo is None:
        return None
    return end.astimezone(zone)


def session_close(day: date, zone: tzinfo, end: datetime | None) -> datetime:
    """When ``day``'s session closed: the current session's end on its day, else the end
    of ``day`` in ``zone``."""
    if end is not None and end.date() == day:
        return end
    return datetime.combine(day + timedelta(days=1), time(), zone)


def is_finished(day: date, zone: tzinfo, end: datetime | None, now: datetime) -> bool:
    """Whether ``day``'s bar is final at ``now`` (module rule)."""
    if end is not None and day < end.date():
        return True
    return now >= session_close(day, zone, end) + SETTLE


def bar_time(day: date, zone: tzinfo, end: datetime | None, now: datetime) -> datetime:
    """The moment ``day``'s close was printed, in UTC, never later than ``now``."""
    return min(session_close(day, zone, end), now).astimezone(UTC)


def prices_divisor(frame: Any, meta: Mapping[str, Any], per: int, now: datetime) -> int:
    """What the bars' prices are divided by to reach the major unit (module rule)."""
    if per == 1 or "Close" not in frame or "Volume" not in frame:
        return per
    traded = frame["Close"][(frame["Close"] > 0) & (frame["Volume"] > 0)]
    if traded.empty or traded.index[-1] < now - UNIT_CHECK_DAYS:
        return per
    return bar_divisor(per, number(meta.get("regularMarketPrice")), number(traded.iloc[-1]))


def finished_bars(frame: Any, meta: Mapping[str, Any], per: int, now: datetime
                  ) -> list[PriceBar]:
    """The finished bars with a close, oldest first, in the major unit."""
    zone = exchange_zone(frame, meta)
    end = session_end(meta, zone)
    divisor = prices_divisor(frame, meta, per, now)
    bars = []
    for stamp, row in frame.iterrows():
        close = number(row.get("Close"))
        if close is None or not is_finished(stamp.date(), zone, end, now):
            continue
        bars.append(PriceBar(
            stamp.date(), close / divisor, to_major(number(row.get("Open")), divisor),
            to_major(number(row.get("High")), divisor),
            to_major(number(row.get("Low")), divisor),
            to_major(number(row.get("Adj Close")), divisor), number(row.get("Volume"))))
    return bars


def split_events(frame: Any) -> list[tuple[date, float]]:
    """``(day, ratio)`` of every split row (the bars are already adjusted for it)."""
    splits = []
    for stamp, row in frame.iterrows():
        ratio = number(row.get("Stock Splits"))
        if ratio is not None and ratio > 0 and ratio != 1:
            splits.append((stamp.date(), ratio))
    return splits
