"""Market regime: the continuous score and its effects."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from arduino_trader.domain import regime as rg


def _index(daily: float, sigma: float = 0.005, n: int = 60, seed: int = 0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    return 100 * np.exp(np.cumsum(rng.normal(daily, sigma, n)))


def test_rising_markets_are_bull_and_falling_bear() -> None:
    up = {"SPX.US": _index(0.004), "STOXX600.EU": _index(0.004, seed=1)}
    down = {"SPX.US": _index(-0.006), "STOXX600.EU": _index(-0.006, seed=1)}
    assert rg.regime_score(up).label == "bull"
    bear = rg.regime_score(down)
    assert bear.label == "bear" and bear.score < -0.3
    assert bear.indices_used == ("SPX.US", "STOXX600.EU")


def test_order_matters_oldest_first() -> None:
    """The reference's sign bug: reversed (newest-first) data flips the regime."""
    p = _index(0.004)
    assert rg.regime_score({"SPX.US": p}).score > 0
    assert rg.regime_score({"SPX.US": p[::-1].copy()}).score < 0


def test_volatile_flat_market_forced_bearish() -> None:
    s = rg.regime_score({"SPX.US": _index(0.0, sigma=0.04)})
    assert s.bear_override and s.score < 0


def test_missing_data_is_neutral_and_smoothing() -> None:
    assert rg.regime_score({}).score == 0.0
    assert rg.regime_score({"SPX.US": np.array([1.0, np.nan])}, previous=0.4).score == 0.4
    raw = rg.regime_score({"SPX.US": _index(0.004)})
    smoothed = rg.regime_score({"SPX.US": _index(0.004)}, previous=0.0)
    assert smoothed.score == pytest.approx(0.1 * raw.raw)


def _path(daily_returns: list[float] | np.ndarray) -> np.ndarray:
    """Closes (oldest first) from 100 compounding ``daily_returns``."""
    return 100 * np.cumprod(np.concatenate([[1.0], 1 + np.asarray(daily_returns)]))


ONE = {"SPX": 1.0}


def test_constructed_markets_get_their_obvious_regime() -> None:
    rise = rg.regime_score({"SPX": _path(np.full(40, 0.003))}, weights=ONE)
    fall = rg.regime_score({"SPX": _path(np.full(40, -0.003))}, weights=ONE)
    flat = rg.regime_score({"SPX": np.full(41, 100.0)}, weights=ONE)
    assert rise.label == "bull" and rise.score > 0.5
    assert fall.label == "bear" and fall.score < -0.5
    assert flat.label == "sideways" and abs(flat.score) < 0.05


def test_a_deeper_drawdown_is_more_bearish() -> None:
    """The drawdown component falls with the depth of the fall (its sign was inverted:
    a 20 % fall-and-recovery month scored bull)."""
    dd = [rg.regime_score({"SPX": _path([0.0] * 10 + [-d] + [0.0] * 20)},
                          weights=ONE).dd_component
          for d in (0.0, 0.03, 0.06, 0.10)]
    assert dd == sorted(dd, reverse=True) and dd[0] > dd[-1]
    recovery = rg.regime_score({"SPX": _path(np.r_[np.full(15, -0.015), np.full(15, 0.016)])},
                               weights=ONE)
    assert recovery.dd_component == -1.0 and recovery.label != "bull"


def test_one_bad_day_does_not_flip_a_bull_to_bear() -> None:
    bull = rg.regime_score({"SPX": _path(np.full(40, 0.003))}, weights=ONE)
    shock = _path(np.r_[np.full(39, 0.002), -0.07])
    alone = rg.regime_score({"SPX": shock}, weights=ONE)
    assert alone.label == "bear"  # unsmoothed, the −7 % day alone reads bear
    smoothed = rg.regime_score({"SPX": shock}, weights=ONE, previous=bull.score)
    assert smoothed.label == "bull"
    assert smoothed.score == pytest.approx(0.1 * alone.raw + 0.9 * bull.score)


def test_the_cuts_decide_the_label_and_its_effects() -> None:
    wide = rg.RegimeCuts(bull=0.8, bear=-0.8)
    assert rg.label_for(0.5) == "bull" and rg.label_for(0.5, wide) == "sideways"
    assert rg.regime_sign(-0.5, wide) == 0 and rg.regime_sign(-0.9, wide) == -1
    assert rg.cash_reserve(-0.5, 100_000, 500, cuts=wide) == pytest.approx(3000)
    assert rg.expected_return_weights(0.5, wide) == (0.70, 0.30, 1.0)
    assert rg.component_weights(0.5, wide) == pytest.approx(rg.component_weights(0.0))


@given(st.floats(-1, 1), st.floats(0.05, 0.95), st.floats(-0.95, -0.05))
def test_component_weights_sum_to_one(s: float, bull: float, bear: float) -> None:
    w = rg.component_weights(s, rg.RegimeCuts(bull, bear))
    assert w.sum() == pytest.approx(1.0) and (w >= 0).all()


def test_effects() -> None:
    bull, bear = rg.component_weights(1.0), rg.component_weights(-1.0)
    base = rg.component_weights(0.0)
    assert bull[0] > base[0] > bear[0]  # opportunity weight
    assert bear[3] > base[3]  # risk weight
    assert rg.cash_reserve(-0.9, 100_000, 500) == pytest.approx(5000)
    assert rg.cash_reserve(0.9, 100_000, 500) == pytest.approx(2000)
    assert rg.cash_reserve(0.0, 1_000, 500) == 500
    assert rg.cash_reserve(-0.9, 100_000, 500, enabled=False) == 500
    assert rg.expected_return_weights(-0.9) == (0.70, 0.30, 0.75)
    assert rg.regime_sign(0.9) == 1 and rg.regime_sign(-0.9) == -1 and rg.regime_sign(0) == 0


