"""The daily ``satellite_maintenance`` job: every bucket's high-water mark, drawdown
hibernation and recovery, circuit breaker and win cooldown, core's target, and the day's
value point with its net external flow."""

from __future__ import annotations

from typing import Any

from arduino_trader.domain.satellites import balances, drawdown, reawakening, targets
from arduino_trader.protocols.messages import JobOutcome
from arduino_trader.protocols.money import ZERO
from arduino_trader.protocols.satellite_records import Bucket

from .base import ActorContext
from .satellite_book import BookReader
from .satellite_facts import MissingRate, trailing_return
from .satellite_state import load_state, read_facts


def run_maintenance(ctx: ActorContext, log: Any, books: BookReader) -> JobOutcome:
    """Maintain every bucket and record today's values; failed when a bucket has no
    value."""
    now = ctx.clock.now()
    state, facts = load_state(ctx, books), read_facts(ctx)
    valuation = facts.valuation(state.buckets, state.book)
    results, errors = drawdown.maintain_all(state.buckets, valuation.values, now)
    changed: list[Bucket] = []
    events: dict[str, list[str]] = {}
    for bucket_id, result in results.items():
        bucket = result.bucket
        value = valuation.values[bucket_id]
        if not bucket.is_core and value is not None:
            series = ctx.deps.bucket_trades.value_series(bucket_id)
            cool = reawakening.evaluate_cooldown(bucket.cooldown, now,
                                                 trailing_return(series, now, value))
            if cool.state != bucket.cooldown:
                bucket = bucket.touched(now, cooldown=cool.state)
                events.setdefault(bucket_id, []).append(
                    "cooldown_started" if cool.started else "cooldown_cleared")
        if bucket != state.buckets[bucket_id]:
            changed.append(bucket)
        events.setdefault(bucket_id, []).extend(result.events)
        level = log.warning if {"hibernated", "warning", "breaker_paused"} & set(
            result.events) else log.info
        level("bucket_maintained", bucket_id=bucket_id, value_eur=str(value),
              drawdown=str(result.drawdown), events=list(result.events))
    for bucket_id, reason in errors.items():
        log.error("bucket_maintenance_failed", bucket_id=bucket_id, reason=reason)
    out = targets.with_core_target({**state.buckets, **{b.id: b for b in changed}}, now)
    ctx.deps.buckets.save_buckets([b for k, b in out.items()
                                          if b != state.buckets.get(k)])
    known = {b: v for b, v in valuation.values.items() if v is not None}
    today = [e for e in state.book.entries if e.created_at.date() == now.date()]
    flows = {}
    for bucket_id, per in balances.external_flows(today).items():
        try:
            flows[bucket_id] = sum((a * facts.eur_per(c) for c, a in per.items()), ZERO)
        except MissingRate:
            continue
    ctx.deps.bucket_trades.record_values(now.date(), known, flows)
    ok = not errors
    summary = (f"{len(results)} buckets maintained"
               + (f", {len(errors)} without value" if errors else ""))
    return JobOutcome(ok, summary, {"events": events, "errors": errors})
