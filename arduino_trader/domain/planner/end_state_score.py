"""The end-state score of one portfolio state, for the evaluation kernel (Numba).

From the sums of one state (invested value, Σv·return, Σv·promise, Σv·volatility,
Σv·drawdown, Σv·Sharpe, the country and industry group values) and cash:
:func:`score_sums` gives the weighted components with their sub-scores (written into
``sub`` at the indices of :data:`.evaluation.SUBSCORES`); :func:`alignment` is the
optimiser-alignment term at today's prices. Cash is neutral (0.5) by its share in
promise and every risk term and earns 0.

The kernels of :mod:`.evaluation` compile these in; Numba's cache checks only the file
of the function it compiled, so after an edit here clear the cache (``NUMBA_CACHE_DIR``
or the ``__pycache__`` folders) before trusting a cached kernel.
"""

from __future__ import annotations

import numpy as np
import numpy.typing as npt
from numba import njit

F64 = npt.NDArray[np.float64]
I64 = npt.NDArray[np.int64]

EPS_EUR = 1e-6  # values below this (EUR) count as zero: base + delta sums leave residues


@njit(cache=True, nogil=True, error_model="numpy", inline="always")
def volatility_subscore(v: float) -> float:
    """Volatility score: ≤ 0.15 → 1; ≤ 0.25 → 0.8 + 2(0.25 − v); ≤ 0.40 → 0.5 + 2(0.40 − v)."""
    if v <= 0.15:
        return 1.0
    if v <= 0.25:
        return 0.8 + 2.0 * (0.25 - v)
    if v <= 0.40:
        return 0.5 + 2.0 * (0.40 - v)
    return max(0.2, 0.5 - (v - 0.4))


@njit(cache=True, nogil=True, error_model="numpy", inline="always")
def drawdown_subscore(a: float) -> float:
    """Drawdown score of an absolute drawdown ``a``."""
    if a <= 0.1:
        return 1.0
    if a <= 0.2:
        return 0.8 + 2.0 * (0.2 - a)
    if a <= 0.3:
        return 0.6 + 2.0 * (0.3 - a)
    if a <= 0.5:
        return 0.2 + 2.0 * (0.5 - a)
    return max(0.0, 0.2 - (a - 0.5))


@njit(cache=True, nogil=True, error_model="numpy", inline="always")
def sharpe_subscore(x: float) -> float:
    """Sharpe-ratio score (the security scorer's curve)."""
    if x >= 2.0:
        return 1.0
    if x >= 1.0:
        return 0.7 + 0.3 * (x - 1.0)
    if x >= 0.5:
        return 0.4 + 0.6 * (x - 0.5)
    if x >= 0.0:
        return 0.8 * x
    return 0.0


@njit(cache=True, nogil=True, error_model="numpy", inline="always")
def total_return_subscore(x: float) -> float:
    """Total-return score: ≥ 0.20 → 0.95; ≥ 0.11 → 1 − 0.15(x−0.11)/0.09; … else 0.1."""
    if x >= 0.20:
        return 0.95
    if x >= 0.11:
        return 1.0 - 0.15 * (x - 0.11) / 0.09
    if x >= 0.05:
        return 0.5 + (x - 0.05) / 0.12
    if x >= 0.0:
        return 10.0 * x
    return 0.1


@njit(cache=True, nogil=True, error_model="numpy")
def alignment(q: F64, rel: I64, cash: float, price_eur: F64, target_w: F64,
              has_targets: bool) -> float:
    """Optimiser alignment at today's prices: max(0, 1 − mean|w − w*|/0.20) over the
    securities held or targeted *and the cash line* (its target is what the security
    targets leave: the reserve share), so cash left idle above the reserve is a deviation
    from the optimiser's allocation like any unbought target."""
    if not has_targets:
        return 0.5
    total = cash
    target_sum = 0.0
    for k in range(rel.size):
        total += q[rel[k]] * price_eur[rel[k]]
        target_sum += target_w[rel[k]]
    if total <= 0.0:
        total = 1e-12
    n = 1
    dev = abs(cash / total - max(0.0, 1.0 - target_sum))
    for k in range(rel.size):
        i = rel[k]
        w = q[i] * price_eur[i] / total
        if w > 0.0 or target_w[i] > 0.0:
            dev += abs(w - target_w[i])
            n += 1
    return max(0.0, 1.0 - dev / n / 0.20)


