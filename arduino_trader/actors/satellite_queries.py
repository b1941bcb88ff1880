"""What the satellite manager answers without writing: each bucket's value, status,
cash and effective aggression, the planner's per-bucket scopes, and the cash-flow
actor's deposit-split shares and income destinations."""

from __future__ import annotations

from collections.abc import Mapping
from decimal import Decimal
from typing import Any

from arduino_trader.domain.cash_flows import effects as cash_flow_effects
from arduino_trader.domain.cash_flows.deposit_split import BucketShare
from arduino_trader.domain.satellites import dividend_router, planning
from arduino_trader.protocols.money import ZERO
from arduino_trader.protocols.satellites import GetCashFlowContext

from .base import ActorContext
from .satellite_book import BookReader
from .satellite_facts import Facts, effective_aggression
from .satellite_settlement import bucket_values
from .satellite_state import State, load_state, read_facts


def aggressions(ctx: ActorContext, state: State, facts: Facts
                ) -> tuple[dict[str, Decimal], dict[str, dict[str, Any]],
                           Mapping[str, Decimal | None]]:
    """Each valued satellite's effective aggression with its details, and every
    bucket's EUR value."""
    now = ctx.clock.now()
    valuation = facts.valuation(state.buckets, state.book)
    effective: dict[str, Decimal] = {}
    details: dict[str, dict[str, Any]] = {}
    for bucket in state.buckets.values():
        value = valuation.values.get(bucket.id)
        if bucket.is_core or value is None or valuation.total is None:
            continue
        series = ctx.deps.bucket_trades.value_series(bucket.id)
        effective[bucket.id], details[bucket.id] = effective_aggression(
            bucket, value, valuation.total, series, now)
    return effective, details, valuation.values


def bucket_report(ctx: ActorContext, books: BookReader) -> dict[str, Any]:
    """{bucket: value, status, balances, aggression} for every bucket."""
    state, facts = load_state(ctx, books), read_facts(ctx)
    _, details, values = aggressions(ctx, state, facts)
    return {b: {"value_eur": values.get(b), "status": bucket.status,
                "balances": state.book.balances_of(b),
                "aggression": details.get(b)}
            for b, bucket in sorted(state.buckets.items())}


def planning_scopes(ctx: ActorContext, books: BookReader
                    ) -> tuple[list[planning.PlanScope], list[planning.Skipped]]:
    """What a planner needs per bucket; see ``GetPlanningScopes``."""
    state, facts = load_state(ctx, books), read_facts(ctx)
    effective, _, _ = aggressions(ctx, state, facts)
    cash = {b: state.book.balances_of(b) for b in state.buckets}
    return planning.plan_scopes(state.buckets, ctx.deps.buckets.security_buckets(),
                                cash, facts.eur_per,
                                ctx.deps.buckets.load_settings(), effective,
                                facts.positions(state.buckets), facts.average_costs())


def cash_flow_context(ctx: ActorContext, log: Any, books: BookReader,
                      msg: GetCashFlowContext) -> cash_flow_effects.EffectContext:
    """The deposit split's bucket shares, and per held symbol the buckets a dividend,
    its tax or a maturity is split over: the broker's positions divided by the
    attributed fills (core holds the rest), the fills alone when the broker is down."""
    state, facts = load_state(ctx, books), read_facts(ctx)
    alloc = ctx.deps.buckets.load_allocation()
    values = bucket_values(log, state, facts)
    shares = tuple(BucketShare(b.id, b.type, b.target_pct, values.get(b.id, ZERO),
                               b.status)
                   for b in state.buckets.values() if b.status != "retired")
    held = facts.positions(state.buckets)
    if held is None:  # the broker does not answer: the fills alone say who holds what
        log.warning("income_split_by_fills", reason="broker positions unavailable")
        held = facts.holdings()
    return cash_flow_effects.EffectContext(
        rates=msg.rates, buckets=shares, satellite_budget=alloc.satellite_budget_pct,
        income_shares=dividend_router.income_shares(held, state.buckets,
                                                    ctx.deps.buckets.load_settings()),
        maturity_shares=dividend_router.holder_shares(held))
