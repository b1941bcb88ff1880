"""The price-history port: the repository of the daily bars the market-data actor stores
and the planner, the executor and the history cache read.

Bars are accepted (validated) or quarantined (refused, with the reason); a split-adjusted
re-read brings a :data:`Rescale` of what is stored, applied in the write's own
transaction so the store never holds two scales at once. Every write is one
transaction. A change log (one row per inserted, changed or deleted bar, whoever wrote
it) lets a reader that keeps history in memory re-read only what changed since the
sequence number it last saw. The operations are synchronous, called from the actors'
own threads, and return values and frozen records only.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import date, datetime
from typing import Literal, Protocol

from .market_data import PriceBar

QuarantineReason = Literal["non_positive", "jump", "split", "anomaly", "currency"]


@dataclass(frozen=True)
class Quarantined:
    """A bar (or live price) refused, with the reason and the reference it failed."""

    day: date
    close: float | None
    reason: QuarantineReason
    detail: str


Rescale = tuple[float, tuple[tuple[date, float], ...]]
"""(factor, the splits it applies): stored prices before the first split are divided by
the factor (volumes multiplied)."""

Series = Mapping[str, tuple[Sequence[PriceBar], Sequence[Quarantined]]]
"""Per ISIN, the accepted bars and the quarantined ones of one write."""

Changes = tuple[int, int, dict[str, date]]
"""``(newest sequence number, oldest kept, {isin: earliest changed day})`` of the change
log after a given sequence number."""


@dataclass(frozen=True)
class HistoryWrite:
    """What :meth:`PriceHistoryStore.write_history_seen` did: the bars written, the
    changes since the caller's sequence number read just before the write (what other
    writers changed), and the log's newest sequence number just after it; both read in
    the write's transaction, so no other writer comes in between."""

    rows: int
    newest_before: int
    oldest_before: int
    changed_before: dict[str, date]
    newest_after: int


class PriceHistoryStore(Protocol):
    """The daily price history of every security."""

    def last_history_days(self) -> dict[str, date]:
        """The newest stored day of each security that has one."""
        ...

    def read_history(self, isin: str, start: date | None = None,
                     end: date | None = None) -> list[PriceBar]:
        """Stored bars of one ISIN within ``[start, end]``, oldest first."""
        ...

    def read_closes_many(self, isins: Sequence[str], start: date,
                         end: date) -> dict[str, list[tuple[date, float]]]:
        """``(day, close)`` of each ISIN within ``[start, end]``, oldest first."""
        ...

    def recent_closes_many(self, isins: Sequence[str],
                           limit: int = 30) -> dict[str, list[float]]:
        """Up to ``limit`` newest closes of each ISIN, oldest first."""
        ...

    def closes_before(self, isin: str, day: date,
                      limit: int = 30) -> list[tuple[date, float]]:
        """Up to ``limit`` newest ``(day, close)`` before ``day``, oldest first."""
        ...

    def history_changes(self, since: int) -> Changes:
        """The change log after sequence number ``since``."""
        ...

    def write_history(self, series: Series, source: str, now: datetime,
                      rescale: Mapping[str, Rescale] | None = None) -> int:
        """Upsert accepted bars and record quarantined ones, after rescaling what is
        stored where a split needs it; one transaction; the bars written."""
        ...

    def write_history_seen(self, series: Series, source: str, now: datetime,
                           rescale: Mapping[str, Rescale] | None,
                           since: int) -> HistoryWrite:
        """:meth:`write_history`, with the change log read around it in the same
        transaction (for a writer that remembers what it wrote)."""
        ...
