"""The meta-allocator: satellite targets follow performance.

Only active, accumulating and hibernating satellites are evaluated (retired and research
ones were included by the reference). Raw shares follow the shifted scores, are clamped
to each satellite's [min, max], dampened toward the current target, and then fitted by
iterative clamp-and-redistribute so they sum to the available budget with every target
still inside its limits (what cannot be placed stays with core). Targets are exact
decimals on a 1e-6 grid. :func:`apply_plan` is all-or-nothing, and the allocator is
quarterly as named: :func:`reallocation_due` gates the weekly job.
"""

from __future__ import annotations

import calendar
import math
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from decimal import ROUND_CEILING, ROUND_FLOOR, Decimal

from arduino_trader.protocols.money import ZERO
from arduino_trader.protocols.satellite_records import AllocationSettings, Bucket, SatelliteError

from .targets import target_violations, with_core_target

ELIGIBLE_STATUSES: frozenset[str] = frozenset({"active", "accumulating", "hibernating"})
QUANTUM = Decimal("0.000001")
SHIFT = Decimal("0.01")
NO_CHANGE = Decimal("0.005")
COUNTED_CHANGE = Decimal("0.01")
WARN_CHANGE = Decimal("0.02")


class AllocationInfeasible(SatelliteError):
    """The limits cannot be met within the budget, or the plan is stale: nothing applied."""

    code = "allocation_infeasible"


@dataclass(frozen=True)
class Recommendation:
    """One satellite's proposed target (fractions of the whole portfolio)."""

    bucket_id: str
    current_allocation_pct: Decimal
    target_allocation_pct: Decimal
    new_allocation_pct: Decimal
    adjustment_pct: Decimal
    performance_score: float
    reason: str


@dataclass(frozen=True)
class AllocationPlan:
    """The allocator's result; a preview writes nothing."""

    total_satellite_budget: Decimal
    recommendations: tuple[Recommendation, ...]
    dampening_factor: Decimal
    evaluation_period_days: int
    satellites_evaluated: int
    satellites_improved: int
    satellites_reduced: int
    timestamp: datetime

    @property
    def warnings(self) -> tuple[str, ...]:
        """Ids whose target moves by more than 0.02 (logged as warnings)."""
        return tuple(r.bucket_id for r in self.recommendations
                     if abs(r.adjustment_pct) > WARN_CHANGE)


def _score(value: float | None) -> Decimal:
    if value is None or not math.isfinite(value):
        return ZERO
    return Decimal(repr(value))


def _clamp(value: Decimal, low: Decimal, high: Decimal) -> Decimal:
    return min(max(value, low), high)


def _fit(wanted: dict[str, Decimal], low: dict[str, Decimal], high: dict[str, Decimal],
         total: Decimal) -> dict[str, Decimal]:
    """One common scale λ with Σ clamp(λ·wanted_i, low_i, high_i) = ``total``.

    The sum is monotone in λ, so bisection finds it; values are then floored to the grid
    and the rounding residue is placed where the limits leave room. Requires
    Σ low ≤ total ≤ Σ high.
    """
    weights = {k: max(v, ZERO) + QUANTUM for k, v in wanted.items()}

    def placed(scale: Decimal) -> Decimal:
        return sum((_clamp(scale * weights[k], low[k], high[k]) for k in weights), ZERO)

    lo, hi = ZERO, max(high[k] / weights[k] for k in weights)
    for _ in range(200):
        mid = (lo + hi) / 2
        if placed(mid) < total:
            lo = mid
        else:
            hi = mid
    grid = {k: _clamp(hi * weights[k], low[k], high[k]).quantize(QUANTUM, rounding=ROUND_FLOOR)
            for k in weights}
    grid = {k: max(v, low[k]) for k, v in grid.items()}
    residual = total - sum(grid.values(), ZERO)
    for key in sorted(grid):
        if residual > 0:
            step = min(residual, high[key] - grid[key])
        elif residual < 0:
            step = max(residual, low[key] - grid[key])
        else:
            break
        grid[key] += step
        residual -= step
    if residual != 0:
        raise AllocationInfeasible(f"cannot place {residual} of the budget within limits")
    return grid


def _reason(delta: Decimal, score: Decimal) -> str:
    if abs(delta) < NO_CHANGE:
        return "no significant change"
    if delta > 0:
        return "strong performance" if score > 0 else "kept at minimum"
    return "weak performance" if score < 0 else "held at maximum"


