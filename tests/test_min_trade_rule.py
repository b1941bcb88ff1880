"""One minimum-trade rule: the smallest worthwhile trade is the value whose costs are at
most 1 % (fixed / (1 % − fraction)), never below the flat ``min_trade_value`` setting
(400 EUR). The API reports it, the planner sizes with it, DRIP and rebalancing skip
below it; changing the setting changes every one of them."""

from __future__ import annotations

from decimal import Decimal
from pathlib import Path

from daemon_harness import Client, start_daemon
from hypothesis import given
from hypothesis import strategies as st

from arduino_trader.config.settings import load_settings
from arduino_trader.domain.execution.costs import CostModel, minimum_trade_eur
from arduino_trader.domain.planner.models import PlannerSettings
from arduino_trader.domain.planner.opportunities import base_trade_eur


def test_the_api_and_the_planner_follow_the_one_setting(tmp_path: Path) -> None:
    d = start_daemon(tmp_path / "state")
    try:
        api = Client(d)
        code, answer = api.call("GET", "/api/optimizer")
        assert code == 200 and answer["settings"]["min_trade_amount"] == "400.00", answer
        code, body = api.call("PUT", "/api/settings/min_trade_value", {"value": "600"})
        assert code == 200, body
        code, answer = api.call("GET", "/api/optimizer")
        assert answer["settings"]["min_trade_amount"] == "600.00", answer
        settings = d.settings.current()
        assert minimum_trade_eur(settings) == Decimal(600)
        assert base_trade_eur(PlannerSettings.from_settings(settings.data)) == 600.0
        code, body = api.call("PUT", "/api/settings/min_trade_value", {"value": "-1"})
        assert code == 400, body
    finally:
        d.stop()


def test_costs_above_the_floor_raise_the_minimum() -> None:
    base = load_settings(None, environ={})
    assert minimum_trade_eur(base) == Decimal(400)  # 2 / 0.008 = 250 < 400
    dear = base.with_overrides({"transaction_cost_fixed": "5"})
    assert minimum_trade_eur(dear) == Decimal(625)
    assert base_trade_eur(PlannerSettings.from_settings(dear.data)) == 625.0
    never = base.with_overrides({"transaction_cost_percent": 0.01})
    assert minimum_trade_eur(never) == Decimal(1000)  # costs never ≤ 1 %: 1000 EUR


@given(fixed=st.decimals(0, 50, places=2), pct=st.decimals(0, "0.0099", places=4),
       floor=st.decimals(0, 5000, places=2))
def test_a_trade_at_the_minimum_costs_at_most_one_percent(fixed: Decimal, pct: Decimal,
                                                          floor: Decimal) -> None:
    costs = CostModel(fixed, pct)
    minimum = costs.min_trade_eur(floor)
    assert minimum >= floor
    if minimum > 0:
        assert costs.commission_eur(minimum) <= minimum * Decimal("0.01") + Decimal("1e-20")
