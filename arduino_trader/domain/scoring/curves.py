"""The scoring curves: one metric (a plain float; ``None`` or NaN = missing) → a sub-score.

Every curve returns a value in [0, 1]; missing data scores neutral (:data:`NEUTRAL`,
0.5) unless a curve states another explicit value. Fixes to the reference system's
curves: the momentum discontinuity at −10 % is removed, the diversification gap rewards
*underweight* groups (target − current), and dividend growth uses the current /
5-year-average yield ratio instead of a saturating percent value. The groups and the
total built from them are :mod:`.scorers`.
"""

from __future__ import annotations

import math

NEUTRAL = 0.5


def missing(x: float | None) -> bool:
    """True for ``None`` and NaN."""
    return x is None or (isinstance(x, float) and math.isnan(x))


def clamp(x: float, lo: float = 0.0, hi: float = 1.0) -> float:
    """``x`` limited to ``[lo, hi]``."""
    return lo if x < lo else hi if x > hi else x


# --- long term ---------------------------------------------------------------------------

def cagr_score(c: float | None, target: float = 0.11) -> float:
    """Bell curve around the target return; ≤ 0 or missing → 0.15."""
    if c is None or missing(c) or c <= 0:
        return 0.15
    sigma = 0.06 if c < target else 0.10
    return 0.15 + 0.85 * math.exp(-((c - target) ** 2) / (2 * sigma * sigma))


def sortino_score(x: float | None) -> float:
    """Piecewise Sortino score; missing → neutral."""
    if x is None or missing(x):
        return NEUTRAL
    if x >= 2:
        return 1.0
    if x >= 1.5:
        return 0.8 + 0.4 * (x - 1.5)
    if x >= 1:
        return 0.6 + 0.4 * (x - 1)
    if x >= 0.5:
        return 0.4 + 0.4 * (x - 0.5)
    if x >= 0:
        return 0.8 * x
    return 0.0


def sharpe_score(x: float | None) -> float:
    """Piecewise Sharpe score; missing → neutral."""
    if x is None or missing(x):
        return NEUTRAL
    if x >= 2:
        return 1.0
    if x >= 1:
        return 0.7 + 0.3 * (x - 1)
    if x >= 0.5:
        return 0.4 + 0.6 * (x - 0.5)
    if x >= 0:
        return 0.8 * x
    return 0.0


# --- fundamentals ------------------------------------------------------------------------

def financial_strength_score(margin: float | None, debt_to_equity: float | None,
                             current_ratio: float | None) -> float:
    """0.4·margin + 0.3·debt + 0.3·liquidity; no data at all → neutral."""
    if missing(margin) and missing(debt_to_equity) and missing(current_ratio):
        return NEUTRAL
    m = 0.0 if margin is None or missing(margin) else margin
    ms = min(1.0, 0.5 + 2.5 * m) if m >= 0 else max(0.0, 0.5 + 2 * m)
    d = 50.0 if debt_to_equity is None or missing(debt_to_equity) else max(0.0, debt_to_equity)
    de = 1 - min(d, 200.0) / 200.0
    q = 1.0 if current_ratio is None or missing(current_ratio) else max(0.0, current_ratio)
    cr = min(1.0, min(q, 3.0) / 2.0)
    return 0.4 * ms + 0.3 * de + 0.3 * cr


def consistency_score(cagr5: float | None, cagr10: float | None) -> float:
    """Agreement of the 5- and 10-year CAGR; no 10-year figure → 0.6."""
    if cagr10 is None or missing(cagr10) or cagr5 is None or missing(cagr5):
        return 0.6
    delta = abs(cagr5 - cagr10)
    if delta < 0.02:
        return 1.0
    if delta < 0.05:
        return 0.8
    return max(0.4, 1 - 4 * delta)


# --- opportunity -------------------------------------------------------------------------

def below_high_score(below: float | None) -> float:
    """Score of p = (H − P)/H, the distance below the 52-week high."""
    if below is None or missing(below):
        return NEUTRAL
    p = below
    if p <= 0:
        return 0.2
    if p < 0.10:
        return 0.2 + 3 * p
    if p < 0.20:
        return 0.5 + 3 * (p - 0.1)
    if p < 0.30:
        return 0.8 + 2 * (p - 0.2)
    return 1.0


def pe_score(trailing: float | None, forward: float | None, market_pe: float = 22.0) -> float:
    """Valuation versus the market P/E; missing or ≤ 0 trailing → 0.3."""
    if trailing is None or missing(trailing) or trailing <= 0:
        return 0.3
    eff = (trailing + forward) / 2 if forward is not None and not missing(forward) \
        and forward > 0 else trailing
    d = eff / market_pe - 1
    if d >= 0.2:
        return 0.2
    if d >= 0:
        return 0.5 - 1.5 * d
    if d >= -0.1:
        return 0.5 + 2 * abs(d)
    if d >= -0.2:
        return 0.7 + 3 * (abs(d) - 0.1)
    return 1.0


# --- dividends ---------------------------------------------------------------------------

def dividend_yield_score(y: float | None) -> float:
    """Score of the dividend yield (a fraction); missing or ≤ 0 → 0.3."""
    if y is None or missing(y) or y <= 0:
        return 0.3
    if y >= 0.06:
        return 1.0
    if y >= 0.03:
        return 0.7 + 10 * (y - 0.03)
    if y >= 0.01:
        return 0.4 + 15 * (y - 0.01)
    return 0.3 + 10 * y


