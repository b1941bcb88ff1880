"""The planner's in-memory copy of the stored daily closes.

Planning reads about five years of closes per security; re-reading and re-parsing them
from the store on every plan dominated a plan's cost. :class:`HistoryCache` keeps the
closes it read and asks the store's history change log (migration 0210, written by
triggers, so any writer is seen) what changed since the last sequence number it saw: a
changed day drops that day and everything after it for the ISIN, the next read extends
the window from the store. The result is always what a fresh read would return.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import date, timedelta

import numpy as np
import numpy.typing as npt

from arduino_trader.protocols.price_history import PriceHistoryStore

_NO_DAYS = np.empty(0, dtype=np.int64)
_NO_CLOSES = np.empty(0, dtype=np.float64)


@dataclass(frozen=True, eq=False)
class Closes:
    """One security's closes as two arrays: ``days`` (date ordinals, strictly ascending)
    and ``values`` (the closes of those days). Read-only views; planning aligns them with
    array operations instead of a dictionary lookup per security and day. Compared by
    identity (arrays have no single truth value): compare :meth:`as_dict` instead."""

    days: npt.NDArray[np.int64]
    values: npt.NDArray[np.float64]

    @classmethod
    def of(cls, rows: Iterable[tuple[date, float]]) -> Closes:
        """From ``(day, close)`` pairs in ascending day order."""
        pairs = list(rows)
        return cls(np.fromiter((d.toordinal() for d, _ in pairs), np.int64, len(pairs)),
                   np.fromiter((c for _, c in pairs), np.float64, len(pairs)))

    @classmethod
    def from_mapping(cls, closes: Mapping[date, float]) -> Closes:
        """From a ``{day: close}`` mapping in any order."""
        return cls.of(sorted(closes.items()))

    def as_dict(self) -> dict[date, float]:
        """``{day: close}``."""
        return {date.fromordinal(int(d)): float(c)
                for d, c in zip(self.days, self.values, strict=True)}


@dataclass
class _Window:
    """Closes of one ISIN known to equal the store's on ``[start, end]``, ascending."""

    start: date
    end: date
    days: npt.NDArray[np.int64] = field(default_factory=lambda: _NO_DAYS)
    values: npt.NDArray[np.float64] = field(default_factory=lambda: _NO_CLOSES)

    def trim_before(self, start: date) -> None:
        """Forget the closes before ``start``."""
        k = int(np.searchsorted(self.days, start.toordinal(), "left"))
        self.days, self.values = self.days[k:], self.values[k:]
        self.start = start

    def cut_from(self, first: date) -> None:
        """Forget ``first`` and every later day (they changed in the store)."""
        if first <= self.end:
            k = int(np.searchsorted(self.days, first.toordinal(), "left"))
            self.days, self.values = self.days[:k], self.values[:k]
            self.end = first - timedelta(days=1)

    def extend(self, rows: list[tuple[date, float]], end: date) -> None:
        """Append the stored closes of the days after :attr:`end` up to ``end``."""
        if rows:
            more = Closes.of(rows)
            self.days = np.concatenate((self.days, more.days))
            self.values = np.concatenate((self.values, more.values))
        self.end = end

    def upto(self, end: date) -> Closes:
        """The closes on or before ``end`` (views, no copy)."""
        k = len(self.days) if self.end <= end else int(
            np.searchsorted(self.days, end.toordinal(), "right"))
        days, values = self.days[:k], self.values[:k]
        days.flags.writeable = False
        values.flags.writeable = False
        return Closes(days, values)


class HistoryCache:
    """Stored closes by ISIN, refreshed from the change log (thread-confined: one owner)."""

    def __init__(self, prices: PriceHistoryStore) -> None:
        self._prices = prices
        self._seq = 0
        self._windows: dict[str, _Window] = {}
        self.reads = 0  # store reads of closes (tests and diagnostics)

    def refresh(self) -> None:
        """Forget what changed in the store since the last refresh."""
        newest, oldest, changed = self._prices.history_changes(self._seq)
        if newest < self._seq or (self._seq and oldest > self._seq + 1):
            self._windows.clear()  # a new database, or the log was pruned past us
        else:
            for isin, first in changed.items():
                window = self._windows.get(isin)
                if window is None:
                    continue
                if first <= window.start:
                    del self._windows[isin]
                    continue
                window.cut_from(first)  # a new day after the window changes nothing
        self._seq = newest

    def closes(self, isin: str, start: date, end: date) -> dict[date, float]:
        """Stored closes of ``isin`` within ``[start, end]`` (call :meth:`refresh` first)."""
        return self.closes_many([isin], start, end)[0].as_dict()

    def closes_many(self, isins: list[str], start: date, end: date) -> list[Closes]:
        """The stored closes of many ISINs within ``[start, end]``; the missing days of
        windows ending on the same day come in one store read (a daily top-up: one query
        for the whole universe). The answers are read-only views."""
        extend: dict[date, list[str]] = {}
        for isin in isins:
            window = self._windows.get(isin)
            if window is None or window.start > start or window.end < start - timedelta(days=1):
                window = _Window(start, start - timedelta(days=1))
                self._windows[isin] = window
            if window.end < end:
                extend.setdefault(window.end, []).append(isin)
        for last, group in sorted(extend.items()):
            self.reads += 1
            rows = self._prices.read_closes_many(group, last + timedelta(days=1), end)
            for isin in group:
                self._windows[isin].extend(rows[isin], end)
        out: list[Closes] = []
        for isin in isins:
            window = self._windows[isin]
            if window.start < start:  # keep memory bounded to the window planning reads
                window.trim_before(start)
            out.append(window.upto(end))
        return out

    def forget(self, keep: set[str]) -> None:
        """Drop ISINs no longer asked for."""
        for isin in set(self._windows) - keep:
            del self._windows[isin]


__all__ = ["Closes", "HistoryCache"]
