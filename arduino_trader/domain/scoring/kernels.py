"""Numba kernels: per-security metrics over the whole universe at once.

Input is a 2-D float64 matrix ``prices[security, day]`` of daily closes, oldest first.
Each security is measured over its *trailing valid run*: the longest suffix of finite,
strictly positive prices (a NaN, zero or negative price ends the run, so a series with a
bad price in the middle is only measured after it). A metric whose run is too short is
NaN, which the scorers map to neutral.

Windows (the project's documented choices):

* CAGR_5Y over the last ≤ 1260 bars (needs ≥ 252, i.e. 12 months); CAGR_10Y over the
  last ≤ 2520 bars, only when more than 1260 bars exist. Daily closes stand in for the
  reference's monthly averages.
* Sharpe and Sortino over the last ≤ 1260 daily returns (≥ 50 bars), annualised with 252,
  risk-free rate ``rf`` (annual); Sortino's downside deviation is the root mean square of
  the negative excess returns over all returns.
* Volatility (≥ 30 bars) and maximum drawdown (≥ 30 bars) over the last ≤ 252 bars;
  60-day volatility for the sell-side "spike" ratio.
* Wilder RSI 14 over the whole run (≥ 20 bars); EMA 200 seeded with the run's first close
  (≥ 20 bars); Bollinger position on SMA 20 ± 2σ (population σ); 52-week high = max of the
  last ≤ 252 closes (the bundled data has closes only).
* Momentum 0.6·m30 + 0.4·m90 with ≥ 91 bars, else m30 (≥ 31 bars).
"""

from __future__ import annotations

import math

import numpy as np
import numpy.typing as npt
from numba import njit

F64Array = npt.NDArray[np.float64]

# Column indices of the metrics matrix.
M_LAST = 0
M_N_VALID = 1
M_CAGR_5Y = 2
M_CAGR_10Y = 3
M_SHARPE = 4
M_SORTINO = 5
M_VOLATILITY = 6
M_MAX_DRAWDOWN = 7
M_RSI = 8
M_EMA_200 = 9
M_BOLLINGER = 10
M_MOMENTUM = 11
M_HIGH_52W = 12
M_BELOW_HIGH = 13
M_VOL_60D = 14
M_SMA_200 = 15
M_CURRENT_DRAWDOWN = 16
N_METRICS = 17

METRIC_NAMES: tuple[str, ...] = (
    "last_price", "n_valid", "cagr_5y", "cagr_10y", "sharpe", "sortino", "volatility",
    "max_drawdown", "rsi", "ema_200", "bollinger_position", "momentum", "high_52w",
    "below_52w_high", "volatility_60d", "sma_200", "current_drawdown",
)

YEAR = 252
MIN_SHARPE_BARS = 50
MIN_VOL_BARS = 30
MIN_TECH_BARS = 20
MIN_CAGR_BARS = 252


@njit(cache=True, nogil=True)
def valid_run_lengths(prices: F64Array) -> npt.NDArray[np.int64]:
    """Length of each row's trailing run of finite, positive prices."""
    n, t = prices.shape
    out = np.zeros(n, dtype=np.int64)
    for i in range(n):
        k = 0
        for j in range(t - 1, -1, -1):
            p = prices[i, j]
            if not (p > 0.0) or not math.isfinite(p):
                break
            k += 1
        out[i] = k
    return out


@njit(cache=True, nogil=True)
def daily_returns(prices: F64Array) -> F64Array:
    """Simple daily returns ``P_t/P_{t-1} − 1``; NaN outside each row's valid run."""
    n, t = prices.shape
    out = np.full((n, t), np.nan)
    runs = valid_run_lengths(prices)
    for i in range(n):
        start = t - runs[i]
        for j in range(start + 1, t):
            out[i, j] = prices[i, j] / prices[i, j - 1] - 1.0
    return out


@njit(cache=True, nogil=True)
def _std(x: F64Array, ddof: int) -> float:
    m = x.size
    if m - ddof <= 0:
        return math.nan
    mean = 0.0
    for v in x:
        mean += v
    mean /= m
    acc = 0.0
    for v in x:
        acc += (v - mean) * (v - mean)
    return math.sqrt(acc / (m - ddof))


@njit(cache=True, nogil=True)
def _max_drawdown(p: F64Array) -> float:
    peak = p[0]
    worst = 0.0
    for v in p:
        if v > peak:
            peak = v
        dd = v / peak - 1.0
        if dd < worst:
            worst = dd
    return worst


