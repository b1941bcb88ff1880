"""The bucket lifecycle as explicit transitions.

Each transition takes a bucket and returns the new bucket, or raises
:class:`InvalidTransition` naming the bucket, its status and the refused event. Recovery
from hibernation is its own transition (``recover``), not ``resume``: the reference
called resume on a hibernating bucket, which resume refuses, so nothing ever recovered.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from decimal import Decimal

from arduino_trader.protocols.money import CENT, ZERO
from arduino_trader.protocols.satellite_records import (
    CORE_ID,
    Bucket,
    BucketStatus,
    InvalidBucket,
    ReawakeningState,
    SatelliteError,
)


class InvalidTransition(SatelliteError):
    """A lifecycle event that is not allowed from the bucket's current status."""

    code = "invalid_transition"

    def __init__(self, bucket: Bucket, event: str, reason: str) -> None:
        super().__init__(f"bucket {bucket.id!r} ({bucket.status}): cannot {event}: {reason}")
        self.bucket_id = bucket.id
        self.status = bucket.status
        self.event = event


def create_satellite(bucket_id: str, name: str, *, now: datetime, min_pct: Decimal,
                     max_pct: Decimal, notes: str = "", start_in_research: bool = True,
                     existing_ids: frozenset[str] = frozenset()) -> Bucket:
    """A new satellite: research (default) or accumulating, target 0, limit 5 losses."""
    if bucket_id in existing_ids or bucket_id == CORE_ID:
        raise InvalidBucket(f"bucket id {bucket_id!r} already exists")
    if not name.strip():
        raise InvalidBucket("a bucket needs a name")
    status: BucketStatus = "research" if start_in_research else "accumulating"
    return Bucket(id=bucket_id, name=name.strip(), type="satellite", status=status,
                  created_at=now, updated_at=now, notes=notes, target_pct=ZERO,
                  min_pct=min_pct, max_pct=max_pct, max_consecutive_losses=5)


def _resumed_status(bucket: Bucket) -> BucketStatus:
    return "active" if bucket.target_pct >= bucket.min_pct else "accumulating"


def activate(bucket: Bucket, now: datetime) -> Bucket:
    """research/accumulating → active; satellite only, and its target must reach its floor."""
    if bucket.is_core:
        raise InvalidTransition(bucket, "activate", "core is always active")
    if bucket.status not in ("research", "accumulating"):
        raise InvalidTransition(bucket, "activate", "only research or accumulating buckets")
    if bucket.target_pct < bucket.min_pct:
        raise InvalidTransition(bucket, "activate", f"target {bucket.target_pct} is below "
                                f"the floor {bucket.min_pct}")
    return bucket.touched(now, status="active")


def pause(bucket: Bucket, now: datetime) -> Bucket:
    """Manual pause from any status but retired or paused."""
    if bucket.status in ("retired", "paused"):
        raise InvalidTransition(bucket, "pause", "already paused or retired")
    return bucket.touched(now, status="paused")


def breaker_pause(bucket: Bucket, now: datetime) -> Bucket:
    """Circuit breaker: active/accumulating satellite with losses ≥ limit → paused."""
    if bucket.is_core:
        raise InvalidTransition(bucket, "breaker pause", "core is never auto-paused")
    if not bucket.trading_allowed:
        raise InvalidTransition(bucket, "breaker pause", "only active or accumulating")
    if bucket.consecutive_losses < bucket.max_consecutive_losses:
        raise InvalidTransition(bucket, "breaker pause", f"{bucket.consecutive_losses} "
                                f"losses < limit {bucket.max_consecutive_losses}")
    return bucket.touched(now, status="paused", loss_streak_paused_at=now)


def resume(bucket: Bucket, now: datetime) -> Bucket:
    """paused → active (target ≥ floor) or accumulating; resets the loss streak."""
    if bucket.status != "paused":
        raise InvalidTransition(bucket, "resume", "only paused buckets resume")
    return bucket.touched(now, status=_resumed_status(bucket), consecutive_losses=0,
                          loss_streak_paused_at=None)


def hibernate(bucket: Bucket, now: datetime) -> Bucket:
    """active/accumulating satellite → hibernating (drawdown ≥ 0.35 or manual)."""
    if bucket.is_core:
        raise InvalidTransition(bucket, "hibernate", "core never hibernates")
    if not bucket.trading_allowed:
        raise InvalidTransition(bucket, "hibernate", "only active or accumulating")
    return bucket.touched(now, status="hibernating")


def recover(bucket: Bucket, now: datetime) -> Bucket:
    """hibernating → as resume, starting graduated re-awakening at stage 1."""
    if bucket.status != "hibernating":
        raise InvalidTransition(bucket, "recover", "only hibernating buckets recover")
    return bucket.touched(now, status=_resumed_status(bucket), consecutive_losses=0,
                          loss_streak_paused_at=None,
                          reawakening=ReawakeningState(stage=1, wins=0, trades=0))


def retire(bucket: Bucket, now: datetime, *, cash: Mapping[str, Decimal],
           open_positions: int) -> Bucket:
    """paused satellite → retired (terminal); needs ≤ 0.01 cash in every currency and
    no open positions. The target drops to 0 (it no longer counts toward the budget)."""
    if bucket.is_core:
        raise InvalidTransition(bucket, "retire", "core is never retired")
    if bucket.status != "paused":
        raise InvalidTransition(bucket, "retire", "pause the bucket first")
    left = {ccy: amount for ccy, amount in cash.items() if abs(amount) > CENT}
    if left:
        shown = ", ".join(f"{a} {c}" for c, a in sorted(left.items()))
        raise InvalidTransition(bucket, "retire", f"cash left: {shown}")
    if open_positions > 0:
        raise InvalidTransition(bucket, "retire", f"{open_positions} open positions")
    return bucket.touched(now, status="retired", target_pct=ZERO)
