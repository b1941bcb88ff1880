"""Reading only the recent end of the broker's cash-flow history, safely.

A sync need not page the account's whole history every few minutes: the broker lists
movements newest first, so once the rows read reach back past a cut-off day, every
movement dated on or after it has been seen. That holds only if the rows really come
newest first, so the answer is checked, not trusted: rows without a date, or out of
order, mean the whole history is read as before. Rows older than the cut-off are left
out of a recent read (a record can be told apart from a second, identical movement
only when the answer lists every row of its day).
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import date, timedelta

from arduino_trader.protocols.broker import CashFlow

RECENT_DAYS = 31
"""A recent read goes back this many days: a booking the broker dates a month back is
still read on the next sync, anything older at the next full read."""
FULL_READ_HOURS = 24
"""The whole history is read at least this often (and after every sync that left a
record unbooked), so a movement the broker back-dates further is booked within a day."""
FIRST_PAGE = 50
"""Rows asked for first in a recent read: a few weeks of an account's movements."""


def reaches_back(rows: Sequence[CashFlow], since: date) -> bool:
    """True when ``rows`` (as the broker sent them) are dated, newest first, and the last
    is more than a day older than ``since``: every movement dated ``since`` or later is
    among them. (The day's margin: the broker orders by its own day, Moscow's, which may
    be one later than the row's day here.)"""
    if not rows:
        return False
    previous: date | None = None
    for row in rows:
        if row.at is None:
            return False
        day = row.at.date()
        if previous is not None and day > previous:
            return False
        previous = day
    return previous is not None and previous < since - timedelta(days=1)


def recent_only(rows: Sequence[CashFlow], since: date) -> list[CashFlow]:
    """The rows dated ``since`` or later (``rows`` passed :func:`reaches_back`)."""
    return [row for row in rows if row.at is not None and row.at.date() >= since]


__all__ = ["FIRST_PAGE", "FULL_READ_HOURS", "RECENT_DAYS", "reaches_back", "recent_only"]
