"""Allocation targets: the budget, the PATCH rules, and core + Σ satellite targets = 1
(docs/architecture.md, money invariant 8).

Core's target is derived: 1 − Σ targets of the non-retired satellites, so core + Σ
satellites = 1 exactly at all times. The satellite budget is a cap on Σ satellite targets
(≤ 0.30); budget left unallocated stays with core. Each satellite target is 0 or within
its own [min_pct, max_pct].
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import replace
from datetime import datetime
from decimal import Decimal

from arduino_trader.protocols.money import ZERO
from arduino_trader.protocols.satellite_records import (
    CORE_ID,
    ONE,
    SATELLITE_BUDGET_CAP,
    AllocationSettings,
    Bucket,
    InvalidBucket,
    SatelliteError,
    check_fraction,
)


class TargetRefused(SatelliteError):
    """A target or budget change that would break invariant 8 or the budget."""

    code = "target_refused"


def satellite_total(buckets: Mapping[str, Bucket]) -> Decimal:
    """Σ targets of the non-retired satellites."""
    return sum((b.target_pct for b in buckets.values()
                if not b.is_core and b.status != "retired"), ZERO)


def with_core_target(buckets: Mapping[str, Bucket], now: datetime) -> dict[str, Bucket]:
    """``buckets`` with core's target set to 1 − Σ satellite targets."""
    out = dict(buckets)
    core = out.get(CORE_ID)
    if core is None:
        raise InvalidBucket("the core bucket is missing")
    wanted = ONE - satellite_total(out)
    if core.target_pct != wanted:
        out[CORE_ID] = core.touched(now, target_pct=wanted)
    return out


def target_violations(buckets: Mapping[str, Bucket], budget: Decimal) -> list[str]:
    """Every breach of invariant 8 and the budget cap; empty when all hold."""
    problems: list[str] = []
    core = buckets.get(CORE_ID)
    if core is None:
        return ["the core bucket is missing"]
    total = satellite_total(buckets)
    if core.target_pct + total != ONE:
        problems.append(f"core {core.target_pct} + satellites {total} != 1")
    if total > budget:
        problems.append(f"satellite targets {total} exceed the budget {budget}")
    for b in buckets.values():
        if b.is_core:
            continue
        if b.status == "retired" and b.target_pct != 0:
            problems.append(f"retired {b.id} keeps target {b.target_pct}")
        if b.target_pct != 0 and not b.min_pct <= b.target_pct <= b.max_pct:
            problems.append(f"{b.id} target {b.target_pct} outside [{b.min_pct}, {b.max_pct}]")
    return problems


def update_bucket(buckets: Mapping[str, Bucket], bucket_id: str, now: datetime, *,
                  budget: Decimal, name: str | None = None, notes: str | None = None,
                  target_pct: Decimal | None = None, min_pct: Decimal | None = None,
                  max_pct: Decimal | None = None) -> dict[str, Bucket]:
    """PATCH a bucket: at least one field; min ≤ target ≤ max (or target 0),
    Σ satellite targets ≤ budget; core's target stays derived. Returns all buckets."""
    if all(v is None for v in (name, notes, target_pct, min_pct, max_pct)):
        raise InvalidBucket("nothing to update")
    bucket = buckets.get(bucket_id)
    if bucket is None:
        raise InvalidBucket(f"unknown bucket {bucket_id!r}")
    if bucket.is_core and any(v is not None for v in (target_pct, min_pct, max_pct)):
        raise TargetRefused("core's target is derived: 1 − Σ satellite targets")
    if bucket.status == "retired" and target_pct:
        raise TargetRefused(f"bucket {bucket_id!r} is retired")
    if name is not None and not name.strip():
        raise InvalidBucket("name must not be empty")
    new_min = check_fraction(min_pct, "min_pct") if min_pct is not None else bucket.min_pct
    new_max = check_fraction(max_pct, "max_pct") if max_pct is not None else bucket.max_pct
    new_target = (check_fraction(target_pct, "target_pct") if target_pct is not None
                  else bucket.target_pct)
    if new_min > new_max:
        raise TargetRefused(f"min_pct {new_min} > max_pct {new_max}")
    if new_target != 0 and not new_min <= new_target <= new_max:
        raise TargetRefused(f"target {new_target} must be 0 or in [{new_min}, {new_max}]")
    updated = replace(bucket, updated_at=now,
                      name=name.strip() if name is not None else bucket.name,
                      notes=notes if notes is not None else bucket.notes,
                      target_pct=new_target, min_pct=new_min, max_pct=new_max)
    out = {**buckets, bucket_id: updated}
    total = satellite_total(out)
    if total > budget:
        raise TargetRefused(f"satellite targets would total {total}, over the budget {budget}")
    return with_core_target(out, now)


def set_budget(settings: AllocationSettings, buckets: Mapping[str, Bucket],
               budget: Decimal) -> AllocationSettings:
    """A new satellite budget in [0, 0.30]; refused when Σ satellite targets exceed it."""
    check_fraction(budget, "satellite_budget_pct")
    if budget > SATELLITE_BUDGET_CAP:
        raise TargetRefused(f"the satellite budget is capped at {SATELLITE_BUDGET_CAP}")
    total = satellite_total(buckets)
    if total > budget:
        raise TargetRefused(f"satellite targets total {total}: lower them before setting "
                            f"the budget to {budget}")
    return replace(settings, satellite_budget_pct=budget)
