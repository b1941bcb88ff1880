"""Drawdown and hibernation, aggression, re-awakening, cooldown, presets and the mapper."""

from __future__ import annotations

from datetime import timedelta
from decimal import Decimal

import pytest
from hypothesis import given
from hypothesis import strategies as st

from arduino_trader.domain.satellites import aggression, drawdown, parameters, presets
from arduino_trader.domain.satellites.reawakening import (
    CooldownState,
    evaluate_cooldown,
    flow_adjusted_return,
    on_trade_result,
    reawakening_multiplier,
)
from arduino_trader.protocols.satellite_records import (
    InvalidBucket,
    ReawakeningState,
    SatelliteSettings,
)
from tests.satellites_helpers import T0, core, d, satellite

DAY = timedelta(days=1)


# ------------------------------------------------------------------ drawdown / HWM
def test_drawdown_formula() -> None:
    assert drawdown.drawdown(d("0"), d("50")) == 0
    assert drawdown.drawdown(d("100"), d("120")) == 0
    assert drawdown.drawdown(d("1000"), d("650")) == d("0.35")


def test_bucket_value_sums_every_currency_and_refuses_missing_rates() -> None:
    rates = {"EUR": d("1"), "USD": d("0.9")}
    value = drawdown.bucket_value_eur([d("100")], {"EUR": d("10"), "USD": d("100")},
                                      rates.__getitem__)
    assert value == d("200")
    with pytest.raises(KeyError):
        drawdown.bucket_value_eur([], {"HKD": d("1")}, rates.__getitem__)


def test_maintenance_sets_first_mark_and_new_highs() -> None:
    result = drawdown.maintain(satellite(losses=2), d("1000"), T0)
    assert result.bucket.high_water_mark == d("1000")
    assert result.bucket.high_water_mark_date == T0
    assert result.bucket.consecutive_losses == 0 and "new_high" in result.events


def test_hibernation_at_035_and_recovery_below_030_with_hysteresis() -> None:
    bucket = satellite(hwm="1000")
    warned = drawdown.maintain(bucket, d("740"), T0)
    assert warned.events == ("warning",) and warned.bucket.status == "active"
    hib = drawdown.maintain(bucket, d("650"), T0)
    assert hib.bucket.status == "hibernating" and hib.events == ("hibernated",)
    assert hib.drawdown == d("0.35")
    stay = drawdown.maintain(hib.bucket, d("700"), T0 + DAY)  # dd 0.30: still hibernating
    assert stay.bucket.status == "hibernating"
    back = drawdown.maintain(hib.bucket, d("700.01"), T0 + DAY)
    assert back.bucket.status == "active" and "recovered" in back.events
    assert back.bucket.reawakening.stage == 1


def test_core_and_paused_buckets_never_hibernate() -> None:
    c = core().touched(T0, high_water_mark=d("1000"))
    assert drawdown.maintain(c, d("100"), T0).bucket.status == "active"
    p = satellite(status="paused", hwm="1000")
    assert drawdown.maintain(p, d("100"), T0).bucket.status == "paused"


def test_flow_shift_keeps_deposits_and_withdrawals_out_of_drawdown() -> None:
    bucket = satellite(hwm="1000")
    after_out = drawdown.shift_for_flow(bucket, d("-400"), T0)
    assert after_out.high_water_mark == d("600")
    # Value fell 400 because cash moved out: no drawdown, no hibernation.
    assert drawdown.maintain(after_out, d("600"), T0).bucket.status == "active"
    after_in = drawdown.shift_for_flow(bucket, d("500"), T0)
    assert after_in.high_water_mark == d("1500")
    assert drawdown.shift_for_flow(satellite(hwm="0"), d("500"), T0).high_water_mark == 0
    assert drawdown.shift_for_flow(bucket, d("-5000"), T0).high_water_mark == 0


def test_trade_results_drive_the_loss_streak_and_breaker() -> None:
    bucket = satellite(losses=3)
    win = drawdown.record_trade_result(bucket, d("10"), T0)
    assert win.bucket.consecutive_losses == 0 and not win.paused
    flat = drawdown.record_trade_result(bucket, d("0"), T0)
    assert flat.bucket.consecutive_losses == 3
    four = drawdown.record_trade_result(bucket, d("-1"), T0)
    assert four.bucket.consecutive_losses == 4 and not four.paused
    five = drawdown.record_trade_result(four.bucket, d("-1"), T0)
    assert five.paused and five.bucket.status == "paused"
    assert five.bucket.loss_streak_paused_at == T0
    c = drawdown.record_trade_result(core().touched(T0, consecutive_losses=9), d("-1"), T0)
    assert not c.paused and c.bucket.status == "active"


