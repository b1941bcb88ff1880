"""The satellite manager's view for one message: its store and facts, the buckets with
their committed ledger book, and the one way a money-moving operation is written."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from typing import Any

from arduino_trader.domain.satellites import balances, drawdown
from arduino_trader.domain.satellites.balances import BalanceBook, UnknownBucket
from arduino_trader.protocols.bucket_ledger import Operation
from arduino_trader.protocols.money import ZERO
from arduino_trader.protocols.satellite_records import CORE_ID, Bucket, LedgerEntry
from arduino_trader.protocols.store import Database

from .base import ActorContext
from .satellite_book import BookReader
from .satellite_facts import Facts, MissingRate


@dataclass(frozen=True)
class State:
    """Every bucket by id and the committed ledger book."""

    buckets: dict[str, Bucket]
    book: BalanceBook


def store(ctx: ActorContext) -> Database:
    """The store the daemon wired in."""
    return ctx.deps.store


def read_facts(ctx: ActorContext) -> Facts:
    """Fresh facts for one decision (rates older than the FX age limit unused)."""
    return Facts(ctx.io, store(ctx), ctx.deps.bucket_trades, ctx.deps.broker, (
        ctx.clock.now().date(), ctx.settings().typed.market_data.fx_max_age_days))


def load_state(ctx: ActorContext, books: BookReader) -> State:
    """The buckets and the book ``books`` has read up to now."""
    return State(ctx.deps.buckets.load_buckets(), books.load(ctx.deps.bucket_ledger))


def write_operation(ctx: ActorContext, op: Operation
                    ) -> dict[tuple[str, str], Decimal] | None:
    """The bucket ledger's ``apply_operation`` now: the new balances, None on a replay."""
    result: dict[tuple[str, str], Decimal] | None = ctx.deps.bucket_ledger.apply_operation(op,
                                                                         ctx.clock.now())
    return result


def known(buckets: Mapping[str, Bucket], bucket_id: str) -> Bucket:
    """The bucket ``bucket_id``; :class:`UnknownBucket` when there is none."""
    bucket = buckets.get(bucket_id)
    if bucket is None:
        raise UnknownBucket(f"unknown bucket {bucket_id!r}")
    return bucket


def known_bucket(log: Any, buckets: Mapping[str, Bucket], bucket_id: str, key: str) -> str:
    """``bucket_id`` if it exists, else core (a fill never disappears)."""
    if bucket_id in buckets:
        return bucket_id
    log.warning("trade_bucket_unknown", trade_key=key, bucket_id=bucket_id)
    return CORE_ID


def hwm_shifts(log: Any, buckets: Mapping[str, Bucket], entries: tuple[LedgerEntry, ...],
               facts: Facts, now: datetime) -> tuple[Bucket, ...]:
    """Buckets whose flow-adjusted HWM moves with these external flows."""
    out = []
    for bucket_id, per in balances.external_flows(entries).items():
        bucket = buckets.get(bucket_id)
        if bucket is None:
            continue
        try:
            flow = sum((amount * facts.eur_per(ccy) for ccy, amount in per.items()), ZERO)
        except MissingRate as exc:
            log.warning("hwm_shift_skipped", bucket_id=bucket_id, error=str(exc))
            continue
        shifted = drawdown.shift_for_flow(bucket, flow, now)
        if shifted is not bucket:
            out.append(shifted)
    return tuple(out)
