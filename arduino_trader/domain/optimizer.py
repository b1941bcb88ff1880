"""Portfolio optimisation with PyPortfolioOpt, in-process.

Expected-returns blend, Ledoit-Wolf covariance, per-security and country/industry bounds,
mean-variance (with the relaxation/objective fallback chain) blended with HRP by
``optimizer_blend``. The hot parts run outside the library with its formulas (each tested
against it): Ledoit-Wolf and HRP in NumPy (:mod:`.optimizer_risk`), the efficient-return
and min-volatility QPs straight on OSQP (:mod:`.optimizer_qp`; the library and cvxpy load
only if both fail). Any failure degrades: MV alone, HRP alone, then the current weights
(or equal weights over the eligible names) — :func:`optimize` never raises on bad input.
Weights are fractions of the *total* portfolio; they sum to 1 − reserve share.
"""

from __future__ import annotations

import math
import warnings
from collections.abc import Collection, Mapping, Sequence
from dataclasses import dataclass, field, replace

import numpy as np
import numpy.typing as npt

from .optimizer_qp import efficient_return_qp as _efficient_return_qp
from .optimizer_qp import min_volatility_qp as _min_volatility_qp
from .optimizer_risk import RiskMemo, risk_model

F64 = npt.NDArray[np.float64]
MAX_CONCENTRATION = 0.20
MIN_WEIGHT = 0.005


@dataclass(frozen=True)
class OptimizerAsset:
    """One security as the optimiser sees it (weights are fractions of the total)."""

    symbol: str
    cagr: float | None
    dividend_yield: float | None
    score: float
    current_weight: float
    country_group: str = "OTHER"
    industry_group: str = "OTHER"
    allow_buy: bool = True
    allow_sell: bool = True
    lot_weight: float = 0.0
    min_target: float | None = None
    max_target: float | None = None
    priority_multiplier: float = 1.0  # the owner's per-security weight on μ (0.1–3)
    dividend_bonus: float = 0.0  # pending dividend cash, added to μ before the clamp (≥ 0)


@dataclass(frozen=True)
class OptimizerResult:
    """The optimiser's output (the fields the planner and the endpoints need)."""

    success: bool
    target_weights: dict[str, float]
    expected_returns: dict[str, float]
    achieved_expected_return: float
    blend_used: float
    fallback_used: str | None
    weight_changes: list[tuple[str, float, float]]
    high_correlations: list[tuple[str, str, float]]
    constraints_summary: dict[str, int]
    error: str | None = None
    notes: list[str] = field(default_factory=list)
    locked: tuple[str, ...] = ()  # kept at their current weight (not optimised)




def expected_returns(assets: Sequence[OptimizerAsset], *, target_return: float = 0.11,
                     cagr_weight: float = 0.70, score_weight: float = 0.30,
                     regime_multiplier: float = 1.0, forward_adjustment: float = 0.0,
                     priority_multiplier: float = 1.0, portfolio_value: float = 0.0,
                     cost_fixed: float = 2.0, cost_pct: float = 0.002) -> dict[str, float]:
    """Expected returns, a blend of CAGR and score (× each asset's multiplier, + its dividend
    bonus); no CAGR → excluded."""
    out: dict[str, float] = {}
    fwd = max(-0.20, min(0.20, forward_adjustment))
    for a in assets:
        if a.cagr is None or not math.isfinite(a.cagr):
            continue
        y = a.dividend_yield if a.dividend_yield is not None and \
            math.isfinite(a.dividend_yield) else 0.0
        base = cagr_weight * (a.cagr + y) + score_weight * target_return * (a.score / 0.5)
        base = base * regime_multiplier * (1 + fwd) * priority_multiplier \
            * a.priority_multiplier + a.dividend_bonus
        if portfolio_value > 0:
            held = a.current_weight * portfolio_value
            trade = 250.0 if held <= 0 else min(0.05 * portfolio_value, 0.5 * held)
            base -= min((cost_fixed + cost_pct * trade) / trade, 0.02)
        out[a.symbol] = max(-0.10, min(0.30, base))
    return out


def _bounds(a: OptimizerAsset) -> tuple[float, float]:
    lo, hi = 0.0, MAX_CONCENTRATION
    if a.min_target is not None:
        lo = max(0.0, a.min_target)
    if a.max_target is not None:
        hi = min(1.0, a.max_target)
    cur = a.current_weight
    if not a.allow_buy:
        hi = min(hi, cur)
    if not a.allow_sell:
        lo = max(lo, cur)
    if cur > 0 and a.lot_weight > 0:
        if cur <= a.lot_weight:
            lo = hi = cur
        elif a.lot_weight <= hi:
            lo = max(lo, a.lot_weight)
    if lo > hi:
        lo = hi = cur
    return lo, hi


