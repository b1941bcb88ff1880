"""The evaluation kernel's per-run inputs (:class:`EvalContext`) from a prepared run.

Per security: EUR price and holding, the sub-score inputs (expected return with the
dividend yield, score, volatility, drawdown, Sharpe; a missing metric takes the
universe median), country and industry group indices with the group targets, and the
optimiser's target weights; per run: component weights, regime sign, cash, reserve and
costs.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence

import numpy as np
import numpy.typing as npt

from .. import regime as rg
from ..scoring import kernels as k
from ..scoring.scorers import SecurityScore
from .evaluation import EvalContext
from .groups import industries_of
from .models import PlanInput, PlannerSettings, SecurityInfo

F64 = npt.NDArray[np.float64]


def _median_fill(x: F64, default: float) -> F64:
    """``x`` with its non-finite entries replaced by the median of the finite ones."""
    ok = np.isfinite(x)
    fill = float(np.median(x[ok])) if ok.any() else default
    return np.where(ok, x, fill)


def _leave_idle_cash_room(target_w: F64, s: PlannerSettings, total: float,
                          reserve: float) -> F64:
    """The optimiser's weights (they leave the reserve in cash) scaled so that they also
    leave the idle-cash tolerance: cash within it is on target for the alignment term, so
    the searched plan does not spend a fixed fee on every small deposit either."""
    invested = float(target_w.sum())
    room = max(0.0, 1.0 - (reserve + s.idle_cash_tolerance(total)) / total) if total > 0 \
        else 0.0
    return target_w * (room / invested) if invested > room else target_w


def eval_context(inp: PlanInput, secs: Sequence[SecurityInfo], metrics: F64,
                  scores: Sequence[SecurityScore | None], price_eur: F64, hold: F64,
                  country_group: Sequence[str], targets: Mapping[str, float], comp_w: F64,
                  cash: float, reserve: float) -> EvalContext:
    """Per-security sub-score inputs; missing metrics take the universe median (neutral)."""
    s = inp.settings
    n = len(secs)
    score = np.array([sc.total if sc is not None else 0.5 for sc in scores])
    cagr = metrics[:, k.M_CAGR_5Y].copy()
    cagr = np.where(np.isfinite(cagr), cagr, metrics[:, k.M_CAGR_10Y])
    div = np.array([sec.fundamentals.dividend_yield if sec.fundamentals
                    and sec.fundamentals.dividend_yield is not None
                    and math.isfinite(sec.fundamentals.dividend_yield) else 0.0
                    for sec in secs])
    ret = np.where(np.isfinite(cagr), cagr, 0.15 * score) + div
    vol = _median_fill(metrics[:, k.M_VOLATILITY], 0.25)
    dd = np.abs(_median_fill(metrics[:, k.M_MAX_DRAWDOWN], -0.2))
    sharpe = _median_fill(metrics[:, k.M_SHARPE], 0.5)
    c_names = sorted(set(inp.country_targets) | set(country_group))
    c_index = {g: j for j, g in enumerate(c_names)}
    country = np.array([c_index[g] for g in country_group], dtype=np.int64)
    country_target = np.array([inp.country_targets.get(g, 0.0) for g in c_names])
    i_names = sorted(set(inp.industry_targets)
                     | {g for sec in secs for g in industries_of(sec.industry)})
    i_index = {g: j for j, g in enumerate(i_names)}
    width = max([1] + [len(industries_of(sec.industry)) for sec in secs])
    ind_idx = np.full((n, width), -1, dtype=np.int64)
    ind_frac = np.zeros((n, width))
    for i, sec in enumerate(secs):
        inds = industries_of(sec.industry)
        for j, g in enumerate(inds):
            ind_idx[i, j] = i_index[g]
            ind_frac[i, j] = 1.0 / len(inds)
    industry_target = np.array([inp.industry_targets.get(g, 0.0) for g in i_names])
    target_w = _leave_idle_cash_room(np.array([targets.get(sec.symbol, 0.0) for sec in secs]),
                                     s, cash + float(hold @ price_eur), reserve)
    return EvalContext(
        price_eur=price_eur, hold_qty=hold, ret=ret, promise=score, vol=vol, dd=dd,
        sharpe=sharpe, country=country, ind_idx=ind_idx, ind_frac=ind_frac, target_w=target_w,
        has_targets=bool(targets), country_target=country_target,
        industry_target=industry_target, comp_w=comp_w,
        regime=rg.regime_sign(inp.regime_score, s.regime_cuts), cash_eur=cash, reserve_eur=reserve,
        cost_fixed=s.transaction_cost_fixed, cost_pct=s.transaction_cost_percent,
        cost_penalty_factor=s.cost_penalty_factor)
