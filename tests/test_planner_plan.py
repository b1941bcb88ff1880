"""plan(): explained recommendations on sound input, "nothing to do" with a reason on bad input."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from arduino_trader.domain.planner.models import (
    Holding,
    PlanInput,
    PlannerSettings,
    PlanResult,
    SecurityInfo,
)
from arduino_trader.domain.planner.plan import plan
from arduino_trader.domain.position_limits import position_cap
from arduino_trader.domain.scoring.scorers import Fundamentals

SETTINGS = PlannerSettings(monte_carlo_paths=24, max_sequences=300, beam_width=4)


def synthetic(n: int = 12, t: int = 400, held: int = 5, cash: float = 10_000.0,
              seed: int = 0, settings: PlannerSettings = SETTINGS) -> PlanInput:
    """A small universe in 3 currencies with trending and falling securities."""
    rng = np.random.default_rng(seed)
    drift = np.linspace(-0.001, 0.0015, n)
    prices = 40 * np.exp(np.cumsum(rng.normal(drift[:, None], 0.012, (n, t)), axis=1))
    currencies = [("EUR", 1.0, "DE"), ("USD", 1.1, "US"), ("HKD", 8.0, "HK")]
    secs = []
    for i in range(n):
        cur, fx, country = currencies[i % 3]
        secs.append(SecurityInfo(
            f"S{i}", f"Security {i}", cur, fx, country, ["Tech", "Energy", "Health"][i % 3],
            fundamentals=Fundamentals(trailing_pe=15 + i, dividend_yield=0.01 * (i % 4),
                                      profit_margin=0.1, analyst_recommendation=0.7)))
    holdings = [Holding(f"S{i}", 20.0, float(prices[i, -1] * 0.8), 800.0, 400.0, None)
                for i in range(0, 2 * held, 2)]
    return PlanInput(secs, prices, holdings, cash,
                     country_to_group={"DE": "EU", "US": "US", "HK": "ASIA"},
                     country_targets={"EU": 0.5, "US": 0.3, "ASIA": 0.2},
                     industry_targets={"Tech": 0.4, "Energy": 0.3, "Health": 0.3},
                     settings=settings)


def _ok(result_reason: str) -> None:
    assert not result_reason.startswith("planner failed"), result_reason


def _sound(r: PlanResult, inp: PlanInput) -> None:
    """What any answer must be, whatever the input: a plan exactly when it has steps, each
    step a positive whole quantity of a security with a usable last price, no sale of more
    than is held, and no more bought than the cash and the sales pay for."""
    _ok(r.reason)
    assert r.reason and (r.status == "plan") == bool(r.steps), (r.status, r.steps)
    index = {sec.symbol: i for i, sec in enumerate(inp.securities)}
    held = {h.symbol: h.quantity for h in inp.holdings}
    cash = inp.cash_eur if np.isfinite(inp.cash_eur) else 0.0
    for step in r.steps:
        i = index[step.symbol]
        last = inp.prices[i][np.isfinite(inp.prices[i]) & (inp.prices[i] > 0)]
        assert step.quantity > 0 and last.size and step.estimated_price > 0, step
        if step.side == "SELL":
            assert step.quantity <= held.get(step.symbol, 0), step
            cash += step.estimated_value_eur - step.cost_eur
        else:
            cash -= step.estimated_value_eur + step.cost_eur
    assert cash >= min(0.0, inp.cash_eur if np.isfinite(inp.cash_eur) else 0.0) - 1e-6


def test_plan_on_sound_input_is_explained() -> None:
    r = plan(synthetic())
    _ok(r.reason)
    assert r.status == "plan", r.reason
    assert r.steps and r.evaluated_count > 50 and r.beam_evaluated > 0
    assert r.improvement >= SETTINGS.min_score_improvement
    assert r.steps[-1].score_after > r.steps[0].score_before
    sides = [s.side for s in r.steps]
    assert sides == sorted(sides, key=lambda x: x != "SELL"), "sells come before buys"
    for step in r.steps:
        assert step.quantity > 0 and step.cost_eur > 0 and step.reason
        assert "groups" in step.security_breakdown
    assert set(r.components_after) == set(r.components_before)
    d = r.to_dict()
    assert d["status"] == "plan" and d["improvement"] > 0


def test_plan_is_deterministic() -> None:
    inp = synthetic(seed=3)
    a, b = plan(inp), plan(inp)
    assert [(s.symbol, s.side, s.quantity) for s in a.steps] == \
        [(s.symbol, s.side, s.quantity) for s in b.steps]
    assert a.robust_score == b.robust_score


def test_buys_never_spend_the_reserve() -> None:
    inp = synthetic(cash=3000.0)
    r = plan(inp)
    _ok(r.reason)
    spent = sum(s.estimated_value_eur + s.cost_eur for s in r.steps if s.side == "BUY")
    got = sum(s.estimated_value_eur - s.cost_eur for s in r.steps if s.side == "SELL")
    assert inp.cash_eur + got - spent >= r.cash_reserve_eur - 1e-6


def test_empty_universe() -> None:
    r = plan(PlanInput([], np.zeros((0, 0)), [], 1000.0))
    assert r.status == "nothing_to_do" and "empty universe" in r.reason


def test_mismatched_prices() -> None:
    inp = synthetic()
    r = plan(dataclasses.replace(inp, prices=inp.prices[:3]))
    assert r.status == "nothing_to_do" and "shape" in r.reason


def test_no_money_at_all() -> None:
    r = plan(synthetic(held=0, cash=0.0))
    assert r.status == "nothing_to_do" and "no cash" in r.reason


def test_too_little_history_still_plans() -> None:
    """Three weeks of history: scored with what exists, not left in cash or frozen."""
    inp = synthetic(t=15)
    r = plan(inp)
    _sound(r, inp)
    assert r.status == "plan", r.reason


def test_nan_and_zero_prices() -> None:
    inp = synthetic()
    prices = inp.prices.copy()
    prices[0, -1] = np.nan  # held security without a current price
    prices[1, :] = 0.0
    prices[2, 100:200] = np.nan
    r = plan(dataclasses.replace(inp, prices=prices))
    _ok(r.reason)
    assert any("S0" in w for w in r.warnings)
    assert all(s.symbol not in ("S0", "S1") for s in r.steps)


def test_all_prices_nan() -> None:
    inp = synthetic()
    r = plan(dataclasses.replace(inp, prices=np.full_like(inp.prices, np.nan)))
    assert r.status == "nothing_to_do"
    _ok(r.reason)


def test_cash_only_portfolio_buys() -> None:
    r = plan(synthetic(held=0, cash=20_000.0))
    _ok(r.reason)
    assert r.status == "plan" and all(s.side == "BUY" for s in r.steps)


def test_infeasible_optimisation_degrades() -> None:
    """Impossible bounds (every security needs ≥ 60 %) must still give a sound answer."""
    inp = synthetic()
    secs = [dataclasses.replace(s, min_target=0.6) for s in inp.securities]
    impossible = dataclasses.replace(inp, securities=secs)
    r = plan(impossible)
    _sound(r, impossible)
    assert r.status == "plan", r.reason


def test_nothing_to_do_when_nothing_is_allowed() -> None:
    inp = synthetic()
    secs = [dataclasses.replace(s, allow_buy=False, allow_sell=False) for s in inp.securities]
    r = plan(dataclasses.replace(inp, securities=secs))
    assert r.status == "nothing_to_do" and "no opportunities" in r.reason


@pytest.mark.parametrize("regime", [-0.9, 0.0, 0.9])
def test_regime_changes_reserve_and_weights(regime: float) -> None:
    r = plan(dataclasses.replace(synthetic(), regime_score=regime))
    _ok(r.reason)
    assert r.regime == {-0.9: "bear", 0.0: "sideways", 0.9: "bull"}[regime]
    assert r.cash_reserve_eur >= 500.0


def test_settings_from_the_daemon_registry() -> None:
    from arduino_trader.config.settings import defaults

    s = PlannerSettings.from_settings(defaults())
    assert s.max_plan_depth == 5 and s.beam_width == 10 and s.monte_carlo_paths == 100
    assert s.transaction_cost_fixed == 2.0 and isinstance(s.min_cash_reserve, float)
    assert s.regime_cash_reserve["bear"] == 0.05
    assert PlannerSettings.from_settings({"beam_width": 3}).beam_width == 3


def test_warm_up_runs() -> None:
    from arduino_trader.domain.planner.plan import warm_up

    warm_up()



@settings(max_examples=15, deadline=None)
@given(seed=st.integers(0, 10**6), n=st.integers(1, 8), t=st.integers(0, 320),
       cash=st.floats(-1000, 50_000) | st.just(float("nan")), bad=st.floats(0, 0.3))
def test_plan_never_fails_on_messy_input(seed: int, n: int, t: int, cash: float,
                                         bad: float) -> None:
    """Random NaN/zero/negative/inf prices, odd cash, odd lots: an answer, never a crash."""
    rng = np.random.default_rng(seed)
    base = synthetic(n=max(n, 1), t=max(t, 1), held=min(3, n // 2), seed=seed % 50,
                     settings=PlannerSettings(monte_carlo_paths=8, max_sequences=50,
                                              beam_width=3))
    prices = base.prices.copy()
    mask = rng.random(prices.shape) < bad
    prices[mask] = rng.choice([np.nan, 0.0, -5.0, np.inf], size=int(mask.sum()))
    secs = [dataclasses.replace(s, min_lot=int(rng.integers(1, 20)),
                                fx_rate=float(rng.choice([1.0, 0.0, 8.0])))
            for s in base.securities]
    messy = dataclasses.replace(base, prices=prices, securities=secs, cash_eur=cash)
    _sound(plan(messy), messy)


@settings(max_examples=6, deadline=None)
@given(seed=st.integers(0, 1000), cash=st.floats(2_000.0, 60_000.0))
def test_buys_respect_the_executors_position_guardrail(seed: int, cash: float) -> None:
    """No BUY takes a position above the universe-scaled cap (max(15 %, 2 / N): the
    executor would refuse it), whatever the optimiser's bound allows."""
    inp = synthetic(seed=seed, cash=cash)
    r = plan(inp)
    _ok(r.reason)
    last = {sec.symbol: float(inp.prices[i][np.isfinite(inp.prices[i])][-1]) / sec.fx_rate
            for i, sec in enumerate(inp.securities)}
    held = {h.symbol: h.quantity * last[h.symbol] for h in inp.holdings}
    total = sum(held.values()) + cash
    for step in r.steps:
        if step.side == "BUY":
            cap = position_cap(0.15, 2.0, len(inp.securities))
            assert held.get(step.symbol, 0.0) + step.estimated_value_eur <= cap * total + 1e-6
