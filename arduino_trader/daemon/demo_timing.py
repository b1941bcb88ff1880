"""When the demo's history happened: the exchange sessions the bundled closes are
re-dated onto, and the session close its seed trades are dated at.

The bundled universe trades in New York, so the demo follows the NYSE calendar (no bars
on 2025-12-25 or 2026-01-01). The seed buys are dated at the close of the history's last
session, at its last prices: they sit in the trade ledger as yesterday's (or Friday's)
trades, so today's trade limits and the spacing between trades are left to the planner.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, date, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from arduino_trader.adapters.clock import ManualClock
from arduino_trader.adapters.market_data.session_tables import SessionTable, build_in_child

DEMO_CALENDAR = "XNYS"
_NEW_YORK = ZoneInfo("America/New_York")


def _calendar(start: date, end: date) -> SessionTable:
    """The NYSE sessions from ``start`` to a week past ``end`` (built in a child)."""
    table = build_in_child([DEMO_CALENDAR], start, max(end, start) + timedelta(days=7))
    found = table[DEMO_CALENDAR]
    if isinstance(found, str):
        raise ValueError(found)
    return found


def _session_days(table: SessionTable) -> list[date]:
    """The session labels: each open's New York date."""
    return [datetime.fromtimestamp(int(ns) / 1e9, UTC).astimezone(_NEW_YORK).date()
            for ns in table.opens]


def sessions_ending(end: date, count: int) -> tuple[date, ...]:
    """The ``count`` NYSE sessions on or before ``end``, oldest first."""
    start = end - timedelta(days=count * 7 // 5 + count // 20 + 30)
    found = tuple(d for d in _session_days(_calendar(start, end)) if d <= end)[-count:]
    if len(found) < count:
        raise ValueError(f"only {len(found)} {DEMO_CALENDAR} sessions before {end}")
    return found


def session_close(day: date) -> datetime:
    """The close (UTC) of the NYSE session ``day``."""
    table = _calendar(day - timedelta(days=7), day)
    days = _session_days(table)
    if day not in days:
        raise ValueError(f"{day} is not a {DEMO_CALENDAR} session")
    return datetime.fromtimestamp(int(table.closes[days.index(day)]) / 1e9, UTC)


@contextmanager
def dated(paper: Any, at: datetime) -> Iterator[None]:
    """The paper broker's records written inside the block carry the time ``at``."""
    clock = paper.clock
    paper.clock = ManualClock(at)
    try:
        yield
    finally:
        paper.clock = clock