def _group_bounds(groups: Mapping[str, float], present: set[str], width: float,
                  cap: float) -> dict[str, tuple[float, float]]:
    out = {}
    for g, t in groups.items():
        if t > 0 and g in present:
            out[g] = (max(0.0, t - width), min(t + width, cap))
    return out


def _industry_cap(n_groups: int) -> float:
    return 0.70 if n_groups <= 1 else 0.50 if n_groups == 2 else 0.40 if n_groups <= 4 else 0.30


def _mean_variance(syms: list[str], mu: F64, cov: F64, bounds: list[tuple[float, float]],
                   country_of: dict[str, str], country_b: dict[str, tuple[float, float]],
                   industry_of: dict[str, str], industry_b: dict[str, tuple[float, float]],
                   target_return: float) -> tuple[dict[str, float], str] | None:
    levels = [("full", 1.0, True), ("group_lowers_halved", 0.5, True), ("no_groups", 0.0, False)]
    for level, lower_scale, use_groups in levels:
        prefix = "" if level == "full" else f"{level}:"
        groups = [(country_of, country_b), (industry_of, industry_b)] if use_groups else []
        try:
            weights = _efficient_return_qp(syms, mu, cov, bounds, groups, lower_scale,
                                           target_return)
        except Exception:  # like any other objective's failure: down the chain
            weights = None
        if weights is not None:
            return weights, f"{prefix}efficient_return"
        # Minimum volatility is solved directly too (the library's problem, bit for bit),
        # so PyPortfolioOpt and cvxpy (~1 s to import, ~55 MB resident for good) load only
        # when this solve fails as well; their chain then starts again at min_volatility.
        try:
            weights = _min_volatility_qp(syms, cov, bounds, groups, lower_scale)
        except Exception:  # like any other objective's failure: down the chain
            weights = None
        if weights is not None:
            return weights, f"{prefix}min_volatility"
        # The library's own inputs: pandas (~30 MB) loads with it, on this path only.
        import pandas as pd
        from pypfopt import EfficientFrontier

        mu_s = pd.Series(mu, index=syms)
        cov_df = pd.DataFrame(cov, index=syms, columns=syms)
        for objective in ("min_volatility", "efficient_risk", "max_sharpe"):
            try:
                ef = EfficientFrontier(mu_s, cov_df, weight_bounds=bounds)
                for mapper, gb in groups:
                    if gb:
                        ef.add_sector_constraints(
                            mapper, {g: b[0] * lower_scale for g, b in gb.items()},
                            {g: b[1] for g, b in gb.items()})
                with warnings.catch_warnings():
                    warnings.simplefilter("ignore")
                    if objective == "min_volatility":
                        ef.min_volatility()
                    elif objective == "efficient_risk":
                        ef.efficient_risk(0.15)
                    else:
                        ef.max_sharpe(risk_free_rate=min(0.0, float(mu.max()) - 1e-3))
                w = ef.clean_weights(cutoff=1e-6, rounding=None)
                return {k: float(v) for k, v in w.items()}, f"{prefix}{objective}"
            except Exception:  # noqa: S112 - each failure moves down the documented chain
                continue
    return None


def _finalise(w: dict[str, float], bounds: dict[str, tuple[float, float]],
              investable: float) -> dict[str, float]:
    """Clamp → drop small → normalise to ``investable``, iterated to a fixed point."""
    for _ in range(20):
        w = {k: min(max(v, bounds[k][0]), bounds[k][1]) for k, v in w.items()}
        w = {k: v for k, v in w.items() if v >= MIN_WEIGHT or bounds[k][0] > 0}
        total = sum(w.values())
        if total <= 0:
            return {}
        if abs(total - investable) < 1e-9:
            break
        free = {k for k, v in w.items()
                if (total < investable and v < bounds[k][1] - 1e-12)
                or (total > investable and v > bounds[k][0] + 1e-12)}
        if not free:
            break
        # Sums in w's order: a set of strings iterates in hash order, which changes with
        # PYTHONHASHSEED, and float sums in another order differ in the last bit.
        fixed = sum(v for k, v in w.items() if k not in free)
        free_sum = sum(v for k, v in w.items() if k in free)
        if free_sum <= 0:
            break
        scale = (investable - fixed) / free_sum
        w = {k: v * scale if k in free else v for k, v in w.items()}
    return w