@njit(cache=True, nogil=True)
def _rsi_wilder(p: F64Array, period: int) -> float:
    m = p.size
    if m <= period:
        return math.nan
    gain = 0.0
    loss = 0.0
    for j in range(1, period + 1):
        d = p[j] - p[j - 1]
        if d > 0:
            gain += d
        else:
            loss -= d
    gain /= period
    loss /= period
    for j in range(period + 1, m):
        d = p[j] - p[j - 1]
        g = d if d > 0 else 0.0
        lo = -d if d < 0 else 0.0
        gain = (gain * (period - 1) + g) / period
        loss = (loss * (period - 1) + lo) / period
    if loss == 0.0:
        return 100.0 if gain > 0.0 else 50.0
    rs = gain / loss
    return 100.0 - 100.0 / (1.0 + rs)


@njit(cache=True, nogil=True)
def _ema(p: F64Array, span: int) -> float:
    alpha = 2.0 / (span + 1.0)
    e = p[0]
    for j in range(1, p.size):
        e = alpha * p[j] + (1.0 - alpha) * e
    return e


@njit(cache=True, nogil=True)
def security_metrics(prices: F64Array, rf: float) -> F64Array:
    """Metrics matrix ``[security, M_*]`` for every row of ``prices`` (NaN when unknown)."""
    n, t = prices.shape
    out = np.full((n, N_METRICS), np.nan)
    runs = valid_run_lengths(prices)
    for i in range(n):
        k = runs[i]
        out[i, M_N_VALID] = k
        if k == 0:
            continue
        p = prices[i, t - k:]
        last = p[k - 1]
        out[i, M_LAST] = last
        # CAGR
        if k - 1 >= MIN_CAGR_BARS:
            span = min(5 * YEAR, k - 1)
            out[i, M_CAGR_5Y] = (last / p[k - 1 - span]) ** (YEAR / span) - 1.0
            if k - 1 > 5 * YEAR:
                span10 = min(10 * YEAR, k - 1)
                out[i, M_CAGR_10Y] = (last / p[k - 1 - span10]) ** (YEAR / span10) - 1.0
        # Return ratios over ≤ 5 years
        if k >= MIN_SHARPE_BARS:
            nr = min(5 * YEAR, k - 1)
            r = np.empty(nr)
            for j in range(nr):
                a = k - nr - 1 + j
                r[j] = p[a + 1] / p[a] - 1.0
            rf_d = rf / YEAR
            mean_ex = 0.0
            for v in r:
                mean_ex += v - rf_d
            mean_ex /= nr
            sd = _std(r, 1)
            if sd > 0.0:
                out[i, M_SHARPE] = mean_ex / sd * math.sqrt(YEAR)
            down = 0.0
            for v in r:
                e = v - rf_d
                if e < 0.0:
                    down += e * e
            down = math.sqrt(down / nr)
            if down > 0.0:
                out[i, M_SORTINO] = mean_ex / down * math.sqrt(YEAR)
        # Volatility and drawdown over ≤ 1 year
        if k >= MIN_VOL_BARS:
            nr = min(YEAR, k - 1)
            r = np.empty(nr)
            for j in range(nr):
                a = k - nr - 1 + j
                r[j] = p[a + 1] / p[a] - 1.0
            out[i, M_VOLATILITY] = _std(r, 1) * math.sqrt(YEAR)
            w = p[k - min(YEAR, k):]
            out[i, M_MAX_DRAWDOWN] = _max_drawdown(w)
            peak = 0.0
            for v in w:
                if v > peak:
                    peak = v
            out[i, M_CURRENT_DRAWDOWN] = last / peak - 1.0
            if k - 1 >= 60:
                out[i, M_VOL_60D] = _std(r[nr - 60:], 1) * math.sqrt(YEAR)
        # Technicals
        if k >= MIN_TECH_BARS:
            out[i, M_RSI] = _rsi_wilder(p, 14)
            out[i, M_EMA_200] = _ema(p, 200)
            w20 = p[k - 20:]
            sma = 0.0
            for v in w20:
                sma += v
            sma /= 20.0
            sd20 = _std(w20, 0)
            if sd20 > 0.0:
                lower = sma - 2.0 * sd20
                out[i, M_BOLLINGER] = (last - lower) / (4.0 * sd20)
            if k >= 200:
                s = 0.0
                for v in p[k - 200:]:
                    s += v
                out[i, M_SMA_200] = s / 200.0
        if k >= 31:
            m30 = last / p[k - 31] - 1.0
            if k >= 91:
                m90 = last / p[k - 91] - 1.0
                out[i, M_MOMENTUM] = 0.6 * m30 + 0.4 * m90
            else:
                out[i, M_MOMENTUM] = m30
        hw = p[k - min(YEAR, k):]
        high = 0.0
        for v in hw:
            if v > high:
                high = v
        out[i, M_HIGH_52W] = high
        out[i, M_BELOW_HIGH] = (high - last) / high
    return out


def warm_up() -> None:
    """Compile (or load from the cache) every kernel of this module on a tiny input."""
    p = np.linspace(10.0, 20.0, 300).reshape(1, 300)
    security_metrics(p, 0.0)
    daily_returns(p)
