"""The planner's in-memory copy of the stored daily closes.

Planning reads about five years of closes per security; re-reading and re-parsing them
from the store on every plan dominated a plan's cost. :class:`HistoryCache` keeps the
closes it read and asks the store's history change log (migration 0210, written by
triggers, so any writer is seen) what changed since the last sequence number it saw: a
changed day drops that day and everything after it for the ISIN, the next read extends
the window from the store. The result is always what a fresh read would return.
"""

from __future__ import annotations

import itertools
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import date, timedelta
from types import MappingProxyType
from typing import Any

from arduino_trader.adapters.store import market_repo
from arduino_trader.protocols.runtime import IoRunner
from arduino_trader.protocols.store import Database

STORE_TIMEOUT_S = 60.0


@dataclass
class _Window:
    """Closes of one ISIN known to equal the store's on ``[start, end]``; the keys of
    ``closes`` ascend (reads append later days, refreshes cut a tail), so trimming the
    oldest days pops from the front instead of copying the window."""

    start: date
    end: date
    closes: dict[date, float] = field(default_factory=dict)

    def trim_before(self, start: date) -> None:
        """Forget the closes before ``start``."""
        old = list(itertools.takewhile(lambda d: d < start, self.closes))
        for d in old:
            del self.closes[d]
        self.start = start

    def cut_from(self, first: date) -> None:
        """Forget ``first`` and every later day (they changed in the store)."""
        if first <= self.end:
            self.closes = {d: c for d, c in self.closes.items() if d < first}
            self.end = first - timedelta(days=1)


class HistoryCache:
    """Stored closes by ISIN, refreshed from the change log (thread-confined: one owner)."""

    def __init__(self) -> None:
        self._seq = 0
        self._windows: dict[str, _Window] = {}
        self.reads = 0  # store reads of closes (tests and diagnostics)

    def _run(self, io: IoRunner, coro: Any) -> Any:
        return io.run(coro, STORE_TIMEOUT_S)

    def refresh(self, io: IoRunner, store: Database) -> None:
        """Forget what changed in the store since the last refresh."""
        newest, oldest, changed = self._run(io, market_repo.history_changes(store, self._seq))
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

    def closes(self, io: IoRunner, store: Database, isin: str, start: date,
               end: date) -> Mapping[date, float]:
        """Stored closes of ``isin`` within ``[start, end]`` (call :meth:`refresh` first)."""
        return self.closes_many(io, store, [isin], start, end)[0]

    def closes_many(self, io: IoRunner, store: Database, isins: list[str], start: date,
                    end: date) -> list[Mapping[date, float]]:
        """:meth:`closes` of many ISINs; the missing days of windows ending on the same
        day come in one store read (a daily top-up: one query for the whole universe).
        The answers are read-only views, valid until the next call."""
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
            rows = self._run(io, market_repo.read_closes_many(
                store, group, last + timedelta(days=1), end))
            for isin in group:
                window = self._windows[isin]
                window.closes.update(rows[isin])
                window.end = end
        out: list[Mapping[date, float]] = []
        for isin in isins:
            window = self._windows[isin]
            if window.start < start:  # keep memory bounded to the window planning reads
                window.trim_before(start)
            if window.end <= end:
                out.append(MappingProxyType(window.closes))
            else:
                out.append({d: c for d, c in window.closes.items() if d <= end})
        return out

    def forget(self, keep: set[str]) -> None:
        """Drop ISINs no longer asked for."""
        for isin in set(self._windows) - keep:
            del self._windows[isin]


__all__ = ["HistoryCache"]
