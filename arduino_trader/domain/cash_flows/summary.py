"""Summaries and queries over cash flows (sync events, endpoint answers).

Only completed rows count in summaries (the reference also summed pending and
cancelled ones). Withdrawals are reported as positive totals of the signed amounts.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import date
from decimal import Decimal

from arduino_trader.domain.cash_flows.records import Normalised
from arduino_trader.protocols.cash_flow_store import Effects, NeedsReview
from arduino_trader.protocols.cash_flows import DepositReceived
from arduino_trader.protocols.money import CENT, ZERO

MAX_LIST_LIMIT = 10_000
DEFAULT_LIST_LIMIT = 100


class QueryError(ValueError):
    """A list query the API answers with 400."""


@dataclass(frozen=True)
class SyncCounts:
    """What one sync did (the completion event's fields, plus diagnostics)."""

    total_from_api: int
    synced: int
    status_updates: int
    deposits_processed: int
    dividends_created: int
    rejected: int
    ignored: int
    needs_review: int


def count_sync(batch: Normalised, effects: Sequence[Effects], raw_rows: int) -> SyncCounts:
    """Counts for one sync from its normalised batch and the effects applied."""
    events = [e for eff in effects for e in eff.events]
    return SyncCounts(
        total_from_api=raw_rows,
        synced=sum(1 for e in effects if e.action == "insert"),
        status_updates=sum(1 for e in effects if e.action == "update_status"),
        deposits_processed=sum(1 for e in events if isinstance(e, DepositReceived)),
        dividends_created=sum(1 for e in effects if e.dividends),
        rejected=sum(1 for r in batch.rejections if not r.ignorable),
        ignored=sum(1 for r in batch.rejections if r.ignorable),
        needs_review=sum(1 for e in events if isinstance(e, NeedsReview)),
    )


@dataclass(frozen=True)
class FlowRow:
    """A stored cash flow as summaries need it."""

    transaction_type: str
    kind: str
    status: str
    amount_eur: Decimal


@dataclass(frozen=True)
class FlowSummary:
    """``GET /api/cash-flows/summary``."""

    total_transactions: int
    total_deposits_eur: Decimal
    total_withdrawals_eur: Decimal
    net_cash_flow_eur: Decimal
    by_type: dict[str, tuple[Decimal, int]] = field(default_factory=dict)


def summarise(rows: Iterable[FlowRow]) -> FlowSummary:
    """Totals over completed rows: deposits, withdrawals (positive), net (signed sum of
    every completed row), and (total EUR, count) per transaction type."""
    done = [r for r in rows if r.status == "completed"]
    deposits = sum((r.amount_eur for r in done if r.kind == "deposit"), ZERO)
    withdrawals = -sum((r.amount_eur for r in done if r.kind == "withdrawal"), ZERO)
    net = sum((r.amount_eur for r in done), ZERO)
    by_type: dict[str, tuple[Decimal, int]] = {}
    for r in done:
        total, count = by_type.get(r.transaction_type, (ZERO, 0))
        by_type[r.transaction_type] = (total + r.amount_eur, count + 1)
    return FlowSummary(len(done), deposits.quantize(CENT), withdrawals.quantize(CENT),
                       net.quantize(CENT),
                       {k: (v.quantize(CENT), n) for k, (v, n) in sorted(by_type.items())})


@dataclass(frozen=True)
class ListQuery:
    """A validated ``GET /api/cash-flows`` query: a date window wins, else a type, else
    the newest ``limit`` rows."""

    start: date | None = None
    end: date | None = None
    transaction_type: str | None = None
    limit: int = DEFAULT_LIST_LIMIT


def list_query(start_date: str | None, end_date: str | None,
               transaction_type: str | None, limit: str | None) -> ListQuery:
    """Parse the list parameters; bad input raises :class:`QueryError`."""
    n = DEFAULT_LIST_LIMIT
    if limit not in (None, ""):
        try:
            n = int(str(limit))
        except ValueError:
            raise QueryError(f"limit must be an integer, got {limit!r}") from None
        if not 1 <= n <= MAX_LIST_LIMIT:
            raise QueryError(f"limit must be in 1..{MAX_LIST_LIMIT}")
    if start_date or end_date:
        if not (start_date and end_date):
            raise QueryError("start_date and end_date go together")
        try:
            start, end = date.fromisoformat(start_date), date.fromisoformat(end_date)
        except ValueError:
            raise QueryError("dates must be YYYY-MM-DD") from None
        if start > end:
            raise QueryError("start_date must not be after end_date")
        return ListQuery(start=start, end=end, limit=n)
    kind = (transaction_type or "").strip() or None
    return ListQuery(transaction_type=kind, limit=n)