# --- forward adjustment --------------------------------------------------------------------

def test_forward_adjustment_terms() -> None:
    fa = rg.forward_adjustment
    assert fa() == 0.0
    assert fa(vix=40) == pytest.approx(-0.05)
    assert fa(vix=60) == pytest.approx(-0.10)  # min(1, ·) caps the VIX term
    assert fa(vix=10) == pytest.approx(0.05 * (1 - 10 / 15))
    assert fa(vix=20) == 0.0
    assert fa(yield_curve_slope=-0.03) == pytest.approx(-0.15)
    assert fa(yield_curve_slope=-0.015) == pytest.approx(-0.15 * 0.75)
    assert fa(yield_curve_slope=0.02) == pytest.approx(0.045 * 0.5)
    assert fa(yield_curve_slope=0.0) == 0.0
    assert fa(market_pe=32.5) == pytest.approx(-0.05)
    assert fa(market_pe=22) == 0.0
    # Below a P/E of 18 the factor is capped at 1 (the reference's grew).
    assert fa(market_pe=18) == pytest.approx(0.05)
    assert fa(market_pe=10) == pytest.approx(0.05)
    assert fa(vix=45, yield_curve_slope=-0.03, market_pe=40) == pytest.approx(-0.20)  # cap
    assert fa(vix=float("nan"), yield_curve_slope=float("inf"), market_pe=-3) == 0.0
    assert rg.yield_curve_slope(4.2, 5.1) == pytest.approx(-0.009)
    assert rg.yield_curve_slope(None, 5.1) is None


@given(vix=st.one_of(st.none(), st.floats(0, 90)),
       slope=st.one_of(st.none(), st.floats(-0.05, 0.05)),
       pe=st.one_of(st.none(), st.floats(5, 60)))
def test_forward_adjustment_is_bounded_and_monotone(vix: float | None, slope: float | None,
                                                    pe: float | None) -> None:
    a = rg.forward_adjustment(vix, slope, pe)
    assert -0.20 <= a <= 0.20
    if vix is not None and vix >= 15:  # more fear never raises expected returns
        assert rg.forward_adjustment(vix + 5, slope, pe) <= a + 1e-12
    if pe is not None and pe >= 18:
        assert rg.forward_adjustment(vix, slope, pe + 3) <= a + 1e-12


def test_forward_adjustment_reaches_the_optimiser() -> None:
    """A fearful market (VIX 45, inverted curve, P/E 30) lowers every expected return the
    optimiser uses; a calm one raises them; switched off, nothing changes."""
    import dataclasses

    from arduino_trader.domain.planner.models import MarketIndicators
    from arduino_trader.domain.planner.plan import plan
    from arduino_trader.domain.planner.prepare import prepare
    from tests.test_planner_plan import synthetic

    base = synthetic()
    fear = dataclasses.replace(base, market=MarketIndicators(45.0, -0.02, 30.0))
    calm = dataclasses.replace(base, market=MarketIndicators(12.0, 0.03, 16.0))
    off = dataclasses.replace(fear, settings=dataclasses.replace(
        base.settings, enable_forward_adjustment=False))
    er = {}
    for name, inp in (("base", base), ("fear", fear), ("calm", calm), ("off", off)):
        prep = prepare(inp, {})
        assert not isinstance(prep, str) and prep.optimizer is not None
        er[name] = prep.optimizer.expected_returns
    expected_fear = rg.forward_adjustment(45.0, -0.02, 30.0)
    assert expected_fear == pytest.approx(-0.20)  # −0.075 − 0.15 − 0.031, capped
    assert er["off"] == er["base"]
    # The adjustment multiplies the blend (× (1 + adjustment)), so it moves positive
    # expected returns in its own direction (up to the [−0.10, 0.30] clamp).
    positive = [s for s, mu in er["base"].items() if 0.01 < mu < 0.30]
    assert positive
    for sym in positive:
        assert er["fear"][sym] < er["base"][sym] <= er["calm"][sym]
    r = plan(fear)
    assert r.forward_adjustment == pytest.approx(expected_fear)
    assert r.to_dict()["forward_adjustment"] == pytest.approx(expected_fear)


def test_market_indicators_from_index_closes() -> None:
    from arduino_trader.domain.planner.models import FORWARD_SYMBOLS, MarketIndicators

    assert FORWARD_SYMBOLS == ("^VIX", "^TNX", "^IRX")
    m = MarketIndicators.from_last_closes({"^VIX": 31.0, "^TNX": 4.2, "^IRX": 5.2}, 24.0)
    assert m.vix == 31.0 and m.yield_curve_slope == pytest.approx(-0.01) and m.market_pe == 24
    assert rg.forward_adjustment(m.vix, m.yield_curve_slope, m.market_pe) == pytest.approx(
        -0.10 / 20 - 0.15 * 0.5)
    none = MarketIndicators.from_last_closes({"^VIX": float("nan"), "^TNX": 4.0,
                                              "^IRX": None})
    assert none == MarketIndicators()


@given(st.lists(st.floats(-0.2, 0.2), min_size=31, max_size=80), st.floats(-1, 1))
def test_the_score_is_bounded_and_smoothing_moves_a_tenth_of_the_way(
        returns: list[float], previous: float) -> None:
    closes = _path(returns)
    raw = rg.regime_score({"SPX": closes}, weights=ONE)
    assert -1 <= raw.score <= 1 and raw.score == raw.raw
    smoothed = rg.regime_score({"SPX": closes}, weights=ONE, previous=previous)
    assert smoothed.score == pytest.approx(previous + 0.1 * (raw.raw - previous))
    assert min(previous, raw.raw) - 1e-12 <= smoothed.score <= max(previous, raw.raw) + 1e-12
