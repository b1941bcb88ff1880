"""The bucket-ledger port: the signed per-bucket ledger, its balance cache and the
reconciliation audit.

Every money-moving change is ONE :class:`Operation`, written in one transaction: its
ledger rows (both legs of a transfer), the recomputed balance cache of every touched
(bucket, currency), the bucket states it changes and its audit row. Rows are keyed
(source_kind, source_id, bucket_id, type), so an operation whose rows are there already
is a no-op and replaying a broker record changes nothing. The ledger is append-only: a
row, once committed, keeps its id and is never changed. The operations are synchronous,
called from the actors' own threads.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from typing import Any, Protocol

from .satellite_records import Bucket, LedgerEntry


@dataclass(frozen=True)
class Operation:
    """One money-moving change: its ledger rows, the bucket states it changes, and an
    optional audit row (a reconciliation outcome).

    ``source`` (source_kind, source_id) marks an external record: when any row of that
    record already exists (written by the satellite manager or the cash-flow actor,
    whichever bucket it credited), no row is written; ``buckets`` (its high-water-mark
    shifts) are still applied once per record when another writer booked the rows.
    """

    entries: tuple[LedgerEntry, ...]
    buckets: tuple[Bucket, ...] = ()
    audit: Mapping[str, Any] | None = None
    source: tuple[str, str] | None = None
    trade_result: Mapping[str, Any] | None = None


class BucketLedger(Protocol):
    """The bucket ledger."""

    def rows_after(self, last_id: int) -> tuple[tuple[int, LedgerEntry], ...]:
        """The committed rows with an id above ``last_id``, with their ids, in id order
        (0: the whole ledger)."""
        ...

    def count_through(self, last_id: int) -> int:
        """How many committed rows have an id of at most ``last_id``."""
        ...

    def apply_operation(self, op: Operation, now: datetime
                        ) -> dict[tuple[str, str], Decimal] | None:
        """Write ``op`` in one transaction; the new balances of the touched (bucket,
        currency) slots, or None when it was applied before. Rows only partly present,
        or an internal move leaving its source negative, are refused (the domain's
        ``BalanceError``/``InsufficientFunds``) and nothing is written."""
        ...

    def has_source(self, source_kind: str, source_id: str) -> bool:
        """Whether the ledger holds any row of that source."""
        ...

    def rebuild_balance_cache(self, now: datetime) -> int:
        """Recompute the whole balance cache from the ledger; the number of slots."""
        ...

    def record_audit(self, audit: Mapping[str, Any], now: datetime) -> None:
        """Store a reconciliation outcome that moved no money."""
        ...

    def blockers(self) -> str | None:
        """What could explain a reconciliation gap now (orders still open, cash flows
        not processed), None when nothing is pending."""
        ...