def optimize(assets: Sequence[OptimizerAsset], prices: F64, *,
             country_targets: Mapping[str, float] | None = None,
             industry_targets: Mapping[str, float] | None = None,
             blend: float = 0.5, target_return: float = 0.11, reserve_share: float = 0.0,
             regime_weights: tuple[float, float, float] = (0.70, 0.30, 1.0),
             portfolio_value: float = 0.0, cost_fixed: float = 2.0,
             cost_pct: float = 0.002, forward_adjustment: float = 0.0,
             risk_memo: RiskMemo | None = None) -> OptimizerResult:
    """Target weights for ``assets`` from their daily closes ``prices[asset, day]``;
    ``forward_adjustment`` (from VIX / yield curve / market P/E) scales every expected
    return by (1 + adjustment). Calls over the same ``prices`` (another subset of the same
    assets, other bounds) may share one ``risk_memo`` dict: the covariance, HRP weights and
    correlations of a set of securities are then computed once."""
    try:
        return _optimize(assets, prices, country_targets or {}, industry_targets or {}, blend,
                         target_return, reserve_share, regime_weights, portfolio_value,
                         cost_fixed, cost_pct, forward_adjustment, risk_memo)
    except Exception as exc:  # the documented last resort: never an unhandled error
        current = {a.symbol: a.current_weight for a in assets if a.current_weight > 0}
        return OptimizerResult(False, current, {}, 0.0, blend, "current", [], [], {},
                               error=f"{type(exc).__name__}: {exc}")


def _optimize(assets: Sequence[OptimizerAsset], prices: F64, country_targets: Mapping[str, float],
              industry_targets: Mapping[str, float], blend: float, target_return: float,
              reserve_share: float, regime_weights: tuple[float, float, float],
              portfolio_value: float, cost_fixed: float, cost_pct: float,
              forward_adjustment: float = 0.0,
              risk_memo: RiskMemo | None = None) -> OptimizerResult:
    notes: list[str] = []
    investable = max(0.0, min(1.0, 1.0 - reserve_share))
    mu_all = expected_returns(assets, target_return=target_return, cagr_weight=regime_weights[0],
                              score_weight=regime_weights[1],
                              regime_multiplier=regime_weights[2],
                              forward_adjustment=forward_adjustment,
                              portfolio_value=portfolio_value, cost_fixed=cost_fixed,
                              cost_pct=cost_pct)
    window = prices[:, -365:] if prices.ndim == 2 and prices.shape[0] == len(assets) \
        else np.empty((len(assets), 0))
    with np.errstate(invalid="ignore"):
        priced = np.count_nonzero(window > 0, axis=1)  # NaN compares False
    usable = [a for a, n in zip(assets, priced, strict=True) if a.symbol in mu_all and n >= 61]
    excluded = [a for a in assets if a not in usable]
    locked = {a.symbol: a.current_weight for a in excluded if a.current_weight > 0}
    summary = {"total_stocks": len(usable), "locked_positions": len(locked),
               "buy_blocked": sum(1 for a in usable if not a.allow_buy),
               "sell_blocked": sum(1 for a in usable if not a.allow_sell),
               "country_constraints": 0, "industry_constraints": 0}
    if excluded:
        notes.append(f"{len(excluded)} securities without CAGR or 60 prices keep their weight")
    if not usable:
        return OptimizerResult(False, locked, {}, 0.0, blend, "current", [], [], summary,
                               error="no security has enough data", notes=notes)
    syms = [a.symbol for a in usable]
    key = (tuple(syms), blend)
    risk = risk_memo.get(key) if risk_memo is not None else None
    if risk is None:
        index = {a.symbol: i for i, a in enumerate(assets)}
        risk = risk_model(window[[index[x] for x in syms]], syms, blend)
        if risk_memo is not None:
            risk_memo[key] = risk
    bounds = {a.symbol: _bounds(a) for a in usable}
    budget = max(0.0, investable - sum(locked.values()))
    # Security lowers: shrink when they alone exceed 0.70 of the budget.
    low_sum = sum(b[0] for b in bounds.values())
    if budget > 0 and low_sum > 0.70 * budget:
        f = 0.70 * budget / low_sum
        bounds = {k: (b[0] * f, b[1]) for k, b in bounds.items()}
        notes.append("security lower bounds scaled down")
    mu = np.array([mu_all[s] for s in syms], dtype=np.float64)
    country_of = {a.symbol: a.country_group for a in usable}
    industry_of = {a.symbol: a.industry_group for a in usable}
    country_b = _group_bounds(country_targets, set(country_of.values()), 0.10, 0.35)
    industry_b = _group_bounds(industry_targets, set(industry_of.values()), 0.15,
                               _industry_cap(len(industry_targets)))
    for gb in (country_b, industry_b):
        lows = sum(b[0] for b in gb.values())
        if lows > 0.60:
            f = 0.60 / lows
            for g, b in list(gb.items()):
                gb[g] = (b[0] * f, b[1])
    summary["country_constraints"] = len(country_b)
    summary["industry_constraints"] = len(industry_b)
    # Optimise as fractions of the whole (sum 1), then scale to the budget.
    scale = budget if budget > 0 else 1.0
    unit_bounds = [(min(1.0, b[0] / scale), min(1.0, b[1] / scale)) for b in bounds.values()]
    if sum(b[1] for b in unit_bounds) < 1.0 - 1e-9:
        unit_bounds = [(lo, 1.0) for lo, _ in unit_bounds]
        notes.append("upper bounds relaxed: they could not reach a full allocation")
    mv: tuple[dict[str, float], str] | None = None
    hrp = risk.hrp
    if len(syms) == 1:
        mv = ({syms[0]: 1.0}, "single_security")
    elif risk.cov is not None:
        mv = _mean_variance(syms, mu, risk.cov, unit_bounds, country_of, country_b, industry_of,
                            industry_b, target_return)
    fallback: str | None = None
    if mv is not None and hrp is not None:
        w = {s: blend * hrp.get(s, 0.0) + (1 - blend) * mv[0].get(s, 0.0) for s in syms}
        fallback = None if mv[1] == "efficient_return" else mv[1]
        used = blend
    elif mv is not None:
        w, used = dict(mv[0]), 0.0
        fallback = None if mv[1] in ("efficient_return", "single_security") or blend == 0 \
            else f"mv_only:{mv[1]}"
    elif hrp is not None:
        w, used, fallback = hrp, 1.0, "hrp"
    else:
        cur = {a.symbol: a.current_weight for a in usable if a.current_weight > 0}
        w = cur or {s: 1.0 / len(syms) for s in syms}
        used, fallback = blend, "current" if cur else "equal_weight"
    w = {s: v * budget for s, v in w.items()}
    w = _finalise(w, bounds, budget) if budget > 0 else {}
    # Gradual adjustment: move halfway when any change exceeds 30 points.
    current = {a.symbol: a.current_weight for a in usable}
    if w and max(abs(w.get(s, 0.0) - current[s]) for s in syms) > 0.30:
        w = {s: (w.get(s, 0.0) + current[s]) / 2 for s in syms}
        w = _finalise(w, bounds, budget)
        notes.append("gradual adjustment: moved halfway to the optimum")
    w.update(locked)
    achieved = sum(v * mu_all.get(s, 0.0) for s, v in w.items())
    changes = _changes(w, current)
    return OptimizerResult(True, w, dict(mu_all), float(achieved), used, fallback, changes,
                           list(risk.high_correlations), summary, notes=notes,
                           locked=tuple(locked))


