"""High-water mark, drawdown, hibernation and the circuit breaker.

The high-water mark is flow-adjusted: every external flow into or out of a bucket
(deposit, withdrawal, transfer, reallocation) shifts it by the same EUR amount, so a
deposit does not inflate it and moving cash out does not look like a loss.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal

from arduino_trader.protocols.money import ZERO
from arduino_trader.protocols.satellite_records import Bucket

from . import lifecycle, reawakening

HIBERNATE_DRAWDOWN = Decimal("0.35")
WARN_DRAWDOWN = Decimal("0.25")
RECOVER_DRAWDOWN = Decimal("0.30")


def bucket_value_eur(positions_eur: Iterable[Decimal], cash: Mapping[str, Decimal],
                     eur_per: Callable[[str], Decimal]) -> Decimal:
    """Σ position values (EUR) + Σ cash × eur_per over every currency.

    ``eur_per`` raises when a rate is missing: a bucket's value is never guessed 1:1.
    """
    total = sum(positions_eur, ZERO)
    for currency, amount in cash.items():
        if amount:
            total += amount * eur_per(currency)
    return total


def drawdown(high_water_mark: Decimal, value: Decimal) -> Decimal:
    """max(0, (HWM − value)/HWM); 0 when the HWM is ≤ 0."""
    if high_water_mark <= 0:
        return ZERO
    return max(ZERO, (high_water_mark - value) / high_water_mark)


def shift_for_flow(bucket: Bucket, flow_eur: Decimal, now: datetime) -> Bucket:
    """Shift the HWM by an external flow (+ in, − out), never below 0.

    A bucket without a mark yet (0) keeps 0: the next maintenance sets it from the value.
    """
    if bucket.high_water_mark <= 0 or flow_eur == 0:
        return bucket
    return bucket.touched(now, high_water_mark=max(ZERO, bucket.high_water_mark + flow_eur))


@dataclass(frozen=True)
class MaintenanceResult:
    """One bucket after daily maintenance, the drawdown measured against the previous
    HWM, and what happened (``new_high``, ``warning``, ``hibernated``, ``recovered``,
    ``breaker_paused``)."""

    bucket: Bucket
    drawdown: Decimal
    events: tuple[str, ...]


def maintain(bucket: Bucket, value_eur: Decimal, now: datetime) -> MaintenanceResult:
    """Daily maintenance of one bucket.

    A new high (or a first mark) sets HWM = value and resets the loss streak. Measured
    against the previous HWM: ≥ 0.35 hibernates an active/accumulating satellite, ≥ 0.25
    warns, a hibernating bucket below 0.30 recovers (hysteresis 0.30-0.35). Then the
    circuit breaker pauses an active/accumulating satellite at its loss limit.
    """
    previous = bucket.high_water_mark
    dd = drawdown(previous, value_eur)
    events: list[str] = []
    if previous <= 0 or value_eur > previous:
        bucket = bucket.touched(now, high_water_mark=max(ZERO, value_eur),
                                high_water_mark_date=now, consecutive_losses=0)
        events.append("new_high")
    if not bucket.is_core:
        if dd >= HIBERNATE_DRAWDOWN and bucket.trading_allowed:
            bucket = lifecycle.hibernate(bucket, now)
            events.append("hibernated")
        elif bucket.status == "hibernating" and dd < RECOVER_DRAWDOWN:
            bucket = lifecycle.recover(bucket, now)
            events.append("recovered")
        elif dd >= WARN_DRAWDOWN:
            events.append("warning")
    bucket, paused = breaker_sweep(bucket, now)
    if paused:
        events.append("breaker_paused")
    return MaintenanceResult(bucket, dd, tuple(events))


def maintain_all(buckets: Mapping[str, Bucket], values_eur: Mapping[str, Decimal | None],
                 now: datetime) -> tuple[dict[str, MaintenanceResult], dict[str, str]]:
    """Daily maintenance of every non-retired bucket (the daily job): results by id, and the
    buckets that could not be maintained (no value, e.g. a missing FX rate) with the
    reason — one failing bucket never stops the others."""
    results: dict[str, MaintenanceResult] = {}
    errors: dict[str, str] = {}
    for bucket_id, bucket in sorted(buckets.items()):
        if bucket.status == "retired":
            continue
        value = values_eur.get(bucket_id)
        if value is None:
            errors[bucket_id] = "no value (missing price or FX rate)"
            continue
        results[bucket_id] = maintain(bucket, value, now)
    return results, errors


def breaker_due(bucket: Bucket) -> bool:
    """True when the circuit breaker must pause this bucket."""
    return (not bucket.is_core and bucket.trading_allowed
            and bucket.consecutive_losses >= bucket.max_consecutive_losses)


def breaker_sweep(bucket: Bucket, now: datetime) -> tuple[Bucket, bool]:
    """Pause the bucket if its loss streak reached the limit; (bucket, paused?)."""
    if breaker_due(bucket):
        return lifecycle.breaker_pause(bucket, now), True
    return bucket, False


@dataclass(frozen=True)
class TradeResult:
    """A bucket after recording a closed trade's realised P&L."""

    bucket: Bucket
    paused: bool


def record_trade_result(bucket: Bucket, realized_pnl: Decimal, now: datetime) -> TradeResult:
    """A win resets the loss streak, a loss extends it and may trip the breaker; either
    advances graduated re-awakening. Zero P&L changes the streak not at all."""
    losses = bucket.consecutive_losses
    if realized_pnl > 0:
        losses = 0
    elif realized_pnl < 0:
        losses += 1
    bucket = bucket.touched(now, consecutive_losses=losses,
                            reawakening=reawakening.on_trade_result(bucket.reawakening,
                                                                    realized_pnl))
    bucket, paused = breaker_sweep(bucket, now)
    return TradeResult(bucket, paused)
