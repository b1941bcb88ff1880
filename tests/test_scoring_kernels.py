"""Per-security metric kernels against straightforward NumPy formulas."""

from __future__ import annotations

import math

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st

from arduino_trader.domain.scoring import kernels as k


def _series(seed: int, t: int) -> np.ndarray:
    rng = np.random.default_rng(seed)
    return 50.0 * np.exp(np.cumsum(rng.normal(0.0004, 0.015, t)))


def _ref_metrics(p: np.ndarray, rf: float = 0.0) -> dict[str, float]:
    """NumPy reference of the kernel's definitions for one fully valid series."""
    n = p.size
    out: dict[str, float] = {}
    span = min(1260, n - 1)
    out["cagr_5y"] = (p[-1] / p[-1 - span]) ** (252 / span) - 1 if n - 1 >= 252 else math.nan
    span10 = min(2520, n - 1)
    out["cagr_10y"] = (p[-1] / p[-1 - span10]) ** (252 / span10) - 1 if n - 1 > 1260 \
        else math.nan
    r = np.diff(p[-min(1261, n):]) / p[-min(1261, n):-1]
    ex = r - rf / 252
    out["sharpe"] = ex.mean() / r.std(ddof=1) * math.sqrt(252)
    out["sortino"] = ex.mean() / math.sqrt(np.mean(np.minimum(ex, 0) ** 2)) * math.sqrt(252)
    r1 = np.diff(p[-min(253, n):]) / p[-min(253, n):-1]
    out["volatility"] = r1.std(ddof=1) * math.sqrt(252)
    w = p[-min(252, n):]
    out["max_drawdown"] = float(np.min(w / np.maximum.accumulate(w) - 1))
    out["high_52w"] = float(w.max())
    out["below_52w_high"] = (w.max() - p[-1]) / w.max()
    m30 = p[-1] / p[-31] - 1
    out["momentum"] = 0.6 * m30 + 0.4 * (p[-1] / p[-91] - 1) if n >= 91 else m30
    ema = p[0]
    for v in p[1:]:
        ema = 2 / 201 * v + (1 - 2 / 201) * ema
    out["ema_200"] = ema
    d = np.diff(p)
    gain, loss = np.maximum(d, 0), np.maximum(-d, 0)
    ag, al = gain[:14].mean(), loss[:14].mean()
    for g, lo in zip(gain[14:], loss[14:], strict=True):
        ag, al = (ag * 13 + g) / 14, (al * 13 + lo) / 14
    out["rsi"] = 100 - 100 / (1 + ag / al)
    w20 = p[-20:]
    lower, upper = w20.mean() - 2 * w20.std(), w20.mean() + 2 * w20.std()
    out["bollinger_position"] = (p[-1] - lower) / (upper - lower)
    return out


@settings(max_examples=25, deadline=None)
@given(seed=st.integers(0, 10**6), t=st.integers(95, 3000), rf=st.floats(0, 0.05))
def test_metrics_match_numpy_reference(seed: int, t: int, rf: float) -> None:
    p = _series(seed, t)
    got = k.security_metrics(p.reshape(1, -1), rf)[0]
    ref = _ref_metrics(p, rf)
    for name, value in ref.items():
        col = k.METRIC_NAMES.index(name)
        if math.isnan(value):
            assert math.isnan(got[col]), name
        else:
            assert math.isclose(got[col], value, rel_tol=1e-9, abs_tol=1e-12), name


def test_whole_universe_rows_are_independent() -> None:
    a, b = _series(1, 400), _series(2, 400)
    both = k.security_metrics(np.vstack([a, b]), 0.0)
    alone = k.security_metrics(b.reshape(1, -1), 0.0)
    np.testing.assert_array_equal(both[1], alone[0])


def test_bad_prices_end_the_valid_run() -> None:
    p = _series(3, 300)
    p_nan = p.copy()
    p_nan[100] = np.nan
    p_zero = p.copy()
    p_zero[250] = 0.0
    m = k.security_metrics(np.vstack([p, p_nan, p_zero]), 0.0)
    assert m[0, k.M_N_VALID] == 300
    assert m[1, k.M_N_VALID] == 199
    assert m[2, k.M_N_VALID] == 49
    # 49 bars: too few for Sharpe (50) but enough for volatility (30) and technicals (20).
    assert math.isnan(m[2, k.M_SHARPE])
    assert not math.isnan(m[2, k.M_VOLATILITY])
    assert math.isnan(m[2, k.M_CAGR_5Y])


def test_short_empty_and_dead_series() -> None:
    short = np.full((1, 10), 5.0)
    m = k.security_metrics(short, 0.0)
    assert m[0, k.M_LAST] == 5.0
    assert math.isnan(m[0, k.M_RSI])
    dead = np.zeros((1, 50))
    assert np.isnan(k.security_metrics(dead, 0.0)[0, k.M_LAST])
    assert k.security_metrics(np.zeros((0, 100)), 0.0).shape == (0, k.N_METRICS)
    assert k.security_metrics(np.zeros((3, 0)), 0.0)[:, k.M_N_VALID].tolist() == [0, 0, 0]


def test_flat_prices_are_degenerate_not_errors() -> None:
    m = k.security_metrics(np.full((1, 300), 7.0), 0.0)[0]
    assert m[k.M_VOLATILITY] == 0.0
    assert math.isnan(m[k.M_SHARPE])
    assert math.isnan(m[k.M_BOLLINGER])
    assert m[k.M_RSI] == 50.0
    assert m[k.M_MAX_DRAWDOWN] == 0.0


def test_daily_returns_nan_outside_valid_run() -> None:
    p = np.array([[1.0, np.nan, 2.0, 4.0, 2.0]])
    r = k.daily_returns(p)
    assert np.isnan(r[0, :3]).all()
    np.testing.assert_allclose(r[0, 3:], [1.0, -0.5])
