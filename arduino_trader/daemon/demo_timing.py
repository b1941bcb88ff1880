"""When the demo's history happened: the exchange sessions the bundled closes are
re-dated onto, and the session close its seed trades are dated at.

The bundled universe trades in New York, so the demo follows the NYSE calendar (no bars
on 2025-12-25 or 2026-01-01). The seed buys are dated at the close of the history's last
session, at its last prices: they sit in the trade ledger as yesterday's (or Friday's)
trades, so today's trade limits and the spacing between trades are left to the planner.
"""

from __future__ import annotations

import warnings
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, date, datetime, timedelta
from typing import Any

from arduino_trader.adapters.clock import ManualClock

DEMO_CALENDAR = "XNYS"


def _calendar(start: date, end: date) -> Any:
    import exchange_calendars as xc
    import pandas as pd

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return xc.get_calendar(DEMO_CALENDAR, start=pd.Timestamp(start),
                               end=pd.Timestamp(max(end, start) + timedelta(days=7)))


def sessions_ending(end: date, count: int) -> tuple[date, ...]:
    """The ``count`` NYSE sessions on or before ``end``, oldest first."""
    import pandas as pd

    start = end - timedelta(days=count * 7 // 5 + count // 20 + 30)
    cal = _calendar(start, end)
    days = cal.sessions_in_range(cal.first_session, pd.Timestamp(end))
    found = tuple(d.date() for d in days[-count:])
    if len(found) < count:
        raise ValueError(f"only {len(found)} {DEMO_CALENDAR} sessions before {end}")
    return found


def session_close(day: date) -> datetime:
    """The close (UTC) of the NYSE session ``day``."""
    import pandas as pd

    cal = _calendar(day - timedelta(days=7), day)
    return datetime.fromtimestamp(cal.session_close(pd.Timestamp(day)).timestamp(), UTC)


@contextmanager
def dated(paper: Any, at: datetime) -> Iterator[None]:
    """The paper broker's records written inside the block carry the time ``at``."""
    clock = paper.clock
    paper.clock = ManualClock(at)
    try:
        yield
    finally:
        paper.clock = clock