def plan_allocation(buckets: Mapping[str, Bucket], scores: Mapping[str, float | None],
                    settings: AllocationSettings, now: datetime) -> AllocationPlan:
    """Compute new satellite targets (preview: nothing is changed).

    The budget available to evaluated satellites is the satellite budget less the targets
    of satellites not evaluated (research, paused). Missing or non-finite scores count 0.
    """
    eligible = sorted((b for b in buckets.values()
                       if not b.is_core and b.status in ELIGIBLE_STATUSES),
                      key=lambda b: b.id)
    frozen = sum((b.target_pct for b in buckets.values() if not b.is_core
                  and b.status not in ELIGIBLE_STATUSES and b.status != "retired"), ZERO)
    budget = (settings.satellite_budget_pct - frozen).quantize(QUANTUM, rounding=ROUND_FLOOR)
    damp = settings.reallocation_dampening
    period = settings.evaluation_months * 30
    if not eligible:
        return AllocationPlan(max(budget, ZERO), (), damp, period, 0, 0, 0, now)
    if budget < 0:
        raise AllocationInfeasible(f"frozen satellite targets {frozen} exceed the budget")
    low = {b.id: b.min_pct.quantize(QUANTUM, rounding=ROUND_CEILING) for b in eligible}
    high = {b.id: b.max_pct.quantize(QUANTUM, rounding=ROUND_FLOOR) for b in eligible}
    if sum(low.values(), ZERO) > budget:
        raise AllocationInfeasible(f"the satellites' minimums {sum(low.values(), ZERO)} "
                                   f"exceed the available budget {budget}")
    fitted_total = min(budget, sum(high.values(), ZERO))

    score = {b.id: _score(scores.get(b.id)) for b in eligible}
    floor = min(score.values())
    shifted = {k: s - floor + SHIFT for k, s in score.items()}
    norm = sum(shifted.values(), ZERO)
    raw = {k: budget * v / norm for k, v in shifted.items()}
    clamped = {b.id: min(max(raw[b.id], b.min_pct), b.max_pct) for b in eligible}
    dampened = {b.id: b.target_pct + (clamped[b.id] - b.target_pct) * damp for b in eligible}
    final = _fit(dampened, low, high, fitted_total)

    recs = []
    for b in eligible:
        delta = final[b.id] - b.target_pct
        recs.append(Recommendation(
            bucket_id=b.id, current_allocation_pct=b.target_pct,
            target_allocation_pct=clamped[b.id].quantize(QUANTUM),
            new_allocation_pct=final[b.id], adjustment_pct=delta,
            performance_score=float(score[b.id]), reason=_reason(delta, score[b.id])))
    return AllocationPlan(
        total_satellite_budget=budget, recommendations=tuple(recs), dampening_factor=damp,
        evaluation_period_days=period, satellites_evaluated=len(recs),
        satellites_improved=sum(1 for r in recs if r.adjustment_pct > COUNTED_CHANGE),
        satellites_reduced=sum(1 for r in recs if r.adjustment_pct < -COUNTED_CHANGE),
        timestamp=now)


def apply_plan(buckets: Mapping[str, Bucket], plan: AllocationPlan,
               settings: AllocationSettings, now: datetime) -> dict[str, Bucket]:
    """All the plan's targets, or none: the buckets after applying ``plan``.

    Refused (nothing changes) when a bucket vanished, left the evaluated statuses or
    changed its target since the plan, or when any result breaks invariant 8. Evaluated
    satellites are stamped ``last_reallocated_at``; core's target is re-derived.
    """
    out = dict(buckets)
    for rec in plan.recommendations:
        bucket = out.get(rec.bucket_id)
        if bucket is None or bucket.status not in ELIGIBLE_STATUSES:
            raise AllocationInfeasible(f"bucket {rec.bucket_id!r} is no longer eligible")
        if bucket.target_pct != rec.current_allocation_pct:
            raise AllocationInfeasible(f"bucket {rec.bucket_id!r} changed since the plan")
        out[rec.bucket_id] = bucket.touched(now, target_pct=rec.new_allocation_pct,
                                            last_reallocated_at=now)
    out = with_core_target(out, now)
    problems = target_violations(out, settings.satellite_budget_pct)
    if problems:
        raise AllocationInfeasible("; ".join(problems))
    return out


def add_months(moment: datetime, months: int) -> datetime:
    """``moment`` plus calendar months (the day clamped to the month's length)."""
    index = moment.month - 1 + months
    year, month = moment.year + index // 12, index % 12 + 1
    day = min(moment.day, calendar.monthrange(year, month)[1])
    return moment.replace(year=year, month=month, day=day)


def reallocation_due(buckets: Mapping[str, Bucket], now: datetime, months: int) -> bool:
    """True when the last reallocation is at least ``months`` old (or never happened):
    the weekly evaluation previews every week but applies only then."""
    stamps = [b.last_reallocated_at for b in buckets.values()
              if not b.is_core and b.last_reallocated_at is not None]
    if not stamps:
        return True
    return now >= add_months(max(stamps), months)