@njit(cache=True, nogil=True, error_model="numpy", inline="always")
def _any_positive(x: F64) -> bool:
    """Whether any entry is > 0 (a group dimension with at least one target)."""
    for v in x:
        if v > 0.0:
            return True
    return False


@njit(cache=True, nogil=True, error_model="numpy", inline="always")
def score_sums(invested: float, s_ret: float, s_prom: float, s_vol: float, s_dd: float,
               s_sh: float, grp: F64, cash: float, country_target: F64,
               industry_target: F64, align: float, comp_w: F64, opp: float,
               regime_term: float, sub: F64) -> float:
    """End-state score from the sums of one state: invested value, Σv·ret, Σv·promise,
    Σv·vol, Σv·dd, Σv·sharpe and the group values ``grp`` (sub-scores into ``sub``)."""
    if invested < EPS_EUR:
        invested = 0.0
    total = invested + cash
    if total <= 0.0:
        total = 1e-12
    r_total = 1.0 / total
    r_inv = 1.0 / invested if invested > 0.0 else 0.0
    # Cash is neutral (0.5) by its share of the total in promise and in every risk term
    # (volatility, drawdown, Sharpe of the invested part); it earns 0 total return. Scored
    # as a zero-volatility asset, cash above the reserve would look safer than any holding
    # and the planner would stop deploying it part-way.
    f_inv = min(1.0, max(0.0, invested * r_total))
    if invested > 0.0:
        vs = f_inv * volatility_subscore(s_vol * r_inv) + (1.0 - f_inv) * 0.5
        ds = f_inv * drawdown_subscore(s_dd * r_inv) + (1.0 - f_inv) * 0.5
        sh = f_inv * sharpe_subscore(s_sh * r_inv) + (1.0 - f_inv) * 0.5
    else:
        vs = 0.5
        ds = 0.5
        sh = 0.5
    tr = total_return_subscore(s_ret * r_total)
    prom = (s_prom + 0.5 * cash) * r_total
    stab = 0.6 * vs + 0.4 * ds
    quality = 0.40 * tr + 0.35 * prom + 0.25 * stab
    # Diversification: geography and industry deviations over the invested value.
    n_cg = country_target.size
    geo = 0.5  # a dimension without targets states no preference: neutral for every state
    n = 0
    dev = 0.0
    for g in range(n_cg if _any_positive(country_target) else 0):
        gv = grp[g]
        cur = gv * r_inv if gv > EPS_EUR else 0.0
        if country_target[g] > 0.0 or cur > 0.0:
            dev += abs(cur - country_target[g])
            n += 1
    if n > 0:
        geo = max(0.0, 1.0 - dev / (n * 0.3))
    ind = 0.5
    n = 0
    dev = 0.0
    for g in range(industry_target.size if _any_positive(industry_target) else 0):
        gv = grp[n_cg + g]
        cur = gv * r_inv if gv > EPS_EUR else 0.0
        if industry_target[g] > 0.0 or cur > 0.0:
            dev += abs(cur - industry_target[g])
            n += 1
    if n > 0:
        ind = max(0.0, 1.0 - dev / (n * 0.3))
    divers = 0.35 * geo + 0.30 * ind + 0.35 * align
    risk = 0.40 * sh + 0.35 * vs + 0.25 * ds
    sub[3] = tr
    sub[4] = prom
    sub[5] = stab
    sub[6] = geo
    sub[7] = ind
    sub[8] = align
    sub[9] = sh
    sub[10] = vs
    sub[11] = ds
    return (comp_w[0] * opp + comp_w[1] * quality + comp_w[2] * divers + comp_w[3] * risk
            + comp_w[4] * regime_term)
