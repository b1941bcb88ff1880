"""Market regime (§5): the continuous score and its effects."""

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


@given(st.floats(-1, 1))
def test_component_weights_sum_to_one(s: float) -> None:
    w = rg.component_weights(s)
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
