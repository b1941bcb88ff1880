"""Compact close columns for the replay: 8 bytes a day instead of a Python float object
and a tuple slot (~40 bytes) each.

The bundled set is 21 columns of ~8,300 days; as tuples of floats it held ~9 MB for the
daemon's whole life (the demo and every backtest worker), as arrays ~1.4 MB.
"""

from __future__ import annotations

import math
from array import array
from bisect import bisect_left, bisect_right
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from datetime import date
from typing import overload

MISSING = math.nan  # how a day without a close is stored


class Closes(Sequence[float | None]):
    """One ticker's closes, one per day of its table; ``None`` where a day has none.

    A NaN cell of a price file is a day without a close, like an empty one."""

    __slots__ = ("_values",)

    def __init__(self, values: array[float]) -> None:
        """Wrap ``values`` (NaN where a day has no close); the caller hands it over."""
        self._values = values

    @classmethod
    def of(cls, values: Iterable[float | None]) -> Closes:
        """A column of the given closes (``None`` for a day without one)."""
        return cls(array("d", (MISSING if v is None else v for v in values)))

    def __len__(self) -> int:
        return len(self._values)

    @overload
    def __getitem__(self, i: int) -> float | None: ...
    @overload
    def __getitem__(self, i: slice) -> list[float | None]: ...
    def __getitem__(self, i: int | slice) -> float | list[float | None] | None:
        if isinstance(i, slice):
            return [None if v != v else v for v in self._values[i]]
        value = self._values[i]
        return None if value != value else value  # NaN is the only value unequal to itself

    def __iter__(self) -> Iterator[float | None]:
        return (None if v != v else v for v in self._values)

    def __eq__(self, other: object) -> bool:
        if isinstance(other, Closes):
            return list(self) == list(other)
        return NotImplemented

    __hash__ = None  # type: ignore[assignment]  # compared by value, like a list

    def index_of(self, days: Sequence[date]) -> ValidCloses:
        """The days with a close and those closes, in day order. A column without gaps
        between its first and last close shares this column's memory and ``days``."""
        values = self._values
        valid = [i for i, v in enumerate(values) if v == v]
        if valid and valid[-1] - valid[0] + 1 == len(valid):
            lo, hi = valid[0], valid[-1] + 1
            return ValidCloses(DayWindow(days, lo, hi), memoryview(values)[lo:hi])
        return ValidCloses(tuple(days[i] for i in valid), array("d", (values[i] for i in valid)))


class DayWindow(Sequence[date]):
    """Positions ``[lo, hi)`` of a day sequence, without copying it."""

    __slots__ = ("_days", "_hi", "_lo")

    def __init__(self, days: Sequence[date], lo: int, hi: int) -> None:
        self._days, self._lo, self._hi = days, lo, hi

    def __len__(self) -> int:
        return self._hi - self._lo

    @overload
    def __getitem__(self, i: int) -> date: ...
    @overload
    def __getitem__(self, i: slice) -> Sequence[date]: ...
    def __getitem__(self, i: int | slice) -> date | Sequence[date]:
        if isinstance(i, slice):
            start, stop, step = i.indices(len(self))
            return [self[j] for j in range(start, stop, step)]
        n = len(self)
        if not -n <= i < n:
            raise IndexError("day window index out of range")
        return self._days[self._lo + (i % n)]

    def bisect_left(self, day: date) -> int:
        """Where ``day`` would go in the window, before equal days."""
        return bisect_left(self._days, day, self._lo, self._hi) - self._lo

    def bisect_right(self, day: date) -> int:
        """Where ``day`` would go in the window, after equal days."""
        return bisect_right(self._days, day, self._lo, self._hi) - self._lo


@dataclass(frozen=True)
class ValidCloses:
    """One column's days with a close and those closes, both in day order."""

    days: Sequence[date]
    closes: Sequence[float]

    def span(self, start: date, stop: date) -> tuple[int, int]:
        """The positions ``[first, last)`` of the days within ``[start, stop]``."""
        days = self.days
        if isinstance(days, DayWindow):
            return days.bisect_left(start), days.bisect_right(stop)
        return bisect_left(days, start), bisect_right(days, stop)
