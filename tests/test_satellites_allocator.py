"""The meta-allocator and bucket performance metrics."""

from __future__ import annotations

import math
from datetime import date, timedelta
from decimal import Decimal

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from arduino_trader.domain.satellites import meta_allocator as meta
from arduino_trader.domain.satellites import targets
from arduino_trader.domain.satellites.performance import (
    ClosedTrade,
    ValuePoint,
    bucket_metrics,
    daily_returns,
    max_drawdown,
)
from arduino_trader.protocols.satellite_records import AllocationSettings, Bucket
from tests.satellites_helpers import T0, core, d, satellite

SETTINGS = AllocationSettings(satellite_budget_pct=d("0.20"))


def _world(*sats: Bucket) -> dict[str, Bucket]:
    return targets.with_core_target({"core": core(), **{b.id: b for b in sats}}, T0)


def test_only_live_satellites_are_evaluated() -> None:
    world = _world(satellite("a", target="0.05"), satellite("b", target="0.05"),
                   satellite("r", status="retired", target="0"),
                   satellite("q", status="research", target="0"),
                   satellite("h", status="hibernating", target="0.05"),
                   satellite("p", status="paused", target="0.03"))
    plan = meta.plan_allocation(world, {"a": 1.0, "b": -1.0, "h": 0.0}, SETTINGS, T0)
    assert {r.bucket_id for r in plan.recommendations} == {"a", "b", "h"}
    assert plan.total_satellite_budget == d("0.17")  # 0.20 less the paused 0.03
    assert sum(r.new_allocation_pct for r in plan.recommendations) == d("0.17")
    assert plan.evaluation_period_days == 90 and plan.satellites_evaluated == 3
    a = next(r for r in plan.recommendations if r.bucket_id == "a")
    assert a.adjustment_pct > 0 and a.reason == "strong performance"
    applied = meta.apply_plan(world, plan, SETTINGS, T0)
    assert targets.target_violations(applied, SETTINGS.satellite_budget_pct) == []
    assert applied["a"].last_reallocated_at == T0 and applied["p"].target_pct == d("0.03")
    assert applied["core"].target_pct == d("0.80")


def test_limits_hold_after_the_rescale() -> None:
    # Scores push one satellite far above its max; the rescale must not breach it.
    world = _world(satellite("a", target="0.15"), satellite("b", target="0.02"),
                   satellite("c", target="0.03"))
    plan = meta.plan_allocation(world, {"a": 50.0, "b": 0.0, "c": 0.0}, SETTINGS, T0)
    new = {r.bucket_id: r.new_allocation_pct for r in plan.recommendations}
    assert sum(new.values()) == d("0.20")
    assert all(d("0.02") <= v <= d("0.15") for v in new.values())


def test_remainder_beyond_every_max_stays_with_core() -> None:
    world = _world(satellite("a", target="0.05", max_pct="0.06"))
    plan = meta.plan_allocation(world, {"a": 3.0}, SETTINGS, T0)
    assert plan.recommendations[0].new_allocation_pct == d("0.06")
    assert meta.apply_plan(world, plan, SETTINGS, T0)["core"].target_pct == d("0.94")


def test_infeasible_minimums_and_stale_plans_change_nothing() -> None:
    tight = AllocationSettings(satellite_budget_pct=d("0.05"))
    world = _world(*(satellite(f"s{i}", target="0.0") for i in range(3)))
    with pytest.raises(meta.AllocationInfeasible, match="minimums"):
        meta.plan_allocation(world, {}, tight, T0)
    world = _world(satellite("a", target="0.05"), satellite("b", target="0.05"))
    plan = meta.plan_allocation(world, {"a": 1.0}, SETTINGS, T0)
    moved = {**world, "b": world["b"].touched(T0, target_pct=d("0.06"))}
    with pytest.raises(meta.AllocationInfeasible, match="changed"):
        meta.apply_plan(moved, plan, SETTINGS, T0)
    paused = {**world, "a": world["a"].touched(T0, status="paused")}
    with pytest.raises(meta.AllocationInfeasible, match="eligible"):
        meta.apply_plan(paused, plan, SETTINGS, T0)


def test_reasons_and_counters() -> None:
    world = _world(satellite("a", target="0.10"), satellite("b", target="0.10"))
    same = meta.plan_allocation(world, {"a": 0.0, "b": 0.0}, SETTINGS, T0)
    assert {r.reason for r in same.recommendations} == {"no significant change"}
    assert same.satellites_improved == same.satellites_reduced == 0
    split = meta.plan_allocation(world, {"a": 2.0, "b": -2.0}, SETTINGS, T0)
    reasons = {r.bucket_id: r.reason for r in split.recommendations}
    assert reasons == {"a": "strong performance", "b": "weak performance"}
    assert split.satellites_improved == 1 and split.satellites_reduced == 1
    assert meta.plan_allocation(_world(), {}, SETTINGS, T0).recommendations == ()