def test_maintenance_breaker_sweep() -> None:
    result = drawdown.maintain(satellite(hwm="1000", losses=5), d("900"), T0)
    assert result.bucket.status == "paused" and "breaker_paused" in result.events


# ------------------------------------------------------------------ aggression
@pytest.mark.parametrize(("funding", "step"), [
    ("1.2", "1.0"), ("1", "1.0"), ("0.8", "0.8"), ("0.79", "0.6"), ("0.6", "0.6"),
    ("0.4", "0.4"), ("0.39", "0")])
def test_allocation_steps(funding: str, step: str) -> None:
    assert aggression.allocation_step(d(funding)) == d(step)


@pytest.mark.parametrize(("dd", "step"), [
    ("0.35", "0"), ("0.5", "0"), ("0.25", "0.3"), ("0.34", "0.3"), ("0.15", "0.7"),
    ("0.149", "1.0"), ("0", "1.0")])
def test_drawdown_steps(dd: str, step: str) -> None:
    assert aggression.drawdown_step(d(dd)) == d(step)


def test_aggression_result_fields() -> None:
    # target 10% of 10 000 = 1000; value 700 → funding 0.7 → 0.6; dd 0.3 → 0.3.
    result = aggression.calculate(d("700"), d("0.10"), d("10000"), d("1000"))
    assert result.target_value == d("1000") and result.pct_of_target == d("0.7")
    assert result.allocation_aggression == d("0.6") and result.drawdown_aggression == d("0.3")
    assert result.aggression == d("0.3") and result.limiting_factor == "drawdown"
    assert not result.in_hibernation
    zero_target = aggression.calculate(d("700"), d("0"), d("10000"), d("700"))
    assert zero_target.aggression == 0 and zero_target.in_hibernation
    assert zero_target.limiting_factor == "allocation"
    equal = aggression.calculate(d("1000"), d("0.1"), d("10000"), d("1000"))
    assert equal.aggression == 1 and equal.limiting_factor == "equal"


def test_effective_aggression_scales_buys_to_whole_lots() -> None:
    eff = aggression.effective(d("0.8"), reawakening_multiplier(ReawakeningState(stage=2)),
                               d("0.75"))
    assert eff == d("0.3")
    assert aggression.scale_buy(d("100"), 1, eff) == d("30")
    assert aggression.scale_buy(d("100"), 40, eff) == d("0")  # 30 < one lot: dropped
    assert aggression.scale_buy(d("100"), 10, d("0")) == 0
    with pytest.raises(ValueError):
        aggression.scale_buy(d("1"), 0, d("1"))


# ------------------------------------------------------------------ re-awakening
def test_reawakening_graduates_over_three_wins_and_resets_on_loss() -> None:
    state = ReawakeningState(stage=1)
    assert reawakening_multiplier(state) == d("0.25")
    state = on_trade_result(state, d("5"))
    assert (state.stage, state.wins, state.trades) == (2, 1, 1)
    assert reawakening_multiplier(state) == d("0.50")
    state = on_trade_result(state, d("5"))
    assert reawakening_multiplier(state) == d("0.75")
    lost = on_trade_result(state, d("-1"))
    assert (lost.stage, lost.wins, lost.trades) == (1, 0, 3)
    state = on_trade_result(on_trade_result(on_trade_result(lost, d("1")), d("1")), d("1"))
    assert not state.active and reawakening_multiplier(state) == 1 and state.trades == 6
    assert on_trade_result(state, d("-1")) == state  # finished: a loss does not restart it
    assert on_trade_result(ReawakeningState(stage=2, wins=1), d("0")).stage == 2


# ------------------------------------------------------------------ cooldown
def test_cooldown_starts_runs_and_expires() -> None:
    idle = evaluate_cooldown(CooldownState(), T0, d("0.19"))
    assert idle.multiplier == 1 and not idle.active
    started = evaluate_cooldown(CooldownState(), T0, d("0.20"))
    assert started.started and started.multiplier == d("0.75")
    assert started.state == CooldownState(T0, d("0.20")) and started.days_remaining == 30
    mid = evaluate_cooldown(started.state, T0 + timedelta(days=10, hours=5), d("0"))
    assert mid.multiplier == d("0.75") and mid.days_remaining == 19 and mid.state == started.state
    over = evaluate_cooldown(started.state, T0 + timedelta(days=30), d("0"))
    assert over.expired and over.state == CooldownState() and over.multiplier == 1


def test_flow_adjusted_return_ignores_deposits() -> None:
    assert flow_adjusted_return(d("1000"), d("1500"), d("500")) == 0
    assert flow_adjusted_return(d("1000"), d("1200"), d("0")) == d("0.2")
    assert flow_adjusted_return(d("0"), d("100"), d("0")) == 0