def _changes(w: Mapping[str, float], current: Mapping[str, float]
             ) -> list[tuple[str, float, float]]:
    return sorted(((s, current.get(s, 0.0), w.get(s, 0.0)) for s in set(w) | set(current)
                   if abs(w.get(s, 0.0) - current.get(s, 0.0)) > 0.001),
                  key=lambda t: -abs(t[2] - t[1]))


def cap_at_current(result: OptimizerResult, assets: Sequence[OptimizerAsset],
                   capped: Collection[str], reserve_share: float) -> OptimizerResult:
    """``result`` with every ``capped`` security held at no more than its current weight
    and the weight this frees spread pro rata over the other targets within their own
    bounds (clamp → drop → normalise to 1 − reserve, iterated) — no second solve. The
    planner uses it for the buys it must refuse (gates), so the targets it acts on can be
    reached."""
    if not result.success or not capped:
        return result
    by = {a.symbol: a for a in assets}
    locked = set(result.locked)
    bounds: dict[str, tuple[float, float]] = {}
    w: dict[str, float] = {}
    changed = False
    for sym, v in result.target_weights.items():
        a = by.get(sym)
        if a is None or sym in locked:
            bounds[sym] = (v, v)
        elif sym in capped:
            bounds[sym] = _bounds(replace(a, allow_buy=False))
            if v > bounds[sym][1] + 1e-12:
                changed = True
        else:
            bounds[sym] = _bounds(a)
        w[sym] = v
    if not changed:
        return result
    w = _finalise(w, bounds, max(0.0, min(1.0, 1.0 - reserve_share)))
    current = {a.symbol: a.current_weight for a in assets}
    achieved = sum(v * result.expected_returns.get(s, 0.0) for s, v in w.items())
    return replace(result, target_weights=w, achieved_expected_return=float(achieved),
                   weight_changes=_changes(w, current),
                   notes=[*result.notes, f"{len(capped)} securities capped at their current "
                          "weight (buys refused); their weight spread pro rata"])