def payout_score(q: float | None) -> float:
    """Payout-ratio sustainability; missing → neutral."""
    if q is None or missing(q):
        return NEUTRAL
    if q < 0:  # paying out of losses
        return 0.4
    if 0.3 <= q <= 0.6:
        return 1.0
    if q < 0.3:
        return min(1.0, 0.5 + q / 0.6)
    if q <= 0.8:
        return 1 - 1.5 * (q - 0.6)
    return 0.4


def dividend_growth_score(current_yield: float | None, five_year_avg_yield: float | None) -> float:
    """Proposed fix: ratio current / 5-year average yield (≥ 1 → 1, 0.8 → 0.5, ≤ 0.5 → 0.2)."""
    if (current_yield is None or five_year_avg_yield is None or missing(current_yield)
            or missing(five_year_avg_yield) or five_year_avg_yield <= 0):
        return NEUTRAL
    ratio = current_yield / five_year_avg_yield
    if ratio >= 1:
        return 1.0
    if ratio >= 0.8:
        return 0.5 + (ratio - 0.8) * 2.5
    if ratio > 0.5:
        return 0.2 + (ratio - 0.5)
    return 0.2


# --- short term --------------------------------------------------------------------------

def momentum_score(m: float | None) -> float:
    """Momentum score with the proposed continuous last rule ``max(0.2, 0.5 + 3(m + 0.1))``."""
    if m is None or missing(m):
        return NEUTRAL
    if 0.05 <= m <= 0.15:
        return 1.0
    if 0 <= m < 0.05:
        return 0.6 + 8 * m
    if 0.15 < m <= 0.30:
        return 0.8 + (0.30 - m) / 0.75
    if m > 0.30:
        return max(0.5, 0.8 - 2 * (m - 0.3))
    if m >= -0.1:
        return 0.5 + (m + 0.1)
    return max(0.2, 0.5 + 3 * (m + 0.1))


def drawdown_score(dd: float | None) -> float:
    """Score of a (negative) maximum drawdown; missing → neutral."""
    if dd is None or missing(dd):
        return NEUTRAL
    a = abs(dd)
    if a <= 0.1:
        return 1.0
    if a <= 0.2:
        return 0.8 + 2 * (0.2 - a)
    if a <= 0.3:
        return 0.6 + 2 * (0.3 - a)
    if a <= 0.5:
        return 0.2 + 2 * (0.5 - a)
    return max(0.0, 0.2 - (a - 0.5))


# --- technicals --------------------------------------------------------------------------

def rsi_score(rsi: float | None) -> float:
    """Oversold is attractive: < 30 → 1, > 70 → 0, linear between."""
    if rsi is None or missing(rsi):
        return NEUTRAL
    if rsi < 30:
        return 1.0
    if rsi > 70:
        return 0.0
    return 1 - (rsi - 30) / 40


def bollinger_score(position: float | None) -> float:
    """1 − position within the bands (clamped); degenerate bands → neutral."""
    if position is None or missing(position):
        return NEUTRAL
    return 1 - clamp(position)


def ema_distance_score(price: float | None, ema: float | None) -> float:
    """Distance below the 200-day EMA is attractive; no EMA → neutral."""
    if price is None or ema is None or missing(price) or missing(ema) or ema <= 0:
        return NEUTRAL
    d = price / ema - 1
    if d >= 0.1:
        return 0.2
    if d >= 0:
        return 0.5 - 3 * d
    if d >= -0.05:
        return 0.5 + 4 * abs(d)
    if d >= -0.1:
        return 0.7 + 6 * (abs(d) - 0.05)
    return 1.0


# --- opinion -----------------------------------------------------------------------------

def opinion_score(recommendation: float | None, upside: float | None) -> float:
    """0.6·recommendation + 0.4·clamp(0.5 + 2.5·upside); missing parts neutral."""
    r = NEUTRAL if recommendation is None or missing(recommendation) else clamp(recommendation)
    u = NEUTRAL if upside is None or missing(upside) else clamp(0.5 + 2.5 * upside)
    return 0.6 * r + 0.4 * u


# --- diversification ---------------------------------------------------------------------

def gap_score(target: float, current: float) -> float:
    """Proposed direction fix: underweight groups score high, clamp(0.5 + 2(t − c), 0.1, 0.9)."""
    return clamp(0.5 + 2 * (target - current), 0.1, 0.9)


def averaging_down_score(held: bool, long_term: float, fundamentals: float,
                         opportunity: float, loss_below_cost: float | None,
                         position_share: float) -> float:
    """Attractiveness of adding to a held position (not held → neutral)."""
    if not held:
        return NEUTRAL
    quality = (long_term + fundamentals) / 2
    p = quality * opportunity
    if p >= 0.5:
        s = 0.7 + 0.6 * (p - 0.5)
    elif p >= 0.3:
        s = 0.5 + (p - 0.3)
    else:
        s = 0.3
    if loss_below_cost is not None and not missing(loss_below_cost) \
            and 0 < loss_below_cost <= 0.20:
        s = min(1.0, s + min(0.4, 2 * loss_below_cost))
    if position_share > 0.10:
        s *= 0.7
    elif position_share > 0.05:
        s *= 0.9
    return s
