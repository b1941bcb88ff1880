"""A satellite's stop-loss sale respects the minimum hold like every other planned sell
(the spec lets only emergency rebalancing bypass it): the real planner on the bundled
data, a satellite holding KO bought 40 % above today's close."""

from __future__ import annotations

from dataclasses import replace
from decimal import Decimal

from arduino_trader.domain.planner.buckets import plan_bucket
from arduino_trader.domain.planner.models import Holding, PlanResult
from arduino_trader.domain.planner.plan import plan
from arduino_trader.domain.satellites.parameters import map_parameters
from arduino_trader.domain.satellites.planning import PlanScope
from arduino_trader.protocols.satellite_records import SatelliteSettings
from tests.bundled_plan import bundled_input, last_close

PARAMS = map_parameters(SatelliteSettings("sat1"))  # target_hold_days 91 at the defaults
OWN = frozenset({"WMT.US", "PG.US", "KO.US", "PEP.US", "JNJ.US"})


def _plan_with_ko_bought(days_ago: float | None) -> PlanResult:
    ko = last_close(bundled_input(0.0), "KO.US")
    full = bundled_input(20_000.0, [Holding("KO.US", 30, ko * 1.4, days_ago, days_ago, None)])
    scope = PlanScope("sat1", OWN, Decimal(5000), PARAMS, Decimal(1), {"KO.US": Decimal(10)})
    return plan_bucket(full, scope, plan)


def _ko_sells(result: PlanResult) -> list[tuple[str, int]]:
    return [(s.category, s.quantity) for s in result.steps
            if s.symbol == "KO.US" and s.side == "SELL"]


def test_a_stop_loss_within_the_minimum_hold_is_not_planned() -> None:
    hold = PARAMS.target_hold_days
    assert hold == 91
    out = _plan_with_ko_bought(hold - 1)
    assert not any(c == "stop_loss" for c, _ in _ko_sells(out)), out.steps
    assert "within the minimum hold" in out.reason, out.reason


def test_a_stop_loss_after_the_minimum_hold_or_without_a_known_buy_date_is_planned() -> None:
    for days in (float(PARAMS.target_hold_days), 400.0, None):
        out = _plan_with_ko_bought(days)
        assert _ko_sells(out)[:1] == [("stop_loss", 10)], (days, out.reason)
        assert out.steps[0].symbol == "KO.US"


def test_the_buckets_own_hold_duration_is_the_minimum_hold() -> None:
    short = replace(PARAMS, target_hold_days=5)
    ko = last_close(bundled_input(0.0), "KO.US")
    full = bundled_input(20_000.0, [Holding("KO.US", 30, ko * 1.4, 10, 10, None)])
    scope = PlanScope("sat1", OWN, Decimal(5000), short, Decimal(1), {"KO.US": Decimal(10)})
    assert _ko_sells(plan_bucket(full, scope, plan))[:1] == [("stop_loss", 10)]