# ------------------------------------------------------------------ presets / mapper
def test_default_sliders_map_to_the_spec_values() -> None:
    p = parameters.map_parameters(SatelliteSettings("s"))
    assert p.position_size_max == d("0.275") and p.stop_loss_pct == d("0.125")
    assert p.target_hold_days == 91 and p.max_positions == 13
    assert p.take_profit_threshold == d("0.175") and p.trailing_stop_distance == d("0.05")
    assert p.buy_dip_threshold == d("0.5") and p.breakout_threshold == d("0.5")
    assert not p.is_dip_buyer


@pytest.mark.parametrize(("name", "days", "positions"), [
    ("momentum_hunter", 55, 11), ("steady_eddy", 145, 17), ("dip_buyer", 127, 15),
    ("dividend_catcher", 37, 19)])
def test_presets_map_with_exact_decimals(name: str, days: int, positions: int) -> None:
    settings = presets.apply_preset(SatelliteSettings("s"), name)
    mapped = parameters.map_parameters(settings)
    assert (mapped.target_hold_days, mapped.max_positions) == (days, positions)
    assert settings.preset == name


def test_apply_preset_keeps_risk_parameters_and_refuses_unknown() -> None:
    base = SatelliteSettings("s", risk_free_rate=d("0.01"), evaluation_period_days=30,
                             auto_harvest=True)
    applied = presets.apply_preset(base, "dividend_catcher")
    assert applied.risk_free_rate == d("0.01") and applied.evaluation_period_days == 30
    assert applied.dividend_handling == "accumulate_cash" and not applied.auto_harvest
    assert parameters.map_parameters(presets.apply_preset(base, "dip_buyer")).is_dip_buyer
    with pytest.raises(presets.UnknownPreset):
        presets.apply_preset(base, "yolo")
    assert [p["name"] for p in presets.describe()] == list(presets.PRESETS)


def test_zero_slider_stays_zero_and_bad_settings_refused() -> None:
    p = parameters.map_parameters(SatelliteSettings("s", risk_appetite=d("0")))
    assert p.position_size_max == d("0.15")
    with pytest.raises(InvalidBucket):
        SatelliteSettings("s", entry_style=d("1.01"))
    with pytest.raises(InvalidBucket):
        SatelliteSettings("s", dividend_handling="burn")  # type: ignore[arg-type]


@given(st.decimals(min_value=0, max_value=1, places=3))
def test_mapper_ranges(x: Decimal) -> None:
    s = SatelliteSettings("s", risk_appetite=x, hold_duration=x, entry_style=x,
                          position_spread=x, profit_taking=x)
    p = parameters.map_parameters(s)
    assert d("0.15") <= p.position_size_max <= d("0.40")
    assert d("0.05") <= p.stop_loss_pct <= d("0.20")
    assert 1 <= p.target_hold_days <= 181 and 3 <= p.max_positions <= 23
    assert d("0.05") <= p.take_profit_threshold <= d("0.30")
    assert 0 <= p.trailing_stop_distance <= d("0.10")


# ------------------------------------------------------------------ JSON forms
def test_settings_from_json_validates_every_field() -> None:
    s = SatelliteSettings.from_mapping("s", {"risk_appetite": 0.0, "hold_duration": "0.7",
                                             "trailing_stops": True,
                                             "dividend_handling": "send_to_core",
                                             "evaluation_period_days": 30})
    assert s.risk_appetite == 0 and s.hold_duration == d("0.7") and s.trailing_stops
    assert s.to_json()["hold_duration"] == "0.7" and s.to_json()["risk_appetite"] == "0"
    assert SatelliteSettings.from_mapping("s", {}) == SatelliteSettings("s")
    for bad in ({"nope": 1}, {"trailing_stops": 1}, {"risk_appetite": "x"},
                {"risk_appetite": 2}, {"evaluation_period_days": 1.5},
                {"dividend_handling": "burn"}, {"dividend_handling": None},
                {"preset": 3}):
        with pytest.raises(InvalidBucket):
            SatelliteSettings.from_mapping("s", bad)


def test_bucket_json_includes_the_persisted_state() -> None:
    bucket = satellite(hwm="1000.50").touched(T0, reawakening=ReawakeningState(2, 1, 3),
                                              cooldown=CooldownState(T0, d("0.25")))
    data = bucket.to_json()
    assert data["high_water_mark"] == "1000.5" and data["target_pct"] == "0.05"
    assert (data["reawaken_stage"], data["reawaken_wins"], data["reawaken_trades"]) == (2, 1, 3)
    assert data["cooldown_started_at"] == T0.isoformat()
    assert data["cooldown_trigger_gain"] == "0.25" and data["trading_allowed"] is True
    assert "reawakening" not in data