def test_quarterly_gate() -> None:
    world = _world(satellite("a", target="0.05"))
    assert meta.reallocation_due(world, T0, 3)
    stamped = {**world, "a": world["a"].touched(T0, last_reallocated_at=T0)}
    assert not meta.reallocation_due(stamped, T0 + timedelta(days=89), 3)
    assert meta.reallocation_due(stamped, meta.add_months(T0, 3), 3)
    assert meta.add_months(T0.replace(month=1, day=31), 1).day == 28


@settings(max_examples=150, deadline=None)
@given(data=st.data())
def test_allocator_targets_sum_to_one_within_bounds(data: st.DataObject) -> None:
    budget = data.draw(st.decimals(min_value=0, max_value=d("0.30"), places=3))
    count = data.draw(st.integers(min_value=0, max_value=5))
    sats = []
    for i in range(count):
        lo = data.draw(st.decimals(min_value=0, max_value=d("0.05"), places=3))
        hi = lo + data.draw(st.decimals(min_value=0, max_value=d("0.2"), places=3))
        status = data.draw(st.sampled_from(["active", "accumulating", "hibernating"]))
        sats.append(satellite(f"s{i}", status, target="0", min_pct=str(lo), max_pct=str(hi)))
    world = _world(*sats)
    scores = {b.id: data.draw(st.one_of(st.none(), st.floats(allow_nan=True)))
              for b in sats}
    cfg = AllocationSettings(satellite_budget_pct=budget, satellite_min_pct=d("0"),
                             satellite_max_pct=d("1"))
    try:
        plan = meta.plan_allocation(world, scores, cfg, T0)
    except meta.AllocationInfeasible:
        assert sum(b.min_pct for b in sats) > budget
        return
    applied = meta.apply_plan(world, plan, cfg, T0)
    assert targets.target_violations(applied, budget) == []
    total = sum(r.new_allocation_pct for r in plan.recommendations)
    assert total == min(budget, sum(b.max_pct for b in sats)) or not sats
    assert sum(b.target_pct for b in applied.values() if b.status != "retired") == 1


# ------------------------------------------------------------------ performance
def _series(values: list[str], flows: dict[int, str] | None = None) -> list[ValuePoint]:
    flows = flows or {}
    start = date(2026, 1, 1)
    return [ValuePoint(start + timedelta(days=i), d(v), d(flows.get(i, "0")))
            for i, v in enumerate(values)]


def test_returns_are_flow_adjusted() -> None:
    series = _series(["100", "1100", "1210"], {1: "1000"})
    assert daily_returns(series) == pytest.approx([0.0, 0.1])
    assert max_drawdown([0.1, -0.5, 0.2]) == pytest.approx(0.5)


def test_metrics_need_five_trades_and_two_points() -> None:
    now = T0
    trades = [ClosedTrade(now - timedelta(days=i), d("10")) for i in range(4)]
    series = _series(["100", "101"])
    assert bucket_metrics(trades, series, now=now) is None


def test_metrics_values_and_clamped_composite() -> None:
    now = T0
    pnls = ["10", "20", "-5", "0", "15"]
    trades = [ClosedTrade(now - timedelta(days=i + 1), d(p)) for i, p in enumerate(pnls)]
    trades.append(ClosedTrade(now - timedelta(days=200), d("-1000")))  # outside the period
    start = now.date() - timedelta(days=5)
    series = [ValuePoint(start + timedelta(days=i), d(v))
              for i, v in enumerate(["1000", "1010", "1005", "1020", "1030"])]
    m = bucket_metrics(trades, series, now=now)
    assert m is not None
    assert (m.trades, m.wins, m.losses) == (5, 3, 1)
    assert m.win_rate == pytest.approx(0.75) and m.profit_factor == pytest.approx(9.0)
    assert m.largest_win == 20 and m.largest_loss == -5
    assert m.total_return == pytest.approx(0.03)
    assert m.max_drawdown == pytest.approx(5 / 1010)
    assert math.isinf(m.sortino) or m.sortino > 0
    assert -5 <= m.composite_score <= 5
    no_loss = [ClosedTrade(now - timedelta(days=1), d("1"))] * 5
    m2 = bucket_metrics(no_loss, series, now=now)
    assert m2 is not None and math.isinf(m2.profit_factor)
    assert math.isfinite(m2.composite_score)


def test_scores_feed_the_allocator_as_decimals() -> None:
    world = _world(satellite("a", target="0.1"), satellite("b", target="0.1"))
    plan = meta.plan_allocation(world, {"a": math.inf, "b": None}, SETTINGS, T0)
    assert all(isinstance(r.new_allocation_pct, Decimal) for r in plan.recommendations)
    assert {r.performance_score for r in plan.recommendations} == {0.0}
