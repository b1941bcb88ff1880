"""The satellite manager's meta-allocation: each satellite's composite score, the
allocation plan over them, applying its targets, and the weekly
``satellite_evaluation`` job (a preview, applied once per evaluation period)."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from typing import Any

from arduino_trader.domain.satellites import meta_allocator, performance
from arduino_trader.protocols.messages import JobOutcome
from arduino_trader.protocols.satellite_records import Bucket, SatelliteError, SatelliteSettings

from .base import ActorContext
from .satellite_reports import plan_json


def scores(ctx: ActorContext, buckets: Mapping[str, Bucket], now: datetime
           ) -> dict[str, float | None]:
    """Each satellite's composite score over its evaluation period (None: too little
    history)."""
    settings = ctx.deps.buckets.load_settings()
    scores: dict[str, float | None] = {}
    for bucket in buckets.values():
        if bucket.is_core:
            continue
        own = settings.get(bucket.id) or SatelliteSettings(bucket.id)
        metrics = performance.bucket_metrics(
            ctx.deps.bucket_trades.closed_trades(bucket.id),
            ctx.deps.bucket_trades.value_series(bucket.id), now=now,
            period_days=own.evaluation_period_days,
            risk_free_rate=float(own.risk_free_rate), sortino_mar=float(own.sortino_mar))
        scores[bucket.id] = None if metrics is None else metrics.composite_score
    return scores


def allocation_plan(ctx: ActorContext
                    ) -> tuple[dict[str, Bucket], meta_allocator.AllocationPlan]:
    """The buckets and the meta-allocator's plan for them now."""
    now = ctx.clock.now()
    buckets = ctx.deps.buckets.load_buckets()
    alloc = ctx.deps.buckets.load_allocation()
    plan = meta_allocator.plan_allocation(buckets, scores(ctx, buckets, now), alloc, now)
    return buckets, plan


def apply_plan(ctx: ActorContext, log: Any, buckets: dict[str, Bucket],
               plan: meta_allocator.AllocationPlan) -> None:
    """Store the plan's targets (the changed buckets together)."""
    now = ctx.clock.now()
    alloc = ctx.deps.buckets.load_allocation()
    out = meta_allocator.apply_plan(buckets, plan, alloc, now)
    ctx.deps.buckets.save_buckets([b for k, b in out.items()
                                          if b is not buckets.get(k)])
    for rec in plan.recommendations:
        if abs(rec.adjustment_pct) > meta_allocator.WARN_CHANGE:
            log.warning("satellite_target_changed", bucket_id=rec.bucket_id,
                        adjustment=str(rec.adjustment_pct))
        elif abs(rec.adjustment_pct) > meta_allocator.NO_CHANGE:
            log.info("satellite_target_changed", bucket_id=rec.bucket_id,
                     adjustment=str(rec.adjustment_pct))


def run_evaluation(ctx: ActorContext, log: Any) -> JobOutcome:
    """The ``satellite_evaluation`` job: the plan, applied when a reallocation is due."""
    now = ctx.clock.now()
    try:
        buckets, plan = allocation_plan(ctx)
    except SatelliteError as exc:
        return JobOutcome(False, f"allocation not possible: {exc}")
    alloc = ctx.deps.buckets.load_allocation()
    due = meta_allocator.reallocation_due(buckets, now, alloc.evaluation_months)
    if due and plan.recommendations:
        try:
            apply_plan(ctx, log, buckets, plan)
        except SatelliteError as exc:
            return JobOutcome(False, f"allocation refused, nothing applied: {exc}")
    details = plan_json(plan, applied=due and bool(plan.recommendations))
    log.info("satellite_evaluation", applied=details["applied"],
             evaluated=plan.satellites_evaluated)
    return JobOutcome(True, f"{plan.satellites_evaluated} satellites evaluated; "
                      + ("targets applied" if details["applied"] else "preview only"),
                      details)
